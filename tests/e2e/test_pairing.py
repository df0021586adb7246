"""Pairing against fakewa's mock phone (issue 4 contract): the QR object of connect and create(qrcode:true) in the
wa.me form, its PNG read back with zbarimg, qrcode.updated; QR rotation and reconnect keep the count; scan ->
open with ownerJid/profileName, 812 prekeys uploaded and stored; pairing code; a tampered QR is refused and the
right one still pairs.

One test: python3 test_pairing.py PairingTest.test_scan_opens (see README.md for the environment)."""

import re

from harness import (PairingCase, decode_qr_image, main, owner_jid, parse_qr_text, tamper_adv_secret, wait_until,
                     PNG_PREFIX)

QR_KEYS = {"pairingCode", "code", "base64", "count"}
PAIRING_CODE_RX = re.compile(r"^[0-9A-Z]{8}$")


class QrAssertions:

    def assert_qr_object(self, q, pairing=False):
        """A QR object {pairingCode, code, base64, count} whose PNG says exactly `code`."""
        self.assertIsInstance(q, dict, q)
        self.assertTrue(set(q) <= QR_KEYS, q)
        self.assertIn("code", q, "no QR in %r" % (q,))
        self.assertIn("base64", q, "no QR image in %r" % (q,))
        parse_qr_text(q["code"])
        self.assertTrue(q["base64"].startswith(PNG_PREFIX), q["base64"][:40])
        self.assertEqual(decode_qr_image(q["base64"]), q["code"], "the PNG does not encode the QR text")
        self.assertIsInstance(q.get("count"), int, q)
        self.assertGreaterEqual(q["count"], 1)
        if not pairing:
            self.assertIsNone(q.get("pairingCode"), q)

    def assert_qr_event(self, data, name):
        """qrcode.updated data: {"qrcode": {instance, pairingCode, code, base64}}."""
        self.assertEqual(set(data), {"qrcode"}, data)
        ev = data["qrcode"]
        self.assertTrue({"instance", "code", "base64"} <= set(ev) <= {"instance", "pairingCode", "code", "base64"},
                        ev)
        self.assertEqual(ev["instance"], name)
        parse_qr_text(ev["code"])
        self.assertEqual(decode_qr_image(ev["base64"]), ev["code"])


