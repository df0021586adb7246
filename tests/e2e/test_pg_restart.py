"""PostgreSQL restart mid-run (a private cluster via scripts/pg.sh): the API answers 503 during the outage,
the supervisor and its workers stay up, and everything recovers by itself when the database is back."""

import time

from harness import E2ETestCase, PgCluster, Database, main, wait_until, _pid_alive


class PgRestartTest(E2ETestCase):
    use_shared_db = False

    def setUp(self):
        # own cluster: stopping the shared one would break every other test
        self.cluster = PgCluster()
        self.cluster.start()
        self.addCleanup(self.cluster.destroy)
        super().setUp()

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
        time.sleep(2)
        self.assertTrue(sup.running())

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
        """wagate started with the database down either waits for it or exits non-zero with a clear message."""
        db = Database(self.cluster.uri)
        self.cluster.stop()
        sup = self.supervisor(db_uri=db.uri, start=False)
        sup.start(wait=False)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sup.running():
            time.sleep(0.1)
        if not sup.running():
            self.assertNotEqual(sup.proc.returncode, 0)
            self.assertTrue(sup.log_text().strip(), "no message on exit")
            return
        self.cluster.start()
        sup.wait_healthy(60)
        sup.create_instance("late")
        db.drop()


if __name__ == "__main__":
    main()
