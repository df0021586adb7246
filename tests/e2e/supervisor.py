"""The product under test: the wagate supervisor process (private runtime dir, log file, free port), the HTTP
client, the /metrics parser, and the wagate-worker processes that belong to this test process."""

import glob
import http.client
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.parse

from common import REPO, free_port, log, missing, on_exit, pid_alive, rand_suffix, track_proc, wait_until

API_KEY = "e2e-global-key-0123456789"

_worker_tags = set()  # WAGATE_E2E_TAG values given to supervisors (inherited by workers, if env is passed)
_worker_ids = set()   # instance ids seen; `wagate-worker <id>` processes are ours


def find_bins():
    """Paths of wagate and wagate-worker: env first, else the newest build*/ tree that has them."""
    sup = os.environ.get("WAGATE_BIN")
    wrk = os.environ.get("WAGATE_WORKER_BIN")
    if sup and wrk:
        return sup, wrk
    cands = []
    for d in glob.glob(os.path.join(REPO, "build*")):
        s = os.path.join(d, "supervisor", "wagate")
        w = os.path.join(d, "worker", "wagate-worker")
        if os.access(s, os.X_OK) and os.access(w, os.X_OK):
            cands.append((os.path.getmtime(s), s, w))
    if not cands:
        return sup, wrk
    cands.sort()
    return sup or cands[-1][1], wrk or cands[-1][2]



class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            self.json = None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.text[:300])


def http_request(port, method, path, body=None, apikey=None, headers=None, raw=None, timeout=30):
    """One HTTP/1.1 request to 127.0.0.1:port; body is JSON-encoded unless raw bytes are given."""
    h = {"Connection": "close"}
    data = None
    if raw is not None:
        data = raw
        h["Content-Type"] = "application/json"
    elif body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    if apikey is not None:
        h["apikey"] = apikey
    if headers:
        h.update(headers)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        try:
            conn.request(method, path, body=data, headers=h)
        except (BrokenPipeError, ConnectionResetError):
            # The server may answer (413) and close before it read the whole body; the reply is still there.
            pass
        r = conn.getresponse()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()




def our_worker_pids():
    """Pids of wagate-worker processes that belong to this test process (by instance id or env tag)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if not argv or not os.path.basename(argv[0].decode("utf-8", "replace")).startswith("wagate-worker"):
            continue
        ident = argv[1].decode("utf-8", "replace") if len(argv) > 1 else ""
        mine = ident in _worker_ids
        if not mine:
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    env = f.read().split(b"\0")
                mine = any(e.startswith(b"WAGATE_E2E_TAG=") and e[15:].decode() in _worker_tags for e in env)
            except OSError:
                pass
        if mine:
            out.append(pid)
    return out


def worker_processes():
    """{instance_id: [pid, ...]} of every live wagate-worker process on the host (argv = wagate-worker <id>)."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and os.path.basename(argv[0].decode("utf-8", "replace")).startswith("wagate-worker") \
                and pid_alive(int(d)):
            out.setdefault(argv[1].decode("utf-8", "replace"), []).append(int(d))
    return out


_asan_cache = {}


def is_sanitized(path):
    """Whether a binary was built with AddressSanitizer (it then needs a huge virtual address space)."""
    if path not in _asan_cache:
        try:
            with open(path, "rb") as f:
                data = f.read()
                _asan_cache[path] = b"__asan_init" in data or b"AddressSanitizer" in data
        except OSError:
            _asan_cache[path] = False
    return _asan_cache[path]


def parse_metrics(text):
    """Prometheus text -> list of (name, {label: value}, float)."""
    out = []
    rx = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    lrx = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = rx.match(line)
        if not m:
            continue
        labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in lrx.findall(m.group(3) or "")}
        try:
            val = float(m.group(4))
        except ValueError:
            continue
        out.append((m.group(1), labels, val))
    return out