class PairingTest(PairingCase, QrAssertions):
    """Default QR timings (60 s for the first code): nothing rotates under the test's feet."""

    def test_connect_returns_a_qr(self):
        q = self.connect_qr("qr1")
        self.assert_qr_object(q)
        self.assertEqual(q["count"], 1)
        ev = self.rx.wait_event("qrcode.updated", "qr1", timeout=10)[0]["body"]["data"]
        self.assert_qr_event(ev, "qr1")
        self.assertIsNone(ev["qrcode"].get("pairingCode"))
        self.assertEqual(ev["qrcode"]["code"], q["code"])
        self.wait_row("qr1", connectionStatus="connecting")
        self.assertEqual(self.sup.state("qr1"), "connecting")
        # fakewa sees one unregistered client with the QR's Noise key that was offered the ref
        c = wait_until(lambda: self.fw.clients(), 10, msg="a client at fakewa")
        self.assertEqual(len(c), 1, c)
        self.assertFalse(c[0].get("registered"), c)
        self.assertEqual(c[0].get("payload"), "registration", c)
        self.assertGreaterEqual(c[0].get("refs_offered", 0), 1, c)
        # connect again while connecting: the same QR, nothing new started
        q2 = self.sup.qr("qr1")
        self.assertEqual(q2["code"], q["code"])
        self.assertEqual(len(self.fw.clients()), 1)

    def test_create_with_qrcode_true(self):
        r = self.sup.api("POST", "/instance/create", {"instanceName": "qr2", "integration": "WHATSAPP-BAILEYS",
                                                      "qrcode": True})
        self.assertStatus(r, 201)
        self.sup.worker_pids()
        self.assertEqual(r.json["instance"].get("status", "connecting"), "connecting", r.json)
        self.assertIn("qrcode", r.json)
        self.assert_qr_object(r.json["qrcode"])
        self.assertEqual(r.json["qrcode"]["count"], 1)
        ev = self.rx.wait_event("qrcode.updated", "qr2", timeout=10)[0]["body"]["data"]
        self.assertEqual(ev["qrcode"]["code"], r.json["qrcode"]["code"])

    def test_scan_opens(self):
        phone = "15550001001"
        q = self.connect_qr("p1")
        keys = parse_qr_text(q["code"])
        res = self.scan("p1", phone=phone)
        self.assertEqual(res["phone"], phone, res)
        self.assertTrue(res["jid"].startswith(phone + ":") and res["jid"].endswith("@s.whatsapp.net"), res)
        self.sup.wait_state("p1", "open", 30)
        acct = self.fw.account(phone)
        self.assertIsNotNone(acct, self.fw.accounts())
        self.assertEqual(acct["push_name"], "Fake Phone " + phone)
        self.wait_row("p1", connectionStatus="open", ownerJid=owner_jid(phone), profileName=acct["push_name"])
        ev = self.wait_open_event("p1")[0]["body"]["data"]
        self.assertEqual(ev["instance"], "p1")
        self.assertEqual(ev["state"], "open")
        self.assertEqual(ev["statusReason"], 200)
        self.assertEqual(ev["wuid"], owner_jid(phone))
        self.assertEqual(ev["profileName"], acct["push_name"])
        # pairing is not a close: between the QR and open there was no close (the 515 restart is silent)
        states = [u["state"] for u in self.updates("p1")]
        self.assertNotIn("close", states, states)
        self.assertEqual(states[-1], "open", states)
        # fakewa: the device is registered, logged in with its own keys and has the first batch of prekeys
        dev = wait_until(lambda: (lambda d: d if d and d.get("prekeys") else None)(self.fw.device(res["jid"])), 10,
                         msg="device with prekeys at fakewa", msg_fn=self.fw.accounts)
        self.assertTrue(dev["active"], dev)
        self.assertTrue(dev["connected"], dev)
        self.assertEqual(dev["prekeys"], 812, dev)
        self.assertGreaterEqual(dev["logins"], 1, dev)
        self.assertEqual(dev["lid"], res["lid"])
        cl = [c for c in self.fw.clients() if c.get("jid") == res["jid"]]
        self.assertEqual(len(cl), 1, self.fw.clients())
        self.assertEqual(cl[0].get("payload"), "login", cl)
        # the database: creds marked paired, 812 prekeys stored and marked uploaded
        iid = self.instance_id("p1")
        wait_until(lambda: self.db.count("signal_prekey", "instance_id = '%s' AND uploaded" % iid) == 812, 10,
                   msg="812 uploaded prekeys in the database",
                   msg_fn=lambda: self.db.query("SELECT uploaded, count(*) FROM signal_prekey GROUP BY 1"))
        self.assertEqual(self.db.count("signal_prekey", "instance_id = '%s'" % iid), 812)
        self.assertEqual(self.db.scalar("SELECT paired FROM auth_creds WHERE instance_id = '%s'" % iid), "t")
        # connect on an open instance answers the connectionState shape and starts nothing (the supervisor
        # answers it alone: nothing goes to the worker)
        self.assertEqual(self.sup.qr("p1"), {"instance": {"instanceName": "p1", "state": "open"}})
        self.assertEqual(len([c for c in self.fw.clients() if c.get("jid") == res["jid"]]), 1)
        # every QR the instance showed carried the same registration keys (the scanned ones)
        for d in self.qr_events("p1"):
            k = parse_qr_text(d["qrcode"]["code"])
            self.assertEqual((k["noise"], k["identity"]), (keys["noise"], keys["identity"]))

    def test_scan_with_push_name(self):
        phone = "15550001002"
        self.pair("p2", phone, push="E2E Phone")
        self.wait_row("p2", ownerJid=owner_jid(phone), profileName="E2E Phone")
        self.assertEqual(self.wait_open_event("p2")[0]["body"]["data"]["profileName"], "E2E Phone")

    def test_scan_without_phone_gets_a_new_account(self):
        self.new_instance("p3")
        res = self.scan("p3")
        self.assertRegex(res["phone"], r"^\d+$")
        self.sup.wait_state("p3", "open", 30)
        self.wait_row("p3", ownerJid=owner_jid(res["phone"]))

    def test_tampered_adv_secret_is_refused(self):
        """Scenario 10: a QR whose adv secret was altered: the worker refuses the pair-success (fakewa: 409
        hmac-mismatch), the instance stays connecting and the right QR still pairs."""
        phone = "15550001010"
        q = self.connect_qr("t1")
        pid = self.sup.worker_pids()[self.instance_id("t1")]
        r = self.fw.scan_qr(tamper_adv_secret(q["code"]), phone=phone)
        self.assertEqual(r.status, 409, r)
        self.assertIn("hmac-mismatch", (r.json or {}).get("error", ""), r)
        wait_until(lambda: "pair_on_pair_success: t1: refused" in self.sup.log_text(), 10,
                   msg="the worker logs its refusal")
        self.assertEqual(self.sup.state("t1"), "connecting")
        self.assertEqual(self.sup.worker_pids()[self.instance_id("t1")], pid, "the worker must not die")
        self.assertEqual(self.updates("t1", "open"), [])
        self.assertEqual(self.updates("t1", "close"), [])
        acct = self.fw.account(phone)
        self.assertFalse(acct and any(d.get("active") for d in acct.get("devices", [])),
                         "refused pairing left a device: %r" % (acct,))
        iid = self.instance_id("t1")
        self.assertNotEqual(self.db.scalar("SELECT paired FROM auth_creds WHERE instance_id = '%s'" % iid), "t")
        res = self.scan("t1", phone=phone)
        self.assertEqual(res["phone"], phone)
        self.sup.wait_state("t1", "open", 30)
        self.wait_row("t1", ownerJid=owner_jid(phone))
        self.assertEqual(self.db.scalar("SELECT paired FROM auth_creds WHERE instance_id = '%s'" % iid), "t")

    def test_bad_qr_text_and_unknown_ref(self):
        q = self.connect_qr("b1")
        self.assertEqual(self.fw.scan_qr("not a qr").status, 400)
        k = parse_qr_text(q["code"])
        other = q["code"].replace(k["ref"], k["ref"] + "x", 1)
        self.assertEqual(self.fw.scan_qr(other).status, 404)
        self.assertEqual(self.sup.state("b1"), "connecting")


