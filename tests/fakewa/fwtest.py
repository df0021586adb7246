"""Shared plumbing of the fakewa end-to-end tests (transport_e2e.py, pairing_e2e.py): a fakewa process, a wa_probe
process whose output lines are collected, control-API calls, and the runner.

Every test script takes the same arguments: FAKEWA WA_PROBE [test-name ...]. run() reads them, so the paths are
set before any test starts a process."""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

FAKEWA = PROBE = None

STATE_RE = re.compile(r"^STATE (\d+) (\w+) reason=(-?\d+) retry=(-?\d+) t=(\d+) detail=(.*)$")


class Fakewa:
    def __init__(self, tmp, tls=True, extra=()):
        self.cert = os.path.join(tmp, "cert.pem")
        self.root = os.path.join(tmp, "root.pub")
        args = [FAKEWA, "--cert-out", self.cert, "--root-key-out", self.root]
        if tls:
            args.append("--tls")
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.match(r"fakewa ready port=(\d+) control=(\d+)", line)
        if not m:
            raise RuntimeError("fakewa did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port, self.control = int(m.group(1)), int(m.group(2))
        self.url = "%s://127.0.0.1:%d/ws/chat" % ("wss" if tls else "ws", self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def _request(self, path, method, data):
        return urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path), method=method, data=data)

    def call(self, path, method="POST"):
        """A control-API call that must succeed (an error status raises); its JSON answer."""
        req = self._request(path, method, b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def post(self, path, body=b""):
        """POST to the control port; (status, json) also for error statuses."""
        req = self._request(path, "POST", body.encode() if isinstance(body, str) else body)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def clients(self):
        return self.call("/admin/clients", "GET")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Probe:
    """Runs wa_probe and collects its lines in a thread."""

    def __init__(self, fw, *extra, root=None, ca=True):
        args = [PROBE, "--url", fw.url, "--root-key", root or fw.root, "--backoff-min", "300",
                "--backoff-max", "2000"]
        if ca and fw.url.startswith("wss"):
            args += ["--ca", fw.cert]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.lock = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))
                self.lock.notify_all()
        with self.lock:
            self.lock.notify_all()

    def states(self, idx=None):
        out = []
        with self.lock:
            for l in self.lines:
                m = STATE_RE.match(l)
                if m and (idx is None or int(m.group(1)) == idx):
                    out.append((int(m.group(1)), m.group(2), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                                m.group(6)))
        return out

    def wait_for(self, pred, timeout=10.0):
        end = time.time() + timeout
        with self.lock:
            while True:
                if pred(self):
                    return True
                left = end - time.time()
                if left <= 0:
                    return False
                self.lock.wait(min(left, 0.1))

    def offers(self):
        """pair-device offers seen: the server finished its side of the handshake."""
        with self.lock:
            return sum(1 for l in self.lines if l.startswith("NODE ") and l.endswith(" iq pair-device"))

    def count(self, state, idx=None):
        return sum(1 for s in self.states(idx) if s[1] == state)

    def finish(self, timeout=10):
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(5)
        self.thread.join(5)
        return self.proc.returncode

    def dump(self):
        closes = [l for l in self.lines if " close " in l][:10]
        return "\n".join(closes + ["..."] + self.lines[-30:]) + "\n" + (self.proc.stderr.read() if self.proc.poll() is not None else "")


def check(cond, msg, probe=None):
    if not cond:
        raise AssertionError(msg + ("\n--- probe output ---\n" + probe.dump() if probe else ""))


def run(tests):
    """Runs the t_* functions named on the command line (all when none are), each in its own temp dir, and prints
    one ok/FAIL line per test; the exit status: 0 when every selected test passed."""
    global FAKEWA, PROBE
    if len(sys.argv) < 3:
        sys.stderr.write("usage: %s FAKEWA WA_PROBE [test-name ...]\n" % sys.argv[0])
        return 2
    FAKEWA, PROBE = sys.argv[1], sys.argv[2]
    selected = sys.argv[3:]
    failed = 0
    for t in tests:
        name = t.__name__[2:]
        if selected and name not in selected:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.time()
            try:
                t(tmp)
                print("ok   %-16s %.1fs" % (name, time.time() - t0), flush=True)
            except Exception as e:  # report and go on
                failed += 1
                print("FAIL %-16s %s" % (name, e), flush=True)
    return 1 if failed else 0
