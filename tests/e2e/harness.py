"""End-to-end harness for wagate: throwaway PostgreSQL, the real supervisor, HTTP client, webhook receiver.

Standard library only. Every scenario test imports this module and derives from E2ETestCase.

Environment:
  WAGATE_BIN, WAGATE_WORKER_BIN  binaries under test (meson passes them; otherwise build*/ is searched)
  WAGATE_TEST_PGURI              superuser URI of a running cluster (tests/run.sh exports it); unset =>
                                 a private cluster is started with scripts/pg.sh for the test process
  WAGATE_E2E_KEEP                keep temp dirs (logs) after the run
"""

import atexit
import base64
import glob
import http.client
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PG_SH = os.path.join(REPO, "scripts", "pg.sh")
API_KEY = "e2e-global-key-0123456789"

# Everything we start, so that any exit path (failure, SIGTERM from meson's timeout) can kill it.
_live_procs = []      # subprocess.Popen
_live_clusters = []   # PgCluster
_worker_tags = set()  # WAGATE_E2E_TAG values given to supervisors (inherited by workers, if env is passed)
_worker_ids = set()   # instance ids seen; `wagate-worker <id>` processes are ours
_lock = threading.Lock()


def log(msg):
    """Progress line on stderr (meson shows it on failure)."""
    sys.stderr.write("[e2e %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


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


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rand_suffix(n=8):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def wait_until(pred, timeout=10.0, interval=0.1, msg="condition", msg_fn=None):
    """Poll pred() until it returns a truthy value; return it, or raise AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a predicate may race with a restarting server
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            if msg_fn is not None:
                try:
                    extra += "; state: %r" % (msg_fn(),)
                except Exception as e:
                    extra += "; state unavailable: %r" % (e,)
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (timeout, msg, extra))
        time.sleep(interval)


# ---------------------------------------------------------------------------------------------------
# PostgreSQL

class PgCluster:
    """A private cluster driven by scripts/pg.sh (start DIR PORT / stop DIR)."""

    def __init__(self, directory=None, port=None):
        self.dir = directory or tempfile.mkdtemp(prefix="wagate-e2e-pg-")
        self.port = port or free_port()
        self.running = False

    @property
    def uri(self):
        return "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def start(self):
        env = dict(os.environ, PG_FSYNC="off")
        r = subprocess.run(["bash", PG_SH, "start", self.dir, str(self.port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pg.sh start failed: %s" % r.stdout)
        self.running = True
        with _lock:
            if self not in _live_clusters:
                _live_clusters.append(self)

    def stop(self):
        subprocess.run(["bash", PG_SH, "stop", self.dir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        self.running = False

    def destroy(self):
        self.stop()
        with _lock:
            if self in _live_clusters:
                _live_clusters.remove(self)
        if not os.environ.get("WAGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


_shared_cluster = None


def superuser_uri():
    """WAGATE_TEST_PGURI, or a private cluster started once for this test process."""
    global _shared_cluster
    uri = os.environ.get("WAGATE_TEST_PGURI")
    if uri:
        return uri
    if _shared_cluster is None:
        _shared_cluster = PgCluster()
        log("starting private PostgreSQL on port %d" % _shared_cluster.port)
        _shared_cluster.start()
    return _shared_cluster.uri


def uri_with_db(uri, dbname):
    """Same server and user, another database."""
    p = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def _psql_bin():
    """The newest server-side psql (skips Debian's perl wrapper, which is slow to start)."""
    c = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    return c[-1] if c else "psql"


PSQL = _psql_bin()


def psql(uri, sql, timeout=30):
    """Run one SQL string with psql; return rows as lists of strings (tab separated, unaligned)."""
    r = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%s): %s" % (sql, r.stderr.strip()))
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


class Database:
    """A fresh database e2e_<random> on a cluster; dropped by drop()."""

    def __init__(self, admin_uri):
        self.admin_uri = admin_uri
        self.name = "e2e_" + rand_suffix(10)
        psql(admin_uri, "CREATE DATABASE %s" % self.name)
        self.uri = uri_with_db(admin_uri, self.name)

    def query(self, sql):
        return psql(self.uri, sql)

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def count(self, table, where=None):
        return int(self.scalar("SELECT count(*) FROM %s%s" % (table, " WHERE " + where if where else "")))

    def tables(self):
        """Tables of the public schema (after migrations ran)."""
        return [r[0] for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema ="
                                         " 'public' AND table_type = 'BASE TABLE' ORDER BY 1")]

    def fingerprint(self, exclude=("schema_migrations",)):
        """{table: (row count, md5 of every row)}: equal fingerprints mean nothing was written (one psql call)."""
        tables = [t for t in self.tables() if t not in exclude]
        if not tables:
            return {}
        sql = " UNION ALL ".join(
            "SELECT '%s', count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM %s x" % (t, t)
            for t in tables)
        return {r[0]: (int(r[1]), r[2]) for r in self.query(sql)}

    def drop(self):
        try:
            psql(self.admin_uri, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except Exception as e:
            log("could not drop %s: %s" % (self.name, e))


# ---------------------------------------------------------------------------------------------------
# HTTP

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


# ---------------------------------------------------------------------------------------------------
# Supervisor

def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


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
                and _pid_alive(int(d)):
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
            raise unittest.SkipTest("wagate binary not built (set WAGATE_BIN)")
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
            "RUNTIME_DIRECTORY": self.runtime_dir,
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
        with _lock:
            _live_procs.append(self.proc)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=30):
        def ok():
            if self.proc.poll() is not None:
                raise RuntimeError("wagate exited with %s" % self.proc.returncode)
            return self.request("GET", "/health", timeout=2).status == 200
        deadline = time.monotonic() + timeout
        while True:
            try:
                if ok():
                    return
            except RuntimeError:
                raise AssertionError("wagate exited during start (rc=%s); log tail:\n%s"
                                     % (self.proc.returncode, self.log_tail()))
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("wagate not healthy after %ds; log tail:\n%s" % (timeout, self.log_tail()))
            time.sleep(0.1)

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
        r = self.request("GET", "/metrics", timeout=10)
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


