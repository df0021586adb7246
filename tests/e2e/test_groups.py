"""Groups end to end (issue 9): the real wagate + workers + PostgreSQL + fakewa with its mock phones (real Signal) + a
webhook receiver. One paired instance; two fakewa phones (accounts without a companion) are the other members.

1. POST /group/create with the two numbers (one typed with a "+"): 201 with the group's metadata, as fakewa holds
   it (/admin/groups); findGroupInfos (groupJid without "@g.us"), participants and fetchAllGroups (with and
   without participants) answer the same group; an unknown group is Evolution's 404; bad queries are 400s;
   whatsappNumbers says the group exists (with its subject) and an unknown one does not.
2. sendText to the group JID: 201, both phones decrypt exactly the text (sender keys), the row is ours.
3. A phone's text to the group: a message row with the group as remote_jid and the phone as participant, and a
   messages.upsert webhook that names both.

The worker side is proto/ipc.proto 60..63 (GroupCreate/GroupQuery/GroupList) and SendMessage to a group.

One test: python3 test_groups.py GroupsTest.test_group_lifecycle (see README.md)."""

import urllib.parse

from harness import main
from messaging import MessagingCase, sql_str, user_jid

PHONE_B, PHONE_C = "15558200002", "15558200003"
TEXT = "hello, group \u00fcn\u00efc\u00f8de \U0001F44B"
INFO_KEYS = {"id", "subject", "subjectOwner", "subjectTime", "pictureUrl", "size", "creation", "owner", "restrict",
             "announce", "participants", "isCommunity", "isCommunityAnnounce"}


