"""The instance settings that act on messages and calls (issue 9), end to end: the real wagate + workers +
PostgreSQL + fakewa with its mock phones (real Signal) + a webhook receiver. Evolution has Baileys act on them
(whatsapp.baileys.service.ts); wagate's worker does:

* readMessages: every stored incoming message gets a read receipt after its delivery receipt; without it, none.
* groupsIgnore: a group's messages are acked and nothing else (not decrypted, not stored, no webhook); 1:1 chats
  are unaffected, and the setting switched off lets the next group message through.
* rejectCall / msgCall: a call offer is rejected (<call><reject/></call> to the caller) and/or answered with the
  text msgCall (stored as our message, with messages.upsert as Evolution emits it); every call (offer, terminate)
  reaches the `call` webhook with Baileys' call object.

Settings reach a running worker by UpdateSettings; a setPresence answered after /settings/set went over the same
IPC channel after it, so the worker has them (the barrier of set_settings).

One test: python3 test_settings_effects.py SettingsEffectsTest.test_read_messages (see README.md)."""

import urllib.parse

from common import wait_until
from harness import main
from messaging import MessagingCase, sql_str, user_jid

SETTINGS = {"rejectCall": False, "msgCall": "", "groupsIgnore": False, "alwaysOnline": False, "readMessages": False,
            "readStatus": False, "syncFullHistory": False}


