#!/usr/bin/env python3
"""Interop of messaging with the product (issue 9): a real Baileys client (baileys_agent.mjs, npm
baileys@7.0.0-rc14) paired with fakewa as account A, and a wagate instance paired with the same fakewa as
account W (the e2e harness: PostgreSQL, the wagate supervisor and its worker, fakewa's mock phone scanning the
instance's QR), exchange texts, each side reading the other's plaintext:

  1:1   Baileys -> W: the row wagate stored (findMessages and psql) holds Baileys' exact text;
        W -> Baileys (POST /message/sendText): Baileys' messages.upsert holds wagate's exact text, and Baileys'
        delivery receipt takes wagate's row to DELIVERY_ACK; a second text each way rides the sessions.
  group A's phone creates a group of A, W and a plain phone C; Baileys' sender-key texts (skmsg with its
        SKDM) are stored by wagate with the group and participant;
        W -> group (sendText to the group JID): Baileys and C read W's sender-key texts.

Needs the wagate binaries (WAGATE_BIN, WAGATE_WORKER_BIN, WAGATE_FAKEWA_BIN; meson passes them) and PostgreSQL
(WAGATE_TEST_PGURI, else a private cluster), like tests/e2e; and INTEROP_NODE_DIR (run.sh wagate-msg).
usage: run.sh FAKEWA wagate-msg, or INTEROP_NODE_DIR=DIR python3 interop_wagate.py [Test.method]"""
import json
import os
import shutil
import sys
import tempfile
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from common import log, wait_until  # noqa: E402
from pairing import PairingCase  # noqa: E402

from interop_agent import Agent, node_dir, sender_is  # noqa: E402

A, W, C = "15553330001", "15553330002", "15553330003"


def u(phone):
    return phone + "@s.whatsapp.net"


def lid_user_jid(lid):
    """"123:1@lid" or "123" -> "123@lid"."""
    return lid.split("@")[0].split(":")[0] + "@lid"


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


