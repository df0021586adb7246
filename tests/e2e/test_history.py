"""History sync (issue 9), end to end: the real wagate + worker + PostgreSQL + fakewa (its mock phone speaks real
Signal) + a webhook receiver. After pairing, WhatsApp's phone sends its companion peer messages carrying
HistorySyncNotifications; a chunk inline (initialHistBootstrapInlinePayload, zlib) is what wagate reads:

* its messages become rows (key, message, type, timestamp, status as the chunk says) in ONE MessageStore with the
  stanza's ratchet step, before any receipt; one `messages.set` webhook carries the new ones (Evolution's array);
  a chunk of more messages than a MessageStore takes (5,000 here) commits them in parts first, all before the
  receipt, each part with its own `messages.set`, and nothing of it is lost or stored twice;
* its conversations become chats (`chats.set`), its push names contacts (`contacts.upsert`, an array), its
  PN<->LID pairs the instance's LID map; nothing a live message stored is overwritten;
* the worker answers the stanza as WhatsApp expects: delivery (peer_msg) and then `hist_sync` to our own user;
* a chunk delivered again stores nothing twice and posts no webhook again; an unreadable chunk stores nothing,
  is still acknowledged, and the instance goes on receiving;
* syncFullHistory asks the phone for the whole history at pairing (DeviceProps.requireFullSync, as Baileys does).

* a chunk as a media blob (directPath, mediaKey: what WhatsApp uses for most of the history) is downloaded from
  the media host (WA_MEDIA_URL: here fakewa's control port) while the executor holds the stanza, checked
  (fileEncSha256, MAC, fileSha256), decrypted and stored the same way; a blob that is missing or corrupt stores
  nothing and the stanza is still acknowledged;
* a media host that answers 503 (fakewa's mediaFailFirst) is asked again, up to 3 attempts: the chunk is stored
  after two failures, and acknowledged without rows after three.

One test: python3 test_history.py HistoryTest.test_inline_chunk (see README.md)."""

import base64
import json
import time

from common import wait_until
from harness import main
from messaging import MessagingCase, sql_str, user_jid


