"""A PostgreSQL outage loses nothing and lies about nothing (issue 11, part 3), on a private cluster with fakewa's
mock phone: while the database is down a worker is killed (close -> connecting -> open again), an account is
logged out from the phone (close 401), and API logout/delete answer 503 without touching the worker. When the
database is back every transition is written with its webhook rows, in order per instance, the stored state is
the live state, and logout/delete work.

One test: python3 test_pg_outage.py PgOutageTest.test_outage_keeps_transitions (see README.md)."""

import os
import signal
import sys

from harness import Database, PairingCase, PgCluster, _pid_alive, main, owner_jid, wait_until

CREDS_TABLES = ("signal_identity", "signal_prekey", "signal_signed_prekey", "signal_session", "signal_sender_key")


class PgOutageTest(PairingCase):
    use_shared_db = False
    pairing_env = {
        # failed deliveries (the receiver says 500 while the outbox order is read) come back quickly
        "WAGATE_WEBHOOK_RETRY_MIN_MS": "100",
        "WAGATE_WEBHOOK_RETRY_MAX_MS": "500",
        "WAGATE_DB_POOL_SIZE": "2",
        # a killed worker comes back at once: the outage is the subject, not the restart backoff
        "WAGATE_RESTART_BACKOFF_MIN_MS": "100",
        "WAGATE_RESTART_BACKOFF_MAX_MS": "500",
    }

    def setUp(self):
        # own cluster: stopping the shared one would break every other test
        self.cluster = PgCluster()
        self.cluster.start()
        self.addCleanup(self.cluster.destroy)
        self.pgdb = Database(self.cluster.uri)
        super().setUp()
        self.db = self.pgdb  # the helpers read self.db; E2ETestCase's cleanup drops it (the cluster goes anyway)

    def supervisor(self, env=None, start=True, db_uri=None):
        return super().supervisor(env, start, db_uri or self.pgdb.uri)

    # --- helpers
    def creds_rows(self, iid):
        n = self.db.count("auth_creds", "instance_id = '%s'" % iid)
        m = sum(self.db.count(t, "instance_id = '%s'" % iid) for t in CREDS_TABLES)
        return n, m

    def outbox(self, iid):
        """(event, state, statusReason) of the outbox rows of an instance, in commit (id) order."""
        rows = self.db.query("SELECT event, coalesce(body->'data'->>'state', ''),"
                             " coalesce(body->'data'->>'statusReason', '') FROM webhook_outbox"
                             " WHERE instance_id = '%s' ORDER BY id" % iid)
        return [tuple(r) for r in rows]

    def received(self, name):
        """(event, state, statusReason) of the webhooks the receiver accepted for name, in arrival order."""
        out = []
        for r in self.rx.events(None, name):
            d = r["body"].get("data")
            d = d if isinstance(d, dict) else {}
            out.append((r["body"]["event"], str(d.get("state", "")),
                        str(d.get("statusReason", "")) if "statusReason" in d else ""))
        return out

    def row(self, iid):
        r = self.db.query("SELECT connection_status, coalesce(owner_jid, ''),"
                          " coalesce(disconnection_reason_code::text, '') FROM instance WHERE id = '%s'" % iid)
        return tuple(r[0]) if r else None

    def device_live(self, jid):
        d = self.fw.device(jid)
        return bool(d and d.get("active") and d.get("connected"))

    def pending_writes(self):
        return self.sup.metric("wagate_pending_writes")

    def test_outage_keeps_transitions(self):
        sup, fw, rx = self.sup, self.fw, self.rx
        phones = {"ka": "15550110001", "ph": "15550110002", "ap": "15550110003"}
        jid, iid = {}, {}
        for name, phone in phones.items():
            jid[name] = self.pair(name, phone)["jid"]
            iid[name] = self.instance_id(name)
            self.wait_open_event(name)
            self.wait_prekeys_uploaded(name)
            wait_until(lambda: self.device_live(jid[name]), 10, msg="%s connected at fakewa" % name)
        # what was announced before the outage (all of it delivered); everything after it is counted against this
        wait_until(lambda: self.db.count("webhook_outbox") == 0, 30, msg="the pairing webhooks delivered")
        before = {n: len(self.received(n)) for n in phones}
        logins_ka = fw.device(jid["ka"])["logins"]
        pids = sup.worker_pids()

        self.cluster.stop()
        wait_until(lambda: sup.request("GET", "/health", timeout=10).status == 503, 20, msg="/health turns 503")

        # 1. kill -9 a worker: close (crashed), then the restarted worker logs in again: connecting, open
        os.kill(pids[iid["ka"]], signal.SIGKILL)
        wait_until(lambda: (lambda p: p if p and p != pids[iid["ka"]] else None)(sup.worker_pids().get(iid["ka"])),
                   20, msg="ka's worker restarted")
        wait_until(lambda: (fw.device(jid["ka"]) or {}).get("logins", 0) > logins_ka and self.device_live(jid["ka"]),
                   30, msg="ka logs in again at fakewa during the outage", msg_fn=lambda: fw.device(jid["ka"]))
        sup.wait_state("ka", "open", 20)
        # 2. the phone unlinks ph: close 401, creds void, the worker retires
        self.assertEqual(fw.remove_device(jid["ph"]).status, 200)
        sup.wait_state("ph", "close", 15)
        # (wait_retired reads fetchInstances, which needs the database)
        wait_until(lambda: "worker_reap_exited: ph: logged out" in sup.log_text(), 20, msg="ph's worker retires")
        wait_until(lambda: (self.pending_writes() or 0) >= 4, 10, msg="the transitions kept in memory",
                   msg_fn=self.pending_writes)
        # 3. API logout and delete answer 503 and change nothing: ap's chain is idle, ka's waits for the database
        for name in ("ap", "ka"):
            pid = sup.worker_pids().get(iid[name])
            for method, path in (("DELETE", "/instance/logout/"), ("DELETE", "/instance/delete/")):
                r = sup.api(method, path + name, timeout=30)
                self.assertErrorEnvelope(r, 503, "Service Unavailable")
            self.assertEqual(sup.state(name), "open", name)
            self.assertEqual(sup.worker_pids().get(iid[name]), pid, "%s's worker touched by a refused call" % name)
            self.assertTrue(_pid_alive(pid), name)
        self.assertTrue(self.device_live(jid["ap"]) and self.device_live(jid["ka"]),
                        "a refused logout/delete unlinked the device: %r" % fw.accounts())
        self.assertTrue(sup.running(), "wagate exited during the outage:\n" + sup.log_tail())

        # the outbox is read before anything is delivered: the receiver refuses while the database returns
        rx.status = 500
        self.cluster.start()
        wait_until(lambda: sup.request("GET", "/health", timeout=5).status == 200, 60, msg="/health back to 200")
        wait_until(lambda: self.pending_writes() == 0, 30, msg="kept writes written", msg_fn=self.pending_writes)
        # (event, state, statusReason): the crash close is 600, the phone's logout 401
        want = {
            "ka": [("connection.update", "close", "600"), ("connection.update", "connecting", "200"),
                   ("connection.update", "open", "200")],
            "ph": [("connection.update", "close", "401"), ("logout.instance", "", "")],
            "ap": [],
        }
        for name in phones:
            self.assertEqual(self.outbox(iid[name]), want[name], "outbox of %s in commit order" % name)
        self.assertEqual(sup.metric("wagate_pending_writes_coalesced_total"), 0)

        # deliver: every kept event reaches the receiver (the order of deliveries across retries is not this
        # test's subject: the set is compared; the commit order was checked on the outbox above)
        rx.status = 200
        wait_until(lambda: all(len(self.received(n)) - before[n] >= len(want[n]) for n in phones), 30,
                   msg="kept webhooks delivered", msg_fn=lambda: {n: self.received(n)[before[n]:] for n in phones})
        lost = 0
        for name in phones:
            got = self.received(name)[before[name]:]
            lost += sum(1 for w in want[name] if w not in got)
            self.assertEqual(sorted(got), sorted(want[name]), "webhooks of %s" % name)
        sys.stderr.write("events lost across the outage: %d\n" % lost)
        self.assertEqual(lost, 0)

        # the stored state is the live state
        self.assertEqual(self.row(iid["ka"]), ("open", owner_jid(phones["ka"]), self.row(iid["ka"])[2]))
        self.assertEqual(self.row(iid["ap"])[:2], ("open", owner_jid(phones["ap"])))
        self.assertEqual(self.row(iid["ph"])[0::2], ("close", "401"))
        for name in phones:
            live = self.sup.fetch(name)
            self.assertEqual(self.row(iid[name])[0], live["connectionStatus"], name)
            self.assertEqual(self.row(iid[name])[0], sup.state(name), name)
        self.assertEqual(self.creds_rows(iid["ph"]), (0, 0), "ph's creds survive its logout")
        for name in ("ka", "ap"):
            n, m = self.creds_rows(iid[name])
            self.assertEqual(n, 1, name)
            self.assertGreater(m, 0, name)
        self.assertTrue(self.device_live(jid["ka"]) and self.device_live(jid["ap"]))

        # and logout/delete work now
        r = sup.api("DELETE", "/instance/logout/ap", timeout=30)
        self.assertStatus(r, 200)
        wait_until(lambda: not (fw.device(jid["ap"]) or {}).get("active"), 15, msg="ap unlinked at fakewa")
        wait_until(lambda: self.creds_rows(iid["ap"]) == (0, 0), 15, msg="ap's creds wiped",
                   msg_fn=lambda: self.creds_rows(iid["ap"]))
        self.wait_row("ap", connectionStatus="close")
        r = sup.api("DELETE", "/instance/delete/ka", timeout=30)
        self.assertStatus(r, 200)
        self.assertEqual(self.db.count("instance", "id = '%s'" % iid["ka"]), 0)
        wait_until(lambda: not (fw.device(jid["ka"]) or {}).get("active"), 15, msg="ka unlinked at fakewa")
        self.assertIsNone(sup.fetch("ka"))


if __name__ == "__main__":
    main()
