"""Instance routes: create and fetchInstances shapes (reference section 2.1), connectionState, connect, restart,
logout and delete shapes."""

import re

from harness import E2ETestCase, main, wait_until

UUID_RX = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
UPPER_UUID_RX = re.compile(r"^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$")
ISO_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")

FETCH_KEYS = {"id", "name", "connectionStatus", "ownerJid", "profileName", "profilePicUrl", "integration", "number",
              "businessId", "token", "clientName", "disconnectionReasonCode", "disconnectionObject",
              "disconnectionAt", "createdAt", "updatedAt", "Chatwoot", "Proxy", "Rabbitmq", "Sqs", "Websocket",
              "Setting", "_count"}
SETTING_KEYS = {"id", "rejectCall", "msgCall", "groupsIgnore", "alwaysOnline", "readMessages", "readStatus",
                "syncFullHistory", "wavoipToken", "createdAt", "updatedAt", "instanceId"}
SETTINGS_BODY_KEYS = {"rejectCall", "msgCall", "groupsIgnore", "alwaysOnline", "readMessages", "readStatus",
                      "syncFullHistory", "wavoipToken"}


class InstanceTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def test_create_response_shape(self):
        r = self.sup.api("POST", "/instance/create", {"instanceName": "sales", "integration": "WHATSAPP-BAILEYS"})
        self.assertStatus(r, 201)
        j = r.json
        self.assertEqual(set(j), {"instance", "hash", "webhook", "websocket", "rabbitmq", "sqs", "settings"}, j)
        self.assertEqual(set(j["instance"]), {"instanceName", "instanceId", "integration", "webhookWaBusiness",
                                              "accessTokenWaBusiness", "status"}, j)
        self.assertEqual(j["instance"]["instanceName"], "sales")
        self.assertRegex(j["instance"]["instanceId"], UUID_RX)
        self.assertEqual(j["instance"]["integration"], "WHATSAPP-BAILEYS")
        self.assertIsNone(j["instance"]["webhookWaBusiness"])
        self.assertEqual(j["instance"]["accessTokenWaBusiness"], "")
        self.assertEqual(j["instance"]["status"], "close")
        self.assertIsInstance(j["hash"], str)
        self.assertRegex(j["hash"], UPPER_UUID_RX)
        self.assertEqual(set(j["settings"]), SETTINGS_BODY_KEYS, j)
        self.assertEqual(j["settings"], {"rejectCall": False, "msgCall": "", "groupsIgnore": False,
                                         "alwaysOnline": False, "readMessages": False, "readStatus": False,
                                         "syncFullHistory": False, "wavoipToken": ""})
        self.assertEqual(j["websocket"], {})
        self.assertEqual(j["rabbitmq"], {})
        self.assertEqual(j["sqs"], {})

    def test_create_with_own_token_and_settings(self):
        r = self.sup.api("POST", "/instance/create", {"instanceName": "own", "integration": "WHATSAPP-BAILEYS",
                                                      "token": "my-own-token", "rejectCall": True,
                                                      "msgCall": "busy", "number": "5511999999999"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["hash"], "my-own-token")
        self.assertTrue(r.json["settings"]["rejectCall"])
        self.assertEqual(r.json["settings"]["msgCall"], "busy")
        f = self.sup.api("GET", "/instance/fetchInstances?instanceName=own")
        self.assertStatus(f, 200)
        self.assertEqual(len(f.json), 1, f)
        self.assertEqual(f.json[0]["token"], "my-own-token")
        self.assertEqual(f.json[0]["number"], "5511999999999")
        self.assertTrue(f.json[0]["Setting"]["rejectCall"])

    def test_fetch_instances_shape(self):
        c = self.sup.create_instance("sales")
        iid = c["instance"]["instanceId"]
        r = self.sup.api("GET", "/instance/fetchInstances")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json, list, r)
        self.assertEqual(len(r.json), 1, r)
        row = r.json[0]
        self.assertEqual(set(row), FETCH_KEYS, row)
        self.assertEqual(row["id"], iid)
        self.assertEqual(row["name"], "sales")
        self.assertEqual(row["connectionStatus"], "close")
        self.assertEqual(row["integration"], "WHATSAPP-BAILEYS")
        self.assertEqual(row["token"], c["hash"])
        for k in ("ownerJid", "profileName", "profilePicUrl", "number", "businessId", "disconnectionReasonCode",
                  "disconnectionObject", "disconnectionAt", "Chatwoot", "Proxy", "Rabbitmq", "Sqs", "Websocket"):
            self.assertIsNone(row[k], k)
        self.assertIsInstance(row["clientName"], str)
        self.assertRegex(row["createdAt"], ISO_RX)
        self.assertRegex(row["updatedAt"], ISO_RX)
        self.assertEqual(set(row["Setting"]), SETTING_KEYS, row["Setting"])
        self.assertEqual(row["Setting"]["instanceId"], iid)
        self.assertEqual(row["_count"], {"Message": 0, "Contact": 0, "Chat": 0})

    def test_fetch_instances_filters(self):
        a = self.sup.create_instance("alpha", number="5511000000001")
        self.sup.create_instance("beta")
        r = self.sup.api("GET", "/instance/fetchInstances")
        self.assertEqual(sorted(x["name"] for x in r.json), ["alpha", "beta"])
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=beta")
        self.assertStatus(r, 200)
        self.assertEqual([x["name"] for x in r.json], ["beta"])
        r = self.sup.api("GET", "/instance/fetchInstances?instanceId=" + a["instance"]["instanceId"])
        self.assertStatus(r, 200)
        self.assertEqual([x["name"] for x in r.json], ["alpha"])
        r = self.sup.api("GET", "/instance/fetchInstances?number=5511000000001")
        self.assertStatus(r, 200)
        self.assertEqual([x["name"] for x in r.json], ["alpha"])
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=nosuch")
        self.assertErrorEnvelope(r, 404, "Not Found")
        self.assertEqual(r.json["response"]["message"], ['Instance "nosuch" not found'])

    def test_duplicate_name_is_403(self):
        self.sup.create_instance("dup")
        r = self.sup.api("POST", "/instance/create", {"instanceName": "dup", "integration": "WHATSAPP-BAILEYS"})
        self.assertErrorEnvelope(r, 403, "Forbidden")
        self.assertEqual(r.json["response"]["message"], ['This name "dup" is already in use.'])
        self.assertEqual(self.db.count("instance"), 1)

    def test_connection_state_shape(self):
        self.sup.create_instance("st")
        r = self.sup.api("GET", "/instance/connectionState/st")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"instance": {"instanceName": "st", "state": "close"}})

    def test_unknown_instance_is_404(self):
        for method, path in (("GET", "/instance/connectionState/ghost"), ("GET", "/instance/connect/ghost"),
                             ("POST", "/instance/restart/ghost"), ("DELETE", "/instance/logout/ghost"),
                             ("DELETE", "/instance/delete/ghost"), ("GET", "/settings/find/ghost")):
            r = self.sup.api(method, path)
            self.assertErrorEnvelope(r, 404, "Not Found")
            self.assertEqual(r.json["response"]["message"], ['The "ghost" instance does not exist'], path)

    def test_connect_shape(self):
        self.sup.create_instance("cn")
        r = self.sup.api("GET", "/instance/connect/cn")
        # Without a reachable WhatsApp the QR object has no code yet ({"count":0}); with one it has a code.
        if r.status == 200:
            self.assertIsInstance(r.json, dict, r)
            if "instance" in r.json:
                self.assertEqual(set(r.json["instance"]), {"instanceName", "state"}, r)
            else:
                self.assertIn("count", r.json, r)
                self.assertIsInstance(r.json["count"], int, r)
                self.assertTrue(set(r.json) <= {"pairingCode", "code", "base64", "count"}, r)
                if "base64" in r.json and r.json["base64"]:
                    self.assertTrue(r.json["base64"].startswith("data:image/png;base64,"), r)
                    self.assertTrue(r.json["code"].startswith("2@"), r)
        else:
            # a clear error, never {"error":true,"message":"[object Object]"}
            self.assertIn(r.status, (500, 502, 503, 504), r)
            self.assertEqual(r.json.get("status"), r.status, r)
        s = self.sup.api("GET", "/instance/connectionState/cn")
        self.assertIn(s.json["instance"]["state"], ("close", "connecting", "open"), s)

    def test_connect_bad_number_is_400(self):
        self.sup.create_instance("cnb")
        r = self.sup.api("GET", "/instance/connect/cnb?number=abc")
        self.assertStatus(r, 400)

    def test_logout_closed_instance_is_400(self):
        self.sup.create_instance("lo")
        r = self.sup.api("DELETE", "/instance/logout/lo")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"], ['The "lo" instance is not connected'])
        self.assertEqual(self.db.count("instance"), 1)

    def test_restart_shape(self):
        self.sup.create_instance("rs")
        wait_until(lambda: self.sup.worker_pids(), 20, msg="worker of rs")
        r = self.sup.api("POST", "/instance/restart/rs")
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json, dict, r)
        self.assertNotEqual(r.json.get("message"), "[object Object]", r)
        if "instance" in r.json:
            self.assertEqual(r.json["instance"]["instanceName"], "rs")
            self.assertIn(r.json["instance"]["state"], ("open", "connecting", "close"))
        else:
            self.assertIn("count", r.json, r)
        # the instance still answers and gets a worker again
        wait_until(lambda: self.sup.worker_pids(), 20, msg="worker of rs after restart")
        self.assertStatus(self.sup.api("GET", "/instance/connectionState/rs"), 200)

    def test_delete_shape(self):
        c = self.sup.create_instance("del")
        iid = c["instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 20, msg="worker of del")
        pid = self.sup.worker_pids()[iid]
        r = self.sup.api("DELETE", "/instance/delete/del")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, {"status": "SUCCESS", "error": False, "response": {"message": "Instance deleted"}})
        self.assertStatus(self.sup.api("GET", "/instance/connectionState/del"), 404)
        self.assertEqual(self.sup.api("GET", "/instance/fetchInstances").json, [])
        wait_until(lambda: iid not in self.sup.worker_pids(), 10, msg="worker gone from metrics")
        wait_until(lambda: not _alive(pid), 10, msg="worker process %d exits" % pid)
        # the name is free again
        self.sup.create_instance("del")

    def test_create_then_worker_spawned(self):
        c = self.sup.create_instance("w1")
        iid = c["instance"]["instanceId"]
        pid = wait_until(lambda: self.sup.worker_pids().get(iid), 20, msg="worker pid in metrics")

        def argv_of():
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                a = f.read().split(b"\0")
            return a if a[0].decode().endswith("wagate-worker") else None
        # the pid is published right after fork; exec follows a moment later
        argv = wait_until(argv_of, 10, 0.02, msg="worker %d exec'd" % pid)
        self.assertTrue(argv[0].decode().endswith("wagate-worker"), argv)
        self.assertEqual(argv[1].decode(), iid, argv)


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    main()