class GroupsTest(MessagingCase):

    def new_phone(self, phone, name):
        """A fakewa account with only its mock phone (no companion): a member that reads and writes."""
        r = self.fw.post("/admin/account?" + urllib.parse.urlencode({"phone": phone, "name": name}))
        self.assertEqual(r.status, 200, r)

    def api_get(self, path, **query):
        return self.sup.api("GET", path + ("?" + urllib.parse.urlencode(query) if query else ""), timeout=60)

    def assert_members(self, parts, want, owner):
        """[{id, admin}] with exactly the users in want; the creator superadmin, the others plain members."""
        self.assertIsInstance(parts, list, parts)
        self.assertEqual({p.get("id") for p in parts}, set(want), parts)
        for p in parts:
            self.assertEqual(set(p), {"id", "admin"}, p)
            self.assertEqual(p["admin"], "superadmin" if p["id"] == owner else None, p)

    def test_group_lifecycle(self):
        me = self.pair_ready("grp", "15558200001", "Group Owner")
        self.new_phone(PHONE_B, "Bea")
        self.new_phone(PHONE_C, "Cid")
        members = {me["user"], user_jid(PHONE_B), user_jid(PHONE_C)}

        # 1. create: 201 with the metadata; description is accepted and not set (routes_group.c)
        r = self.sup.api("POST", "/group/create/grp", {"subject": "Team wagate", "participants": [PHONE_B, "+" + PHONE_C],
                                                        "description": "not set by wagate"}, timeout=60)
        self.assertStatus(r, 201)
        g = r.json
        gid = g.get("id") or ""
        self.assertRegex(gid, r"^[\d-]+@g\.us$", g)
        self.assertEqual(g["subject"], "Team wagate", g)
        self.assertEqual(g["size"], 3, g)
        self.assertEqual(g["owner"], me["user"], g)
        self.assertIsInstance(g["creation"], int, g)
        self.assertIs(g["restrict"], False, g)
        self.assertIs(g["announce"], False, g)
        self.assert_members(g["participants"], members, me["user"])
        # fakewa holds the same group
        held = [x for x in self.fw.call("/admin/groups", method="GET")["groups"] if x["jid"] == gid]
        self.assertEqual(len(held), 1, held)
        self.assertEqual(set(held[0]["participants"]), members, held)
        self.assertEqual(held[0]["subject"], "Team wagate", held)

        # findGroupInfos, by the number alone ("@g.us" appended) and by the JID
        for q in (gid.split("@")[0], gid):
            r = self.api_get("/group/findGroupInfos/grp", groupJid=q)
            self.assertStatus(r, 200)
            info = r.json
            self.assertTrue(INFO_KEYS <= set(info), info)
            self.assertEqual((info["id"], info["subject"], info["size"], info["owner"]), (gid, "Team wagate", 3,
                                                                                           me["user"]), info)
            self.assertIsNone(info["pictureUrl"], info)
            self.assertIs(info["isCommunity"], False, info)
            self.assertEqual(info["creation"], g["creation"], info)
            self.assert_members(info["participants"], members, me["user"])
        # participants
        r = self.api_get("/group/participants/grp", groupJid=gid)
        self.assertStatus(r, 200)
        self.assertEqual(set(r.json), {"participants"}, r.json)
        self.assert_members(r.json["participants"], members, me["user"])
        # fetchAllGroups: participants only when asked
        r = self.api_get("/group/fetchAllGroups/grp", getParticipants="false")
        self.assertStatus(r, 200)
        mine = [x for x in r.json if x.get("id") == gid]
        self.assertEqual(len(mine), 1, r.json)
        self.assertNotIn("participants", mine[0])
        self.assertEqual((mine[0]["subject"], mine[0]["size"]), ("Team wagate", 3), mine)
        r = self.api_get("/group/fetchAllGroups/grp", getParticipants="true")
        self.assertStatus(r, 200)
        mine = [x for x in r.json if x.get("id") == gid]
        self.assertEqual(len(mine), 1, r.json)
        self.assert_members(mine[0]["participants"], members, me["user"])
        # refusals: Evolution's words, nothing asked of the worker that could change anything
        r = self.api_get("/group/fetchAllGroups/grp")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"], ["The getParticipants needs to be informed in the query"])
        r = self.api_get("/group/findGroupInfos/grp")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"][0], "The group id needs to be informed in the query")
        r = self.api_get("/group/participants/grp", groupJid="not-a-group")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"][0].get("property"), "groupJid", r.json)
        r = self.sup.api("POST", "/group/create/grp", {"subject": "x"})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        r = self.api_get("/group/findGroupInfos/grp", groupJid="120363999999999999")
        self.assertErrorEnvelope(r, 404, "Not Found")
        self.assertEqual(r.json["response"]["message"][0], "Error fetching group", r.json)
        groups = self.fw.call("/admin/groups", method="GET")["groups"]
        self.assertEqual([x["jid"] for x in groups], [gid], groups)
        # whatsappNumbers: groups (after broadcasts, before users) exist when WhatsApp describes them
        r = self.sup.api("POST", "/chat/whatsappNumbers/grp", {"numbers": [PHONE_B, "120363999999999999@g.us", gid,
                                                                         "status@broadcast"]}, timeout=60)
        self.assertStatus(r, 200)
        self.assertEqual(r.json, [
            {"exists": False, "jid": "status@broadcast", "number": "status@broadcast"},
            {"exists": False, "jid": "120363999999999999@g.us", "number": "120363999999999999@g.us"},
            {"exists": True, "jid": gid, "number": gid, "name": "Team wagate"},
            {"exists": True, "jid": user_jid(PHONE_B), "number": PHONE_B}])

        # 2. sendText to the group: both phones decrypt exactly the text
        r = self.send_text("grp", gid, TEXT)
        self.assertStatus(r, 201)
        self.assert_sent_shape(r.json, me["iid"], gid, TEXT)
        mid = r.json["key"]["id"]
        for phone in (PHONE_B, PHONE_C):
            self.wait_phone_text(phone, mid, TEXT)
        row = self.wait_msg(me["iid"], mid)
        self.assertEqual((row["remote_jid"], row["from_me"]), (gid, True), row)
        self.assertEqual(row["message"].get("conversation"), TEXT, row)

        # mentionsEveryOne: the members (as the group's metadata names them) mentioned, in place of `mentioned`
        r = self.send_text("grp", gid, "hello all", mentionsEveryOne=True, mentioned=[PHONE_B])
        self.assertStatus(r, 201)
        mid_all = r.json["key"]["id"]
        for phone in (PHONE_B, PHONE_C):
            self.wait_phone_text(phone, mid_all, "hello all")
        self.assertEqual(r.json.get("contextInfo"), {"mentionedJid": sorted(members)}, r.json)
        self.assertEqual(self.wait_msg(me["iid"], mid_all)["message"], {"conversation": "hello all"})
        # to a 1:1 chat it is ignored (Evolution mentions in groups only); the group lookup is the worker's
        r = self.send_text("grp", PHONE_B, "just you", mentionsEveryOne=True)
        self.assertStatus(r, 201)
        self.assertNotIn("contextInfo", r.json)

        # 3. a phone writes to the group: a row with its participant, and messages.upsert
        text = "from Bea to everyone"
        mid2 = self.phone_send(PHONE_B, gid, text)
        row = self.wait_msg(me["iid"], mid2)
        self.assertEqual((row["remote_jid"], row["from_me"], row["participant"]), (gid, False, user_jid(PHONE_B)),
                         row)
        self.assertEqual(row["message"].get("conversation"), text, row)
        self.assertEqual((row["key"].get("remoteJid"), row["key"].get("participant")), (gid, user_jid(PHONE_B)), row)
        up = self.wait_hook("messages.upsert", "grp", mid2)[0]
        self.assertEqual((up["key"].get("remoteJid"), up["key"].get("fromMe"), up["key"].get("participant")),
                         (gid, False, user_jid(PHONE_B)), up)
        self.assertEqual(up.get("message"), {"conversation": text}, up)
        self.assertEqual(up.get("instanceId"), me["iid"], up)
        self.wait_outbox_empty()
        self.assertEqual(len(self.hooks("messages.upsert", "grp", mid2)), 1)
        self.assertEqual(self.count_rows("message", me["iid"], "remote_jid = %s" % sql_str(gid)), 3)


if __name__ == "__main__":
    main()