class SettingsEffectsTest(MessagingCase):

    def set_settings(self, name, **changes):
        body = dict(SETTINGS, **changes)
        r = self.sup.api("POST", "/settings/set/" + name, body)
        self.assertStatus(r, 201)
        # the barrier: SetPresence is answered by the worker, which read the UpdateSettings queued before it
        r = self.sup.api("POST", "/instance/setPresence/" + name, {"presence": "available"})
        self.assertStatus(r, 201)

    def phone_receipts(self, account):
        r = self.fw.request("GET", "/phone/receipts?account=" + account)
        self.assertEqual(r.status, 200, r)
        return r.json["receipts"]

    def receipts_for(self, account, mid):
        return [x.get("type") for x in self.phone_receipts(account) if x["id"] == mid]

    def test_read_messages(self):
        me = self.pair_ready("rm", "15558300001", "Reads All")
        peer = self.pair_ready("rm-peer", "15558300002", "Writes")
        # off (the default): the delivery receipt only
        mid0 = self.phone_send(peer["phone"], me["user"], "not read")
        self.wait_msg(me["iid"], mid0)
        wait_until(lambda: "" in self.receipts_for(peer["phone"], mid0), 20, msg="delivery receipt at the phone")
        self.set_settings("rm", readMessages=True)
        # on: the read receipt follows the delivery receipt
        mid = self.phone_send(peer["phone"], me["user"], "read me at once")
        row = self.wait_msg(me["iid"], mid)
        self.assertEqual(row["status"], "DELIVERY_ACK", row)
        got = wait_until(lambda: "read" in self.receipts_for(peer["phone"], mid) and self.receipts_for(
            peer["phone"], mid), 20, msg="read receipt at the phone",
            msg_fn=lambda: self.receipts_for(peer["phone"], mid))
        self.assertLess(got.index(""), got.index("read"), got)     # delivered (no type) first
        # our own messages are not read by us: my phone's text to peer, stored by my companion as fromMe
        own = self.phone_send(me["phone"], peer["user"], "mine")
        self.assertTrue(self.wait_msg(me["iid"], own)["from_me"])
        self.wait_msg(peer["iid"], own)
        self.wait_outbox_empty()
        self.assertNotIn("read", self.receipts_for(me["phone"], own))
        self.assertNotIn("read", self.receipts_for(peer["phone"], mid0))

    def test_groups_ignore(self):
        me = self.pair_ready("gi", "15558300011", "Ignores Groups")
        phone_b, phone_c = "15558300012", "15558300013"
        for phone, name in ((phone_b, "Bea"), (phone_c, "Cid")):
            r = self.fw.post("/admin/account?" + urllib.parse.urlencode({"phone": phone, "name": name}))
            self.assertEqual(r.status, 200, r)
        r = self.sup.api("POST", "/group/create/gi", {"subject": "Ignored", "participants": [phone_b, phone_c]},
                         timeout=60)
        self.assertStatus(r, 201)
        gid = r.json["id"]
        self.set_settings("gi", groupsIgnore=True)
        before = self.count_rows("message", me["iid"])
        ignored = self.phone_send(phone_b, gid, "nobody stores this")
        # a 1:1 text after it is stored: the group's came first and left nothing
        direct = self.phone_send(phone_b, me["user"], "but this one")
        self.wait_msg(me["iid"], direct)
        self.wait_outbox_empty()
        self.assertEqual(self.count_rows("message", me["iid"], "key_id = %s" % sql_str(ignored)), 0)
        self.assertEqual(self.count_rows("message", me["iid"]), before + 1)
        self.assertEqual(self.hooks("messages.upsert", "gi", ignored), [])
        # off again: the next group text is stored, with its sender. (From C: B's sender key went with the ignored
        # message, undecrypted as Baileys leaves it; B's next one takes the retry receipt path, which fakewa's
        # phones do not answer for groups.)
        self.set_settings("gi", groupsIgnore=False)
        mid = self.phone_send(phone_c, gid, "now stored")
        row = self.wait_msg(me["iid"], mid)
        self.assertEqual((row["remote_jid"], row["participant"]), (gid, user_jid(phone_c)), row)


    # --- calls (fakewa: POST /phone/call, /phone/call-end, GET /phone/calls)
    def call(self, caller, callee, path="/phone/call", **q):
        r = self.fw.post(path + "?" + urllib.parse.urlencode(dict(account=caller, to=callee, **q)))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["sent"], 1, r.json)
        return r.json["call_id"]

    def call_hook(self, name, cid, status):
        """The data of the `call` webhook of name for call cid with that status."""
        got = self.rx.wait_event("call", name, timeout=30, pred=lambda r: (r["body"]["data"] or {}).get("id") == cid
                                 and r["body"]["data"].get("status") == status)
        return got[0]["body"]["data"]

    def rejects(self, caller, cid):
        r = self.fw.request("GET", "/phone/calls?account=" + caller)
        self.assertEqual(r.status, 200, r)
        return [x for x in r.json["calls"] if x["call_id"] == cid]

    def test_calls(self):
        me = self.pair_ready("ring", "15558300021", "Callee")
        caller = "15558300022"
        r = self.fw.post("/admin/account?" + urllib.parse.urlencode({"phone": caller, "name": "Caller"}))
        self.assertEqual(r.status, 200, r)
        caller_jid = user_jid(caller)

        # defaults: the call is reported (Baileys' call object), not rejected, not answered
        cid = self.call(caller, me["phone"])
        d = self.call_hook("ring", cid, "offer")
        self.assertEqual(d, {"chatId": caller_jid, "from": caller_jid, "id": cid, "date": d["date"], "offline": False,
                             "status": "offer", "isVideo": False, "isGroup": False}, d)
        self.assertRegex(d["date"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$")
        self.assertEqual(self.rejects(caller, cid), [])
        self.call(caller, me["phone"], path="/phone/call-end", id=cid)
        d = self.call_hook("ring", cid, "terminate")
        self.assertEqual((d["from"], d["offline"]), (caller_jid, False), d)
        # the offer's isVideo / isGroup, as Baileys fills them in from its offer
        self.assertEqual((d["isVideo"], d["isGroup"]), (False, False), d)
        self.assertNotIn("groupJid", d)
        # the end of a call whose offer this worker never saw says neither
        self.call(caller, me["phone"], path="/phone/call-end", id="0123456789ABCDEF0123456789ABCDEF")
        d = self.call_hook("ring", "0123456789ABCDEF0123456789ABCDEF", "terminate")
        self.assertNotIn("isVideo", d)
        self.assertNotIn("isGroup", d)

        # rejectCall + msgCall: the offer is rejected and the caller gets the text, stored as messages.upsert
        text = "Sorry, no calls here"
        self.set_settings("ring", rejectCall=True, msgCall=text)
        cid = self.call(caller, me["phone"], video=1)
        d = self.call_hook("ring", cid, "offer")
        self.assertTrue(d["isVideo"], d)
        self.call(caller, me["phone"], path="/phone/call-end", id=cid, reason="timeout")
        d = self.call_hook("ring", cid, "timeout")
        self.assertEqual((d["isVideo"], d["isGroup"]), (True, False), d)
        rej = wait_until(lambda: self.rejects(caller, cid), 20, msg="reject at the caller's phone")
        self.assertEqual(rej[0]["tag"], "reject", rej)
        self.assertEqual((rej[0]["call_creator"], rej[0]["count"], rej[0]["to"]), (caller_jid, "0", caller_jid), rej)
        self.assertEqual(rej[0]["from"].split("@")[0].split(":")[0], me["phone"], rej)
        got = wait_until(lambda: [x for x in self.phone_received(caller) if x.get("text") == text], 30,
                         msg="msgCall's text at the caller's phone", msg_fn=lambda: self.phone_received(caller))
        mid = got[0]["id"]
        row = self.wait_msg(me["iid"], mid)
        self.assertEqual((row["remote_jid"], row["from_me"], row["message"]),
                         (caller_jid, True, {"conversation": text}), row)
        self.wait_hook("messages.upsert", "ring", mid)
        self.assertEqual(self.hooks("send.message", "ring", mid), [])
        # the server's ack raises it, as for an API send (the phone's receipt then to DELIVERY_ACK)
        self.wait_hook("messages.update", "ring", mid, pred=lambda u: u.get("status") == "SERVER_ACK")

        # msgCall alone: answered, not rejected
        self.set_settings("ring", msgCall="Call me later")
        cid = self.call(caller, me["phone"])
        wait_until(lambda: [x for x in self.phone_received(caller) if x.get("text") == "Call me later"], 30,
                   msg="the second msgCall at the caller's phone")
        self.call_hook("ring", cid, "offer")
        self.assertEqual(self.rejects(caller, cid), [])


if __name__ == "__main__":
    main()
