"""PostgreSQL restart mid-run (a private cluster via scripts/pg.sh): the API answers 503 during the outage,
the supervisor and its workers stay up, and everything recovers by itself when the database is back. Started
with the database down, wagate waits for it (retrying, not listening yet) and then comes up. Texts that arrive
during the outage are stored once it is back, without a new login."""

import re
import socket
import threading
import time

from harness import E2ETestCase, PgCluster, Database, main, wait_until, _pid_alive
from messaging import MessagingCase


class PortCounter:
    """Listens where the stopped cluster listened and counts connections (each closed at once): every accept is
    one connection attempt of a client that is still trying."""

    def __init__(self, port):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(16)
        self.accepted = 0
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return  # closed
            c.close()
            self.accepted += 1

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(5)


class OwnCluster:
    """A cluster of the test's own: stopping the shared one would break every other test."""
    use_shared_db = False

    def setUp(self):
        self.cluster = PgCluster()
        self.cluster.start()
        self.addCleanup(self.cluster.destroy)
        super().setUp()


class PgRestartTest(OwnCluster, E2ETestCase):

    def test_outage_and_recovery(self):
        db = Database(self.cluster.uri)
        sup = self.supervisor({"WAGATE_DB_POOL_SIZE": "2"}, db_uri=db.uri)
        ids = [sup.create_instance("pg%d" % i)["instance"]["instanceId"] for i in range(3)]
        pids = wait_until(lambda: (lambda p: p if all(i in p for i in ids) else None)(sup.worker_pids()), 30,
                          msg="workers")

        self.cluster.stop()
        r = wait_until(lambda: (lambda x: x if x.status == 503 else None)(sup.request("GET", "/health", timeout=10)),
                       20, msg="/health turns 503")
        for method, path, body in (("GET", "/instance/fetchInstances", None),
                                   ("POST", "/instance/create", {"instanceName": "during",
                                                                 "integration": "WHATSAPP-BAILEYS"}),
                                   ("GET", "/settings/find/pg0", None)):
            t0 = time.monotonic()
            r = sup.api(method, path, body, timeout=30)
            took = time.monotonic() - t0
            self.assertEqual(r.status, 503, "%s %s during the outage: %r" % (method, path, r))
            self.assertIsInstance(r.json, dict, r)
            self.assertEqual(r.json.get("status"), 503, r)
            self.assertLess(took, 15, "%s %s hung for %.1fs" % (method, path, took))
        # the supervisor stays up and the workers are untouched
        self.assertTrue(sup.running(), "wagate exited during the outage:\n" + sup.log_tail())
        for iid, pid in pids.items():
            self.assertTrue(_pid_alive(pid), iid)
        # the pool keeps retrying through the outage (a failed attempt per line): two more rounds, still up
        failed = sup.log_text().count("db_conn_connect_failed")
        wait_until(lambda: sup.log_text().count("db_conn_connect_failed") >= failed + 4 or not sup.running(), 30,
                   msg="two more failed reconnection rounds of the pool")
        self.assertTrue(sup.running(), "wagate exited during the outage:\n" + sup.log_tail())
        for iid, pid in pids.items():
            self.assertTrue(_pid_alive(pid), iid)

        self.cluster.start()
        wait_until(lambda: sup.request("GET", "/health", timeout=5).status == 200, 60,
                   msg="/health back to 200 without a restart")
        r = sup.api("GET", "/instance/fetchInstances")
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["name"] for x in r.json), ["pg0", "pg1", "pg2"])
        sup.create_instance("after")
        self.assertEqual(int(db.scalar("SELECT count(*) FROM instance")), 4)
        self.assertEqual(sup.worker_pids().get(ids[0]), pids[ids[0]], "worker restarted by a database outage")
        db.drop()

    def test_start_while_database_down(self):
        """wagate started with the database down waits for it (migrate_connect_wait: an attempt every 250 ms for
        up to 60 s) before it listens; when the database is back it migrates and becomes healthy."""
        db = Database(self.cluster.uri)
        self.cluster.stop()
        attempts = PortCounter(self.cluster.port)
        self.addCleanup(attempts.close)
        sup = self.supervisor(db_uri=db.uri, start=False)
        sup.start(wait=False)
        wait_until(lambda: attempts.accepted >= 4 or not sup.running(), 20, msg="wagate retrying the database",
                   msg_fn=lambda: attempts.accepted)
        self.assertTrue(sup.running(), "wagate exited instead of waiting (rc %s):\n%s"
                        % (sup.proc.returncode, sup.log_tail()))
        with self.assertRaises(ConnectionRefusedError, msg="wagate listens before its database is there"):
            sup.request("GET", "/health", timeout=5)
        attempts.close()
        self.cluster.start()
        sup.wait_healthy(60)
        self.assertIn("instance", db.tables(), "migrations did not run")
        sup.create_instance("late")
        self.assertEqual(db.count("instance"), 1)
        db.drop()


