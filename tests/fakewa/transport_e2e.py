#!/usr/bin/env python3
"""End-to-end tests of the WhatsApp transport: fakewa (server) + wa_probe (wa_conn clients).

usage: transport_e2e.py FAKEWA WA_PROBE [test-name ...]
Each test starts its own fakewa (TLS, generated certificate and root key) and drives wa_probe, reading the
STATE lines it prints. Exit 0 when every selected test passed."""
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

FAKEWA, PROBE = sys.argv[1], sys.argv[2]
SELECTED = sys.argv[3:]

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

    def call(self, path, method="POST"):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.control, path), method=method,
                                     data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

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


def t_tls_handshake(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "3")
        ok = p.wait_for(lambda p: any(l.startswith("NODE 0 iq pair-device") for l in p.lines), 8)
        check(ok, "no pair-device node after the handshake", p)
        check(p.count("open") == 1, "expected one open", p)
        cl = fw.clients()
        check(cl["count"] == 1 and cl["clients"][0]["phase"] == "open" and cl["clients"][0]["tls"], "fakewa: %s" % cl)
        p.finish()
        check(p.count("close") == 0, "unexpected close", p)
    finally:
        fw.stop()


def t_plain_ws(tmp):
    fw = Fakewa(tmp, tls=False)
    try:
        p = Probe(fw, "--exit-after-open", "1", "--run-seconds", "5")
        p.finish()
        check(p.count("open") == 1, "no open over ws://", p)
    finally:
        fw.stop()


def t_wrong_root(tmp):
    fw = Fakewa(tmp)
    try:
        bad = os.path.join(tmp, "bad.pub")
        with open(bad, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        p = Probe(fw, "--run-seconds", "5", root=bad)
        rc = p.finish(8)
        st = p.states()
        closes = [s for s in st if s[1] == "close"]
        check(rc == 0 and len(closes) == 1, "expected exactly one close", p)
        check(closes[0][2] == 400 and closes[0][3] == -1, "expected reason 400 with no retry", p)
        check("certificate" in closes[0][5], "reason text should name the certificate", p)
        check(p.count("connecting") == 1, "retried after a certificate failure", p)
        check(closes[0][4] < 4000, "the probe should have given up at once", p)
    finally:
        fw.stop()


def t_tls_untrusted(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "5", ca=False)
        p.finish(8)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 400 and closes[0][3] == -1, "untrusted TLS cert not fatal", p)
        check("TLS certificate" in closes[0][5], "reason should say TLS certificate", p)
    finally:
        fw.stop()


def t_515(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=515&client=all")
        check(p.wait_for(lambda p: p.count("open") >= 2, 5), "no reconnect after 515", p)
        st = p.states()
        close = [s for s in st if s[1] == "close"][0]
        reopen = [s for s in st if s[1] == "open"][1]
        check(close[2] == 515 and close[3] == 0, "515 should retry at once", p)
        check(reopen[4] - close[4] < 1000, "reconnect after 515 took too long", p)
        p.proc.terminate()
        p.finish()
    finally:
        fw.stop()


def t_401(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=401&client=all&conflict=device_removed")
        p.finish(5)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 401 and closes[0][3] == -1, "401 must close for good", p)
        check(p.count("connecting") == 1, "reconnected after 401", p)
    finally:
        fw.stop()


def t_replaced(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?conflict=replaced&client=all")
        p.finish(5)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 440 and closes[0][3] == -1, "replaced must close for good", p)
    finally:
        fw.stop()


def t_503_backoff(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "8")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=503&client=all")
        check(p.wait_for(lambda p: p.count("open") >= 2, 6), "no reconnect after 503", p)
        close = [s for s in p.states() if s[1] == "close"][0]
        check(close[2] == 503 and 200 <= close[3] <= 2000, "503 should back off: %s" % (close,), p)
        p.proc.terminate()
        p.finish()
    finally:
        fw.stop()


def t_drop(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "10")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        for i in range(3):
            fw.call("/admin/drop?client=all")
            check(p.wait_for(lambda p, n=i + 2: p.offers() >= n, 10), "no reconnect after drop %d" % i, p)
        closes = [s for s in p.states() if s[1] == "close"]
        check(all(c[2] == 428 and c[3] > 0 for c in closes), "drops should back off", p)
        # Backoff grows (with jitter of +-20 %): the third delay exceeds the first.
        check(closes[2][3] > closes[0][3], "backoff did not grow: %s" % ([c[3] for c in closes],), p)
        p.proc.terminate()
        p.finish()
    finally:
        fw.stop()


def t_stall(tmp):
    fw = Fakewa(tmp)
    try:
        p = Probe(fw, "--run-seconds", "10", "--keepalive", "300", "--deadline", "600")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        time.sleep(1.0)  # a few keepalives are answered
        check(p.count("close") == 0, "closed while the server answered pings", p)
        fw.call("/admin/stall?client=all")
        check(p.wait_for(lambda p: p.count("close") >= 1, 4), "stall not detected", p)
        close = [s for s in p.states() if s[1] == "close"][0]
        check(close[2] == 408 and close[3] > 0, "stall should be 408 with backoff: %s" % (close,), p)
        check(p.wait_for(lambda p: p.count("open") >= 2, 5), "no reconnect after stall", p)
        fw.call("/admin/unstall?client=all")
        p.proc.terminate()
        p.finish()
    finally:
        fw.stop()


def t_200_clients(tmp):
    fw = Fakewa(tmp)
    try:
        # Handshakes cost CPU on both sides (X25519, certificate checks): allow a slow, shared machine.
        p = Probe(fw, "--count", "200", "--keepalive", "1000", "--deadline", "15000", "--connect-timeout", "90000",
                  "--run-seconds", "200")
        check(p.wait_for(lambda p: p.offers() >= 200, 120), "not all 200 opened (%d)" % p.offers(), p)
        cl = fw.clients()
        check(cl["count"] == 200, "fakewa sees %d clients" % cl["count"])
        before = cl["pings_answered"]
        time.sleep(4)  # several keepalive periods
        after = fw.clients()["pings_answered"]
        check(after - before >= 400, "too few keepalives answered: %d" % (after - before))
        check(p.count("close") == 0, "a connection closed during the keepalive period", p)
        p.proc.terminate()
        p.finish(15)
        check(p.count("close") == 0, "a connection closed during the keepalive period", p)
        check(any(l == "SUMMARY open=200 handshakes=200" for l in p.lines), "summary", p)
    finally:
        fw.stop()


TESTS = [t_tls_handshake, t_plain_ws, t_wrong_root, t_tls_untrusted, t_515, t_401, t_replaced, t_503_backoff,
         t_drop, t_stall, t_200_clients]


def main():
    failed = 0
    for t in TESTS:
        name = t.__name__[2:]
        if SELECTED and name not in SELECTED:
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


if __name__ == "__main__":
    sys.exit(main())