def kill_everything():
    """Kill every supervisor, every worker of ours and stop every private cluster."""
    with _lock:
        procs = list(_live_procs)
        clusters = list(_live_clusters)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(10)
            except Exception:
                pass
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
    for c in clusters:
        try:
            c.destroy()
        except Exception:
            pass


atexit.register(kill_everything)


def _on_term(sig, frame):
    kill_everything()
    os._exit(128 + sig)


signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGHUP, _on_term)


# ---------------------------------------------------------------------------------------------------
# fakewa (tests/fakewa): the WhatsApp server for tests

def find_fakewa():
    """WAGATE_FAKEWA_BIN, else the newest build*/tests/fakewa/fakewa; None if not built."""
    p = os.environ.get("WAGATE_FAKEWA_BIN")
    if p:
        return p if os.access(p, os.X_OK) else None
    c = [(os.path.getmtime(x), x) for x in glob.glob(os.path.join(REPO, "build*", "tests", "fakewa", "fakewa"))
         if os.access(x, os.X_OK)]
    return max(c)[1] if c else None


class Fakewa:
    """A fakewa process (plain WebSocket on loopback) with its control API; supervisor env in .env."""

    def __init__(self, tls=False):
        self.bin = find_fakewa()
        if not self.bin:
            raise unittest.SkipTest("fakewa not built (set WAGATE_FAKEWA_BIN)")
        self.dir = tempfile.mkdtemp(prefix="wagate-e2e-fakewa-")
        self.tls = tls
        self.proc = None

    def start(self):
        root = os.path.join(self.dir, "root.pub")
        # --debug: fakewa says why it drops a client (its log is printed when a test fails)
        args = [self.bin, "--debug", "--root-key-out", root, "--cert-out", os.path.join(self.dir, "cert.pem")]
        if self.tls:
            args.append("--tls")
        self.log_path = os.path.join(self.dir, "fakewa.log")
        errf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
        errf.close()
        with _lock:
            _live_procs.append(self.proc)
        line = self.proc.stdout.readline().decode("utf-8", "replace")
        m = re.match(r"fakewa ready port=(\d+) control=(\d+)", line)
        if not m:
            raise RuntimeError("fakewa did not start: %r" % line)
        self.port, self.control = int(m.group(1)), int(m.group(2))
        with open(root) as f:
            self.root_key = f.read().strip()
        return self

    @property
    def env(self):
        """Supervisor environment that points workers at this fakewa."""
        e = {"WA_WEBSOCKET_URL": "%s://127.0.0.1:%d/ws/chat" % ("wss" if self.tls else "ws", self.port),
             "WA_ROOT_KEY": self.root_key}
        if self.tls:
            e["WA_TLS_CA_FILE"] = os.path.join(self.dir, "cert.pem")
        return e

    def call(self, path, method="POST"):
        r = http_request(self.control, method, path, raw=b"" if method == "POST" else None, timeout=10)
        return r.json

    def clients(self):
        """Live (not dead) client connections."""
        return [c for c in (self.call("/admin/clients", "GET") or {}).get("clients", []) if not c.get("dead")]

    # --- the mock phone and the account store (pairing)
    def post(self, path, body=b"", timeout=25):
        """POST to the control API; returns the Response (status, json). The mock-phone calls answer only when
        the pairing is done (fakewa waits at most 15 s), hence the long default timeout."""
        if isinstance(body, str):
            body = body.encode()
        return http_request(self.control, "POST", path, raw=body, timeout=timeout)

    def scan_qr(self, code, phone=None, name=None, timeout=25):
        """The phone scans the QR text `code`: Response 200 {phone, jid, lid, device, key_index} when paired."""
        q = {}
        if phone:
            q["phone"] = phone
        if name:
            q["name"] = name
        path = "/admin/mock-phone/scan-qr" + ("?" + urllib.parse.urlencode(q) if q else "")
        return self.post(path, code, timeout)

    def pair_code(self, phone, code, name=None, timeout=25):
        """The phone types the pairing code: same answers as scan_qr."""
        q = {"phone": phone, "code": code}
        if name:
            q["name"] = name
        return self.post("/admin/mock-phone/pair-code?" + urllib.parse.urlencode(q), b"", timeout)

    def remove_device(self, jid):
        return self.post("/admin/remove-device?" + urllib.parse.urlencode({"jid": jid}))

    def accounts(self):
        """{"accounts": [...]} as a list."""
        return (self.call("/admin/accounts", "GET") or {}).get("accounts", [])

    def account(self, phone):
        for a in self.accounts():
            if a.get("phone") == phone:
                return a
        return None

    def device(self, jid):
        """The device entry with that device JID (e.g. 15550000001:1@s.whatsapp.net), or None."""
        for a in self.accounts():
            for d in a.get("devices", []):
                if d.get("jid") == jid:
                    return dict(d, phone=a.get("phone"), push_name=a.get("push_name"))
        return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, AttributeError):
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def destroy(self):
        self.stop()
        if not os.environ.get("WAGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------------------------------------------
# Webhook receiver

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        rec = self.server.receiver
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            parsed = None
        status = rec.status
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": parsed, "raw": body, "status": status, "time": time.time()}
        with rec.lock:
            rec.requests.append(entry)
        payload = b'{"ok":true}' if status < 300 else b'{"ok":false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (its timeout); the request is recorded, the product will retry

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request; answers `status` (200 by default)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.requests = []
        self.lock = threading.Lock()
        self.status = 200
        self.server = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def start(self):
        http.server.ThreadingHTTPServer.allow_reuse_address = True
        deadline = time.monotonic() + 10
        while True:
            try:
                self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.server.daemon_threads = True
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def accepted(self):
        """Requests answered 2xx (the ones the product may consider delivered)."""
        return [r for r in self.snapshot() if r["status"] < 300]

    def events(self, event=None, instance=None, accepted_only=True):
        reqs = self.accepted() if accepted_only else self.snapshot()
        out = []
        for r in reqs:
            b = r["body"] if isinstance(r["body"], dict) else {}
            if event is not None and b.get("event") != event:
                continue
            if instance is not None and b.get("instance") != instance:
                continue
            out.append(r)
        return out

    def wait_event(self, event, instance=None, timeout=15, count=1, pred=None):
        def have():
            ev = [r for r in self.events(event, instance) if pred is None or pred(r)]
            return ev if len(ev) >= count else None
        return wait_until(have, timeout, msg="webhook %s for %s (got: %s)" % (
            event, instance, [(r["body"] or {}).get("event") for r in self.snapshot()][-20:]))


# ---------------------------------------------------------------------------------------------------
# Test case base

SANITIZER_RX = re.compile(r"(==\d+==ERROR: (Address|Leak)Sanitizer|runtime error: |==\d+==WARNING: .*Sanitizer)")


def sanitizer_findings(text):
    """Lines of a log that are ASan/LSan/UBSan reports (with a little context)."""
    lines = text.splitlines()
    out = []
    for i, line in enumerate(lines):
        if SANITIZER_RX.search(line):
            out.extend(lines[i:i + 6])
    return out


class E2ETestCase(unittest.TestCase):
    """Gives each test its own database (and optionally supervisor); dumps the log when the test fails."""

    maxDiff = 4000
    supervisor_env = {}
    use_shared_db = True

    def setUp(self):
        self._sups = []
        self.db = None
        if self.use_shared_db:
            self.admin_uri = superuser_uri()
            self.db = Database(self.admin_uri)
        self.addCleanup(self._cleanup)

    def _failed(self):
        try:
            res = self._outcome.result
            return any(t is self for t, _ in list(res.failures) + list(res.errors)) or not self._outcome.success
        except Exception:
            return True

    def _cleanup(self):
        failed = self._failed()
        for s in self._sups:
            if failed or os.environ.get("WAGATE_E2E_VERBOSE"):
                sys.stderr.write("\n----- wagate log (%s) -----\n%s\n-----\n" % (s.log_path, s.log_tail(150)))
            try:
                s.stop(timeout=10)
            except Exception:
                s.kill()
        for pid in our_worker_pids():
            # a worker that outlived its supervisor's exit by more than a moment is an orphan; stop it
            deadline = time.monotonic() + 3
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _pid_alive(pid):
                log("killing orphan worker %d" % pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        if self.db is not None:
            self.db.drop()
        findings = []
        for s in self._sups:
            findings += sanitizer_findings(s.log_text())
        if findings:
            failed = True
        if not failed and not os.environ.get("WAGATE_E2E_KEEP"):
            for s in self._sups:
                shutil.rmtree(s.workdir, ignore_errors=True)
        if findings:
            raise AssertionError("sanitizer reports in the wagate/worker log:\n" + "\n".join(findings[:40]))

    def supervisor(self, env=None, start=True, db_uri=None):
        e = dict(self.supervisor_env)
        e.update(env or {})
        s = Supervisor(db_uri or self.db.uri, e)
        self._sups.append(s)
        if start:
            s.start()
        return s

    # --- assertions
    def assertStatus(self, r, status, msg=None):
        if r.status != status:
            self.fail("%sexpected HTTP %d, got %r" % (msg + ": " if msg else "", status, r))

    def assertErrorEnvelope(self, r, status, error):
        self.assertStatus(r, status)
        self.assertIsInstance(r.json, dict, r)
        self.assertEqual(r.json.get("status"), status, r)
        self.assertEqual(r.json.get("error"), error, r)
        self.assertIn("response", r.json, r)
        self.assertIn("message", r.json["response"], r)


# ---------------------------------------------------------------------------------------------------
# QR codes and pairing (issue 4)

PNG_PREFIX = "data:image/png;base64,"
# Contract: https://wa.me/settings/linked_devices#<ref>,<b64 noisePub>,<b64 identityPub>,<b64 advSecret>,<type>
# (standard base64 with padding; 32-byte keys are 44 characters; client type '1' = CHROME).
QR_TEXT_RX = re.compile(r"^https://wa\.me/settings/linked_devices#([^,\s]+),([A-Za-z0-9+/]{43}=),"
                        r"([A-Za-z0-9+/]{43}=),([A-Za-z0-9+/]{43}=),1$")


def parse_qr_text(code):
    """{ref, noise, identity, adv} (keys as bytes) of a contract-form QR text; AssertionError otherwise."""
    m = QR_TEXT_RX.match(code or "")
    if not m:
        raise AssertionError("QR text is not the contract's wa.me form: %r" % (code,))
    return {"ref": m.group(1), "noise": base64.b64decode(m.group(2)), "identity": base64.b64decode(m.group(3)),
            "adv": base64.b64decode(m.group(4))}


def tamper_adv_secret(code):
    """The same QR text with one bit of the adv secret flipped (what a wrong scan would carry)."""
    m = QR_TEXT_RX.match(code)
    adv = bytearray(base64.b64decode(m.group(4)))
    adv[0] ^= 0x01
    return code[:m.start(4)] + base64.b64encode(bytes(adv)).decode() + code[m.end(4):]


def decode_qr_image(data_url):
    """Text of the QR code in a data:image/png;base64 URL, read back with zbarimg (zbar-tools)."""
    zbar = shutil.which("zbarimg")
    if zbar is None:
        raise unittest.SkipTest("zbarimg not installed (zbar-tools, scripts/deps.sh)")
    if not data_url.startswith(PNG_PREFIX):
        raise AssertionError("not a PNG data URL: %r" % data_url[:40])
    png = base64.b64decode(data_url[len(PNG_PREFIX):], validate=True)
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise AssertionError("not a PNG: %r" % png[:8])
    with tempfile.NamedTemporaryFile(suffix=".png") as f:
        f.write(png)
        f.flush()
        r = subprocess.run([zbar, "--quiet", "--raw", f.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
    if r.returncode != 0:
        raise AssertionError("zbarimg could not read the QR image (rc %d): %s" % (r.returncode, r.stderr[-300:]))
    return r.stdout.decode("utf-8", "replace").rstrip("\n")


def owner_jid(phone):
    return "%s@s.whatsapp.net" % phone


class PairingCase(E2ETestCase):
    """fakewa (with its mock phone) + a webhook receiver + a supervisor pointed at both.

    `pairing_env` adds supervisor variables (WA_QR_FIRST_MS, WA_QR_NEXT_MS, QRCODE_LIMIT ...)."""

    pairing_env = {}

    def setUp(self):
        super().setUp()
        self.fw = Fakewa().start()
        self.addCleanup(self._fakewa_cleanup)
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        env = dict(self.fw.env, WEBHOOK_GLOBAL_URL=self.rx.url, WEBHOOK_GLOBAL_ENABLED="true")
        # A worker generating its first 812 prekeys does not answer pings meanwhile; on 2 busy shared cores that
        # can exceed the base 600 ms (200 ms x 3). 5 s here; the heartbeat itself is test_workers.py's subject.
        env.update({"WAGATE_HEARTBEAT_INTERVAL_MS": "500", "WAGATE_HEARTBEAT_MISSES": "10"})
        env.update(self.pairing_env)
        self.sup = self.supervisor(env)

    def _fakewa_cleanup(self):
        if self._failed() or os.environ.get("WAGATE_E2E_VERBOSE"):
            tail = "\n".join(self.fw.log_text().splitlines()[-60:])
            rc = self.fw.proc.poll() if self.fw.proc is not None else None
            died = "" if rc is None else " (fakewa is DEAD: exit status %d%s)" % (
                rc, ", signal %d" % -rc if rc < 0 else "")
            sys.stderr.write("\n----- fakewa log (%s)%s -----\n%s\n-----\n" % (self.fw.log_path, died, tail))
        if self._failed():
            self.fw.stop()  # keep its directory (log) for a failed test
        else:
            self.fw.destroy()

    # --- webhooks
    def events(self, event, name):
        return [r["body"]["data"] for r in self.rx.events(event, name)]

    def qr_events(self, name):
        """qrcode.updated payloads that carry a QR (not the limit message)."""
        return [d for d in self.events("qrcode.updated", name) if isinstance(d, dict) and "qrcode" in d]

    def updates(self, name, state=None):
        return [d for d in self.events("connection.update", name) if state is None or d.get("state") == state]

    # --- steps
    def new_instance(self, name, **body):
        """Create (without qrcode) and wait for its worker; returns the instance id."""
        iid = self.sup.create_instance(name, **body)["instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 20, msg="worker of " + name)
        return iid

    def connect_qr(self, name, timeout=30):
        """Create + connect; returns the first QR object."""
        self.new_instance(name)
        return self.sup.wait_qr(name, timeout)

    def scan(self, name, code=None, phone=None, push=None, timeout=30):
        """Scan `code` (else the current QR of name) until fakewa pairs it; returns fakewa's 200 JSON.

        A 404 (the ref rotated between connect and scan) is retried with the newest QR of connect."""
        deadline = time.monotonic() + timeout
        while True:
            c = code or self.sup.wait_qr(name, 20)["code"]
            code = None
            r = self.fw.scan_qr(c, phone=phone, name=push)
            if r.status == 200:
                return r.json
            if r.status != 404 or (r.json or {}).get("error") == "not found" or time.monotonic() > deadline:
                raise AssertionError("scan-qr of %s -> %r" % (name, r))
            time.sleep(0.3)

    def pair(self, name, phone, push=None, timeout=40):
        """create -> connect -> scan -> open. Returns fakewa's scan answer (jid, lid, ...)."""
        self.new_instance(name)
        res = self.scan(name, phone=phone, push=push)
        self.sup.wait_state(name, "open", timeout)
        return res

    def wait_open_event(self, name, count=1, timeout=20):
        return self.rx.wait_event("connection.update", name, timeout=timeout, count=count,
                                  pred=lambda r: r["body"]["data"].get("state") == "open")

    def wait_row(self, name, timeout=10, **fields):
        """The fetchInstances row once it has these values (the table is written after the in-memory state)."""
        def have():
            row = self.sup.fetch(name)
            return row if row and all(row.get(k) == v for k, v in fields.items()) else None
        return wait_until(have, timeout, interval=0.2, msg="%s row with %r" % (name, fields),
                          msg_fn=lambda: {k: (self.sup.fetch(name) or {}).get(k) for k in fields})

    def instance_id(self, name):
        return self.sup.fetch(name)["id"]


def main():
    unittest.main(verbosity=2)