class PgOutageMessagesTest(OwnCluster, MessagingCase):
    """Messaging through an outage."""

    def supervisor(self, env=None, start=True, db_uri=None):
        if self.db is None:
            self.db = Database(self.cluster.uri)
        return super().supervisor(env, start, db_uri)

    def test_texts_during_outage_stored_after(self):
        """A phone's texts that reach the instance while PostgreSQL is down are stored (once each, with their
        messages.upsert) when it is back: the worker keeps them and tries again, where it used to leave them
        unacked until its next login. A sendText during the outage is a clean error; after it, one goes out."""
        me = self.pair_ready("po", "15557950001", "Outage")
        peer = self.pair_ready("po-peer", "15557950002", "Writer")
        self.wait_msg(me["iid"], self.phone_send(peer["phone"], me["user"], "before"))
        pid = self.sup.worker_pids()[me["iid"]]
        logins = self.fw.device(me["jid"])["logins"]
        self.cluster.stop()
        wait_until(lambda: self.sup.request("GET", "/health", timeout=10).status == 503, 20, msg="/health 503")
        texts = ["during %d" % i for i in range(5)]
        ids = [self.phone_send(peer["phone"], me["user"], t) for t in texts]
        t0 = time.monotonic()
        r = self.send_text("po", peer["phone"], "not now")
        self.assertErrorEnvelope(r, 503, "Service Unavailable")
        self.assertLess(time.monotonic() - t0, 15, "sendText hung through the outage")
        # the worker tried (and paused) before the database comes back
        wait_until(lambda: "the database is away" in self.sup.log_text(), 20, msg="the executor paused")
        self.cluster.start()
        wait_until(lambda: self.sup.request("GET", "/health", timeout=5).status == 200, 60, msg="/health 200")
        # the workers hear that it is back (DatabaseBack) rather than wait out their pause (up to 10 s)
        wait_until(lambda: re.search(r"database reachable: [1-9][0-9]* worker\(s\) told", self.sup.log_text()), 20,
                   msg="DatabaseBack sent")
        for mid, text in zip(ids, texts):
            row = self.wait_msg(me["iid"], mid, timeout=60)
            self.assert_row(row, me["iid"], mid, peer["user"], False, text, push=peer["push"])
            self.wait_hook("messages.upsert", "po", mid)
        self.wait_outbox_empty()
        for mid in ids:
            self.assertEqual(len(self.hooks("messages.upsert", "po", mid)), 1, mid)
        self.assertEqual(self.count_rows("message", me["iid"], "NOT from_me"), 6)
        # no new login brought them: the same worker, the same connection
        self.assertEqual(self.sup.worker_pids()[me["iid"]], pid)
        self.assertEqual(self.fw.device(me["jid"])["logins"], logins)
        r = self.send_text("po", peer["phone"], "after")
        self.assertStatus(r, 201)
        self.wait_phone_text(peer["phone"], r.json["key"]["id"], "after", sender=me["jid"])

if __name__ == "__main__":
    main()
