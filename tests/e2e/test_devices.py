"""Device lists follow devices notifications (issue 9): the real wagate + workers + PostgreSQL + fakewa with its
mock phones (real Signal). fakewa tells an account's peers (accounts it exchanged messages with) when it gains or
loses a companion (tests/fakewa/fw_devices.h); the worker drops its cached device list of that user.

1. Instance A and phone B (with B's first companion instance) exchange texts: A's worker caches B's devices.
   B pairs a SECOND companion instance; A's next sendText reaches B's phone, B's first companion AND the new one
   (a row there with the text), with nothing restarted.
2. B's second companion logs out: A's next send still reaches B's phone and first companion, and A's worker no
   longer addresses the removed device (fakewa, which skips a message for an unknown device, logs none).

One test: python3 test_devices.py DevicesTest.test_add_remove (see README.md)."""

from harness import main, wait_until
from messaging import MessagingCase


class DevicesTest(MessagingCase):

    def devices_changed(self, name, user, count):
        """Wait until the worker of name logged count devices notifications about user (it read them)."""
        line = "%s: devices of %s changed" % (name, user)
        wait_until(lambda: self.sup.log_text().count(line) >= count, 20,
                   msg="%s reads devices notification #%d of %s" % (name, count, user))

    def send_ok(self, name, to, text):
        r = self.send_text(name, to, text)
        self.assertStatus(r, 201, text)
        return r.json["key"]["id"]

    def test_add_remove(self):
        a = self.pair_ready("da", "15557900001", "Ada")
        b1 = self.pair_ready("db1", "15557900002", "Bea")
        # texts both ways: A's worker has B's device list (phone + first companion) cached
        m1 = self.send_ok("da", b1["phone"], "first to Bea")
        self.wait_phone_text(b1["phone"], m1, "first to Bea", sender=a["jid"])
        self.wait_msg(b1["iid"], m1, what="B's first companion row")
        back = self.phone_send(b1["phone"], a["user"], "hello Ada")
        self.wait_msg(a["iid"], back, what="A's row of B's text")

        # B gains a second companion: fakewa tells A's device, A's worker drops B's list
        b2 = self.pair_ready("db2", b1["phone"], "Bea")
        self.assertEqual(b2["jid"].split(":")[0], b1["phone"], b2)
        self.assertNotEqual(b2["jid"], b1["jid"])
        self.devices_changed("da", b1["user"], 1)
        m2 = self.send_ok("da", b1["phone"], "second to Bea")
        self.wait_phone_text(b1["phone"], m2, "second to Bea", sender=a["jid"])
        self.assert_row(self.wait_msg(b1["iid"], m2, what="B's first companion row"), b1["iid"], m2, a["user"],
                        False, "second to Bea", push=a["push"])
        self.assert_row(self.wait_msg(b2["iid"], m2, what="B's new companion row"), b2["iid"], m2, a["user"],
                        False, "second to Bea", push=a["push"])
        self.wait_status(a["iid"], m2, "DELIVERY_ACK")

        # B's second companion logs out: A is told, its next send leaves the removed device out
        r = self.sup.api("DELETE", "/instance/logout/db2")
        self.assertStatus(r, 200)
        self.wait_retired("db2")
        wait_until(lambda: self.fw.device(b2["jid"]) is None, 20, msg="fakewa forgets %s" % b2["jid"])
        self.devices_changed("da", b1["user"], 2)
        m3 = self.send_ok("da", b1["phone"], "third to Bea")
        self.wait_phone_text(b1["phone"], m3, "third to Bea", sender=a["jid"])
        self.wait_msg(b1["iid"], m3, what="B's first companion row")
        self.wait_status(a["iid"], m3, "SERVER_ACK")
        unknown = "message %s for an unknown device" % m3
        self.assertNotIn(unknown, self.fw.log_text(), "A's worker still encrypts for the removed device")
        self.assertIsNone(self.msg_row(b2["iid"], m3))


if __name__ == "__main__":
    main()
