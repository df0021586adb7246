"""Crash isolation: kill -9 one worker -> restarted with backoff, the others keep their pids; a SIGSTOPped
worker is detected by missed heartbeats and replaced."""

import os
import re
import signal
import time

from harness import E2ETestCase, main, wait_until, _pid_alive

N = 4


class WorkersTest(E2ETestCase):
    supervisor_env = {
        "WAGATE_HEARTBEAT_INTERVAL_MS": "200",
        "WAGATE_HEARTBEAT_MISSES": "3",
        "WAGATE_RESTART_BACKOFF_MIN_MS": "500",
        "WAGATE_RESTART_BACKOFF_MAX_MS": "4000",
        "WAGATE_RESTART_STABLE_MS": "30000",
    }

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.ids = {}
        for i in range(N):
            c = self.sup.create_instance("w%d" % i)
            self.ids["w%d" % i] = c["instance"]["instanceId"]
        self.pids = wait_until(lambda: self.all_pids(), 30, msg="%d workers running" % N)

    def all_pids(self):
        p = self.sup.worker_pids()
        return p if all(i in p for i in self.ids.values()) else None

    def wait_new_pid(self, iid, old, timeout=15):
        """Wait until the instance has a live worker whose pid differs from old; return (pid, seconds)."""
        t0 = time.monotonic()
        pid = wait_until(lambda: (lambda p: p if p and p != old and _pid_alive(p) else None)(
            self.sup.worker_pids().get(iid)), timeout, interval=0.02, msg="new worker for %s" % iid)
        return pid, time.monotonic() - t0

    def assert_others_untouched(self, victim):
        now = self.sup.worker_pids()
        for name, iid in self.ids.items():
            if name == victim:
                continue
            self.assertEqual(now.get(iid), self.pids[iid], "worker of %s changed pid" % name)
            self.assertTrue(_pid_alive(self.pids[iid]), name)
            self.assertEqual(self.sup.restarts(name), 0, name)

    def test_kill9_restarts_only_that_worker(self):
        victim, iid = "w1", self.ids["w1"]
        old = self.pids[iid]
        os.kill(old, signal.SIGKILL)
        new, took = self.wait_new_pid(iid, old)
        self.assertNotEqual(new, old)
        wait_until(lambda: not _pid_alive(old), 5, msg="old worker reaped (no zombie)")
        self.assertGreaterEqual(self.sup.restarts(victim), 1)
        self.assert_others_untouched(victim)
        # the instance stays usable and is reported honestly
        r = self.sup.api("GET", "/instance/connectionState/w1")
        self.assertStatus(r, 200)
        self.assertIn(r.json["instance"]["state"], ("close", "connecting", "open"))
        def argv_of():
            with open("/proc/%d/cmdline" % new, "rb") as f:
                a = f.read().split(b"\0")
            return a if a[0].decode().endswith("wagate-worker") else None
        self.assertEqual(wait_until(argv_of, 10, 0.02, msg="new worker exec'd")[1].decode(), iid)

    def test_restart_backoff_grows(self):
        victim, iid = "w2", self.ids["w2"]
        pid = self.pids[iid]
        delays = []
        for _ in range(4):
            os.kill(pid, signal.SIGKILL)
            pid, took = self.wait_new_pid(iid, pid, timeout=20)
            delays.append(took)
        # min 500 ms doubling to a 4 s cap: roughly 0.5, 1, 2, 4 s (jitter allowed)
        self.assertLess(delays[0], 2.5, delays)
        self.assertGreater(delays[2] + delays[3], 2.0, "no backoff: %r" % delays)
        self.assertLess(max(delays), 4.0 * 1.5 + 1.5, "backoff cap not honoured: %r" % delays)
        self.assertGreaterEqual(self.sup.restarts(victim), 4)
        self.assert_others_untouched(victim)

    def test_sigstop_detected_by_heartbeat(self):
        victim, iid = "w3", self.ids["w3"]
        old = self.pids[iid]
        os.kill(old, signal.SIGSTOP)
        try:
            # 3 missed 200 ms heartbeats ~ 0.6-0.8 s, then backoff; allow generous slack
            new, took = self.wait_new_pid(iid, old, timeout=15)
        finally:
            if _pid_alive(old):
                try:
                    os.kill(old, signal.SIGCONT)
                except OSError:
                    pass
        self.assertNotEqual(new, old)
        wait_until(lambda: not _pid_alive(old), 5, msg="hung worker killed and reaped")
        self.assertGreaterEqual(self.sup.restarts(victim), 1)
        self.assert_others_untouched(victim)
        log = self.sup.log_text()
        self.assertTrue("w3" in log or iid in log, "the hang is not logged with the instance")

    def test_killing_all_workers(self):
        for iid, pid in self.pids.items():
            os.kill(pid, signal.SIGKILL)
        new = wait_until(lambda: (lambda p: p if all(p.get(i) and p[i] != self.pids[i] for i in self.ids.values())
                                  else None)(self.sup.worker_pids()), 20, msg="all workers replaced")
        self.assertEqual(len(set(new.values())), N)
        self.assertStatus(self.sup.api("GET", "/health"), 200)


class CrashLoopTest(E2ETestCase):
    """A worker that dies at once every time must be restarted with backoff, not in a tight loop."""
    supervisor_env = {"WAGATE_WORKER_BIN": "/bin/false", "WAGATE_RESTART_BACKOFF_MIN_MS": "200",
                      "WAGATE_RESTART_BACKOFF_MAX_MS": "2000"}

    def test_crash_loop_is_throttled(self):
        sup = self.supervisor()
        sup.create_instance("loop")
        # 200 ms doubling to a 2 s cap, half of it jitter ("restart in N ms"); a tight loop would make hundreds
        def delays():
            return [int(x) for x in re.findall(r"worker_reap_schedule_restart: loop: restart in (\d+) ms",
                                                sup.log_text())]
        d = wait_until(lambda: (lambda d: d if len(d) >= 5 else None)(delays()), 30, msg="five restarts",
                       msg_fn=delays)
        for i, ms in enumerate(d[:5]):
            self.assertGreaterEqual(ms, min(200 << i, 2000) // 2, "crash loop not throttled: delays %r" % d)
        self.assertLessEqual(sup.restarts("loop"), len(delays()), "restarts without a back-off delay")
        self.assertStatus(sup.api("GET", "/health"), 200)
        r = sup.api("GET", "/instance/connectionState/loop")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["instance"]["state"], "close")
        self.assertStatus(sup.api("DELETE", "/instance/delete/loop"), 200)


if __name__ == "__main__":
    main()
