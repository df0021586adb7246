"""Supervisor restart: every instance comes back from the database with exactly one live worker
(respawned, or adopted if adoption has landed); nothing is lost, nothing is doubled."""

from harness import E2ETestCase, main, wait_until, worker_processes, _pid_alive

N = 5


class RestartTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.ids = {}
        for i in range(N):
            c = self.sup.create_instance("r%d" % i, rejectCall=(i % 2 == 0))
            self.ids["r%d" % i] = c["instance"]["instanceId"]
        self.tokens = {r["name"]: r["token"] for r in self.sup.api("GET", "/instance/fetchInstances").json}
        self.pids = wait_until(self.all_pids, 30, msg="%d workers" % N)

    def all_pids(self):
        p = self.sup.worker_pids()
        return p if all(i in p for i in self.ids.values()) else None

    def one_live_worker_each(self):
        """The supervisor's worker pids once each instance has exactly that one live worker process (the old
        supervisor's workers exit on IPC EOF, and a just-forked worker has not exec'd yet: both settle)."""
        pids = self.all_pids()
        if pids is None:
            return None
        procs = worker_processes()
        ok = all(_pid_alive(pids[iid]) and procs.get(iid) == [pids[iid]] for iid in self.ids.values())
        return pids if ok else None

    def assert_one_live_worker_each(self):
        return wait_until(self.one_live_worker_each, 30, msg="one live worker for each of the %d instances" % N,
                          msg_fn=lambda: (self.sup.worker_pids(), worker_processes()))

    def assert_instances_intact(self):
        r = self.sup.api("GET", "/instance/fetchInstances")
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["name"] for x in r.json), sorted(self.ids))
        for x in r.json:
            self.assertEqual(x["id"], self.ids[x["name"]])
            self.assertEqual(x["token"], self.tokens[x["name"]])
            self.assertEqual(x["Setting"]["rejectCall"], int(x["name"][1:]) % 2 == 0, x["name"])
        for name in self.ids:
            r = self.sup.request("GET", "/instance/connectionState/" + name, apikey=self.tokens[name])
            self.assertStatus(r, 200, name)

    def test_sigterm_restart(self):
        rc = self.sup.stop()
        self.assertEqual(rc, 0, "wagate exit status on SIGTERM")
        self.sup.start()
        self.assert_one_live_worker_each()
        self.assert_instances_intact()
        self.assertEqual(sum(v for n, l, v in self.sup.metrics() if n == "wagate_instances"), N)

    def test_sigkill_restart(self):
        self.sup.kill()
        self.sup.start()
        self.assert_one_live_worker_each()
        self.assert_instances_intact()

    def test_restart_twice_quickly(self):
        self.sup.restart()
        self.sup.restart()
        self.assert_one_live_worker_each()
        self.assert_instances_intact()


if __name__ == "__main__":
    main()
