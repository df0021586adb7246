"""Identity changes end to end (issue 9; reference/wa-session.md 6.5): the real wagate + workers + PostgreSQL +
fakewa, whose mock phones speak real Signal. An instance and a phone talk both ways, then the phone reinstalls
(POST /phone/reinstall: a new Signal identity, <notification type="encrypt"><identity/> to the instance):

1. every signal_session and signal_identity row of the phone's user is deleted (any device), and nothing else;
2. the instance's next text reaches the new phone on its first delivery (a fresh pkmsg from a new bundle: a
   message on the old session would show as undecryptable at the phone first);
3. what the new phone sends next decrypts on the instance's side (a row); no old session record came back, and
   the phone's identity row holds its new key.

One test: python3 test_identity.py IdentityTest.test_reinstall (see README.md)."""

from harness import main, wait_until
from messaging import MessagingCase, sql_str


class IdentityTest(MessagingCase):

    def signal_rows(self, iid, user):
        """(table, address, md5 of the record) of every session and identity row of user's devices."""
        rows = []
        for table, col in (("signal_session", "record"), ("signal_identity", "identity_key")):
            rows += [(table, a, h) for a, h in self.db.query(
                "SELECT address, md5(%s) FROM %s WHERE instance_id = %s AND split_part(address, ':', 1) = %s"
                % (col, table, sql_str(iid), sql_str(user)))]
        return rows

    def other_rows(self, iid, user):
        return self.db.scalar(
            "SELECT (SELECT count(*) FROM signal_session WHERE instance_id = %s AND split_part(address, ':', 1) <> %s)"
            " + (SELECT count(*) FROM signal_identity WHERE instance_id = %s AND split_part(address, ':', 1) <> %s)"
            % (sql_str(iid), sql_str(user), sql_str(iid), sql_str(user)))

    def test_reinstall(self):
        me = self.pair_ready("idme", "15557800001", "Instance")
        peer = self.pair_ready("idpeer", "15557800002", "Peer Phone")
        # they talk: sessions with the phone (and the peer's companion) both ways
        r = self.send_text("idme", peer["phone"], "before")
        self.assertStatus(r, 201)
        self.wait_phone_text(peer["phone"], r.json["key"]["id"], "before")
        mid = self.phone_send(peer["phone"], me["user"], "hello")
        self.wait_msg(me["iid"], mid)
        old = self.signal_rows(me["iid"], peer["phone"])
        self.assertIn(("signal_session", peer["phone"] + ":0"), [(t, a) for t, a, _ in old], old)
        self.assertIn(("signal_identity", peer["phone"] + ":0"), [(t, a) for t, a, _ in old], old)
        others = self.other_rows(me["iid"], peer["phone"])
        self.assertGreater(int(others), 0)     # our own phone's session: not the peer's, kept

        r = self.fw.post("/phone/reinstall?account=" + peer["phone"])
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(r.json["notified"], 1, r.json)
        wait_until(lambda: not self.signal_rows(me["iid"], peer["phone"]), 30, interval=0.2,
                   msg="the phone's Signal rows deleted", msg_fn=lambda: self.signal_rows(me["iid"], peer["phone"]))
        self.assertEqual(self.other_rows(me["iid"], peer["phone"]), others)

        r = self.send_text("idme", peer["phone"], "after")
        self.assertStatus(r, 201)
        after = r.json["key"]["id"]
        self.wait_phone_text(peer["phone"], after, "after", sender=me["jid"])
        got = [g for g in self.phone_received(peer["phone"]) if g.get("id") == after]
        self.assertEqual([g.get("type") for g in got], ["text"], got)

        mid = self.phone_send(peer["phone"], me["user"], "reply")
        row = self.wait_msg(me["iid"], mid)
        self.assert_row(row, me["iid"], mid, peer["user"], False, "reply", push=peer["push"])
        # fresh sessions only; the phone's identity is its new one (the peer's companion keeps its own, unchanged)
        new = self.signal_rows(me["iid"], peer["phone"])
        back = [r for r in set(new) & set(old) if r[0] == "signal_session"]
        self.assertEqual(back, [], "an old session is back")
        ident = [r for r in new if r[:2] == ("signal_identity", peer["phone"] + ":0")]
        self.assertEqual(len(ident), 1, new)
        self.assertNotIn(ident[0], old)


if __name__ == "__main__":
    main()
