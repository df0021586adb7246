"""Self-test of the harness (needs PostgreSQL, not the product): receiver, metrics parser, databases."""

import os
import time
import unittest

from harness import (Database, Receiver, free_port, http_request, main, missing, parse_metrics, superuser_uri,
                     uri_with_db, wait_until)


class HarnessTest(unittest.TestCase):

    def test_receiver_records_restarts_and_fails_on_demand(self):
        rx = Receiver().start()
        try:
            r = http_request(rx.port, "POST", "/hook/x", body={"event": "a.b", "instance": "i"},
                             headers={"X-Wagate-Delivery": "1"})
            self.assertEqual(r.status, 200)
            self.assertEqual(rx.events("a.b", "i")[0]["headers"]["x-wagate-delivery"], "1")
            rx.status = 500
            self.assertEqual(http_request(rx.port, "POST", "/hook", body={"event": "c.d"}).status, 500)
            self.assertEqual(rx.events("c.d"), [])
            self.assertEqual(len(rx.events("c.d", accepted_only=False)), 1)
            port = rx.port
            rx.stop()
            with self.assertRaises(OSError):
                http_request(port, "POST", "/hook", body={}, timeout=2)
            rx.status = 200
            rx.start()
            self.assertEqual(rx.port, port)
            self.assertEqual(http_request(port, "POST", "/hook", body={"event": "e.f"}).status, 200)
            self.assertEqual(len(rx.wait_event("e.f", timeout=2)), 1)
        finally:
            rx.stop()

    def test_parse_metrics(self):
        text = ('# HELP x y\nwagate_instances{state="open"} 3\nwagate_worker_pid{instance="a\\"b",'
                'instance_id="id1"} 42\nwagate_webhook_backlog 0\n')
        m = parse_metrics(text)
        self.assertIn(("wagate_instances", {"state": "open"}, 3.0), m)
        self.assertIn(("wagate_worker_pid", {"instance": 'a"b', "instance_id": "id1"}, 42.0), m)
        self.assertIn(("wagate_webhook_backlog", {}, 0.0), m)

    def test_wait_until(self):
        n = [0]

        def p():
            n[0] += 1
            return n[0] >= 3
        self.assertTrue(wait_until(p, 2, 0.01))
        with self.assertRaises(AssertionError):
            wait_until(lambda: False, 0.2, 0.05, msg="never")

    def test_wait_until_fails_at_once_when_the_predicate_raises(self):
        def broken():
            raise KeyError("typo")
        t0 = time.monotonic()
        with self.assertRaises(KeyError):
            wait_until(broken, 30, 0.01)
        self.assertLess(time.monotonic() - t0, 5)
        # only the exceptions the caller expects are retried; the last one is named at the timeout
        with self.assertRaisesRegex(AssertionError, "ConnectionRefusedError"):
            wait_until(lambda: http_request(free_port(), "GET", "/", timeout=1), 0.3, 0.05,
                       ignore=(ConnectionRefusedError,))

    def test_missing_tool_skips_or_fails_under_ci(self):
        old = os.environ.pop("CI", None)
        try:
            with self.assertRaises(unittest.SkipTest):
                missing("no such tool")
            os.environ["CI"] = "true"
            with self.assertRaisesRegex(AssertionError, "no such tool"):
                missing("no such tool")
        finally:
            os.environ.pop("CI", None)
            if old is not None:
                os.environ["CI"] = old

    def test_database_lifecycle_and_fingerprint(self):
        db = Database(superuser_uri())
        try:
            db.query("CREATE TABLE t (instance_id uuid, v text)")
            fp = db.fingerprint()
            self.assertEqual(fp["t"][0], 0)
            db.query("INSERT INTO t VALUES ('00000000-0000-4000-8000-000000000000', 'x')")
            self.assertNotEqual(db.fingerprint(), fp)
            self.assertEqual(db.count("t"), 1)
            self.assertEqual(db.tables(), ["t"])
        finally:
            db.drop()
        self.assertEqual(uri_with_db("postgresql://u@h:1/postgres", "x"), "postgresql://u@h:1/x")


if __name__ == "__main__":
    main()
