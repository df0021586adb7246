"""Evolution compatibility items of issue 10: setPresence sent to WhatsApp (fakewa records it), partial
updates keeping what was not sent, the disabled transports, verify-creds, GET /, restart without code 600,
fetchInstances' parameter precedence, and numbers as people type them.

One test: python3 test_compat.py PairedTest.test_set_presence_open (see README.md for the environment)."""

import socket

from harness import E2ETestCase, PairingCase, main, wait_until


class PairedTest(PairingCase):

    def fw_presences(self):
        """(last presence type, count) of the live fakewa client."""
        cl = self.fw.clients()
        return (cl[0].get("presence"), cl[0].get("presences")) if cl else (None, 0)

    def test_set_presence_open(self):
        """An open instance sends <presence type=.../> and answers 201 {"presence": ...}."""
        self.pair("pres", "5511999990101", push="Pres Push")
        before = self.fw_presences()[1]
        r = self.sup.api("POST", "/instance/setPresence/pres", {"presence": "unavailable"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"presence": "unavailable"})
        wait_until(lambda: self.fw_presences() == ("unavailable", before + 1), 10, msg="fakewa saw unavailable")
        r = self.sup.api("POST", "/instance/setPresence/pres", {"presence": "available"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"presence": "available"})
        wait_until(lambda: self.fw_presences() == ("available", before + 2), 10, msg="fakewa saw available")
        # Bad input: Evolution's nested validation form, nothing sent.
        r = self.sup.api("POST", "/instance/setPresence/pres", {"presence": "online"})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertIsInstance(r.json["response"]["message"][0], list, r)
        r = self.sup.api("POST", "/instance/setPresence/pres", {})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        # A typing state needs a chat (Evolution's global setPresence fails on it too).
        r = self.sup.api("POST", "/instance/setPresence/pres", {"presence": "composing"})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(self.fw_presences(), ("available", before + 2))

    def test_set_presence_not_open(self):
        """A closed instance answers 400 with Evolution's error envelope; nothing reaches WhatsApp."""
        self.new_instance("presclosed")
        r = self.sup.api("POST", "/instance/setPresence/presclosed", {"presence": "available"})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"], ['The "presclosed" instance is not connected'])

    def test_restart_is_not_a_disconnection(self):
        """An API restart of an open instance: no disconnection stored, no connection.update with 600; it opens
        again by itself."""
        self.pair("rst", "5511999990102")
        iid = self.sup.fetch("rst")["id"]
        pid = self.sup.worker_pids()[iid]
        nopen = len(self.updates("rst", "open"))
        r = self.sup.api("POST", "/instance/restart/rst")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"instance": {"instanceName": "rst", "state": "open"}})
        wait_until(lambda: self.sup.worker_pids().get(iid) not in (None, pid), 20, msg="a new worker")
        wait_until(lambda: len(self.updates("rst", "open")) > nopen, 30, msg="open again after the restart")
        self.assertEqual([d for d in self.updates("rst") if d.get("statusReason") == 600], [])
        row = self.sup.fetch("rst")
        self.assertEqual(row["connectionStatus"], "open")
        self.assertIsNone(row["disconnectionReasonCode"], row)
        self.assertIsNone(row["disconnectionAt"], row)
        self.assertEqual(self.sup.restarts("rst"), 1)

    def test_restart_connecting_answers_qr(self):
        """restart on a connecting instance answers the QR object (as Evolution's connect does) and goes on
        showing QR codes."""
        q = self.connect_qr("rqr")
        r = self.sup.api("POST", "/instance/restart/rqr")
        self.assertStatus(r, 200)
        self.assertTrue(set(r.json) <= {"pairingCode", "code", "base64", "count"}, r)
        self.assertIn("count", r.json, r)
        self.assertEqual(r.json.get("code"), q["code"], r)
        # the restarted worker goes on showing codes: a new one (new refs from the new connection) appears
        wait_until(lambda: (lambda x: x if isinstance(x, dict) and x.get("code") and x["code"] != q["code"]
                            else None)(self.sup.qr("rqr")), 30, msg="a new QR code after the restart")
        self.assertEqual([d for d in self.updates("rqr") if d.get("statusReason") == 600], [])
        self.assertIsNone(self.sup.fetch("rqr")["disconnectionReasonCode"])


class CompatTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def test_partial_updates_keep_stored_values(self):
        """/webhook/set without headers/byEvents/base64 and /settings/set without msgCall keep what is stored."""
        self.sup.create_instance("part")
        full = {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/a", "headers": {"x-k": "v"},
                            "byEvents": True, "base64": True, "events": ["MESSAGES_UPSERT"]}}
        r = self.sup.api("POST", "/webhook/set/part", full)
        self.assertStatus(r, 201)
        r = self.sup.api("POST", "/webhook/set/part", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/b",
                                                                   "events": ["CONNECTION_UPDATE"]}})
        self.assertStatus(r, 201)
        for row in (r.json, self.sup.api("GET", "/webhook/find/part").json):
            self.assertEqual(row["url"], "http://127.0.0.1:9/b", row)
            self.assertEqual(row["events"], ["CONNECTION_UPDATE"], row)
            self.assertEqual(row["headers"], {"x-k": "v"}, row)
            self.assertIs(row["webhookByEvents"], True, row)
            self.assertIs(row["webhookBase64"], True, row)
        # What is sent still replaces.
        r = self.sup.api("POST", "/webhook/set/part", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/b",
                                                                   "headers": {}, "byEvents": False,
                                                                   "events": ["CONNECTION_UPDATE"]}})
        self.assertStatus(r, 201)
        self.assertEqual((r.json["headers"], r.json["webhookByEvents"], r.json["webhookBase64"]), ({}, False, True))
        # A first /webhook/set without them stores the defaults.
        self.sup.create_instance("part2")
        r = self.sup.api("POST", "/webhook/set/part2", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/c",
                                                                    "events": []}})
        self.assertStatus(r, 201)
        self.assertEqual((r.json["headers"], r.json["webhookByEvents"], r.json["webhookBase64"]), ({}, False, False))

        flags = {"rejectCall": True, "groupsIgnore": False, "alwaysOnline": False, "readMessages": False,
                 "readStatus": False, "syncFullHistory": False}
        r = self.sup.api("POST", "/settings/set/part", dict(flags, msgCall="busy"))
        self.assertStatus(r, 201)
        r = self.sup.api("POST", "/settings/set/part", dict(flags, rejectCall=False))
        self.assertStatus(r, 201)
        got = self.sup.api("GET", "/settings/find/part").json
        self.assertEqual((got["msgCall"], got["rejectCall"]), ("busy", False), got)
        self.assertEqual(self.sup.fetch("part")["Setting"]["msgCall"], "busy")
        r = self.sup.api("POST", "/settings/set/part", dict(flags, msgCall=""))
        self.assertEqual(self.sup.api("GET", "/settings/find/part").json["msgCall"], "")

    def test_proxy_partial_update_keeps_credentials(self):
        """/proxy/set without username/password keeps the stored ones (Evolution's upsert); disabling blanks them."""
        lsock = socket.socket()
        self.addCleanup(lsock.close)
        lsock.bind(("127.0.0.1", 0))
        lsock.listen(16)  # the proxy check only needs a TCP connection to be accepted
        port = str(lsock.getsockname()[1])
        self.sup.create_instance("px")
        r = self.sup.api("POST", "/proxy/set/px", {"enabled": True, "host": "127.0.0.1", "port": port,
                                                   "protocol": "http", "username": "u", "password": "p"})
        self.assertStatus(r, 201)
        r = self.sup.api("POST", "/proxy/set/px", {"enabled": True, "host": "127.0.0.1", "port": port,
                                                   "protocol": "socks5"})
        self.assertStatus(r, 201)
        f = self.sup.api("GET", "/proxy/find/px").json
        self.assertEqual((f["protocol"], f["username"], f["password"]), ("socks5", "u", "p"), f)
        r = self.sup.api("POST", "/proxy/set/px", {"enabled": False, "host": "", "port": "", "protocol": ""})
        self.assertStatus(r, 201)
        f = self.sup.api("GET", "/proxy/find/px").json
        self.assertEqual((f["enabled"], f["username"], f["password"]), (False, "", ""), f)

    def test_number_as_typed(self):
        """create and connect take a number as people type it, store digits, refuse what cannot be a number."""
        self.sup.create_instance("num1", number="+55 11 99999-0001")
        self.assertEqual(self.sup.fetch("num1")["number"], "5511999990001")
        self.sup.create_instance("num2", number="(11) 99999-0002")
        self.assertEqual(self.sup.fetch("num2")["number"], "11999990002")
        pattern = 'number does not match pattern "^\\\\d+[\\\\.@\\\\w-]+"'
        for bad in ("abc", "55 11 abc", "+", "1234567890123456"):
            with self.subTest(bad):
                r = self.sup.api("POST", "/instance/create", {"instanceName": "numbad", "number": bad,
                                                              "integration": "WHATSAPP-BAILEYS"})
                self.assertErrorEnvelope(r, 400, "Bad Request")
                self.assertEqual(r.json["response"]["message"], [[pattern]])
                self.assertIsNone(self.sup.fetch("numbad"))
        r = self.sup.api("GET", "/instance/connect/num1?number=%2B55%20(11)%2099999-0001")
        self.assertStatus(r, 200)
        r = self.sup.api("GET", "/instance/connect/num2?number=abc")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"], [[pattern]])

    def test_fetch_instance_id_wins_over_name(self):
        """?instanceId= wins over ?instanceName= for the global key, as in Evolution."""
        a = self.sup.create_instance("fa")["instance"]["instanceId"]
        self.sup.create_instance("fb")
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=fb&instanceId=" + a)
        self.assertStatus(r, 200)
        self.assertEqual([x["name"] for x in r.json], ["fa"])
        r = self.sup.api("GET", "/instance/fetchInstances?instanceId=" + a + "&instanceName=fa")
        self.assertEqual([x["name"] for x in r.json], ["fa"])
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=fb")
        self.assertEqual([x["name"] for x in r.json], ["fb"])

    def test_disabled_transports(self):
        """/websocket, /rabbitmq, /sqs set and find answer as Evolution with those transports disabled."""
        self.sup.create_instance("tr")
        tok = self.sup.fetch("tr")["token"]
        for t in ("websocket", "rabbitmq", "sqs"):
            with self.subTest(t):
                r = self.sup.api("POST", "/%s/set/tr" % t, {t: {"enabled": True, "events": ["MESSAGES_UPSERT"]}})
                self.assertStatus(r, 201)
                self.assertEqual(r.body, b"", r)
                self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
                r = self.sup.api("GET", "/%s/find/tr" % t, apikey=tok)
                self.assertStatus(r, 200)
                self.assertEqual(r.body, b"", r)
                # validated as Evolution does
                r = self.sup.api("POST", "/%s/set/tr" % t, {t: {"events": []}})
                self.assertErrorEnvelope(r, 400, "Bad Request")
                self.assertEqual(r.json["response"]["message"], [['%s requires property "enabled"' % t]])
                r = self.sup.api("POST", "/%s/set/tr" % t, {t: {"enabled": True, "events": ["NOPE"]}})
                self.assertErrorEnvelope(r, 400, "Bad Request")
                self.assertTrue(r.json["response"]["message"][0][0].startswith(
                    "%s.events[0] is not one of enum values: APPLICATION_STARTUP," % t), r)
                r = self.sup.api("POST", "/%s/set/tr" % t, {})
                self.assertEqual(r.json["response"]["message"], [['instance requires property "%s"' % t]])
                # the usual guards
                self.assertStatus(self.sup.api("GET", "/%s/find/tr" % t, apikey=None), 401)
                self.assertStatus(self.sup.api("GET", "/%s/find/ghost" % t), 404)

    def test_verify_creds(self):
        """POST /verify-creds: the global key only; Evolution's body."""
        r = self.sup.api("POST", "/verify-creds")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"status": 200, "message": "Credentials are valid"})
        self.assertStatus(self.sup.api("POST", "/verify-creds", apikey=None), 401)
        self.assertStatus(self.sup.api("POST", "/verify-creds", apikey="wrong"), 401)
        self.sup.create_instance("vc")
        r = self.sup.api("POST", "/verify-creds", apikey=self.sup.fetch("vc")["token"])
        self.assertErrorEnvelope(r, 401, "Unauthorized")
        self.assertEqual(r.json["response"]["message"], "Unauthorized")

    def test_root(self):
        """GET / has Evolution's fields; manager points at this server's /manager."""
        r = self.sup.request("GET", "/")
        self.assertStatus(r, 200)
        j = r.json
        self.assertEqual(j["status"], 200)
        self.assertEqual(j["message"], "Welcome to the Evolution API, it is working!")
        self.assertEqual(j["version"], "2.2.1")
        self.assertIn("clientName", j)
        self.assertEqual(j["manager"], "http://127.0.0.1:%d/manager" % self.sup.port)
        self.assertEqual(j["documentation"], "https://doc.evolution-api.com")
        r = self.sup.request("GET", "/", headers={"Host": "wa.example.com:8080"})
        self.assertEqual(r.json["manager"], "http://wa.example.com:8080/manager")

    def test_create_echoes_transports(self):
        """create echoes webhook/websocket/rabbitmq/sqs as sent, as Evolution does."""
        r = self.sup.api("POST", "/instance/create", {
            "instanceName": "echo", "integration": "WHATSAPP-BAILEYS",
            "webhook": {"url": "http://127.0.0.1:9/e", "events": []},
            "websocket": {"enabled": True, "events": []}, "rabbitmq": {"enabled": False}})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["webhook"], {"webhookUrl": "http://127.0.0.1:9/e"})
        self.assertEqual(r.json["websocket"], {"enabled": True})
        self.assertEqual(r.json["rabbitmq"], {"enabled": False})
        self.assertEqual(r.json["sqs"], {})
        r = self.sup.api("POST", "/instance/create", {"instanceName": "echo2", "integration": "WHATSAPP-BAILEYS"})
        self.assertEqual((r.json["webhook"], r.json["websocket"], r.json["rabbitmq"], r.json["sqs"]), ({}, {}, {}, {}))


if __name__ == "__main__":
    main()
