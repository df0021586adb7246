"""Evolution's chat read routes (issue 9): POST /chat/findMessages, /chat/findChats, /chat/findContacts.

The worker's write path for chat, contact and message rows comes with messaging; until then the rows are inserted
here with SQL in the shapes that path will write (Evolution's stored key/message JSON, epoch-second timestamps).
Checked: every findMessages filter, pagination (total/pages/currentPage), newest-first order, findChats' newest
message per contact and 24-hour window, findContacts' number normalisation, the empty shapes of an instance
without rows, instance auth (another instance's token refused), bad bodies (400, nothing written) and that no
row of another instance ever shows."""

import json

from harness import E2ETestCase, main

BASE_TS = 1735689600            # 2025-01-01T00:00:00Z
C1 = "5511999990001@s.whatsapp.net"
C2 = "5511999990002@s.whatsapp.net"
C3 = "5511999990003@s.whatsapp.net"
GROUP_MEMBER = "5511888880000@s.whatsapp.net"
N1, N2 = 120, 5                 # messages with C1, with C2
RECORD_KEYS = {"id", "key", "pushName", "messageType", "message", "messageTimestamp", "instanceId", "source",
               "contextInfo", "MessageUpdate"}
LAST_KEYS = {"id", "key", "pushName", "participant", "messageType", "message", "contextInfo", "source",
             "messageTimestamp", "instanceId", "sessionId", "status"}
CHAT_KEYS = {"id", "remoteJid", "pushName", "profilePicUrl", "updatedAt", "windowStart", "windowExpires",
             "windowActive", "lastMessage"}