class PairingCodeTest(PairingCase, QrAssertions):
    """Scenario 8: pairing by phone number (create with number + qrcode:true, then the phone types the code)."""

    def create_with_number(self, name, number):
        r = self.sup.api("POST", "/instance/create", {"instanceName": name, "integration": "WHATSAPP-BAILEYS",
                                                      "qrcode": True, "number": number})
        self.assertStatus(r, 201)
        self.sup.worker_pids()
        return r.json

    def test_create_with_number_returns_pairing_code(self):
        """The contract's create answer already carries the code (Evolution's create waits for it)."""
        c = self.create_with_number("pc0", "15550008000")
        q = c.get("qrcode") or {}
        self.assertRegex(q.get("pairingCode") or "", PAIRING_CODE_RX, "create's QR object: %r" % (q,))

    def test_pairing_code_opens(self):
        number = "15550008001"
        c = self.create_with_number("pc1", number)
        q = c.get("qrcode") or {}
        code = q.get("pairingCode")
        if not code:
            q = self.sup.wait_qr("pc1", 20, key="pairingCode")
        code = q["pairingCode"]
        self.assertRegex(code, PAIRING_CODE_RX)
        self.assert_qr_object(q, pairing=True)
        # qrcode.updated carries the pairing code once it is known
        self.rx.wait_event("qrcode.updated", "pc1", timeout=10,
                           pred=lambda r: (r["body"]["data"].get("qrcode") or {}).get("pairingCode") == code)
        # the code is typed with or without the dash
        r = self.fw.pair_code(number, code[:4] + "-" + code[4:], name="Code Phone")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["phone"], number)
        self.sup.wait_state("pc1", "open", 30)
        self.wait_row("pc1", ownerJid=owner_jid(number), profileName="Code Phone")
        ev = self.wait_open_event("pc1")[0]["body"]["data"]
        self.assertEqual(ev["wuid"], owner_jid(number))
        dev = self.fw.device(r.json["jid"])
        self.assertTrue(dev and dev["active"], self.fw.accounts())

    def test_wrong_pairing_code(self):
        number = "15550008002"
        self.create_with_number("pc2", number)
        q = self.sup.wait_qr("pc2", 20, key="pairingCode")
        wrong = "".join("B" if ch != "B" else "C" for ch in q["pairingCode"])
        r = self.fw.pair_code(number, wrong)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.sup.state("pc2"), "connecting")
        r = self.fw.pair_code(number, q["pairingCode"])
        self.assertEqual(r.status, 200, r)
        self.sup.wait_state("pc2", "open", 30)

    def test_connect_with_number(self):
        """GET /instance/connect/<name>?number=... on a closed instance pairs by code too."""
        number = "15550008003"
        self.new_instance("pc3")
        self.sup.qr("pc3", number=number)
        q = self.sup.wait_qr("pc3", 20, key="pairingCode")
        r = self.fw.pair_code(number, q["pairingCode"])
        self.assertEqual(r.status, 200, r)
        self.sup.wait_state("pc3", "open", 30)
        self.wait_row("pc3", ownerJid=owner_jid(number))


