"""Pairing scenarios (issue 4): QR texts and images, and PairingCase (fakewa with its mock phone + a webhook
receiver + a supervisor pointed at both)."""

import base64
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from case import E2ETestCase
from common import missing, wait_until
from fakewa_server import Fakewa
from receiver import Receiver


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
        missing("zbarimg not installed (zbar-tools, scripts/deps.sh)")
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

        A 404 (the ref rotated between connect and scan) is retried with the next QR of connect."""
        deadline = time.monotonic() + timeout
        seen = 0  # count of the QR last scanned from connect
        while True:
            if code is None:
                q = self.sup.wait_qr(name, 20, newer_than=seen)
                c, seen = q["code"], q["count"]
            else:
                c, code = code, None
            r = self.fw.scan_qr(c, phone=phone, name=push)
            if r.status == 200:
                return r.json
            if r.status != 404 or (r.json or {}).get("error") == "not found" or time.monotonic() > deadline:
                raise AssertionError("scan-qr of %s -> %r" % (name, r))

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

    def wait_prekeys_uploaded(self, name, n=812, timeout=30):
        """The end of a worker's first login: n prekeys stored and marked uploaded."""
        iid = self.instance_id(name)
        wait_until(lambda: self.db.count("signal_prekey", "instance_id = '%s' AND uploaded" % iid) == n, timeout,
                   interval=0.2, msg="%d uploaded prekeys of %s in the database" % (n, name),
                   msg_fn=lambda: self.db.query("SELECT uploaded, count(*) FROM signal_prekey GROUP BY 1"))

    def wait_retired(self, name, timeout=20):
        """The worker of name exited after a logout (exit 3) and the supervisor planned no other
        ("worker_reap_exited: NAME: logged out": idle until the next connect): no worker of name in the metrics."""
        wait_until(lambda: "worker_reap_exited: %s: logged out" % name in self.sup.log_text(), timeout,
                   msg="the supervisor retires the worker of %s" % name)
        iid = self.instance_id(name)
        self.assertNotIn(iid, self.sup.worker_pids(), "a worker of %s after its logout" % name)

    def instance_id(self, name):
        return self.sup.fetch(name)["id"]

