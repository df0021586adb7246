"""Workers outlive a supervisor restart (issue 11, part 7; DESIGN.md): with RUNTIME_DIRECTORY set, a paired worker
whose supervisor dies keeps its WhatsApp connection and waits on $RUNTIME_DIRECTORY/workers/<id>.sock; the next
supervisor adopts it (fakewa sees no reconnect) and drives it as its own (logout, restart). After SIGTERM the
same; a worker nobody adopts exits after WAGATE_ORPHAN_GRACE_S; a worker of a deleted instance is told to exit.

WAGATE_E2E_ADOPT_N sets the number of instances of the kill -9 scenario (default 100). Times are printed, never
asserted."""

import concurrent.futures
import os
import shutil
import signal
import socket
import struct
import sys
import tempfile
import time

from harness import PairingCase, main, our_worker_pids, pid_alive, wait_until

N = int(os.environ.get("WAGATE_E2E_ADOPT_N", "100"))


class AdoptTest(PairingCase):

    def setUp(self):
        # short: <dir>/workers/<uuid>.sock must fit in a sockaddr_un
        self.rundir = tempfile.mkdtemp(prefix="wgad-", dir="/tmp")
        self.addCleanup(shutil.rmtree, self.rundir, True)  # also when setUp fails
        self.pairing_env = {"RUNTIME_DIRECTORY": self.rundir, "WAGATE_ORPHAN_GRACE_S": "60",
                            # many workers generating keys at once on 2 shared cores
                            "WAGATE_HEARTBEAT_INTERVAL_MS": "1000", "WAGATE_HEARTBEAT_MISSES": "10",
                            "WAGATE_SPAWN_CONCURRENCY": "32"}
        super().setUp()
        # Runs before the harness's cleanup: the workers outlive a SIGTERM on purpose, so the supervisors get
        # SIGINT (which stops their workers), then any worker of ours still alive is killed by pid.
        self.addCleanup(self._teardown_workers)

    def _teardown_workers(self):
        for s in self._sups:
            if s.running():
                s.proc.send_signal(signal.SIGINT)
                try:
                    s.proc.wait(20)
                except Exception:
                    s.kill()
        for pid in set(our_worker_pids()) | set(self.socket_pids()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        shutil.rmtree(self.rundir, ignore_errors=True)

    def socket_pids(self):
        """Pids of the wagate-worker processes listening on sockets under our runtime directory (SO_PEERCRED)."""
        out = []
        for iid in self.sockets():
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
                    c.settimeout(2)
                    c.connect(os.path.join(self.rundir, "workers", iid + ".sock"))
                    pid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                             struct.calcsize("3i")))[0]
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    if os.path.basename(f.read().split(b"\0")[0]).startswith(b"wagate-worker"):
                        out.append(pid)
            except OSError:
                pass
        return out

    # --- helpers
    def sockets(self):
        d = os.path.join(self.rundir, "workers")
        return sorted(f[:-5] for f in os.listdir(d) if f.endswith(".sock")) if os.path.isdir(d) else []

    def pair_one(self, i):
        name, phone = "a%03d" % i, "1555200%04d" % i
        r = self.sup.api("POST", "/instance/create", {"instanceName": name, "integration": "WHATSAPP-BAILEYS",
                                                      "qrcode": True}, timeout=60)
        if r.status != 201:
            raise AssertionError("create %s -> %r" % (name, r))
        self.scan(name, code=(r.json.get("qrcode") or {}).get("code"), phone=phone, timeout=120)
        return name

    def pair_many(self, n):
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            names = list(ex.map(self.pair_one, range(n)))
        self.wait_all(self.sup, names, "open", 180)
        # settled: every device logged in with its prekeys uploaded, so nothing is in flight
        wait_until(lambda: len(self.devices()) == n and all(d["prekeys"] == 812 and d["active"] and d["connected"]
                                                            for d in self.devices().values()),
                   120, interval=0.5, msg="%d devices settled" % n)
        return names

    def devices(self):
        return {d["jid"]: d for a in self.fw.accounts() for d in a.get("devices", [])}

    def logins(self):
        return {j: d["logins"] for j, d in self.devices().items()}

    def states(self, sup):
        r = sup.api("GET", "/instance/fetchInstances", timeout=30)
        return {x["name"]: x["connectionStatus"] for x in r.json} if r.status == 200 else {}

    def wait_all(self, sup, names, state, timeout):
        wait_until(lambda: all(self.states(sup).get(n) == state for n in names), timeout, interval=0.3,
                   msg="%d instances %s" % (len(names), state),
                   msg_fn=lambda: sorted(set(self.states(sup).values())))

    def next_supervisor(self):
        """A second supervisor on the same database, fakewa and runtime directory."""
        env = dict(self.fw.env, WEBHOOK_GLOBAL_URL=self.rx.url, WEBHOOK_GLOBAL_ENABLED="true")
        env.update(self.pairing_env)
        return self.supervisor(env, start=False)

    # --- scenarios
    def test_kill9_adopt_all(self):
        names = self.pair_many(N)
        pids = self.sup.worker_pids()
        self.assertEqual(len(pids), N)
        before = self.logins()
        clients = sorted(c["id"] for c in self.fw.clients())

        self.sup.kill()
        wait_until(lambda: len(self.sockets()) == N, 30, interval=0.1, msg="%d adoption sockets" % N,
                   msg_fn=lambda: len(self.sockets()))
        self.assertEqual(sorted(self.sockets()), sorted(pids))
        for iid in pids:
            st = os.stat(os.path.join(self.rundir, "workers", iid + ".sock"))
            self.assertEqual(st.st_mode & 0o777, 0o600)

        sup2 = self.next_supervisor()
        t0 = time.monotonic()
        sup2.start(timeout=60)
        t_api = time.monotonic() - t0
        self.wait_all(sup2, names, "open", 120)
        t_open = time.monotonic() - t0
        sys.stderr.write("\nadopt: %d instances: new supervisor answering in %.2f s, all open in %.2f s\n"
                         % (N, t_api, t_open))

        self.assertEqual(sup2.worker_pids(), pids, "workers were respawned instead of adopted")
        after = self.logins()
        reconnects = sum(after[j] - before[j] for j in before)
        sys.stderr.write("adopt: reconnects seen by fakewa across kill -9: %d\n" % reconnects)
        self.assertEqual(reconnects, 0)
        self.assertEqual(sorted(c["id"] for c in self.fw.clients()), clients)
        self.assertEqual(self.sockets(), [], "adopted workers keep no socket")
        self.assertEqual(self.db.count("instance", "connection_status = 'open'"), N)

        # an adopted worker is driven like a spawned one: restart gives a fresh worker that logs in again,
        # logout retires it; the others are untouched
        a, b = (sup2.fetch(n)["id"] for n in names[:2])
        r = sup2.api("POST", "/instance/restart/" + names[0])
        self.assertStatus(r, 200)
        wait_until(lambda: sup2.worker_pids().get(a) not in (None, pids[a]), 30,
                   msg="a new worker for the restarted instance")
        sup2.wait_state(names[0], "open", 60)
        r = sup2.api("DELETE", "/instance/logout/" + names[1])
        self.assertStatus(r, 200)
        wait_until(lambda: b not in sup2.worker_pids(), 30, msg="the logged-out adopted worker retired")
        wait_until(lambda: not pid_alive(pids[b]), 10, msg="its process gone")
        sup2.wait_state(names[1], "close", 20)
        self.assertTrue(sup2.running())
        others = {k: v for k, v in pids.items() if k not in (a, b)}
        self.assertEqual({k: v for k, v in sup2.worker_pids().items() if k in others}, others)
        now = self.logins()  # the logged-out device is gone from fakewa
        self.assertEqual(len(now), N - 1)
        self.assertEqual(sum(now[j] - after[j] for j in now), 1, "only the restarted one logs in again")

    def test_sigterm_adopt_and_stray(self):
        names = self.pair_many(3)
        pids = self.sup.worker_pids()
        before = self.logins()
        self.assertEqual(self.sup.stop(), 0)
        wait_until(lambda: len(self.sockets()) == 3, 20, msg="3 adoption sockets after SIGTERM",
                   msg_fn=self.sockets)
        for pid in pids.values():
            self.assertTrue(pid_alive(pid))
        # an instance deleted while its worker is orphaned: the next supervisor tells that worker to exit
        gone = self.instance_id_db(names[2])
        self.db.query("DELETE FROM instance WHERE id = '%s'" % gone)
        sup2 = self.next_supervisor()
        sup2.start(timeout=60)
        self.wait_all(sup2, names[:2], "open", 60)
        self.assertEqual({k: v for k, v in sup2.worker_pids().items()}, {k: v for k, v in pids.items() if k != gone})
        wait_until(lambda: not pid_alive(pids[gone]), 15, msg="the deleted instance's worker exits")
        self.assertEqual(self.sockets(), [])
        after = self.logins()
        self.assertEqual(sum(after[j] - before[j] for j in before), 0)

    def test_orphan_grace(self):
        self.pairing_env["WAGATE_ORPHAN_GRACE_S"] = "2"
        self.sup.stop()
        self.sup = self.next_supervisor()
        self.sup.start()
        names = self.pair_many(1)
        pid = self.sup.worker_pids()[self.instance_id(names[0])]
        self.sup.kill()
        wait_until(lambda: len(self.sockets()) == 1, 20, msg="adoption socket")
        t0 = time.monotonic()
        wait_until(lambda: not pid_alive(pid), 20, interval=0.1, msg="the orphan exits after its grace")
        took = time.monotonic() - t0
        self.assertGreater(took, 1.0, "the orphan did not wait for its grace")
        self.assertEqual(self.sockets(), [], "the orphan left its socket behind")
        wait_until(lambda: not any(d["connected"] for d in self.devices().values()), 10,
                   msg="fakewa sees the connection closed")

    def test_socket_removed(self):
        """A full systemctl stop removes RuntimeDirectory=: an orphan whose socket file is gone exits at once."""
        names = self.pair_many(1)
        pid = self.sup.worker_pids()[self.instance_id(names[0])]
        self.sup.kill()
        wait_until(lambda: len(self.sockets()) == 1, 20, msg="adoption socket")
        shutil.rmtree(os.path.join(self.rundir, "workers"))
        wait_until(lambda: not pid_alive(pid), 10, interval=0.1, msg="the orphan exits (grace is 60 s)")

    def test_store_held_while_orphaned(self):
        """A StoreBatch the worker makes while orphaned (a prekey refill WhatsApp asks for) waits for the next
        supervisor, which stores it; only then are the keys uploaded."""
        names = self.pair_many(1)
        iid = self.instance_id(names[0])
        jid = list(self.devices())[0]
        before = self.logins()
        self.sup.kill()
        wait_until(lambda: len(self.sockets()) == 1, 20, msg="adoption socket")
        r = self.fw.post("/admin/prekey-low?jid=%s&count=2" % jid)
        self.assertEqual(r.status, 200, r)
        sup2 = self.next_supervisor()
        sup2.start(timeout=60)
        sup2.wait_state(names[0], "open", 30)
        wait_until(lambda: self.db.count("signal_prekey", "instance_id = '%s' AND uploaded" % iid) > 812, 30,
                   interval=0.2, msg="the held refill stored and uploaded",
                   msg_fn=lambda: self.db.count("signal_prekey", "instance_id = '%s'" % iid))
        n = self.db.count("signal_prekey", "instance_id = '%s'" % iid)
        wait_until(lambda: self.devices()[jid]["prekeys"] == n, 20, msg="fakewa has the %d prekeys" % n,
                   msg_fn=lambda: self.devices()[jid]["prekeys"])
        self.assertEqual(self.logins(), before)

    def instance_id_db(self, name):
        return self.db.scalar("SELECT id FROM instance WHERE name = '%s'" % name)


if __name__ == "__main__":
    main()
