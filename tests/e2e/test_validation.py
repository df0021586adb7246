"""Validation errors: 400 with Evolution's envelope, and nothing is written (every table's rows unchanged)."""

from harness import API_KEY, E2ETestCase, main, wait_until

GOOD_SETTINGS = {"rejectCall": False, "groupsIgnore": False, "alwaysOnline": False, "readMessages": False,
                 "readStatus": False, "syncFullHistory": False}


class ValidationTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.inst = self.sup.create_instance("valid", webhook={"enabled": True, "url": "http://127.0.0.1:9/keep",
                                                                "events": ["CONNECTION_UPDATE"]})
        iid = self.inst["instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 20, msg="worker of valid")
        # create's rows are committed when it answers; a new worker writes nothing before its first connect
        self.before = self.stable_fingerprint()

    def stable_fingerprint(self):
        """Fingerprint, ignoring the outbox (start-up events may be in flight to a dead receiver)."""
        fp = self.db.fingerprint(exclude=("schema_migrations", "webhook_outbox"))
        return fp

    def assert_nothing_written(self, what):
        self.assertEqual(self.stable_fingerprint(), self.before, "%s wrote to the database" % what)

    def assert400(self, r, what, nested=None, message=None):
        self.assertEqual(r.status, 400, "%s: %r" % (what, r))
        self.assertIsInstance(r.json, dict, what)
        self.assertEqual(r.json.get("status"), 400, what)
        self.assertEqual(r.json.get("error"), "Bad Request", "%s: %r" % (what, r))
        msg = r.json.get("response", {}).get("message")
        self.assertIsInstance(msg, list, "%s: %r" % (what, r))
        if nested:
            # schema violations: an array holding one array of strings
            self.assertEqual(len(msg), 1, what)
            self.assertIsInstance(msg[0], list, "%s: %r" % (what, r))
            for s in nested:
                self.assertIn(s, msg[0], "%s: %r" % (what, r))
        if message is not None:
            self.assertEqual(msg, message, what)

    def test_create_invalid(self):
        cases = [
            ("missing instanceName", {"integration": "WHATSAPP-BAILEYS"}),
            ("empty instanceName", {"instanceName": "", "integration": "WHATSAPP-BAILEYS"}),
            ("numeric instanceName", {"instanceName": 12, "integration": "WHATSAPP-BAILEYS"}),
            ("missing integration", {"instanceName": "x1"}),
            ("bad integration", {"instanceName": "x2", "integration": "TELEGRAM"}),
            ("bad number", {"instanceName": "x3", "integration": "WHATSAPP-BAILEYS", "number": "abc"}),
            ("qrcode not boolean", {"instanceName": "x4", "integration": "WHATSAPP-BAILEYS", "qrcode": "yes"}),
            ("webhook bad url", {"instanceName": "x5", "integration": "WHATSAPP-BAILEYS",
                                 "webhook": {"url": "not a url", "events": []}}),
            ("rejectCall not boolean", {"instanceName": "x6", "integration": "WHATSAPP-BAILEYS",
                                        "rejectCall": "no"}),
            ("body is an array", ["instanceName", "x7"]),
            ("body is a string", "x8"),
        ]
        for what, body in cases:
            with self.subTest(what):
                self.before = self.stable_fingerprint()
                r = self.sup.api("POST", "/instance/create", body)
                self.assert400(r, "create: " + what)
                self.assert_nothing_written("create: " + what)
        r = self.sup.api("POST", "/instance/create", {"instanceName": "x2", "integration": "TELEGRAM"})
        self.assertEqual(r.json["response"]["message"], ["Invalid integration"])
        r = self.sup.api("POST", "/instance/create", {"instanceName": "x5", "integration": "WHATSAPP-BAILEYS",
                                                      "webhook": {"url": "not a url", "events": []}})
        self.assertEqual(r.json["response"]["message"], ['Invalid "url" property'])
        # no worker was started for any of them
        self.assertEqual(len(self.sup.worker_pids()), 1)

    def test_settings_invalid(self):
        r = self.sup.api("POST", "/settings/set/valid", {"rejectCall": True})
        self.assert400(r, "settings missing fields", nested=['instance requires property "groupsIgnore"',
                                                             'instance requires property "alwaysOnline"'])
        self.assert_nothing_written("settings missing fields")
        bad = dict(GOOD_SETTINGS, rejectCall="true")
        self.assert400(self.sup.api("POST", "/settings/set/valid", bad), "settings wrong type", nested=[])
        self.assert_nothing_written("settings wrong type")
        bad = dict(GOOD_SETTINGS, msgCall=5)
        self.assert400(self.sup.api("POST", "/settings/set/valid", bad), "msgCall number", nested=[])
        self.assert_nothing_written("msgCall number")

    def test_webhook_invalid(self):
        cases = [
            ("flat v1 shape", {"url": "http://127.0.0.1:9/x", "enabled": True},
             ['instance requires property "webhook"']),
            ("missing url", {"webhook": {"enabled": True, "events": []}}, None),
            ("missing enabled", {"webhook": {"url": "http://127.0.0.1:9/x", "events": []}}, None),
            ("bad event", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x", "events": ["NOPE"]}}, None),
            ("events not array", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x", "events": "ALL"}},
             None),
        ]
        for what, body, nested in cases:
            with self.subTest(what):
                self.before = self.stable_fingerprint()
                r = self.sup.api("POST", "/webhook/set/valid", body)
                self.assert400(r, "webhook: " + what, nested=nested)
                self.assert_nothing_written("webhook: " + what)
        r = self.sup.api("POST", "/webhook/set/valid", {"webhook": {"enabled": True, "url": "no spaces allowed",
                                                                   "events": []}})
        self.assert400(r, "webhook bad url", message=['Invalid "url" property'])
        self.assert_nothing_written("webhook bad url")
        r = self.sup.api("POST", "/webhook/set/valid", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x",
                                                                   "events": ["NOPE"]}})
        self.assertTrue(r.json["response"]["message"][0][0].startswith(
            "webhook.events[0] is not one of enum values:"), r)

    def test_proxy_invalid(self):
        r = self.sup.api("POST", "/proxy/set/valid", {"enabled": True, "host": "10.0.0.1", "port": 3128,
                                                     "protocol": "http"})
        self.assert400(r, "proxy numeric port", nested=["port is not of a type(s) string"])
        self.assert_nothing_written("proxy numeric port")
        r = self.sup.api("POST", "/proxy/set/valid", {"enabled": True})
        self.assert400(r, "proxy missing fields", nested=['instance requires property "host"'])
        self.assert_nothing_written("proxy missing fields")

    def test_malformed_json(self):
        for path in ("/instance/create", "/settings/set/valid", "/webhook/set/valid", "/proxy/set/valid"):
            r = self.sup.request("POST", path, raw=b'{"a":', apikey=API_KEY)
            self.assertEqual(r.status, 400, "%s: %r" % (path, r))
            self.assertIsInstance(r.json, dict, path)
            self.assert_nothing_written("malformed json on " + path)

    def test_api_still_serves_after_bad_input(self):
        for _ in range(20):
            self.sup.request("POST", "/instance/create", raw=b"\x00\xff garbage", apikey=API_KEY)
        self.assertStatus(self.sup.api("GET", "/instance/connectionState/valid"), 200)
        self.assert_nothing_written("garbage bodies")


if __name__ == "__main__":
    main()
