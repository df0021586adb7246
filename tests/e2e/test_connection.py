"""Connection lifecycle against fakewa: connect -> connecting (connection.update per reference section 3.3),
a dropped WhatsApp connection is re-established with backoff by the same worker, a crashed worker is reported
`close` with a reason and its restarted worker (like one after a supervisor restart) waits, unpaired, for the
next connect; other instances never notice."""

import os
import re
import signal

from harness import E2ETestCase, Fakewa, Receiver, main, wait_until, _pid_alive


class ConnectionCase(E2ETestCase):
    """fakewa + a webhook receiver + a supervisor pointed at both; `env` adds supervisor variables."""

    env = {}

    def setUp(self):
        super().setUp()
        self.fw = Fakewa().start()
        self.addCleanup(self.fw.destroy)
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        env = dict(self.fw.env, WEBHOOK_GLOBAL_URL=self.rx.url, WEBHOOK_GLOBAL_ENABLED="true")
        env.update(self.env)
        self.sup = self.supervisor(env)

    def state(self, name):
        return self.sup.api("GET", "/instance/connectionState/" + name).json["instance"]["state"]

    def connect(self, name):
        c = self.sup.create_instance(name)
        iid = c["instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 20, msg="worker of " + name)
        r = self.sup.api("GET", "/instance/connect/" + name)
        self.assertStatus(r, 200)
        wait_until(lambda: self.state(name) == "connecting", 15, msg=name + " connecting")
        return iid

    def updates(self, name):
        return [r["body"]["data"] for r in self.rx.events("connection.update", name)]

    def retry_delays(self, name):
        """The worker's reconnection delays in ms, from its log ("closed (...), retrying in N ms")."""
        rx = re.compile(r"session_state_cb: %s: closed \(.*\), retrying in (\d+) ms" % re.escape(name))
        return [int(m.group(1)) for m in rx.finditer(self.sup.log_text())]

    def assert_waits_for_connect(self, name, pid, expected_connections):
        """The new worker (pid) of an unpaired instance does not connect by itself (no QR storm, reference
        section 8 #9): once it answered Start (the Start of a worker that should connect says so), the instance
        is close with no connection at fakewa; connect works again."""
        wait_until(lambda: "lifecycle_on_ready: %s: worker %d ready" % (name, pid) in self.sup.log_text(), 20,
                   msg="worker %d of %s ready" % (pid, name))
        self.assertEqual(self.state(name), "close")
        wait_until(lambda: len(self.fw.clients()) == expected_connections - 1, 10, msg_fn=self.fw.clients,
                   msg="no connection at fakewa while %s is close" % name)
        r = self.sup.api("GET", "/instance/connect/" + name)
        self.assertStatus(r, 200)
        wait_until(lambda: self.state(name) == "connecting", 15, msg=name + " connecting after connect")
        wait_until(lambda: len(self.fw.clients()) == expected_connections, 15, msg_fn=self.fw.clients,
                   msg="%d connection(s) at fakewa" % expected_connections)


class ConnectionTest(ConnectionCase):

    def test_connect_reports_connecting(self):
        self.connect("c1")
        ev = self.rx.wait_event("connection.update", "c1", pred=lambda r: r["body"]["data"].get("state") ==
                                "connecting")[0]["body"]
        self.assertEqual(ev["data"], {"instance": "c1", "state": "connecting", "statusReason": 200})
        wait_until(lambda: len(self.fw.clients()) == 1, 10, msg="one connection at fakewa")
        self.assertEqual(self.sup.metric("wagate_instances", state="connecting"), 1)
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=c1")
        self.assertIn(r.json[0]["connectionStatus"], ("connecting", "close"))

    def test_dropped_connection_is_reestablished(self):
        iid = self.connect("d1")
        pid = self.sup.worker_pids()[iid]
        first = wait_until(lambda: self.fw.clients(), 10, msg="connection at fakewa")[0]["id"]
        self.fw.call("/admin/drop")
        wait_until(lambda: any(c["id"] != first for c in self.fw.clients()), 20,
                   msg="a new connection after the drop")
        self.assertEqual(self.sup.worker_pids()[iid], pid, "a dropped socket must not restart the worker")
        wait_until(lambda: self.state("d1") == "connecting", 15, msg="connecting again")
        self.assertEqual(self.sup.restarts("d1"), 0)

    def test_reconnects_use_backoff(self):
        self.connect("b1")
        wait_until(lambda: self.fw.clients(), 10, msg="connection at fakewa")
        self.fw.stop()  # WhatsApp is gone: attempts fail with ECONNREFUSED
        # the close by the peer, then two refused attempts
        delays = wait_until(lambda: (lambda d: d if len(d) >= 3 else None)(self.retry_delays("b1")), 30,
                            msg="three reconnection delays in the log", msg_fn=lambda: self.retry_delays("b1"))
        # doubling with equal jitter (each delay in [base/2, base]): the third delay exceeds the first
        self.assertGreater(delays[2], delays[0], "reconnection delays do not grow: %r" % delays)
        # an unbounded instant-reconnect loop (reference section 8 #4) would flood connection.update: one
        # connecting and one close per attempt, plus the first connect
        n = len(self.updates("b1"))
        self.assertLessEqual(n, 2 * (len(self.retry_delays("b1")) + 1),
                             "connection.update flood: %r" % [u["state"] for u in self.updates("b1")])
        self.assertIn(self.state("b1"), ("connecting", "close"))

    def test_worker_crash_reported_close_then_reconnects(self):
        iid = self.connect("k1")
        other = self.connect("k2")
        other_pid = self.sup.worker_pids()[other]
        pid = self.sup.worker_pids()[iid]
        before = len(self.updates("k1"))
        os.kill(pid, signal.SIGKILL)
        ev = self.rx.wait_event("connection.update", "k1", pred=lambda r: r["body"]["data"].get("state") ==
                                "close")[0]["body"]["data"]
        self.assertEqual(set(ev), {"instance", "state", "statusReason"}, ev)
        self.assertIsInstance(ev["statusReason"], int)
        new = wait_until(lambda: (lambda p: p if p and p != pid else None)(self.sup.worker_pids().get(iid)), 20,
                         msg="worker restarted")
        self.assertTrue(_pid_alive(new))
        self.assert_waits_for_connect("k1", new, 2)  # k2 holds the other connection
        self.assertGreater(len(self.updates("k1")), before)
        # k2 never noticed
        self.assertEqual(self.sup.worker_pids()[other], other_pid)
        self.assertEqual([u["state"] for u in self.updates("k2")], ["connecting"])

    def test_connecting_instances_after_supervisor_restart(self):
        self.connect("s1")
        self.sup.restart()
        iid = self.sup.fetch("s1")["id"]
        pid = wait_until(lambda: self.sup.worker_pids().get(iid), 20, msg="s1 has a worker again")
        self.assert_waits_for_connect("s1", pid, 1)


class ConnectWhileConnectingTest(ConnectionCase):
    """connect on a connecting instance only answers the QR object: no second connection. Short QR periods, so
    that the next QR of the one connection marks the time a second connection would have had to appear."""

    env = {"WA_QR_FIRST_MS": "1000", "WA_QR_NEXT_MS": "1000"}

    def test_connect_while_connecting(self):
        self.connect("c2")
        first = wait_until(lambda: self.fw.clients(), 10, msg="one connection at fakewa")
        self.assertEqual(len(first), 1, first)
        q = self.sup.wait_qr("c2", 15)
        r = self.sup.api("GET", "/instance/connect/c2")
        self.assertStatus(r, 200)
        self.assertIn("count", r.json, r)
        self.sup.wait_qr("c2", 15, newer_than=max(q["count"], r.json["count"]))
        self.assertEqual([c["id"] for c in self.fw.clients()], [first[0]["id"]], self.fw.clients())


if __name__ == "__main__":
    main()
