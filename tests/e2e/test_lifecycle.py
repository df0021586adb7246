"""Instance lifecycle after pairing (issue 4 contract), against fakewa's mock phone: a killed worker and a restarted
supervisor log back in without a QR; logout and removal from the phone wipe the credentials and keep the instance;
the QR limit stops the QR series and leaves the worker waiting for connect.

One test: python3 test_lifecycle.py LifecycleTest.test_worker_kill_logs_back_in (see README.md)."""

import os
import signal

from harness import PairingCase, _pid_alive, main, owner_jid, parse_qr_text, wait_until, worker_processes

QR_LIMIT_MSG = {"message": "QR code limit reached, please login again", "statusCode": 500}


class LifecycleCase(PairingCase):

    def login_count(self, jid):
        d = self.fw.device(jid)
        return d["logins"] if d else None

    def clients_of(self, jid):
        return [c for c in self.fw.clients() if c.get("jid") == jid]

    def device_gone(self, jid):
        """Unlinked: not listed any more (or listed inactive)."""
        d = self.fw.device(jid)
        return d is None or not d.get("active")

    def registration_clients(self):
        return [c for c in self.fw.clients() if c.get("payload") == "registration"]

    def creds_rows(self, iid):
        """(auth_creds, signal_* rows) of an instance."""
        n = self.db.count("auth_creds", "instance_id = '%s'" % iid)
        m = sum(self.db.count(t, "instance_id = '%s'" % iid) for t in
                ("signal_identity", "signal_prekey", "signal_signed_prekey", "signal_session", "signal_sender_key"))
        return n, m

    def wait_logged_in_again(self, name, jid, logins_before, timeout=30):
        """The instance is open again through a fresh login of the same device (not a new pairing)."""
        wait_until(lambda: (self.login_count(jid) or 0) > logins_before, timeout,
                   msg="%s logs in again at fakewa" % name, msg_fn=lambda: self.fw.device(jid))
        self.sup.wait_state(name, "open", timeout)
        wait_until(lambda: len(self.clients_of(jid)) == 1, 10, msg="exactly one connection of " + jid,
                   msg_fn=self.fw.clients)
        dev = self.fw.device(jid)
        self.assertTrue(dev["active"] and dev["connected"], dev)
        return dev


