"""fakewa (tests/fakewa), the WhatsApp server for tests, as the e2e scenarios use it. The process wrapper and the
control API are tests/fakewa/fakewa_proc.py, shared with fakewa's own tests; this adds finding the binary, a
private directory, the supervisor environment that points workers at it, and the exit-path cleanup."""

import glob
import os
import shutil
import sys
import tempfile

from common import REPO, missing, track_proc

sys.path.insert(0, os.path.join(REPO, "tests", "fakewa"))
from fakewa_proc import FakewaProc  # noqa: E402


def find_fakewa():
    """WAGATE_FAKEWA_BIN, else the newest build*/tests/fakewa/fakewa; None if not built."""
    p = os.environ.get("WAGATE_FAKEWA_BIN")
    if p:
        return p if os.access(p, os.X_OK) else None
    c = [(os.path.getmtime(x), x) for x in glob.glob(os.path.join(REPO, "build*", "tests", "fakewa", "fakewa"))
         if os.access(x, os.X_OK)]
    return max(c)[1] if c else None


class Fakewa(FakewaProc):
    """fakewa (plain WebSocket on loopback unless tls) in its own temp dir, with --debug; supervisor env in .env."""

    def __init__(self, tls=False):
        binary = find_fakewa()
        if not binary:
            missing("fakewa not built (set WAGATE_FAKEWA_BIN)")
        super().__init__(binary, tempfile.mkdtemp(prefix="wagate-e2e-fakewa-"), tls=tls, debug=True)

    def start(self):
        super().start()
        track_proc(self.proc)
        return self

    @property
    def env(self):
        """Supervisor environment that points workers at this fakewa."""
        # media (history sync blobs) from fakewa's control port, plain HTTP
        e = {"WA_WEBSOCKET_URL": self.url, "WA_ROOT_KEY": self.root_key,
             "WA_MEDIA_URL": "http://127.0.0.1:%d" % self.control}
        if self.tls:
            e["WA_TLS_CA_FILE"] = self.cert
        return e

    def call(self, path, method="POST"):
        """A control-API call; its JSON answer (whatever the status)."""
        return self.request(method, path).json

    def clients(self):
        """Live (not dead) client connections."""
        return [c for c in self.admin_clients().get("clients", []) if not c.get("dead")]

    def pings_answered(self):
        """Keepalive pings fakewa answered so far (every client)."""
        return self.admin_clients()["pings_answered"]

    def post(self, path, body=b"", timeout=25):
        """POST to the control API: Reply(status, json), also for error statuses."""
        return self.request("POST", path, body, timeout)

    def destroy(self):
        self.stop()
        if not os.environ.get("WAGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
