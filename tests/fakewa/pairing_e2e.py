#!/usr/bin/env python3
"""End-to-end tests of fakewa's mock phone, login and iqs, with wa_probe --pair as the companion
(tests/fakewa/probe_companion.h). The Baileys interop tests (tests/interop) check the same server side
against an independent client.

usage: pairing_e2e.py FAKEWA WA_PROBE [test-name ...]"""
import base64
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwtest import Fakewa, Probe, check, run  # noqa: E402


def line(p, prefix, timeout=10):
    """The first output line starting with prefix (waits for it), else None."""
    found = []

    def pred(p):
        found[:] = [l for l in p.lines if l.startswith(prefix)]
        return bool(found)
    return found[0] if p.wait_for(pred, timeout) else None


def devices(fw):
    return [d for a in fw.call("/admin/accounts", "GET")["accounts"] for d in a["devices"]]


def companion(fw, *extra, secs="10"):
    """Start a companion (wa_probe --pair) and wait for its first QR; returns (probe, QR text)."""
    p = Probe(fw, "--pair", "--run-seconds", secs, *extra)
    qr = line(p, "QR 0 ")
    check(qr is not None, "no QR", p)
    return p, qr[5:]


def pair(fw, *extra, phone=None, name=None):
    """Start a companion, scan its QR; returns (probe, scan answer)."""
    p, qr = companion(fw, *extra, secs="30")
    q = {}
    if phone:
        q["phone"] = phone
    if name:
        q["name"] = name
    st, js = fw.post("/admin/mock-phone/scan-qr" + ("?" + urllib.parse.urlencode(q) if q else ""), qr)
    check(st == 200, "scan-qr: %d %s" % (st, js), p)
    return p, js


def t_pair_login(tmp):
    with Fakewa(tmp) as fw:
        p, js = pair(fw, phone="15551230000", name="Tester")
        check(js == {"phone": "15551230000", "jid": "15551230000:1@s.whatsapp.net", "lid": js["lid"], "device": 1,
                     "key_index": 1} and js["lid"].endswith(":1@lid"), "scan answer %s" % js)
        check(line(p, "PAIRED 0 15551230000:1@s.whatsapp.net"), "companion did not pair", p)
        check(p.wait_for(lambda p: any(s[1] == "close" and s[2] == 515 for s in p.states()), 5), "no 515", p)
        check(line(p, "NODE 0 success"), "no success after the 515 restart", p)
        for want in ("RESULT 0 probe-count result 0", "RESULT 0 probe-upload result -",
                     "RESULT 0 probe-active result -", "RESULT 0 probe-unknown error 501"):
            check(line(p, want), "missing %r" % want, p)
        d = devices(fw)
        check(len(d) == 1 and d[0]["prekeys"] == 3 and d[0]["active"] and d[0]["connected"] and d[0]["logins"] == 1,
              "accounts: %s" % d)
        acct = fw.call("/admin/accounts", "GET")["accounts"][0]
        check(acct["push_name"] == "Tester" and acct["phone"] == "15551230000", "account %s" % acct)
        cl = [c for c in fw.clients()["clients"] if not c["dead"] and c["phase"] == "open"]
        check(len(cl) == 1 and cl[0]["registered"] and cl[0]["payload"] == "login" and
              cl[0]["jid"] == "15551230000:1@s.whatsapp.net", "clients %s" % cl)
        # the server says prekeys run low
        st, _ = fw.post("/admin/prekey-low?jid=15551230000:1@s.whatsapp.net&count=1")
        check(st == 200 and line(p, "NODE 0 notification count"), "prekey-low", p)
        # a login for that device with another Noise key is refused
        q = Probe(fw, "--login", "15551230000:1", "--run-seconds", "5")
        q.finish(8)
        closes = [s for s in q.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 401 and closes[0][3] == -1, "wrong Noise key not refused", q)
        # a second companion on the same phone: device 2, key index 2
        p2, js2 = pair(fw, phone="15551230000")
        check(js2["device"] == 2 and js2["key_index"] == 2, "second device %s" % js2, p2)
        check(line(p2, "NODE 0 success"), "second device did not log in", p2)
        # removal from the phone: stream:error 401 device_removed, then gone
        st, js = fw.post("/admin/remove-device?jid=15551230000:1@s.whatsapp.net")
        check(st == 200 and js == {"removed": 1}, "remove-device %d %s" % (st, js))
        check(p.wait_for(lambda p: any(s[1] == "close" and s[2] == 401 and s[3] == -1 for s in p.states()), 5),
              "removed device not closed with 401", p)
        check([d["device"] for d in devices(fw)] == [2], "devices after removal: %s" % devices(fw))
        st, _ = fw.post("/admin/remove-device?jid=15551230000:1@s.whatsapp.net")
        check(st == 404, "removing twice: %d" % st)
        p.finish(3)
        p2.proc.terminate()
        p2.finish()