class LifecycleTest(LifecycleCase):

    def test_worker_kill_logs_back_in(self):
        """Scenario 3: kill -9 the worker -> open again, no new QR, fakewa logins + 1."""
        phone = "15550003001"
        res = self.pair("k1", phone)
        iid = self.instance_id("k1")
        self.wait_open_event("k1")
        wait_until(lambda: self.fw.device(res["jid"]) and self.fw.device(res["jid"])["connected"], 10,
                   msg="device connected")
        logins = self.login_count(res["jid"])
        nqr = len(self.qr_events("k1"))
        pid = self.sup.worker_pids()[iid]
        os.kill(pid, signal.SIGKILL)
        new = wait_until(lambda: (lambda p: p if p and p != pid else None)(self.sup.worker_pids().get(iid)), 20,
                         msg="worker restarted")
        self.assertTrue(_pid_alive(new))
        self.wait_open_event("k1", count=2, timeout=30)
        dev = self.wait_logged_in_again("k1", res["jid"], logins)
        self.assertEqual(dev["logins"], logins + 1, dev)
        self.assertEqual(len(self.qr_events("k1")), nqr, "a QR after a worker restart of a paired instance")
        self.assertEqual(self.registration_clients(), [])
        self.wait_row("k1", connectionStatus="open", ownerJid=owner_jid(phone))
        self.assertEqual(self.db.scalar("SELECT paired FROM auth_creds WHERE instance_id = '%s'" % iid), "t")
        # the restarted worker found enough prekeys on the server: no new batch
        self.assertEqual(dev["prekeys"], 812, dev)
        self.assertEqual(self.db.count("signal_prekey", "instance_id = '%s'" % iid), 812)

    def test_logout(self):
        """Scenario 5: logout -> close, device gone at fakewa, creds gone, instance listed; connect -> fresh QR."""
        phone = "15550005001"
        q0 = self.connect_qr("lo")
        k0 = parse_qr_text(q0["code"])
        res = self.scan("lo", phone=phone)
        self.sup.wait_state("lo", "open", 30)
        iid = self.instance_id("lo")
        pid = self.sup.worker_pids()[iid]
        r = self.sup.api("DELETE", "/instance/logout/lo")
        self.assertStatus(r, 200)
        self.sup.wait_state("lo", "close", 15)
        close = self.rx.wait_event("connection.update", "lo", timeout=10,
                                   pred=lambda r: r["body"]["data"].get("state") == "close")[0]["body"]["data"]
        self.assertEqual(close["statusReason"], 401, close)
        wait_until(lambda: self.device_gone(res["jid"]), 10, msg="device gone at fakewa", msg_fn=self.fw.accounts)
        wait_until(lambda: self.creds_rows(iid) == (0, 0), 10, msg="credentials and keys deleted",
                   msg_fn=lambda: self.creds_rows(iid))
        self.assertIsNotNone(self.sup.fetch("lo"), "logout must keep the instance")
        self.wait_row("lo", connectionStatus="close")
        # the worker said goodbye (exit 3); none runs until the next connect
        wait_until(lambda: not _pid_alive(pid), 10, msg="the logged-out worker exits")
        self.wait_retired("lo")
        self.assertEqual(self.sup.state("lo"), "close")
        self.assertEqual(self.clients_of(res["jid"]), [])
        self.assertEqual(self.registration_clients(), [])
        # a new connect: a fresh registration (new keys), a new QR series
        q1 = self.sup.wait_qr("lo", 30)
        k1 = parse_qr_text(q1["code"])
        self.assertEqual(q1["count"], 1, q1)
        self.assertNotEqual(k1["noise"], k0["noise"], "logout must discard the Noise key")
        self.assertNotEqual(k1["identity"], k0["identity"], "logout must discard the identity key")
        self.assertEqual(self.sup.state("lo"), "connecting")
        # and it pairs again
        self.scan("lo", phone=phone)
        self.sup.wait_state("lo", "open", 30)

    def test_device_removed_from_phone(self):
        """Scenario 6: the phone unlinks the device -> close 401, logout.instance, creds wiped, no reconnect."""
        phone = "15550006001"
        res = self.pair("rm", phone)
        iid = self.instance_id("rm")
        self.wait_open_event("rm")
        restarts = self.sup.restarts("rm")
        r = self.fw.remove_device(res["jid"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"removed": 1})
        self.sup.wait_state("rm", "close", 15)
        close = self.rx.wait_event("connection.update", "rm", timeout=10,
                                   pred=lambda r: r["body"]["data"].get("state") == "close")[0]["body"]["data"]
        self.assertEqual(close["statusReason"], 401, close)
        lo = self.rx.wait_event("logout.instance", "rm", timeout=10)
        self.assertIsNone(lo[0]["body"]["data"], lo[0]["body"])
        wait_until(lambda: self.creds_rows(iid) == (0, 0), 10, msg="credentials and keys deleted",
                   msg_fn=lambda: self.creds_rows(iid))
        self.assertTrue(self.device_gone(res["jid"]), self.fw.accounts())
        self.assertIsNotNone(self.sup.fetch("rm"))
        # no reconnect loop: no worker until the next connect, nothing at fakewa, no more events
        n_updates = len(self.updates("rm"))
        self.wait_retired("rm")
        self.assertEqual(self.clients_of(res["jid"]), [])
        self.assertEqual(self.registration_clients(), [])
        self.assertEqual(len(self.updates("rm")), n_updates, self.updates("rm"))
        self.assertEqual(len(self.events("logout.instance", "rm")), 1)
        self.assertEqual(self.sup.state("rm"), "close")
        self.assertLessEqual(self.sup.restarts("rm") - restarts, 1, "worker restart loop")
        self.assertEqual(self.creds_rows(iid), (0, 0))

    def test_device_removed_while_offline(self):
        """The device was unlinked while wagate was down: the login gets <failure reason=401> -> same as above."""
        res = self.pair("rmo", "15550006002")
        iid = self.instance_id("rmo")
        self.sup.stop()
        self.assertEqual(self.fw.remove_device(res["jid"]).status, 200)
        self.sup.start()
        self.sup.wait_state("rmo", "close", 5)
        self.rx.wait_event("logout.instance", "rmo", timeout=20)
        wait_until(lambda: self.creds_rows(iid) == (0, 0), 10, msg="credentials and keys deleted",
                   msg_fn=lambda: self.creds_rows(iid))
        n_updates = len(self.updates("rmo"))
        self.wait_retired("rmo")
        self.assertEqual(len(self.updates("rmo")), n_updates, self.updates("rmo"))
        self.assertEqual(self.sup.state("rmo"), "close")
        self.assertEqual(self.fw.clients(), [])