class Supervisor:
    """The wagate binary with a private runtime dir, a log file and a free port."""

    def __init__(self, db_uri, env=None, workdir=None):
        self.bin, self.worker_bin = find_bins()
        if not self.bin or not os.access(self.bin, os.X_OK):
            missing("wagate binary not built (set WAGATE_BIN)")
        self.db_uri = db_uri
        self.workdir = workdir or tempfile.mkdtemp(prefix="wagate-e2e-")
        self.runtime_dir = os.path.join(self.workdir, "run")
        os.makedirs(self.runtime_dir, exist_ok=True)
        self.tag = rand_suffix(12)
        _worker_tags.add(self.tag)
        self.extra_env = dict(env or {})
        self.port = None
        self.proc = None
        self.starts = 0
        self.log_path = os.path.join(self.workdir, "wagate.log")

    def environment(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WEBHOOK_", "WAGATE_", "DATABASE_", "SERVER_", "AUTHENTICATION_", "WA_",
                                    "QRCODE_", "DEL_INSTANCE", "LOG_LEVEL", "CONFIG_SESSION_"))}
        env.update({
            "SERVER_PORT": str(self.port),
            "AUTHENTICATION_API_KEY": API_KEY,
            "DATABASE_CONNECTION_URI": self.db_uri,
            "WAGATE_MIGRATIONS_DIR": os.path.join(REPO, "migrations"),
            "LOG_LEVEL": "debug",
            "WAGATE_HEARTBEAT_INTERVAL_MS": "200",
            "WAGATE_HEARTBEAT_MISSES": "3",
            "WAGATE_RESTART_BACKOFF_MIN_MS": "200",
            "WAGATE_RESTART_BACKOFF_MAX_MS": "2000",
            "WAGATE_RESTART_STABLE_MS": "5000",
            "WAGATE_WEBHOOK_RETRY_MIN_MS": "200",
            "WAGATE_WEBHOOK_RETRY_MAX_MS": "1000",
            "WAGATE_E2E_TAG": self.tag,
        })
        if self.worker_bin:
            env["WAGATE_WORKER_BIN"] = self.worker_bin
            if is_sanitized(self.worker_bin):
                # ASan reserves terabytes of shadow memory: the default RLIMIT_AS kills the worker at start
                env["WAGATE_WORKER_RLIMIT_AS_MB"] = "0"
        # RUNTIME_DIRECTORY is left unset: it turns on worker adoption (workers outlive the supervisor), which
        # only test_adopt.py wants; it passes its own (short: a socket path must fit in 108 bytes).
        # Never contact the real WhatsApp from a test: a closed loopback port unless a test brings fakewa.
        env["WA_WEBSOCKET_URL"] = "ws://127.0.0.1:9/ws/chat"
        for k, v in self.extra_env.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = str(v)
        return env

    def start(self, wait=True, timeout=30, port=None):
        """Start on a free (or the given) port; wait until GET /health answers 200."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.port = port or free_port()
        self.starts += 1
        logf = open(self.log_path, "ab")
        logf.write(("\n===== start #%d on port %d =====\n" % (self.starts, self.port)).encode())
        logf.flush()
        # cwd = workdir so that a stray .env in the caller's cwd does not leak in
        self.proc = subprocess.Popen([self.bin], env=self.environment(), cwd=self.workdir,
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        track_proc(self.proc)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=30):
        """Until GET /health answers 200; an exit of wagate fails at once."""
        def ok():
            if self.proc.poll() is not None:
                raise AssertionError("wagate exited during start (rc=%s); log tail:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            return self.request("GET", "/health", timeout=2).status == 200
        # refused until it listens; a 2 s timeout while it is busy migrating
        wait_until(ok, timeout, msg="wagate healthy", ignore=(OSError,),
                   msg_fn=lambda: "log tail:\n" + self.log_tail())

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=20):
        """SIGTERM, wait, then SIGKILL. Returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                log("wagate ignored SIGTERM for %ds; killing" % timeout)
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """SIGKILL the supervisor (a crash); workers are left to notice EOF by themselves."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, **kw):
        self.stop()
        return self.start(**kw)

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=80):
        return "\n".join(self.log_text().splitlines()[-n:])

    # --- HTTP helpers
    def request(self, method, path, body=None, apikey=None, **kw):
        return http_request(self.port, method, path, body=body, apikey=apikey, **kw)

    def api(self, method, path, body=None, apikey=API_KEY, **kw):
        """Request with the global key by default; returns Response (status, json)."""
        return self.request(method, path, body=body, apikey=apikey, **kw)

    def metrics(self):
        r = self.api("GET", "/metrics", timeout=10)
        if r.status != 200:
            raise AssertionError("GET /metrics -> %r" % r)
        return parse_metrics(r.text)

    def metric(self, name, **labels):
        """Value of the first sample with that name and labels, or None."""
        for n, l, v in self.metrics():
            if n == name and all(l.get(k) == str(x) for k, x in labels.items()):
                return v
        return None

    def worker_pids(self):
        """{instance_id: pid} from wagate_worker_pid."""
        out = {}
        for n, l, v in self.metrics():
            if n == "wagate_worker_pid" and v > 0:
                out[l.get("instance_id")] = int(v)
                _worker_ids.add(l.get("instance_id"))
        return out

    def restarts(self, name):
        return self.metric("wagate_worker_restarts_total", instance=name) or 0

    # --- instance helpers (pairing / lifecycle scenarios)
    def state(self, name):
        """connectionState's state (None if the instance is unknown)."""
        r = self.api("GET", "/instance/connectionState/" + name, timeout=10)
        return (r.json or {}).get("instance", {}).get("state") if r.status == 200 else None

    def wait_state(self, name, state, timeout=20):
        return wait_until(lambda: self.state(name) == state, timeout, interval=0.1,
                          msg="%s %s" % (name, state), msg_fn=lambda: self.state(name))

    def fetch(self, name):
        """The fetchInstances row of one instance (found in the unfiltered list), or None."""
        r = self.api("GET", "/instance/fetchInstances", timeout=10)
        if r.status != 200:
            raise AssertionError("fetchInstances -> %r" % r)
        for x in r.json:
            if x.get("name") == name:
                return x
        return None

    def qr(self, name, number=None):
        """GET /instance/connect/<name>: the QR object (or the open connectionState shape)."""
        path = "/instance/connect/" + name + ("?number=" + urllib.parse.quote(number) if number else "")
        r = self.api("GET", path, timeout=15)
        if r.status != 200:
            raise AssertionError("connect %s -> %r" % (name, r))
        return r.json

    def wait_qr(self, name, timeout=20, newer_than=0, key="code"):
        """Poll connect until its QR object has `key` (and a count above newer_than); returns the object."""
        def have():
            q = self.qr(name)
            return q if isinstance(q, dict) and q.get(key) and q.get("count", 0) > newer_than else None
        return wait_until(have, timeout, interval=0.2, msg="a QR object with %s for %s" % (key, name))

    def create_instance(self, name, **body):
        b = {"instanceName": name, "integration": "WHATSAPP-BAILEYS"}
        b.update(body)
        r = self.api("POST", "/instance/create", b)
        if r.status != 201:
            raise AssertionError("create %s -> %r" % (name, r))
        _worker_ids.add(r.json["instance"]["instanceId"])
        return r.json


def _kill_our_workers():
    """SIGKILL every worker of ours still alive (a few rounds: a dying supervisor may just have spawned one)."""
    for attempt in range(3):
        pids = our_worker_pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.2)


on_exit(_kill_our_workers)
