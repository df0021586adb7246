"""Webhooks: envelope and headers, byEvents suffix, instance webhook filters and headers, durable delivery while
the receiver is down (also across a supervisor restart), retries keep their delivery id, no duplicates."""

import re

from harness import E2ETestCase, Receiver, main, wait_until

ENVELOPE_KEYS = {"event", "instance", "data", "destination", "date_time"}
OPTIONAL_KEYS = {"sender", "server_url"}
ISO_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


class WebhookTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)

    def start(self, **env):
        e = {"WEBHOOK_GLOBAL_URL": self.rx.url, "WEBHOOK_GLOBAL_ENABLED": "true",
             "SERVER_URL": "http://wagate.test:8080"}
        e.update(env)
        self.sup = self.supervisor(e)
        return self.sup

    def assert_envelope(self, req):
        b = req["body"]
        self.assertIsInstance(b, dict, req)
        self.assertTrue(ENVELOPE_KEYS <= set(b) <= ENVELOPE_KEYS | OPTIONAL_KEYS, sorted(b))
        self.assertNotIn("apikey", b)
        self.assertNotIn("api_key", b)
        self.assertRegex(b["date_time"], ISO_RX)
        self.assertIsInstance(b["destination"], str)
        self.assertEqual(req["headers"].get("x-wagate-event"), b["event"])
        self.assertTrue(req["headers"].get("x-wagate-delivery"), req["headers"])
        self.assertIn("application/json", req["headers"].get("content-type", ""))
        self.assertEqual(req["method"], "POST")

    def wait_outbox_empty(self, timeout=20):
        """Every enqueued delivery was made (a row leaves webhook_outbox when its receiver accepted it)."""
        wait_until(lambda: self.db.count("webhook_outbox") == 0, timeout, interval=0.2, msg="the outbox drained",
                   msg_fn=lambda: self.db.query("SELECT event, url, attempts FROM webhook_outbox"))

    def assert_no_duplicates(self):
        """Every accepted delivery id was accepted once, and every event got a single id."""
        ids = [r["headers"].get("x-wagate-delivery") for r in self.rx.accepted()]
        dup = {i for i in ids if ids.count(i) > 1}
        self.assertEqual(dup, set(), "delivery ids accepted more than once")
        per_id = {}
        for r in self.rx.snapshot():
            did = r["headers"].get("x-wagate-delivery")
            key = (r["path"], r["raw"])
            per_id.setdefault(did, set()).add(key)
        self.assertEqual({d: k for d, k in per_id.items() if len(k) > 1}, {},
                         "one delivery id carried different requests")

    def test_envelope_and_headers(self):
        sup = self.start()
        c = sup.create_instance("hooked")
        iid = c["instance"]["instanceId"]
        req = self.rx.wait_event("instance.create", "hooked")[0]
        self.assert_envelope(req)
        b = req["body"]
        self.assertEqual(b["data"], {"instanceName": "hooked", "instanceId": iid})
        self.assertEqual(b["server_url"], "http://wagate.test:8080")
        self.assertEqual(req["path"], "/hook")
        self.assertNotIn(c["hash"], req["raw"].decode())
        sup.api("DELETE", "/instance/delete/hooked")
        d = self.rx.wait_event("instance.delete", "hooked")[0]
        self.assert_envelope(d)
        self.assertEqual(d["body"]["data"], {"instanceName": "hooked", "instanceId": iid})
        r = self.rx.wait_event("remove.instance", "hooked")[0]
        self.assert_envelope(r)
        self.assertIsNone(r["body"]["data"])
        self.assert_no_duplicates()
        for req in self.rx.snapshot():
            self.assertNotIn(c["hash"].encode(), req["raw"])
            self.assertNotIn(b"e2e-global-key", req["raw"])
        # The receiver is plain http://: wagate's own client sent these, on kept-alive connections.
        posts = sup.metric("wagate_webhook_http_posts_total")
        self.assertGreaterEqual(posts, len(self.rx.accepted()))
        self.assertLess(sup.metric("wagate_webhook_http_connections_total"), posts)

    def test_by_events_suffix(self):
        sup = self.start(WEBHOOK_GLOBAL_WEBHOOK_BY_EVENTS="true")
        sup.create_instance("suffix")
        req = self.rx.wait_event("instance.create", "suffix")[0]
        self.assertEqual(req["path"], "/hook/instance-create")
        sup.api("DELETE", "/instance/delete/suffix")
        self.assertEqual(self.rx.wait_event("instance.delete", "suffix")[0]["path"], "/hook/instance-delete")
        self.assertEqual(self.rx.wait_event("remove.instance", "suffix")[0]["path"], "/hook/remove-instance")

    def test_instance_webhook_headers_and_filter(self):
        own = Receiver().start()
        self.addCleanup(own.stop)
        sup = self.start(WEBHOOK_GLOBAL_ENABLED="false")
        sup.create_instance("mine", webhook={"url": own.url, "headers": {"x-custom": "abc"}, "byEvents": True,
                                             "events": ["REMOVE_INSTANCE"]})
        sup.create_instance("other", webhook={"url": own.url, "events": ["CONNECTION_UPDATE"]})
        sup.api("DELETE", "/instance/delete/mine")
        sup.api("DELETE", "/instance/delete/other")
        req = own.wait_event("remove.instance", "mine")[0]
        self.assertEqual(req["path"], "/hook/remove-instance")
        self.assertEqual(req["headers"].get("x-custom"), "abc")
        self.assert_envelope(req)
        self.wait_outbox_empty()
        # instance.create/delete are global-only; "other" did not subscribe to REMOVE_INSTANCE
        got = [(r["body"]["event"], r["body"]["instance"]) for r in own.snapshot()]
        self.assertNotIn(("instance.create", "mine"), got)
        self.assertNotIn(("instance.delete", "mine"), got)
        self.assertNotIn(("remove.instance", "other"), got)
        # global disabled: the global receiver got nothing
        self.assertEqual(self.rx.snapshot(), [])

    def test_receiver_down_then_back(self):
        sup = self.start()
        self.rx.stop()
        names = ["q%d" % i for i in range(5)]
        for n in names:
            sup.create_instance(n)
        wait_until(lambda: (sup.metric("wagate_webhook_backlog") or 0) >= len(names), 10,
                   msg="backlog counts the undelivered events")
        wait_until(lambda: self.db.count("webhook_outbox", "attempts > 0") >= len(names), 20,
                   msg="a failed attempt for every event")
        self.rx.start()
        for n in names:
            self.rx.wait_event("instance.create", n, timeout=20)
        wait_until(lambda: sup.metric("wagate_webhook_backlog") == 0, 20, msg="backlog drained")
        self.assert_no_duplicates()
        self.assertEqual(len(self.rx.events("instance.create")), len(names))

    def test_retry_on_500_keeps_delivery_id(self):
        sup = self.start()
        self.rx.status = 500
        sup.create_instance("retry")
        wait_until(lambda: len(self.rx.events("instance.create", "retry", accepted_only=False)) >= 3, 20,
                   msg="at least three attempts while the receiver answers 500")
        self.rx.status = 200
        ok = self.rx.wait_event("instance.create", "retry", timeout=20)
        attempts = self.rx.events("instance.create", "retry", accepted_only=False)
        ids = {r["headers"].get("x-wagate-delivery") for r in attempts}
        self.assertEqual(len(ids), 1, "retries must reuse the delivery id: %r" % ids)
        self.assertEqual(len(ok), 1)
        # backoff: attempts are spaced out, not hammered
        times = [r["time"] for r in attempts]
        gaps = [b - a for a, b in zip(times, times[1:])]
        self.assertGreater(max(gaps), 0.15, gaps)
        self.assert_no_duplicates()

    def test_delivery_survives_supervisor_restart(self):
        sup = self.start()
        self.rx.stop()
        for n in ("p0", "p1", "p2"):
            sup.create_instance(n)
        sup.api("DELETE", "/instance/delete/p2")
        sup.stop()
        sup.start()
        sup.create_instance("p3")
        self.rx.start()
        for n in ("p0", "p1", "p2", "p3"):
            self.rx.wait_event("instance.create", n, timeout=30)
        self.rx.wait_event("instance.delete", "p2", timeout=30)
        self.rx.wait_event("remove.instance", "p2", timeout=30)
        wait_until(lambda: sup.metric("wagate_webhook_backlog") == 0, 20, msg="backlog drained")
        self.assert_no_duplicates()

    def test_stop_lets_posts_under_way_end(self):
        """SIGTERM while POSTs are under way at a slow receiver: wagate waits for their answers and deletes their
        rows before it exits (it used to leave them in the outbox, and the next start posted them again); the
        next start delivers the rest, each event once."""
        sup = self.start()
        self.rx.set_mode("slow", delay=0.6)
        names = ["s%d" % i for i in range(6)]
        for n in names:
            sup.create_instance(n)
        # each instance's first event is its queue's head: six POSTs under way, none answered yet
        wait_until(lambda: sum(1 for r in self.rx.snapshot() if "answered" not in r) >= 3, 20,
                   msg="POSTs under way at the receiver")
        before = len(self.rx.snapshot())
        self.assertEqual(sup.stop(), 0, sup.log_tail())
        answered = [r for r in self.rx.snapshot() if "answered" in r]
        self.assertEqual(len(answered), len(self.rx.snapshot()), "a request was cut short or started after")
        self.assertGreaterEqual(len(answered), 3)
        self.assertLessEqual(len(answered), before + 6)  # a loose bound: POSTs may start until the signal
        self.rx.set_mode("up")
        sup.start()
        for n in names:
            self.rx.wait_event("instance.create", n, timeout=30)
        self.wait_outbox_empty()
        self.assert_no_duplicates()

    def test_delivery_survives_supervisor_crash(self):
        sup = self.start()
        self.rx.stop()
        for n in ("k0", "k1"):
            sup.create_instance(n)
        sup.kill()
        self.rx.start()
        sup.start()
        for n in ("k0", "k1"):
            self.rx.wait_event("instance.create", n, timeout=30)
        self.wait_outbox_empty()
        self.assert_no_duplicates()


if __name__ == "__main__":
    main()
