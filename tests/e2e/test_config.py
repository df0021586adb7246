"""settings / webhook / proxy: set -> find -> fetchInstances (Setting, Proxy), and survival across a restart."""

from harness import E2ETestCase, main

ALL_EVENTS = ["APPLICATION_STARTUP", "QRCODE_UPDATED", "MESSAGES_SET", "MESSAGES_UPSERT", "MESSAGES_EDITED",
              "MESSAGES_UPDATE", "MESSAGES_DELETE", "SEND_MESSAGE", "CONTACTS_SET", "CONTACTS_UPSERT",
              "CONTACTS_UPDATE", "PRESENCE_UPDATE", "CHATS_SET", "CHATS_UPSERT", "CHATS_UPDATE", "CHATS_DELETE",
              "GROUPS_UPSERT", "GROUP_UPDATE", "GROUP_PARTICIPANTS_UPDATE", "CONNECTION_UPDATE", "LABELS_EDIT",
              "LABELS_ASSOCIATION", "CALL", "TYPEBOT_START", "TYPEBOT_CHANGE_STATUS", "REMOVE_INSTANCE",
              "LOGOUT_INSTANCE"]

SETTINGS = {"rejectCall": True, "msgCall": "I can't take calls", "groupsIgnore": True, "alwaysOnline": False,
            "readMessages": True, "readStatus": False, "syncFullHistory": False}


class ConfigTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.c = self.sup.create_instance("cfg")
        self.iid = self.c["instance"]["instanceId"]

    def fetch(self):
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=cfg")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json), 1, r)
        return r.json[0]

    def test_settings_set_find_fetch(self):
        r = self.sup.api("POST", "/settings/set/cfg", dict(SETTINGS, extra="kept"))
        self.assertStatus(r, 201)
        self.assertEqual(r.json["settings"]["instanceName"], "cfg", r)
        for k, v in SETTINGS.items():
            self.assertEqual(r.json["settings"]["settings"][k], v, k)
        r = self.sup.api("GET", "/settings/find/cfg")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, dict(SETTINGS, wavoipToken=""))
        s = self.fetch()["Setting"]
        for k, v in SETTINGS.items():
            self.assertEqual(s[k], v, k)
        self.assertEqual(s["instanceId"], self.iid)
        # a second set replaces the row, it does not add one
        r = self.sup.api("POST", "/settings/set/cfg", dict(SETTINGS, rejectCall=False, msgCall=""))
        self.assertStatus(r, 201)
        self.assertEqual(self.sup.api("GET", "/settings/find/cfg").json["rejectCall"], False)
        self.assertEqual(self.db.count("instance_setting"), 1)
        # and it survives a restart
        self.sup.restart()
        self.assertEqual(self.sup.api("GET", "/settings/find/cfg").json["groupsIgnore"], True)

    def test_webhook_set_find(self):
        self.assertEqual(self.sup.api("GET", "/webhook/find/cfg").text.strip(), "null")
        body = {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/wa", "headers": {"authorization": "Bearer x"},
                            "byEvents": True, "base64": False, "events": ["MESSAGES_UPSERT", "CONNECTION_UPDATE"]}}
        r = self.sup.api("POST", "/webhook/set/cfg", body)
        self.assertStatus(r, 201)
        row = r.json
        self.assertEqual(set(row), {"id", "url", "headers", "enabled", "events", "webhookByEvents", "webhookBase64",
                                    "createdAt", "updatedAt", "instanceId"}, row)
        self.assertEqual(row["url"], "http://127.0.0.1:9/wa")
        self.assertEqual(row["headers"], {"authorization": "Bearer x"})
        self.assertTrue(row["enabled"])
        self.assertEqual(row["events"], ["MESSAGES_UPSERT", "CONNECTION_UPDATE"])
        self.assertTrue(row["webhookByEvents"])
        self.assertFalse(row["webhookBase64"])
        self.assertEqual(row["instanceId"], self.iid)
        f = self.sup.api("GET", "/webhook/find/cfg")
        self.assertStatus(f, 200)
        self.assertEqual(f.json, row)
        # empty events = all of them
        r = self.sup.api("POST", "/webhook/set/cfg", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/wa",
                                                                 "events": []}})
        self.assertStatus(r, 201)
        self.assertEqual(sorted(r.json["events"]), sorted(ALL_EVENTS))
        # disabled = events forced to []
        r = self.sup.api("POST", "/webhook/set/cfg", {"webhook": {"enabled": False, "url": "http://127.0.0.1:9/wa",
                                                                 "events": ["CALL"]}})
        self.assertStatus(r, 201)
        self.assertFalse(r.json["enabled"])
        self.assertEqual(r.json["events"], [])
        self.assertEqual(self.db.count("instance_webhook"), 1)
        # fetchInstances does not carry the webhook
        self.assertNotIn("Webhook", self.fetch())

    def test_proxy_set_find_fetch(self):
        self.assertEqual(self.sup.api("GET", "/proxy/find/cfg").text.strip(), "null")
        self.assertIsNone(self.fetch()["Proxy"])
        # a disabled proxy blanks its fields and needs no probe
        r = self.sup.api("POST", "/proxy/set/cfg", {"enabled": False, "host": "10.0.0.9", "port": "3128",
                                                   "protocol": "http", "username": "u", "password": "p"})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["proxy"]["instanceName"], "cfg", r)
        self.assertFalse(r.json["proxy"]["proxy"]["enabled"])
        f = self.sup.api("GET", "/proxy/find/cfg")
        self.assertStatus(f, 200)
        self.assertEqual(set(f.json), {"id", "enabled", "host", "port", "protocol", "username", "password",
                                       "createdAt", "updatedAt", "instanceId"}, f)
        self.assertFalse(f.json["enabled"])
        self.assertEqual(f.json["host"], "")
        self.assertEqual(f.json["port"], "")
        self.assertEqual(f.json["instanceId"], self.iid)
        p = self.fetch()["Proxy"]
        self.assertIsInstance(p, dict)
        self.assertEqual(p["instanceId"], self.iid)
        self.assertFalse(p["enabled"])

    def test_proxy_unreachable_is_invalid(self):
        # 127.0.0.1:9 refuses connections: the probe must fail and nothing be stored
        r = self.sup.api("POST", "/proxy/set/cfg", {"enabled": True, "host": "127.0.0.1", "port": "9",
                                                   "protocol": "http", "username": "", "password": ""})
        self.assertEqual(r.status, 400, r)
        self.assertEqual(r.json["response"]["message"], ["Invalid proxy"])
        self.assertEqual(self.db.count("instance_proxy"), 0)

    def test_create_with_webhook_and_settings(self):
        r = self.sup.api("POST", "/instance/create", {
            "instanceName": "cfg2", "integration": "WHATSAPP-BAILEYS", "readMessages": True,
            "webhook": {"url": "http://127.0.0.1:9/hook", "byEvents": False, "base64": True,
                        "headers": {"x-a": "1"}, "events": ["CONNECTION_UPDATE"]}})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["webhook"], {"webhookUrl": "http://127.0.0.1:9/hook", "webhookHeaders": {"x-a": "1"},
                                             "webhookByEvents": False, "webhookBase64": True})
        w = self.sup.api("GET", "/webhook/find/cfg2").json
        self.assertTrue(w["enabled"])
        self.assertEqual(w["events"], ["CONNECTION_UPDATE"])
        self.assertTrue(self.sup.api("GET", "/settings/find/cfg2").json["readMessages"])


if __name__ == "__main__":
    main()