class HistoryTest(MessagingCase):

    def push_history(self, account, body):
        r = self.fw.request("POST", "/phone/history?account=" + account, json.dumps(body))
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json.get("sent", 0), 1, r)
        return r.json["id"]

    def receipt_types(self, account, mid):
        r = self.fw.request("GET", "/phone/receipts?account=" + account)
        self.assertEqual(r.status, 200, r)
        return [x.get("type") for x in r.json["receipts"] if x.get("id") == mid]

    def wait_hist_sync(self, account, mid):
        return wait_until(lambda: "hist_sync" in self.receipt_types(account, mid), 30,
                          msg="hist_sync receipt for %s" % mid, msg_fn=lambda: self.receipt_types(account, mid))

    def chunk(self, peer, peer_lid, group, member):
        now = int(time.time())
        return {"syncType": 0, "chunkOrder": 1, "progress": 100,
                "conversations": [
                    {"id": user_jid(peer), "name": "Old Friend", "lidJid": peer_lid, "unreadCount": 1,
                     "messages": [
                         {"id": "3EB0HIST0000000000001A", "fromMe": False, "text": "from the past",
                          "timestamp": now - 86400, "pushName": "Old Friend", "status": 3},
                         {"id": "3EB0HIST0000000000002B", "fromMe": True, "text": "my old answer",
                          "timestamp": now - 86000, "status": 4}]},
                    {"id": group, "name": "Old Group",
                     "messages": [
                         {"id": "3EB0HIST0000000000003C", "fromMe": False, "text": "group memory",
                          "timestamp": now - 80000, "participant": user_jid(member), "pushName": "Member"}]}],
                "pushnames": [{"id": user_jid(peer), "pushname": "Old Friend"},
                              {"id": user_jid(member), "pushname": "Member"}],
                "lidMappings": [{"pn": user_jid(peer), "lid": peer_lid}]}

    def test_inline_chunk(self):
        me = self.pair_ready("hs", "15558400001", "Has History")
        iid = me["iid"]
        self.assertIs(self.fw.device(me["jid"]).get("requireFullSync"), False)     # syncFullHistory off
        peer, member = "15558400002", "15558400003"
        peer_lid, group = "99887766554433@lid", "120363000000000777@g.us"
        before = self.count_rows("message", iid)
        mid = self.push_history(me["phone"], self.chunk(peer, peer_lid, group, member))
        self.wait_hist_sync(me["phone"], mid)
        types = self.receipt_types(me["phone"], mid)
        self.assertLess(types.index("peer_msg"), types.index("hist_sync"), types)
        # the rows were committed before the receipt (the durability rule): no waiting here
        self.assertEqual(self.count_rows("message", iid), before + 3)
        r1 = self.msg_row(iid, "3EB0HIST0000000000001A")
        self.assertEqual((r1["remote_jid"], r1["from_me"], r1["message"], r1["message_type"], r1["status"],
                          r1["push_name"]),
                         (user_jid(peer), False, {"conversation": "from the past"}, "conversation", "DELIVERY_ACK",
                          "Old Friend"), r1)
        self.assertEqual(r1["key"].get("remoteJidAlt"), peer_lid, r1)
        r2 = self.msg_row(iid, "3EB0HIST0000000000002B")
        self.assertEqual((r2["from_me"], r2["status"], r2["push_name"]), (True, "READ", None), r2)
        r3 = self.msg_row(iid, "3EB0HIST0000000000003C")
        self.assertEqual((r3["remote_jid"], r3["participant"], r3["key"].get("participant")),
                         (group, user_jid(member), user_jid(member)), r3)
        self.assertEqual(r3["status"], "DELIVERY_ACK", r3)     # none in the chunk: Evolution's default
        # chats with the chunk's names, contacts from its push names, the LID map
        chats = {c["remote_jid"]: c["name"] for c in json_rows(self, "chat", iid)}
        self.assertEqual((chats.get(user_jid(peer)), chats.get(group)), ("Old Friend", "Old Group"), chats)
        contacts = {c["remote_jid"]: c["push_name"] for c in json_rows(self, "contact", iid)}
        self.assertEqual(contacts.get(user_jid(member)), "Member", contacts)
        self.assertEqual(self.db.scalar("SELECT pn FROM lid_map WHERE instance_id = %s AND lid = %s"
                                        % (sql_str(iid), sql_str(peer_lid))), user_jid(peer))
        # Evolution's webhooks: one messages.set array of the three, one chats.set, one contacts.upsert array
        self.wait_outbox_empty()
        sets = self.events("messages.set", "hs")
        self.assertEqual(len(sets), 1, sets)
        self.assertEqual(sorted(m["key"]["id"] for m in sets[0]), ["3EB0HIST0000000000001A", "3EB0HIST0000000000002B",
                                                                   "3EB0HIST0000000000003C"], sets)
        for m in sets[0]:
            self.assertEqual(m["instanceId"], iid, m)
            self.assertIn("messageTimestamp", m)
            self.assertEqual(m["messageType"], "conversation", m)
        chat_sets = self.events("chats.set", "hs")
        self.assertEqual(len(chat_sets), 1, chat_sets)
        self.assertEqual(sorted(c["remoteJid"] for c in chat_sets[0]), sorted([user_jid(peer), group]), chat_sets)
        self.assertEqual(len(self.events("messages.upsert", "hs")), 0)
        cups = [d for d in self.events("contacts.upsert", "hs") if isinstance(d, list)]
        self.assertEqual(sorted(c["remoteJid"] for c in cups[0]), sorted([user_jid(peer), user_jid(member)]), cups)
        # findMessages and findChats see the history
        recs = self.find_messages("hs", {"key": {"id": "3EB0HIST0000000000001A"}})
        self.assertEqual(len(recs), 1, recs)
        # the same chunk again (WhatsApp sends chunks again after a reconnect): nothing twice, no webhook again
        mid2 = self.push_history(me["phone"], self.chunk(peer, peer_lid, group, member))
        self.wait_hist_sync(me["phone"], mid2)
        self.assertEqual(self.count_rows("message", iid), before + 3)
        self.wait_outbox_empty()
        self.assertEqual(len(self.events("messages.set", "hs")), 1)
        self.assertEqual(len(self.events("chats.set", "hs")), 1)

    def test_big_chunk(self):
        me = self.pair_ready("hg", "15558400051", "Big History")
        iid = me["iid"]
        peer, n = "15558400052", 5000
        now = int(time.time())
        body = {"syncType": 2, "conversations": [{"id": user_jid(peer), "name": "Long Chat", "messages": [
            {"id": "3EB0BIG%06d" % i, "fromMe": i % 3 == 0, "text": "old text %d" % i,
             "timestamp": now - 100000 + i} for i in range(n)]}]}
        before = self.count_rows("message", iid)
        mid = self.push_history(me["phone"], body)
        self.wait_hist_sync(me["phone"], mid)
        # all of them committed before the receipt (the parts, then the last store with the ratchet step)
        self.assertEqual(self.count_rows("message", iid, "key_id LIKE '3EB0BIG%'"), n)
        self.assertEqual(self.msg_row(iid, "3EB0BIG004999")["message"], {"conversation": "old text 4999"})
        self.wait_outbox_empty()
        sets = self.events("messages.set", "hg")
        self.assertEqual([len(x) for x in sets], [2048, 2048, 904], [len(x) for x in sets])
        self.assertEqual(sorted(m["key"]["id"] for x in sets for m in x), ["3EB0BIG%06d" % i for i in range(n)])
        self.assertEqual(len(self.events("chats.set", "hg")), 1)
        # again: nothing stored twice, no webhook again
        mid2 = self.push_history(me["phone"], body)
        self.wait_hist_sync(me["phone"], mid2)
        self.assertEqual(self.count_rows("message", iid), before + n)
        self.wait_outbox_empty()
        self.assertEqual(len(self.events("messages.set", "hg")), 3)

    def test_full_sync_requested(self):
        self.new_instance("hf", syncFullHistory=True)
        res = self.scan("hf", phone="15558400021", push="Wants All")
        self.sup.wait_state("hf", "open", 40)
        self.assertIs(self.fw.device(res["jid"]).get("requireFullSync"), True)

    def media_downloads(self, path):
        r = self.fw.request("GET", "/admin/media")
        self.assertEqual(r.status, 200, r)
        return sum(b.get("downloads", 0) for b in r.json["blobs"] if b.get("path") == path)

    def test_media_chunk(self):
        me = self.pair_ready("hm", "15558400031", "Media History")
        iid = me["iid"]
        peer, member = "15558400032", "15558400033"
        body = dict(self.chunk(peer, "99887766554400@lid", "120363000000000778@g.us", member), media=True)
        r = self.fw.request("POST", "/phone/history?account=" + me["phone"], json.dumps(body))
        self.assertEqual(r.status, 200, r)
        mid, path = r.json["id"], r.json["directPath"]
        self.wait_hist_sync(me["phone"], mid)
        self.assertEqual(self.media_downloads(path), 1)
        self.assertEqual(self.count_rows("message", iid), 3)
        row = self.msg_row(iid, "3EB0HIST0000000000001A")
        self.assertEqual((row["message"], row["remote_jid"]), ({"conversation": "from the past"}, user_jid(peer)),
                         row)
        self.wait_outbox_empty()
        sets = self.events("messages.set", "hm")
        self.assertEqual(len(sets), 1, sets)
        self.assertEqual(len(sets[0]), 3, sets)
        # a blob the media host does not have, and one corrupted after its hashes were taken: acknowledged, no rows
        for bad in ({"mediaMissing": True}, {"mediaCorrupt": True}):
            body = {"media": True, "conversations": [{"id": user_jid(peer), "messages": [
                {"id": "3EB0BAD%s" % list(bad)[0].upper(), "fromMe": False, "text": "never stored",
                 "timestamp": int(time.time())}]}]}
            body.update(bad)
            r = self.fw.request("POST", "/phone/history?account=" + me["phone"], json.dumps(body))
            self.assertEqual(r.status, 200, r)
            self.wait_hist_sync(me["phone"], r.json["id"])
        self.assertEqual(self.count_rows("message", iid), 3)

    def media_failed(self, path):
        r = self.fw.request("GET", "/admin/media")
        self.assertEqual(r.status, 200, r)
        return sum(b.get("failed", 0) for b in r.json["blobs"] if b.get("path") == path)

    def test_media_host_unwell(self):
        """A media host that answers 503 is asked again (after 1 s, then 2 s): twice failed, the third attempt
        stores the chunk; failing more often than the 3 attempts, the chunk is acked without rows."""
        me = self.pair_ready("hr", "15558400041", "Retry History")
        iid = me["iid"]
        peer = "15558400042"
        for fails, want_rows in ((2, 1), (5, 0)):
            body = {"media": True, "mediaFailFirst": fails, "conversations": [{"id": user_jid(peer), "messages": [
                {"id": "3EB0RETRY%d" % fails, "fromMe": False, "text": "after %d failures" % fails,
                 "timestamp": int(time.time())}]}]}
            r = self.fw.request("POST", "/phone/history?account=" + me["phone"], json.dumps(body))
            self.assertEqual(r.status, 200, r)
            self.wait_hist_sync(me["phone"], r.json["id"])
            path = r.json["directPath"]
            self.assertEqual((self.media_failed(path), self.media_downloads(path)), (min(fails, 3), want_rows))
            self.assertEqual(self.count_rows("message", iid, "key_id = '3EB0RETRY%d'" % fails), want_rows)
        row = self.msg_row(iid, "3EB0RETRY2")
        self.assertEqual(row["message"], {"conversation": "after 2 failures"}, row)

    def test_unreadable_chunk(self):
        me = self.pair_ready("hb", "15558400011", "Bad History")
        iid = me["iid"]
        before = self.count_rows("message", iid)
        for raw in (b"not zlib at all", b"x\x9c" + b"\x00" * 16):
            mid = self.push_history(me["phone"], {"rawPayload": base64.b64encode(raw).decode()})
            # acknowledged all the same (sending it again would not make it readable), nothing stored
            self.wait_hist_sync(me["phone"], mid)
        self.assertEqual(self.count_rows("message", iid), before)
        # the instance goes on: a live text from another account arrives
        peer = self.pair_ready("hb-peer", "15558400012", "Peer")
        live = self.phone_send(peer["phone"], me["user"], "still here")
        self.wait_msg(iid, live)
        self.assertEqual(self.sup.api("GET", "/instance/connectionState/hb").json["instance"]["state"], "open")


def json_rows(case, table, iid):
    return json.loads(case.db.scalar("SELECT coalesce(jsonb_agg(to_jsonb(t)), '[]'::jsonb)::text FROM %s t "
                                     "WHERE t.instance_id = %s" % (table, sql_str(iid))))


if __name__ == "__main__":
    main()
