"""Webhooks arrive in order per instance (issue 11): 20 instances, each with its own webhook on one receiver, change
state (connect / logout) while the receiver is down; then the receiver is slow and fails every other request with
500, then it is up. Every instance's connection.update events arrive in outbox (row id) order, never two at once,
and the last one delivered is the instance's real state.

python3 test_webhook_order.py (see README.md); WAGATE_E2E_ORDER_N changes the number of instances."""

import concurrent.futures
import os
import sys
import time

from harness import E2ETestCase, Fakewa, Receiver, main, wait_until

N = int(os.environ.get("WAGATE_E2E_ORDER_N", "20"))
# state changes made while the receiver is down, by instance number (the last one sets the final state)
SCRIPTS = [["logout", "connect"], ["logout", "connect", "logout"], ["logout", "connect", "logout", "connect"]]


class WebhookOrderTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.fw = Fakewa().start()
        self.addCleanup(self.fw.destroy)
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        env = dict(self.fw.env)
        # retries come back within a second or two, so the slow and up phases are short
        # (no QR series ends during the test: it would add a close of its own)
        env.update({"WAGATE_WEBHOOK_RETRY_MIN_MS": "200", "WAGATE_WEBHOOK_RETRY_MAX_MS": "1500", "WA_QR_FIRST_MS": "600000",
                    "WAGATE_HEARTBEAT_INTERVAL_MS": "500", "WAGATE_HEARTBEAT_MISSES": "10"})
        self.sup = self.supervisor(env)

    def api_retry(self, method, path, want=200, timeout=30):
        """A call retried while the worker is being replaced (503 "restarting; try again shortly")."""
        def ok():
            r = self.sup.api(method, path, timeout=20)
            if r.status == 503:
                return None
            self.assertStatus(r, want, "%s %s" % (method, path))
            return r
        return wait_until(ok, timeout, interval=0.2, msg="%s %s answered" % (method, path))

    def create_connected(self, name):
        iid = self.sup.create_instance(name, webhook={"url": self.rx.url, "events": ["CONNECTION_UPDATE"]})[
            "instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 30, msg="worker of " + name)
        self.api_retry("GET", "/instance/connect/" + name)
        self.sup.wait_state(name, "connecting", 30)
        return iid

    def run_script(self, i):
        """The state changes of instance i while the receiver is down; returns its final state."""
        name, state = "o%02d" % i, "connecting"
        for step in SCRIPTS[i % len(SCRIPTS)]:
            if step == "logout":
                self.api_retry("DELETE", "/instance/logout/" + name)
                state = "close"
            else:
                self.api_retry("GET", "/instance/connect/" + name)
                state = "connecting"
            self.sup.wait_state(name, state, 30)
        return state

    def updates(self, name, accepted_only=True):
        return self.rx.events("connection.update", name, accepted_only=accepted_only)

    def test_order_after_outage(self):
        names = ["o%02d" % i for i in range(N)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            ids = dict(zip(names, ex.map(self.create_connected, names)))
        for name in names:
            self.rx.wait_event("connection.update", name, timeout=30,
                               pred=lambda r: r["body"]["data"].get("state") == "connecting")
        first = {name: len(self.updates(name)) for name in names}

        # down: every instance changes state two to four times; the outbox keeps it all
        self.rx.set_mode("down")
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
            final = dict(zip(names, ex.map(self.run_script, range(N))))
        wait_until(lambda: self.db.count("webhook_outbox", "attempts > 0") >= 1, 30, interval=0.2,
                   msg="a delivery failed against the stopped receiver")
        backlog = {}
        for rid, iid, state in self.db.query("SELECT id, instance_id::text, body->'data'->>'state' FROM webhook_outbox"
                                             " WHERE event = 'connection.update' ORDER BY id"):
            backlog.setdefault(iid, []).append((int(rid), state))
        for name in names:
            self.assertGreaterEqual(len(backlog.get(ids[name], [])), 2, "%s: backlog %r" % (name, backlog))

        # slow and flaky: 200 ms per answer, every other request answered 500
        t0 = time.monotonic()
        self.rx.set_mode("flaky", delay=0.2, fail_every=2)
        wait_until(lambda: sum(len(self.updates(n)) - first[n] for n in names) >= N, 60, interval=0.2,
                   msg="%d deliveries through the flaky receiver" % N)
        # up
        self.rx.set_mode("up")
        wait_until(lambda: self.db.count("webhook_outbox", "event = 'connection.update'") == 0, 120, interval=0.2,
                   msg="the outbox drained", msg_fn=lambda: self.db.query(
                       "SELECT body->>'instance', count(*), max(attempts) FROM webhook_outbox GROUP BY 1"))
        drained = time.monotonic() - t0
        failed = [r for r in self.rx.snapshot() if r["status"] >= 500]
        self.assertGreater(len(failed), 0, "the flaky phase answered no 500")

        for name in names:
            reqs = self.updates(name, accepted_only=False)
            # never two deliveries of one instance in flight: each came after the previous one was answered
            for a, b in zip(reqs, reqs[1:]):
                self.assertGreaterEqual(b["time"], a.get("answered", a["time"]) - 0.01, "%s: overlapping deliveries" % name)
            got = []
            for r in self.updates(name):
                rid = int(r["headers"]["x-wagate-delivery"])
                if not got or got[-1][0] != rid:  # at-least-once: a repeat of the same row is allowed
                    got.append((rid, r["body"]["data"]["state"]))
            self.assertEqual(got, sorted(got), "%s: delivered out of outbox order: %r" % (name, got))
            mine = backlog[ids[name]]
            self.assertEqual([g for g in got if g[0] >= mine[0][0]], mine,
                             "%s: the backlog delivered is not the backlog queued" % name)
            self.assertEqual(self.sup.state(name), final[name], name)
            self.assertEqual(got[-1][1], final[name], "%s: last connection.update %r, state %s" % (
                name, got[-1], final[name]))
        sys.stderr.write("\nwebhook-order: %d instances, %d queued while down, drained %.1f s after the receiver came"
                         " back (%d answered 500)\n" % (N, sum(len(v) for v in backlog.values()), drained,
                                                        len(failed)))


if __name__ == "__main__":
    main()
