"""Shared plumbing of the fakewa end-to-end tests (transport_e2e.py, pairing_e2e.py): a fakewa process (the
process wrapper itself is fakewa_proc.py, shared with tests/e2e), a wa_probe
process whose output lines are collected, control-API calls, and the runner.

Every test script takes the same arguments: FAKEWA WA_PROBE [test-name ...]. run() reads them, so the paths are
set before any test starts a process."""
import re
import subprocess
import sys
import tempfile
import threading
import time

from fakewa_proc import FakewaProc

FAKEWA = PROBE = None

STATE_RE = re.compile(r"^STATE (\d+) (\w+) reason=(-?\d+) retry=(-?\d+) t=(\d+) detail=(.*)$")


class Fakewa(FakewaProc):
    """fakewa (TLS unless told) in the test's temp dir, started at once; the control API as these tests use it."""

    def __init__(self, tmp, tls=True, extra=()):
        super().__init__(FAKEWA, tmp, tls=tls, extra=extra)
        self.start()

    def call(self, path, method="POST"):
        """A control-API call that must succeed (an error status raises); its JSON answer."""
        r = self.request(method, path)
        if r.status >= 400:
            raise RuntimeError("%s %s -> %d %r" % (method, path, r.status, r.json))
        return r.json

    def post(self, path, body=b""):
        """POST to the control port; (status, json) also for error statuses."""
        return self.request("POST", path, body, timeout=20)

    def clients(self):
        return self.admin_clients()


class Probe:
    """Runs wa_probe and collects its lines in a thread."""

    def __init__(self, fw, *extra, root=None, ca=True, commands=False):
        args = [PROBE, "--url", fw.url, "--root-key", root or fw.root, "--backoff-min", "300",
                "--backoff-max", "2000"]
        if ca and fw.url.startswith("wss"):
            args += ["--ca", fw.cert]
        args += list(extra)
        if commands:  # wa_probe --commands reads probe_msg.h commands from stdin
            args.append("--commands")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE if commands else None, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
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

    def cmd(self, line):
        """Send one --commands line to the probe."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

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


def poll(pred, timeout=10.0, interval=0.05):
    """Call pred() until it is true (returned) or timeout seconds passed (False). An exception propagates."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= end:
            return v
        time.sleep(interval)


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
