"""The WhatsApp transport through the real supervisor and workers: a worker completes the Noise handshake with
fakewa over TLS; a server certificate that does not chain to the trusted root is refused once, with a clear
reason and no retry storm; 200 workers connected to one fakewa stay up through a keepalive period."""

import re

from harness import E2ETestCase, Fakewa, Receiver, main, wait_until


class TransportTest(E2ETestCase):

    def start(self, tls=False, env=None):
        self.fw = Fakewa(tls=tls).start()
        self.addCleanup(self.fw.destroy)
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        e = dict(self.fw.env, WEBHOOK_GLOBAL_URL=self.rx.url, WEBHOOK_GLOBAL_ENABLED="true")
        e.update(env or {})
        self.sup = self.supervisor(e)

    def state(self, name):
        return self.sup.api("GET", "/instance/connectionState/" + name).json["instance"]["state"]

    def open_clients(self):
        return [c for c in self.fw.clients() if c["phase"] == "open"]

    def test_tls_handshake(self):
        self.start(tls=True)
        self.sup.create_instance("tls1")
        self.assertStatus(self.sup.api("GET", "/instance/connect/tls1"), 200)
        clients = wait_until(lambda: self.open_clients() or None, 30, msg="a Noise-open client at fakewa")
        self.assertEqual(len(clients), 1)
        self.assertTrue(clients[0]["tls"])
        self.assertEqual(len(clients[0]["noise_static"]), 64)
        self.assertEqual(self.state("tls1"), "connecting")

    def test_wrong_root_key_is_refused_without_retry(self):
        self.start(env={"WA_ROOT_KEY": "11" * 32})
        self.sup.create_instance("badroot")
        self.assertStatus(self.sup.api("GET", "/instance/connect/badroot"), 200)
        ev = self.rx.wait_event("connection.update", "badroot", timeout=30,
                                pred=lambda r: r["body"]["data"].get("state") == "close")
        self.assertEqual(ev[0]["body"]["data"]["statusReason"], 400)
        log = self.sup.log_text()
        self.assertIn("certificate", log)
        # the worker's decision, logged with the close it reported
        wait_until(lambda: re.search(r"session_state_cb: badroot: closed \(400 .*\), not retrying", self.sup.log_text()), 10,
                   msg="the worker logs that it does not retry")
        # One attempt only: a single connecting update, the state stays close, nothing open at fakewa.
        connecting = [r for r in self.rx.events("connection.update", "badroot")
                      if r["body"]["data"].get("state") == "connecting"]
        self.assertEqual(len(connecting), 1)
        self.assertEqual(self.state("badroot"), "close")
        self.assertEqual(self.open_clients(), [])

    def test_200_workers_through_a_keepalive_period(self):
        n = 200
        self.start(env={"WA_KEEPALIVE_MS": "3000", "WA_KEEPALIVE_DEADLINE_MS": "20000"})
        for i in range(n):
            self.sup.create_instance("k%03d" % i)
        for i in range(n):
            self.assertStatus(self.sup.api("GET", "/instance/connect/k%03d" % i), 200)
        wait_until(lambda: len(self.open_clients()) == n, 240,
                   msg="%d workers Noise-open at fakewa" % n)
        before = {c["id"]: c["nodes_in"] for c in self.open_clients()}
        pings = self.fw.pings_answered()

        # A keepalive period: every connection sent fakewa something (its ping) and fakewa answered n pings.
        def period_done():
            now = {c["id"]: c["nodes_in"] for c in self.open_clients()}
            return (self.fw.pings_answered() - pings >= n and
                    all(now.get(i, 0) > k for i, k in before.items())) or set(now) != set(before)
        # The worker pings every WA_KEEPALIVE_MS (supervisor env, sent in Start); a worker that does not get it
        # from its supervisor pings every 20-30 s.
        wait_until(period_done, 120, interval=1, msg="every connection pinged (%d)" % n,
                   msg_fn=lambda: self.fw.pings_answered() - pings)
        after = {c["id"] for c in self.open_clients()}
        self.assertEqual(set(before), after, "connections were dropped or replaced during the keepalive period")
        states = {self.state("k%03d" % i) for i in range(n)}
        self.assertEqual(states, {"connecting"})
        closes = [r for r in self.rx.events("connection.update") if r["body"]["data"].get("state") == "close"]
        self.assertEqual(closes, [])


if __name__ == "__main__":
    main()
