"""A fakewa process and its control API. The one copy, shared by fakewa's own tests (fwtest.py) and the wagate
end-to-end harness (tests/e2e/fakewa_server.py imports it through sys.path). Standard library only.

fakewa prints "fakewa ready port=P control=C" on stdout once it listens; its log (stderr) goes to a file in the
given directory, so that nobody has to drain a pipe and a failed test can show it."""
import http.client
import json
import os
import re
import subprocess
import urllib.parse
from collections import namedtuple

READY_RE = re.compile(r"fakewa ready port=(\d+) control=(\d+)")

# A control-API answer: r.status / r.json, or `status, body = ...`.
Reply = namedtuple("Reply", "status json")


class FakewaProc:
    """fakewa started in `directory` (its certificate, root key and log live there)."""

    def __init__(self, binary, directory, tls=True, extra=(), debug=False):
        self.bin = binary
        self.dir = directory
        self.tls = tls
        self.extra = list(extra)
        self.debug = debug
        self.cert = os.path.join(directory, "cert.pem")
        self.root = os.path.join(directory, "root.pub")
        self.log_path = os.path.join(directory, "fakewa.log")
        self.proc = None

    def start(self):
        """Run it and wait for its ready line; returns self."""
        args = [self.bin, "--cert-out", self.cert, "--root-key-out", self.root]
        if self.debug:
            args.append("--debug")  # fakewa says why it drops a client
        if self.tls:
            args.append("--tls")
        args += self.extra
        with open(self.log_path, "ab") as errf:
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, stdin=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode("utf-8", "replace")
        m = READY_RE.match(line)
        if not m:
            self.stop()
            raise RuntimeError("fakewa did not start: %r %s" % (line, self.log_text()[-2000:]))
        self.port, self.control = int(m.group(1)), int(m.group(2))
        with open(self.root) as f:
            self.root_key = f.read().strip()
        self.url = "%s://127.0.0.1:%d/ws/chat" % ("wss" if self.tls else "ws", self.port)
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def request(self, method, path, body=None, timeout=10):
        """One control-API request: Reply(status, parsed JSON or None). Connection errors raise OSError."""
        if isinstance(body, str):
            body = body.encode()
        if body is None and method == "POST":
            body = b""
        conn = http.client.HTTPConnection("127.0.0.1", self.control, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers={"Connection": "close"})
            r = conn.getresponse()
            data = r.read()
        finally:
            conn.close()
        try:
            return Reply(r.status, json.loads(data.decode("utf-8")) if data else None)
        except ValueError:
            return Reply(r.status, None)

    def admin_clients(self):
        """GET /admin/clients: {"count", "pings_answered", "clients": [...]} (dead ones included)."""
        status, j = self.request("GET", "/admin/clients")
        if status != 200:
            raise RuntimeError("GET /admin/clients -> %d %r" % (status, j))
        return j

    # --- the mock phone and the account store (pairing). The mock-phone calls answer only when the pairing is
    # done (fakewa waits at most 15 s), hence the long timeouts.
    def scan_qr(self, code, phone=None, name=None, timeout=25):
        """The phone scans the QR text `code`: Reply 200 {phone, jid, lid, device, key_index} when paired."""
        q = {k: v for k, v in (("phone", phone), ("name", name)) if v}
        path = "/admin/mock-phone/scan-qr" + ("?" + urllib.parse.urlencode(q) if q else "")
        return self.request("POST", path, code, timeout)

    def pair_code(self, phone, code, name=None, timeout=25):
        """The phone types the pairing code: same answers as scan_qr."""
        q = {"phone": phone, "code": code}
        if name:
            q["name"] = name
        return self.request("POST", "/admin/mock-phone/pair-code?" + urllib.parse.urlencode(q), b"", timeout)

    def remove_device(self, jid):
        return self.request("POST", "/admin/remove-device?" + urllib.parse.urlencode({"jid": jid}), b"", 25)

    def accounts(self):
        """The account store as a list."""
        return (self.request("GET", "/admin/accounts")[1] or {}).get("accounts", [])

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
        except OSError:
            return ""

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, then SIGKILL after 5 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