class QrRotationTest(PairingCase, QrAssertions):
    """Short QR timings: refs rotate (same keys, new ref, count + 1, one qrcode.updated each); after the 6 refs
    of a pair-device the worker reconnects and keeps counting."""

    pairing_env = {"WA_QR_FIRST_MS": "600", "WA_QR_NEXT_MS": "300", "QRCODE_LIMIT": "1000"}

    def test_rotation_keeps_keys_and_counts(self):
        first = self.connect_qr("rot")
        k0 = parse_qr_text(first["code"])
        evs = wait_until(lambda: (lambda e: e if len(e) >= 9 else None)(self.qr_events("rot")), 30,
                         msg="9 QR codes (one reconnect past the 6 refs)",
                         msg_fn=lambda: len(self.qr_events("rot")))
        refs = []
        for d in evs:
            k = parse_qr_text(d["qrcode"]["code"])
            self.assertEqual((k["noise"], k["identity"]), (k0["noise"], k0["identity"]), "registration keys changed")
            refs.append(k["ref"])
        self.assertEqual(len(set(refs[:9])), 9, "refs repeat: %r" % refs[:9])
        q = self.sup.qr("rot")
        self.assertGreaterEqual(q["count"], 9, q)
        self.assertEqual(self.sup.state("rot"), "connecting")
        self.assertEqual(self.updates("rot", "close"), [], "a ref exhaustion is not a close")
        # the instance still pairs (with whatever code is current)
        res = self.scan("rot", phone="15550009001")
        self.sup.wait_state("rot", "open", 30)
        self.wait_row("rot", ownerJid=owner_jid(res["phone"]))
        # count resets at open: no QR after it
        n = len(self.qr_events("rot"))
        # the whole first login after the pairing (longer than the QR periods a live QR timer would need)
        self.wait_prekeys_uploaded("rot")
        self.assertEqual(len(self.qr_events("rot")), n, "QR codes after open")

    def test_companion_reg_refresh(self):
        """companion_reg_refresh: the same ref is shown again with a new adv secret (count + 1); scan pairs."""
        pairing_first = self.connect_qr("ref")
        self.assertTrue(pairing_first)
        r = self.fw.post("/admin/companion-reg-refresh?client=all")
        self.assertEqual(r.status, 200, r)
        # with 300 ms rotation the refresh cannot be told apart by ref; look for two QRs with the same ref and
        # different adv secrets
        def refreshed():
            seen = {}
            for d in self.qr_events("ref"):
                k = parse_qr_text(d["qrcode"]["code"])
                if k["ref"] in seen and seen[k["ref"]] != k["adv"]:
                    return True
                seen[k["ref"]] = k["adv"]
            return False
        wait_until(refreshed, 10, msg="the current ref re-shown with a new adv secret")
        self.scan("ref", phone="15550009002")
        self.sup.wait_state("ref", "open", 30)


if __name__ == "__main__":
    main()
