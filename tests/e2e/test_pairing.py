"""QR pairing against fakewa (reference sections 2.1 connect, 3.2, 4.2): the QR object returned by connect and
create(qrcode:true), qrcode.updated events, QR rotation. Fails until the worker implements QR pairing."""

import base64
import re

from harness import E2ETestCase, Fakewa, Receiver, main, wait_until

PNG_PREFIX = "data:image/png;base64,"
QR_CODE_RX = re.compile(r"^2@[^,]+,[^,]+,[^,]+,[^,]+$")


class PairingTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.fw = Fakewa().start()
        self.addCleanup(self.fw.destroy)
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        self.sup = self.supervisor(dict(self.fw.env, WEBHOOK_GLOBAL_URL=self.rx.url, WEBHOOK_GLOBAL_ENABLED="true"))

    def assert_qr(self, q):
        self.assertTrue(set(q) <= {"pairingCode", "code", "base64", "count"}, q)
        self.assertIn("code", q, "no QR in %r" % (q,))
        self.assertIn("base64", q, "no QR image in %r" % (q,))
        self.assertRegex(q["code"], QR_CODE_RX)
        self.assertTrue(q["base64"].startswith(PNG_PREFIX), q["base64"][:40])
        png = base64.b64decode(q["base64"][len(PNG_PREFIX):])
        self.assertEqual(png[:8], b"\x89PNG\r\n\x1a\n")
        self.assertGreaterEqual(q["count"], 1)

    def test_connect_returns_a_qr(self):
        self.sup.create_instance("qr1")
        self.sup.api("GET", "/instance/connect/qr1")
        q = wait_until(lambda: (lambda r: r.json if r.status == 200 and r.json.get("code") else None)(
            self.sup.api("GET", "/instance/connect/qr1")), 20, msg="a QR code from connect")
        self.assert_qr(q)
        self.assertIsNone(q.get("pairingCode"))
        ev = self.rx.wait_event("qrcode.updated", "qr1", timeout=10)[0]["body"]
        self.assertEqual(set(ev["data"]), {"qrcode"})
        self.assertEqual(ev["data"]["qrcode"]["instance"], "qr1")
        self.assertRegex(ev["data"]["qrcode"]["code"], QR_CODE_RX)
        self.assertTrue(ev["data"]["qrcode"]["base64"].startswith(PNG_PREFIX))
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=qr1")
        self.assertEqual(r.json[0]["connectionStatus"], "connecting")

    def test_create_with_qrcode_true(self):
        r = self.sup.api("POST", "/instance/create", {"instanceName": "qr2", "integration": "WHATSAPP-BAILEYS",
                                                      "qrcode": True})
        self.assertStatus(r, 201)
        self.assertEqual(r.json["instance"]["status"], "connecting")
        self.assertIn("qrcode", r.json)
        self.assert_qr(r.json["qrcode"])


if __name__ == "__main__":
    main()