class SupervisorRestartTest(LifecycleCase):
    """Scenario 4: SIGTERM and SIGKILL of the supervisor: every paired instance is open again without a QR."""

    N = 3

    def pair_some(self):
        self.jids = {}
        for i in range(self.N):
            res = self.pair("s%d" % i, "1555000400%d" % i)
            self.jids["s%d" % i] = res["jid"]
        self.new_instance("unpaired")  # never connected: must stay close
        for name in self.jids:
            self.wait_open_event(name)
        self.logins = {name: self.login_count(jid) for name, jid in self.jids.items()}
        self.nqr = {name: len(self.qr_events(name)) for name in self.jids}

    def assert_all_back(self):
        for name, jid in self.jids.items():
            self.wait_logged_in_again(name, jid, self.logins[name], timeout=40)
            self.wait_row(name, connectionStatus="open")
            self.assertEqual(len(self.qr_events(name)), self.nqr[name], "%s showed a QR after the restart" % name)
        self.assertEqual(self.registration_clients(), [])
        self.assertEqual(self.sup.state("unpaired"), "close")
        pids = self.sup.worker_pids()
        for name in list(self.jids) + ["unpaired"]:
            iid = self.instance_id(name)
            # The old supervisor's worker exits on IPC EOF; under ASan its exit (leak check, whose tracer
            # shows as a second process with the same argv) takes a while: wait for it, then exactly one.
            wait_until(lambda: worker_processes().get(iid) == [pids[iid]], 30,
                       msg="%s: only the new worker left" % name, msg_fn=lambda: worker_processes().get(iid))
        # one worker process each (above), so nothing can open a second connection later
        for name, jid in self.jids.items():
            self.assertEqual(len(self.clients_of(jid)), 1, "%s: connections %r" % (name, self.fw.clients()))

    def test_sigterm(self):
        self.pair_some()
        self.assertEqual(self.sup.stop(), 0)
        self.sup.start()
        self.assert_all_back()

    def test_sigkill(self):
        self.pair_some()
        self.sup.kill()
        self.sup.start()
        self.assert_all_back()


class QrLimitTest(LifecycleCase):
    """Scenario 7: QRCODE_LIMIT=2 with short QR timeouts."""

    pairing_env = {"QRCODE_LIMIT": "2", "WA_QR_FIRST_MS": "500", "WA_QR_NEXT_MS": "300"}

    def limit_events(self, name):
        return [d for d in self.events("qrcode.updated", name) if d == QR_LIMIT_MSG]

    def test_qr_limit(self):
        iid = self.new_instance("ql")
        pid = self.sup.worker_pids()[iid]
        self.sup.qr("ql")  # connect once; polling connect would restart the series after the limit
        self.rx.wait_event("qrcode.updated", "ql", timeout=20, pred=lambda r: r["body"]["data"] == QR_LIMIT_MSG)
        ref = self.rx.wait_event("connection.update", "ql", timeout=10,
                                 pred=lambda r: r["body"]["data"].get("state") == "refused")[0]["body"]["data"]
        self.assertEqual(ref["statusReason"], 428, ref)
        self.assertEqual(ref["instance"], "ql")
        self.assertEqual(len(self.qr_events("ql")), 2, [d for d in self.events("qrcode.updated", "ql")])
        # the limit message is the last qrcode.updated, after exactly two codes
        self.assertEqual(self.events("qrcode.updated", "ql")[-1], QR_LIMIT_MSG)
        self.sup.wait_state("ql", "close", 10)
        self.wait_row("ql", connectionStatus="close")
        wait_until(lambda: self.fw.clients() == [], 10, msg="the worker closed its connection",
                   msg_fn=self.fw.clients)
        # the worker's own word that the series is over (a stray QR later would still show in the counts below)
        wait_until(lambda: "session_defer_cb: ql: 2 QR codes shown without a scan, giving up" in self.sup.log_text(), 10,
                   msg="the worker gives up")
        self.assertEqual(self.sup.worker_pids().get(iid), pid, "the worker must stay alive")
        self.assertTrue(_pid_alive(pid))
        self.assertEqual(len(self.qr_events("ql")), 2, "QR codes after the limit")
        self.assertEqual(len(self.limit_events("ql")), 1)
        self.assertEqual(self.sup.state("ql"), "close")
        self.assertEqual(self.fw.clients(), [])
        # connect again starts over: count 1, then the limit again
        q = self.sup.qr("ql")
        self.assertTrue(q.get("code"), "connect after the limit gave no QR: %r" % (q,))
        self.assertLessEqual(q["count"], 2, "the count did not start over: %r" % (q,))
        wait_until(lambda: len(self.limit_events("ql")) == 2, 20, msg="the limit again")
        self.assertEqual(len(self.qr_events("ql")), 4)
        self.assertEqual(self.sup.worker_pids().get(iid), pid)

    def test_scan_within_limit(self):
        """A QR scanned before the limit pairs normally; the limit never fires afterwards."""
        self.new_instance("qs")
        q = self.sup.wait_qr("qs", 20)
        r = self.fw.scan_qr(q["code"], phone="15550007001")
        if r.status == 404:  # rotated in between (300 ms): the second code is still within the limit
            q = self.sup.wait_qr("qs", 5, newer_than=q["count"])
            r = self.fw.scan_qr(q["code"], phone="15550007001")
        self.assertEqual(r.status, 200, r)
        self.sup.wait_state("qs", "open", 30)
        # the whole first login after the pairing (longer than the two QR periods a live QR timer would need)
        self.wait_prekeys_uploaded("qs")
        self.assertEqual(self.limit_events("qs"), [])
        self.assertEqual(self.sup.state("qs"), "open")


if __name__ == "__main__":
    main()