def t_hmac_mismatch(tmp):
    with Fakewa(tmp) as fw:
        p, qr = companion(fw)
        f = qr.split(",")
        f[3] = base64.b64encode(b"\x07" * 32).decode()
        st, js = fw.post("/admin/mock-phone/scan-qr", ",".join(f))
        check(st == 409 and js["error"] == "companion refused: 401 hmac-mismatch", "scan: %d %s" % (st, js), p)
        check(line(p, "PAIR-REFUSED 0 401 hmac-mismatch"), "companion did not refuse", p)
        check(devices(fw) == [], "a device was registered")
        p.proc.terminate()
        p.finish()


def t_logout(tmp):
    with Fakewa(tmp) as fw:
        p, js = pair(fw, "--logout")
        check(line(p, "RESULT 0 probe-logout result -"), "no result for remove-companion-device", p)
        check(devices(fw) == [], "device still registered: %s" % devices(fw))
        # the connection is closed; the next login is refused
        check(p.wait_for(lambda p: any(s[1] == "close" and s[2] == 401 and s[3] == -1 for s in p.states()), 10),
              "no 401 after logout", p)
        p.finish(3)


def t_payloads(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--no-payload", "--run-seconds", "5")
        p.finish(8)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 400 and closes[0][3] == -1, "empty payload not refused", p)
        q = Probe(fw, "--login", "15550009999:3", "--run-seconds", "5")
        q.finish(8)
        closes = [s for s in q.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 401, "unknown device not refused", q)


def t_scan_errors(tmp):
    with Fakewa(tmp) as fw:
        p, qr = companion(fw)
        f = qr.split(",")
        check(fw.post("/admin/mock-phone/scan-qr", "hello")[0] == 400, "garbage QR")
        check(fw.post("/admin/mock-phone/scan-qr", ",".join([f[0] + "X"] + f[1:]))[0] == 404, "unknown ref")
        other = base64.b64encode(os.urandom(32)).decode()
        st, js = fw.post("/admin/mock-phone/scan-qr", ",".join(f[:1] + [other] + f[2:]))
        check(st == 404, "another Noise key: %d %s" % (st, js))
        st, js = fw.post("/admin/mock-phone/scan-qr", ",".join(f[:2] + [other] + f[3:]))
        check(st == 409, "another identity key: %d %s" % (st, js))
        check(fw.post("/admin/mock-phone/scan-qr?phone=12ab", qr)[0] == 400, "bad phone")
        check(fw.post("/admin/mock-phone/pair-code?phone=1555&code=ABCD-EFGH")[0] == 404, "pair-code without hello")
        check(fw.post("/admin/mock-phone/pair-code?phone=1555&code=0000")[0] == 400, "bad code")
        st, js = fw.post("/admin/companion-reg-refresh?client=all")
        check(st == 200 and js == {"affected": 1}, "companion-reg-refresh %d %s" % (st, js))
        check(line(p, "NODE 0 notification companion_reg_refresh"), "no companion_reg_refresh", p)
        # the old 4-field form still pairs
        p2, qr2 = companion(fw)
        st, js = fw.post("/admin/mock-phone/scan-qr", ",".join(qr2.split("#", 1)[1].split(",")[:4]))
        check(st == 200 and js["device"] == 1, "4-field QR: %d %s" % (st, js), p2)
        check(js["phone"] == "15550000001", "generated phone %s" % js)
        for x in (p, p2):
            x.proc.terminate()
            x.finish()


TESTS = [t_pair_login, t_hmac_mismatch, t_logout, t_payloads, t_scan_errors]


if __name__ == "__main__":
    sys.exit(run(TESTS))