class WagateInterop(PairingCase):
    """fakewa + wagate (PairingCase), the instance W paired, and Baileys as A."""

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.mkdtemp(prefix="wagate-interop-wagate-")
        self.w = self.pair("w", W, push="Wagate W")
        self.wait_prekeys_uploaded("w", timeout=40)
        wait_until(lambda: (self.fw.device(self.w["jid"]) or {}).get("connected"), 15, msg="w connected")
        self.iid = self.instance_id("w")
        self.agent = Agent(node_dir(), self.fw.url, self.fw.root, self.fw.control, A,
                           os.path.join(self.tmp, "baileys.log"))
        self.addCleanup(self._agent_cleanup)
        opened = self.agent.wait_open()
        self.assertTrue(opened["jid"].startswith(A + ":"), opened)
        self.a_lid = lid_user_jid(opened["lid"])
        self.w_lid = lid_user_jid(self.w["lid"])

    def _agent_cleanup(self):
        rc = self.agent.stop()
        if self._failed():
            sys.stderr.write("\n%s\n(Baileys' log kept in %s)\n" % (self.agent.tail(80), self.tmp))
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.assertEqual(rc, 0, "the Baileys agent exited with %s" % rc)

    # --- wagate's side
    def send_text(self, number, text):
        """POST /message/sendText/w: the 201 answer (its key.id is the message id)."""
        r = self.sup.api("POST", "/message/sendText/w", {"number": number, "text": text}, timeout=90)
        self.assertStatus(r, 201, "sendText to %s" % number)
        self.assertEqual(r.json["key"].get("fromMe"), True, r.json)
        self.assertEqual(r.json["message"], {"conversation": text}, r.json)
        return r.json

    def row(self, mid):
        """wagate's stored message mid (psql; every column, key and message as objects), or None."""
        out = self.db.scalar("SELECT coalesce(jsonb_agg(to_jsonb(m)), '[]'::jsonb)::text FROM message m "
                             "WHERE m.instance_id = %s AND m.key_id = %s" % (sql_str(self.iid), sql_str(mid)))
        rows = json.loads(out)
        self.assertLessEqual(len(rows), 1, rows)
        return rows[0] if rows else None

    def wait_row(self, mid, pred=None, what="the row", timeout=30):
        def have():
            r = self.row(mid)
            return r if r is not None and (pred is None or pred(r)) else None
        return wait_until(have, timeout, interval=0.1, msg="%s of %s in wagate" % (what, mid),
                          msg_fn=lambda: (self.row(mid), self.agent.tail(10)))

    def find(self, mid):
        r = self.sup.api("POST", "/chat/findMessages/w", {"where": {"key": {"id": mid}}})
        self.assertStatus(r, 200, "findMessages")
        return r.json["messages"]["records"]

    def assert_stored_from_baileys(self, mid, text, chat):
        """wagate stored Baileys' message mid, not ours, with exactly text, in chat (A's user JID in either form
        for a 1:1, else the group with A as participant); findMessages shows the same."""
        row = self.wait_row(mid)
        self.assertEqual((row["from_me"], row["message_type"]), (False, "conversation"), row)
        self.assertEqual(row["message"].get("conversation"), text, row)
        if chat is None:
            self.assertIn(row["remote_jid"], (u(A), self.a_lid), row)
            self.assertFalse(row["key"].get("participant"), row)
        else:
            self.assertEqual(row["remote_jid"], chat, row)
            self.assertIn(lid_or_pn(row["key"].get("participant") or row.get("participant") or ""),
                          (u(A), self.a_lid), row)
        recs = self.find(mid)
        self.assertEqual(len(recs), 1, recs)
        # Baileys adds messageContextInfo (messageSecret) to every message; Evolution keeps it, so only the text
        self.assertEqual(recs[0]["message"].get("conversation"), text, recs[0])
        self.assertEqual((recs[0]["key"]["id"], recs[0]["key"]["fromMe"]), (mid, False), recs[0])
        log("wagate stored Baileys' %s: remote_jid %s participant %s: %r" % (mid, row["remote_jid"],
                                                                            row.get("participant"), text))
        return row

    # --- the scenarios
    def test_one_to_one(self):
        """Baileys <-> W both ways, twice (the first texts start the sessions, the second ride them)."""
        for i in range(2):
            text = "Baileys to wagate #%d: ol\u00e1 \U0001F44B" % i
            mid = self.agent.send(u(W), text)
            self.assert_stored_from_baileys(mid, text, None)

            text = "wagate to Baileys #%d: \u00fcn\u00efc\u00f8de & <tags>" % i
            sent = self.send_text(A, text)
            mid = sent["key"]["id"]
            ev = self.agent.wait_text(text, timeout=30)
            self.assertEqual((ev["id"], ev["fromMe"]), (mid, False), ev)
            self.assertTrue(sender_is(ev, W, self.w_lid), "Baileys sees the text from %s" % ev)
            log("Baileys decrypted wagate's %s from %s (alt %s): %r" % (mid, ev["remoteJid"], ev.get("remoteJidAlt"),
                                                                      ev["text"]))
            # Baileys' delivery receipt reaches wagate: the row's status goes to DELIVERY_ACK (or READ)
            self.wait_row(mid, lambda r: r["status"] in ("DELIVERY_ACK", "READ"), "DELIVERY_ACK")
        # nothing Baileys could not read: every message it got carried a text
        self.assertEqual([e for e in self.agent.messages() if e.get("text") is None and not e.get("stub")], [])

    def make_group(self):
        """A's phone creates a group of A, W and the plain phone C; Baileys sees it. Its JID."""
        st, js = self.fw.post("/admin/account?" + urllib.parse.urlencode({"phone": C, "name": "Phone C"}))
        self.assertEqual(st, 200, js)
        q = {"account": A, "subject": "Interop with wagate", "participants": "%s,%s" % (W, C)}
        st, js = self.fw.post("/phone/group-create?" + urllib.parse.urlencode(q))
        self.assertEqual(st, 200, js)
        gid = js["group"]
        groups = self.agent.command("groups")["groups"]
        self.assertIn(gid, [g["id"] for g in groups], groups)
        return gid

    def test_group_from_baileys(self):
        """Baileys' sender-key texts in a group with W: wagate decrypts the SKDM, then the skmsg alone."""
        gid = self.make_group()
        for i in range(2):
            text = "Baileys to the group #%d" % i
            mid = self.agent.send(gid, text)
            self.assert_stored_from_baileys(mid, text, gid)
        # the plain phone C read them too (the same fan-out wagate got)
        got = [r for r in self.fw.request("GET", "/phone/received?account=" + C).json["received"]
               if r.get("group") == gid]
        self.assertEqual([r.get("text") for r in got], ["Baileys to the group #0", "Baileys to the group #1"], got)

    def test_group_from_wagate(self):
        """W's sender-key texts to the group: Baileys and phone C read them."""
        gid = self.make_group()
        for i in range(2):
            text = "wagate to the group #%d" % i
            mid = self.send_text(gid, text)["key"]["id"]
            ev = self.agent.wait_text(text, timeout=30)
            self.assertEqual((ev["id"], ev["remoteJid"]), (mid, gid), ev)
            self.assertTrue(sender_is(ev, W, self.w_lid), "Baileys sees the text from %s" % ev)
            wait_until(lambda: any(r.get("id") == mid and r.get("text") == text for r in
                                   self.fw.request("GET", "/phone/received?account=" + C).json["received"]), 20,
                       msg="phone C decrypts " + mid)


def lid_or_pn(jid):
    """A user JID without its device: "1:2@lid" -> "1@lid"."""
    if "@" not in jid:
        return jid
    user, server = jid.split("@", 1)
    return user.split(":")[0] + "@" + server


if __name__ == "__main__":
    unittest.main(verbosity=2)
