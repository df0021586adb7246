"""Scenario 9 of issue 4: 50 instances created and paired at once against fakewa's mock phone; all open. The time
is printed (never asserted).

python3 test_pairing_many.py (see README.md); WAGATE_E2E_PAIR_N changes the number of instances."""

import concurrent.futures
import os
import sys
import time

from harness import PairingCase, main, owner_jid, wait_until

N = int(os.environ.get("WAGATE_E2E_PAIR_N", "50"))


class PairManyTest(PairingCase):

    # 50 workers generating keys at once on 2 shared cores: a ping may wait a few seconds for its answer
    pairing_env = {"WAGATE_HEARTBEAT_INTERVAL_MS": "1000", "WAGATE_HEARTBEAT_MISSES": "10"}

    def pair_one(self, i):
        """create(qrcode:true) -> scan its QR (retrying a rotated ref) -> fakewa's answer."""
        name, phone = "m%03d" % i, "1555100%04d" % i
        r = self.sup.api("POST", "/instance/create", {"instanceName": name, "integration": "WHATSAPP-BAILEYS",
                                                      "qrcode": True}, timeout=60)
        if r.status != 201:
            raise AssertionError("create %s -> %r" % (name, r))
        q = r.json.get("qrcode") or {}
        return name, phone, self.scan(name, code=q.get("code"), phone=phone, timeout=90)

    def test_fifty_at_once(self):
        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as ex:
            results = list(ex.map(self.pair_one, range(N)))
        t_scanned = time.monotonic() - t0
        self.sup.worker_pids()  # registers the instance ids for the cleanup
        names = [n for n, _, _ in results]

        def all_open():
            r = self.sup.api("GET", "/instance/fetchInstances", timeout=30)
            st = {x["name"]: x["connectionStatus"] for x in r.json}
            return all(st.get(n) == "open" for n in names)
        wait_until(all_open, 120, interval=0.5, msg="%d instances open" % N,
                   msg_fn=lambda: sorted({x["connectionStatus"] for x in
                                          self.sup.api("GET", "/instance/fetchInstances").json}))
        t_open = time.monotonic() - t0
        sys.stderr.write("\npair-many: %d instances created and paired at once: all scanned in %.2f s, all open in "
                         "%.2f s\n" % (N, t_scanned, t_open))
        rows = {x["name"]: x for x in self.sup.api("GET", "/instance/fetchInstances").json}
        for name, phone, res in results:
            self.assertEqual(rows[name]["ownerJid"], owner_jid(phone), name)
            self.assertEqual(res["phone"], phone)
        devices = [d for a in self.fw.accounts() for d in a.get("devices", [])]
        self.assertEqual(len(devices), N)
        wait_until(lambda: all(d["prekeys"] == 812 and d["active"] for a in self.fw.accounts()
                               for d in a.get("devices", [])), 30, msg="every device with 812 prekeys")
        self.assertEqual(self.db.count("auth_creds", "paired"), N)
        self.assertEqual(self.db.count("signal_prekey", "uploaded"), N * 812)
        self.assertEqual([c for c in self.fw.clients() if c.get("payload") == "registration"], [])


if __name__ == "__main__":
    main()
