"""The base class of every e2e scenario: a fresh database per test, supervisors that are stopped (and their
logs printed on failure) afterwards, orphan workers killed, and a sanitizer report in a log fails the test."""

import os
import re
import shutil
import signal
import sys
import unittest

from common import log, pid_alive, wait_until
from pgcluster import Database, superuser_uri
from supervisor import Supervisor, our_worker_pids


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
            try:
                wait_until(lambda: not pid_alive(pid), 3)
            except AssertionError:
                pass
            if pid_alive(pid):
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