CONTACT_KEYS = {"id", "remoteJid", "pushName", "profilePicUrl", "createdAt", "updatedAt", "instanceId"}


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class ChatFindsTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.a = self.sup.create_instance("finds-a")
        self.b = self.sup.create_instance("finds-b")
        self.c = self.sup.create_instance("finds-empty")
        self.aid = self.a["instance"]["instanceId"]
        self.bid = self.b["instance"]["instanceId"]
        self.seed()

    def seed(self):
        a, b = sql_str(self.aid), sql_str(self.bid)
        # Rows go in against time order (newest first), so an order by row id instead of time shows.
        # C1: 120 messages a minute apart, every other one ours, a third from iOS, every tenth an image (the
        # newest one included); C2: 5 newer ones, one from a group participant; C3: a contact without messages.
        # B shares C1's JID with newer messages of its own, which must never show in A's answers.
        self.db.query(f"""
            INSERT INTO contact (instance_id, remote_jid, push_name, profile_pic_url) VALUES
              ({a}, '{C1}', 'Ana', NULL), ({a}, '{C2}', 'Bruno', 'https://pps.whatsapp.net/b.jpg'),
              ({a}, '{C3}', 'Caio', NULL), ({b}, '{C1}', 'Ana at B', NULL);
            INSERT INTO chat (instance_id, remote_jid, name, created_at) VALUES
              ({a}, '{C1}', 'Ana', now()), ({a}, '{C2}', 'Bruno', now() - interval '2 days'),
              ({b}, '{C1}', 'Ana', now());
            INSERT INTO message (instance_id, key_id, remote_jid, from_me, participant, push_name, message_type,
                                 key, message, message_timestamp, status, source)
            SELECT {a}, 'A1-' || i, '{C1}', i % 2 = 0, NULL, CASE WHEN i % 2 = 0 THEN NULL ELSE 'Ana' END,
                   CASE WHEN i % 10 = 9 THEN 'imageMessage' ELSE 'conversation' END,
                   jsonb_build_object('remoteJid', '{C1}', 'fromMe', i % 2 = 0, 'id', 'A1-' || i),
                   CASE WHEN i % 10 = 9
                        THEN jsonb_build_object('imageMessage', jsonb_build_object('caption', 'pic ' || i,
                               'jpegThumbnail', 'AAAA', 'url', 'https://mmg.whatsapp.net/x'), 'base64', 'QUJD')
                        ELSE jsonb_build_object('conversation', 'text ' || i) END,
                   {BASE_TS} + i * 60, 'DELIVERY_ACK', CASE WHEN i % 3 = 0 THEN 'ios' ELSE 'android' END
              FROM generate_series({N1 - 1}, 0, -1) i;   -- row ids against time: the order must be by time
            INSERT INTO message (instance_id, key_id, remote_jid, from_me, participant, push_name, message_type,
                                 key, message, message_timestamp, status, source)
            SELECT {a}, 'A2-' || i, '{C2}', false, CASE WHEN i = 2 THEN '{GROUP_MEMBER}' END, 'Bruno',
                   'conversation',
                   jsonb_build_object('remoteJid', '{C2}', 'fromMe', false, 'id', 'A2-' || i)
                     || CASE WHEN i = 2 THEN jsonb_build_object('participant', '{GROUP_MEMBER}')
                        ELSE '{{}}'::jsonb END,
                   jsonb_build_object('conversation', 'hello ' || i), {BASE_TS} + 86400 + i, 'READ', 'web'
              FROM generate_series(0, {N2 - 1}) i;
            INSERT INTO message (instance_id, key_id, remote_jid, from_me, push_name, message_type, key, message,
                                 message_timestamp, source)
            SELECT {b}, 'B1-' || i, '{C1}', true, NULL, 'conversation',
                   jsonb_build_object('remoteJid', '{C1}', 'fromMe', true, 'id', 'B1-' || i),
                   jsonb_build_object('conversation', 'from b ' || i), {BASE_TS} + 999999 + i, 'unknown'
              FROM generate_series(0, 2) i;
        """)

    def find(self, route, body, name="finds-a", apikey=None, status=200):
        kw = {} if apikey is None else {"apikey": apikey}
        r = self.sup.api("POST", "/chat/%s/%s" % (route, name), body, **kw)
        self.assertEqual(r.status, status, "%s %s: %r" % (route, json.dumps(body), r))
        return r.json

    def messages(self, body, **kw):
        return self.find("findMessages", body, **kw)["messages"]

    def total(self, where):
        return self.messages({"where": where})["total"]

    def test_find_messages_pages_and_order(self):
        m = self.messages({})
        self.assertEqual((m["total"], m["pages"], m["currentPage"]), (N1 + N2, 3, 1))
        self.assertEqual(len(m["records"]), 50)
        rec = m["records"][0]
        self.assertEqual(set(rec), RECORD_KEYS)
        # the newest message is C2's last one
        self.assertEqual(rec["key"], {"remoteJid": C2, "fromMe": False, "id": "A2-4"})
        self.assertEqual(rec["messageTimestamp"], BASE_TS + 86400 + 4)
        self.assertEqual((rec["pushName"], rec["messageType"], rec["message"], rec["source"], rec["instanceId"]),
                         ("Bruno", "conversation", {"conversation": "hello 4"}, "web", self.aid))
        self.assertIsInstance(rec["id"], str)
        self.assertIsNone(rec["contextInfo"])
        self.assertEqual(rec["MessageUpdate"], [])
        # offset is the page size; every page walked gives every message once, newest first
        seen = []
        for page in range(1, 5):
            m = self.messages({"page": page, "offset": 40})
            self.assertEqual((m["total"], m["pages"], m["currentPage"]), (N1 + N2, 4, page))
            self.assertEqual(len(m["records"]), 40 if page < 4 else 5)
            seen += m["records"]
        ts = [r["messageTimestamp"] for r in seen]
        self.assertEqual(ts, sorted(ts, reverse=True))
        self.assertEqual(len({r["key"]["id"] for r in seen}), N1 + N2)
        self.assertEqual(len({r["id"] for r in seen}), N1 + N2)
        # past the end: the count stays, no records; page 0 and offset 0 take Evolution's defaults
        m = self.messages({"page": 9, "offset": 40})
        self.assertEqual((m["total"], m["pages"], m["currentPage"], m["records"]), (N1 + N2, 4, 9, []))
        m = self.messages({"page": 0, "offset": 0})
        self.assertEqual((m["currentPage"], m["pages"], len(m["records"])), (1, 3, 50))
        m = self.messages({"page": 2.0, "offset": 100})
        self.assertEqual((m["currentPage"], m["pages"], len(m["records"])), (2, 2, 25))
        # urlencoded bodies are not the JSON clients send, but an empty body is the same as {}
        r = self.sup.api("POST", "/chat/findMessages/finds-a")
        self.assertEqual(r.json["messages"]["total"], N1 + N2)

    def test_find_messages_filters(self):
        self.assertEqual(self.total({"key": {"remoteJid": C1}}), N1)
        self.assertEqual(self.total({"key": {"remoteJid": C3}}), 0)
        m = self.messages({"where": {"key": {"id": "A1-7"}}})
        self.assertEqual(m["total"], 1)
        self.assertEqual(m["records"][0]["message"], {"conversation": "text 7"})
        self.assertEqual(self.total({"key": {"fromMe": True}}), N1 // 2)
        self.assertEqual(self.total({"key": {"fromMe": True, "remoteJid": C2}}), 0)
        # Evolution applies fromMe only when true: a whole key with fromMe false reads both directions
        self.assertEqual(self.total({"key": {"fromMe": False, "remoteJid": C1}}), N1)
        self.assertEqual(self.total({"key": {"participants": GROUP_MEMBER, "remoteJid": C2}}), 1)
        self.assertEqual(self.total({"messageType": "imageMessage"}), N1 // 10)
        self.assertEqual(self.total({"messageType": "imageMessage", "key": {"fromMe": True}}), 0)
        self.assertEqual(self.total({"source": "ios"}), N1 // 3)
        self.assertEqual(self.total({"source": "web", "messageType": "conversation"}), N2)
        one = self.messages({"where": {"key": {"id": "A1-3"}}})["records"][0]
        m = self.messages({"where": {"id": one["id"]}})
        self.assertEqual([r["key"]["id"] for r in m["records"]], ["A1-3"])
        self.assertEqual(self.total({"id": "cm6x0c2l40001qz0h3jv7f9ab"}), 0)
        self.assertEqual(self.total({"id": ""}), 0)
        # inclusive bounds, as ISO strings or milliseconds
        rng = {"gte": "2025-01-01T00:10:00Z", "lte": "2025-01-01T00:19:00.000Z"}
        m = self.messages({"where": {"messageTimestamp": rng}})
        self.assertEqual(m["total"], 10)
        self.assertEqual(m["records"][0]["key"]["id"], "A1-19")
        self.assertEqual(m["records"][-1]["key"]["id"], "A1-10")
        self.assertEqual(self.total({"messageTimestamp": {"gte": (BASE_TS + 600) * 1000,
                                                          "lte": (BASE_TS + 1140) * 1000 + 999}}), 10)
        self.assertEqual(self.total({"messageTimestamp": {"gte": "2025-01-02", "lte": "2025-01-03"}}), N2)
        # one bound alone is ignored, as upstream
        self.assertEqual(self.total({"messageTimestamp": {"gte": "2030-01-01"}}), N1 + N2)
        self.assertEqual(self.total({"messageTimestamp": {"gte": "2025-01-02", "lte": "2025-01-03"},
                                     "key": {"remoteJid": C1}}), 0)
        # unknown fields are allowed, as Evolution's schemas allow them
        self.assertEqual(self.messages({"where": {"foo": 1, "key": {"bar": [1]}}, "sort": "asc", "limit": 3})
                         ["total"], N1 + N2)

    def test_find_chats(self):
        chats = self.find("findChats", {})
        self.assertEqual([c["remoteJid"] for c in chats], [C2, C1])   # newest message first; C3 has none
        c2, c1 = chats
        for c in chats:
            self.assertEqual(set(c), CHAT_KEYS)
            self.assertEqual(set(c["lastMessage"]), LAST_KEYS)
            self.assertEqual(c["lastMessage"]["instanceId"], self.aid)
            self.assertIsInstance(c["id"], str)
        self.assertEqual((c2["pushName"], c2["profilePicUrl"]), ("Bruno", "https://pps.whatsapp.net/b.jpg"))
        self.assertEqual(c2["updatedAt"], "2025-01-02T00:00:04.000Z")
        self.assertFalse(c2["windowActive"])
        self.assertTrue(c1["windowActive"])
        self.assertRegex(c1["windowStart"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertRegex(c1["windowExpires"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(c2["lastMessage"]["key"]["id"], "A2-4")
        self.assertEqual(c2["lastMessage"]["status"], "READ")
        # the newest of C1 is an image: cleaned as Evolution cleans it (caption only, base64 gone)
        lm = c1["lastMessage"]
        self.assertEqual(lm["key"]["id"], "A1-119")
        self.assertEqual(lm["message"], {"imageMessage": {"caption": "pic 119"}})
        self.assertEqual((lm["messageType"], lm["messageTimestamp"], lm["sessionId"], lm["participant"]),
                         ("imageMessage", BASE_TS + 119 * 60, None, None))
        # a number is made a JID; the range chooses the messages considered
        self.assertEqual([c["remoteJid"] for c in self.find("findChats", {"where": {"remoteJid": "5511999990002"}})],
                         [C2])
        self.assertEqual(self.find("findChats", {"where": {"remoteJid": C3}}), [])
        got = self.find("findChats", {"where": {"messageTimestamp": {"gte": "2025-01-01T00:00:00Z",
                                                                     "lte": "2025-01-01T00:05:00Z"}}})
        self.assertEqual([(c["remoteJid"], c["lastMessage"]["key"]["id"]) for c in got], [(C1, "A1-5")])

    def test_find_contacts(self):
        contacts = self.find("findContacts", {})
        self.assertEqual([c["remoteJid"] for c in contacts], [C1, C2, C3])
        for c in contacts:
            self.assertEqual(set(c), CONTACT_KEYS)
            self.assertEqual(c["instanceId"], self.aid)
            self.assertRegex(c["createdAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertEqual(contacts[0]["pushName"], "Ana")
        self.assertIsNone(contacts[0]["profilePicUrl"])
        got = self.find("findContacts", {"where": {"remoteJid": "+55 11 99999-0003"}})
        self.assertEqual([c["pushName"] for c in got], ["Caio"])
        self.assertEqual(self.find("findContacts", {"where": {"remoteJid": C2, "pushName": "ignored"}})[0]
                         ["remoteJid"], C2)
        # only remoteJid filters, as upstream; an empty one is no filter
        self.assertEqual(len(self.find("findContacts", {"where": {"pushName": "Nobody", "remoteJid": ""}})), 3)

    def test_empty_instance(self):
        self.assertEqual(self.find("findMessages", {}, name="finds-empty"),
                         {"messages": {"total": 0, "pages": 0, "currentPage": 1, "records": []}})
        self.assertEqual(self.find("findChats", {}, name="finds-empty"), [])
        self.assertEqual(self.find("findContacts", {}, name="finds-empty"), [])

    def test_no_leak_between_instances(self):
        a_ids = {r["key"]["id"] for r in self.messages({"offset": 1000})["records"]}
        self.assertEqual(len(a_ids), N1 + N2)
        self.assertFalse(any(i.startswith("B1-") for i in a_ids))
        b = self.messages({"offset": 1000}, name="finds-b")
        self.assertEqual(b["total"], 3)
        self.assertEqual({r["instanceId"] for r in b["records"]}, {self.bid})
        # the same JID at both: each sees its own contact and newest message
        ca = self.find("findChats", {"where": {"remoteJid": C1}})
        cb = self.find("findChats", {"where": {"remoteJid": C1}}, name="finds-b")
        self.assertEqual(ca[0]["lastMessage"]["key"]["id"], "A1-119")
        self.assertEqual((cb[0]["pushName"], cb[0]["lastMessage"]["key"]["id"]), ("Ana at B", "B1-2"))
        self.assertEqual([c["pushName"] for c in self.find("findContacts", {}, name="finds-b")], ["Ana at B"])
        self.assertEqual(self.total({"key": {"id": "B1-0"}}), 0)

    def test_auth(self):
        a_token, b_token = self.a["hash"], self.b["hash"]
        for route in ("findMessages", "findChats", "findContacts"):
            with self.subTest(route):
                self.find(route, {}, apikey=a_token)
                r = self.sup.request("POST", "/chat/%s/finds-a" % route, {}, apikey=b_token)
                self.assertErrorEnvelope(r, 401, "Unauthorized")
                r = self.sup.request("POST", "/chat/%s/finds-a" % route, {})
                self.assertErrorEnvelope(r, 401, "Unauthorized")
                r = self.sup.api("POST", "/chat/%s/nobody" % route, {})
                self.assertErrorEnvelope(r, 404, "Not Found")
                r = self.sup.api("GET", "/chat/%s/finds-a" % route)
                self.assertErrorEnvelope(r, 404, "Not Found")

    def test_bad_bodies(self):
        before = self.db.fingerprint(exclude=("schema_migrations", "webhook_outbox"))
        cases = [
            ("findMessages", {"where": "x"}, "where is not of a type(s) object"),
            ("findMessages", {"page": "2"}, "page is not of a type(s) integer"),
            ("findMessages", {"page": 1.5}, "page is not of a type(s) integer"),
            ("findMessages", {"offset": 5000}, "offset must be less than or equal to 1000"),
            ("findMessages", {"offset": -1}, "offset must be greater than or equal to 0"),
            ("findMessages", {"limit": "x"}, "limit is not of a type(s) integer"),
            ("findMessages", {"where": {"key": {"fromMe": "yes"}}}, "where.key.fromMe is not of a type(s) boolean"),
            ("findMessages", {"where": {"key": {"remoteJid": ""}}}, "The property cannot be empty"),
            ("findMessages", {"where": {"key": {"id": 5, "participants": "x"}}},
             "where.key.id is not of a type(s) string"),
            ("findMessages", {"where": {"key": "x"}}, "where.key is not of a type(s) object"),
            ("findMessages", {"where": {"_id": ""}}, 'The "_id" cannot be empty'),
            ("findMessages", {"where": {"messageType": 7}}, "where.messageType is not of a type(s) string"),
            ("findMessages", {"where": {"messageTimestamp": {"gte": "yesterday", "lte": "2025-01-01"}}},
             "where.messageTimestamp.gte is not a valid date"),
            ("findMessages", {"where": {"messageTimestamp": 5}}, "where.messageTimestamp is not of a type(s) object"),
            ("findChats", {"where": {"remoteJid": 5}}, "where.remoteJid is not of a type(s) string"),
            ("findChats", {"where": {"messageTimestamp": {"gte": "2025-01-01", "lte": "2025-02-30"}}},
             "where.messageTimestamp.lte is not a valid date"),
            ("findContacts", {"where": {"pushName": ""}}, 'The "pushName" cannot be empty'),
            ("findContacts", {"where": {"id": 3, "remoteJid": "x"}}, "where.id is not of a type(s) string"),
            ("findContacts", {"where": {"remoteJid": "1" * 200}}, "where.remoteJid does not meet maximum length of 128"),
            ("findContacts", {"where": []}, "where is not of a type(s) object"),
        ]
        for route, body, msg in cases:
            with self.subTest(route=route, body=body):
                r = self.sup.api("POST", "/chat/%s/finds-a" % route, body)
                self.assertErrorEnvelope(r, 400, "Bad Request")
                got = r.json["response"]["message"]
                self.assertIsInstance(got, list)
                self.assertIsInstance(got[0], list, r)
                self.assertIn(msg, got[0])
        r = self.sup.api("POST", "/chat/findMessages/finds-a", raw=b"{\"where\": ", headers={
            "Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        self.assertEqual(self.db.fingerprint(exclude=("schema_migrations", "webhook_outbox")), before)


if __name__ == "__main__":
    main()
