"""End-to-end harness for wagate: one import for the scenarios (test_*.py). It only re-exports; the parts are
split by concern:

  common.py         log, free_port, wait_until, missing (skip, or fail under CI), the exit-path cleanup
  pgcluster.py      PgCluster (scripts/pg.sh), psql, Database, superuser_uri
  supervisor.py     Supervisor (the wagate process), http_request, parse_metrics, worker processes
  receiver.py       Receiver (the webhook receiver)
  fakewa_server.py  Fakewa (tests/fakewa/fakewa_proc.py, shared with fakewa's own tests)
  case.py           E2ETestCase
  pairing.py        QR helpers and PairingCase

Standard library only.

Environment:
  WAGATE_BIN, WAGATE_WORKER_BIN  binaries under test (meson passes them; otherwise build*/ is searched)
  WAGATE_FAKEWA_BIN              fakewa (unset: newest build*/tests/fakewa/fakewa)
  WAGATE_TEST_PGURI              superuser URI of a running cluster (tests/run.sh exports it); unset =>
                                 a private cluster is started with scripts/pg.sh for the test process
  WAGATE_E2E_KEEP                keep temp dirs (logs) after the run
  CI                             set: a missing binary or tool fails the test instead of skipping it
"""

import unittest

from case import E2ETestCase, sanitizer_findings  # noqa: F401
from common import (HERE, REPO, free_port, kill_everything, log, missing, pid_alive, rand_suffix,  # noqa: F401
                    wait_until)
from fakewa_server import Fakewa, find_fakewa  # noqa: F401
from pairing import (PNG_PREFIX, QR_TEXT_RX, PairingCase, decode_qr_image, owner_jid, parse_qr_text,  # noqa: F401
                     tamper_adv_secret)
from pgcluster import PgCluster, Database, psql, superuser_uri, uri_with_db  # noqa: F401
from receiver import Receiver  # noqa: F401
from supervisor import (API_KEY, Response, Supervisor, find_bins, http_request, is_sanitized,  # noqa: F401
                        our_worker_pids, parse_metrics, worker_processes)

_pid_alive = pid_alive  # the older name some scenarios import

__all__ = ["API_KEY", "PNG_PREFIX", "QR_TEXT_RX", "Database", "E2ETestCase", "Fakewa", "HERE", "PairingCase", "PgCluster", "REPO", "Receiver",
           "Response", "Supervisor", "decode_qr_image", "find_bins", "find_fakewa", "free_port", "http_request",
           "is_sanitized", "kill_everything", "log", "main", "missing", "our_worker_pids", "owner_jid",
           "parse_metrics", "parse_qr_text", "pid_alive", "psql", "rand_suffix", "sanitizer_findings",
           "superuser_uri", "tamper_adv_secret", "uri_with_db", "wait_until", "worker_processes", "_pid_alive"]


def main():
    unittest.main(verbosity=2)
