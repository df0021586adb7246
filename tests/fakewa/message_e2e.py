#!/usr/bin/env python3
"""End-to-end tests of fakewa's message routing (fw_msg.h), usync and prekey fetch (fw_usync.h, fw_iq.c), with
wa_probe --pair --commands as the companions (probe_msg.h). The <enc> bytes are opaque to fakewa, so these tests
send arbitrary bytes; the Signal side is the mock phone's.

usage: message_e2e.py FAKEWA WA_PROBE [test-name ...]"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import sys
import time
import urllib.parse
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwtest import Fakewa, Probe, check, poll, run  # noqa: E402

A, B = "15551110001", "15551110002"


def line(p, prefix, timeout=10):
    """The first output line starting with prefix (waits for it), else None."""
    found = []

    def pred(p):
        found[:] = [l for l in p.lines if l.startswith(prefix)]
        return bool(found)
    return found[0] if p.wait_for(pred, timeout) else None


def pair(fw, phone, *extra):
    """A companion with stdin commands, paired to phone, logged in (its <ib><offline count=0> seen) and with its
    three one-time prekeys uploaded."""
    p = Probe(fw, "--pair", "--run-seconds", "60", *extra, commands=True)
    qr = line(p, "QR 0 ")
    check(qr is not None, "no QR", p)
    st, js = fw.post("/admin/mock-phone/scan-qr?" + urllib.parse.urlencode({"phone": phone}), qr[5:])
    check(st == 200, "scan-qr: %d %s" % (st, js), p)
    check(line(p, "IB 0 offline 0"), "no <ib><offline count=0> after login", p)
    check(line(p, "RESULT 0 probe-upload result -"), "prekeys not uploaded", p)
    return p, js


def device(fw, jid):
    for a in fw.call("/admin/accounts", "GET")["accounts"]:
        for d in a["devices"]:
            if d["jid"] == jid:
                return d
    return None


def stop(*ps):
    """Close each probe's stdin (it exits) and check it exited cleanly (under ASan: no leak or error)."""
    for p in ps:
        p.proc.stdin.close()
        rc = p.finish()
        check(rc == 0, "probe exited with %s" % rc, p)


def t_route(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B, "--backoff-min", "3000", "--backoff-max", "3000")
        a2, ja2 = pair(fw, A)
        check(ja2["device"] == 2, "second companion of A: %s" % ja2)
        adev, bdev, a2dev = ja["jid"], jb["jid"], ja2["jid"]
        # online: to B's companion, A's other companion and both phones (the phones do not answer yet)
        a.cmd("0 send m1 %s@s.whatsapp.net %s,%s,%s:0@s.whatsapp.net,%s:0@s.whatsapp.net c0ffee01" %
              (B, bdev, a2dev, B, A))
        check(line(a, "ACK 0 message m1 error=-"), "no server ack for m1", a)
        check(line(b, "MSG 0 %s m1 offline=0 recipient=- enc=msg:c0ffee01" % adev), "B did not get m1", b)
        check(line(a2, "MSG 0 %s m1 offline=0 recipient=%s@s.whatsapp.net enc=msg:c0ffee01" % (adev, B)),
              "A's other companion did not get m1 with recipient", a2)
        # B's and A2's automatic receipts come back to the sender, and each is acked to its author
        check(line(a, "RECEIPT 0 %s m1 delivery" % bdev), "delivery receipt not relayed", a)
        check(line(a, "RECEIPT 0 %s m1 sender" % a2dev), "sender receipt not relayed", a)
        check(line(b, "ACK 0 receipt m1 error=-"), "B's receipt not acked", b)
        b.cmd("0 receipt m1 %s read" % adev)
        check(line(a, "RECEIPT 0 %s m1 read" % bdev), "read receipt not relayed", a)
        check(not any(l.startswith("MSG ") for l in a.lines), "the sender got its own message back", a)
        # by LID: the sender is named by its LID too
        lid_b, lid_a = jb["lid"].split(":")[0], ja["lid"].split(":")[0]
        a.cmd("0 send m-lid %s@lid %s:1@lid 0102" % (lid_b, lid_b))
        check(line(b, "MSG 0 %s:1@lid m-lid offline=0" % lid_a), "LID-addressed message", b)
        # refused: a device of an unknown account, and no <to> at all
        a.cmd("0 send m-bad %s@s.whatsapp.net 19990000000:1@s.whatsapp.net aa" % B)
        check(line(a, "ACK 0 message m-bad error=479"), "bad target not refused", a)
        a.cmd("0 sendbad m-none %s@s.whatsapp.net none" % B)
        a.cmd("0 sendbad m-both %s@s.whatsapp.net both" % B)
        check(line(a, "ACK 0 message m-none error=479") and line(a, "ACK 0 message m-both error=479"),
              "a message without or with both <participants> and <enc> not refused", a)
        # a companion of the chat that does not exist is skipped; the rest is delivered
        a.cmd("0 send m-gap %s@s.whatsapp.net %s:9@s.whatsapp.net,%s 0a0b" % (B, B, bdev))
        check(line(a, "ACK 0 message m-gap error=-") and line(b, "MSG 0 %s m-gap offline=0" % adev),
              "unknown device of the chat", b)
        check(not any(" m-bad " in l or " m-none " in l or " m-both " in l for l in b.lines if l.startswith("MSG")),
              "a refused message was delivered", b)
        # offline: B drops, A sends, fakewa queues, B logs in again and gets it before <ib><offline count=1>
        # (first B's receipt of m-gap is in: fakewa acked it; a message not receipted would come again)
        check(line(b, "ACK 0 receipt m-gap error=-"), "B's receipt of m-gap not acked", b)
        bc = [c for c in fw.clients()["clients"] if c["jid"] == bdev and not c["dead"]]
        check(len(bc) == 1, "B's connection %s" % bc)
        fw.call("/admin/drop?client=%d" % bc[0]["id"])
        check(poll(lambda: not device(fw, bdev)["connected"], 5), "B still connected")
        a.cmd("0 send m2 %s@s.whatsapp.net %s 0bad" % (B, bdev))
        check(line(a, "ACK 0 message m2 error=-"), "no server ack for m2", a)
        check(poll(lambda: device(fw, bdev)["queued"] == 1, 5), "m2 not queued: %s" % device(fw, bdev))
        check(line(b, "IB 0 offline 1", 15), "no <ib><offline count=1> after the reconnect", b)
        i_msg = [i for i, l in enumerate(b.lines) if l.startswith("MSG 0 %s m2 offline=1 " % adev)]
        i_ib = b.lines.index("IB 0 offline 1")
        check(len(i_msg) == 1 and i_msg[0] < i_ib, "m2 not delivered once before the marker", b)
        check(device(fw, bdev)["queued"] == 0, "queue not emptied")
        check(line(a, "RECEIPT 0 %s m2 delivery" % bdev), "delivery receipt of the queued message", a)
        stop(a, b, a2)


def t_usync_keys(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        lid_b = jb["lid"].split(":")[0] + "@lid"
        a.cmd("0 usync %s@s.whatsapp.net,%s@s.whatsapp.net,19990000000@s.whatsapp.net" % (B, A))
        check(line(a, "USYNC 0 %s@s.whatsapp.net devices=0,1 contact=in lid=%s" % (B, lid_b)), "usync of B", a)
        check(line(a, "USYNC 0 %s@s.whatsapp.net devices=0,1 contact=in" % A), "usync of A", a)
        check(line(a, "USYNC 0 19990000000@s.whatsapp.net devices=- contact=out lid=-"), "usync of unknown", a)
        # B uploaded prekeys 1..3 at login: each fetch takes one, none comes twice, then the pool is empty
        got = []
        for i in range(4):
            a.cmd("0 key %s" % jb["jid"])
            check(a.wait_for(lambda p: len([l for l in p.lines if l.startswith("KEY 0 ")]) >= i + 1), "no key", a)
            got.append([l for l in a.lines if l.startswith("KEY 0 ")][i])
        ids = [l.split("prekey=")[1] for l in got]
        check(sorted(ids[:3]) == ["1", "2", "3"] and ids[3] == "none", "prekeys served: %s" % got, a)
        check(all("reg=" in l and "reg=-1" not in l for l in got), "registration id missing: %s" % got, a)
        check(device(fw, jb["jid"])["prekeys"] == 0, "pool not emptied")
        a.cmd("0 key %s:7@s.whatsapp.net" % B)
        check(line(a, "KEY 0 %s:7@s.whatsapp.net error=404" % B), "unknown device", a)
        stop(a, b)


def received(fw, account):
    return fw.call("/phone/received?account=" + account, "GET")["received"]


def phone_send(fw, account, to, text):
    st, js = fw.post("/phone/send?" + urllib.parse.urlencode({"account": account, "to": to, "text": text}))
    check(st == 200 and "id" in js, "phone/send: %d %s" % (st, js))
    return js["id"]


def t_phone(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        # phone A -> user B: B's companion decrypts a pkmsg; A's companion gets the DeviceSentMessage copy
        mid = phone_send(fw, A, B + "@s.whatsapp.net", "hello from phone A")
        check(line(b, "MSG 0 %s@s.whatsapp.net %s offline=0 recipient=- enc=pkmsg:" % (A, mid)), "no pkmsg at B", b)
        check(line(b, "TEXT 0 %s@s.whatsapp.net %s hello from phone A" % (A, mid)), "B cannot decrypt", b)
        check(line(a, "TEXT 0 %s@s.whatsapp.net %s hello from phone A" % (A, mid)), "own copy (DSM) at A", a)
        check(line(a, "MSG 0 %s@s.whatsapp.net %s offline=0 recipient=%s@s.whatsapp.net" % (A, mid, B)),
              "own copy without recipient", a)
        # companion A -> phone B: a pkmsg from B's phone bundle, decrypted by the phone
        a.cmd("0 key %s:0@s.whatsapp.net" % B)
        check(line(a, "SESSION 0 %s:0@s.whatsapp.net built" % B), "no session with phone B", a)
        a.cmd("0 sendtext m-p1 %s@s.whatsapp.net %s:0@s.whatsapp.net hi phone B" % (B, B))
        check(line(a, "SENT 0 m-p1 pkmsg"), "not sent", a)
        check(line(a, "ACK 0 message m-p1 error=-"), "no ack", a)
        check(line(a, "RECEIPT 0 %s@s.whatsapp.net m-p1 delivery" % B), "no receipt from phone B", a)
        check(received(fw, B) == [{"from": ja["jid"], "id": "m-p1", "type": "text", "text": "hi phone B"}],
              "phone B received %s" % received(fw, B))
        # the phone fails the next decryption on purpose: a retry receipt; the one after decrypts again
        st, js = fw.post("/phone/fail-next-decrypt?account=" + B)
        check(st == 200, "fail-next-decrypt %d %s" % (st, js))
        a.cmd("0 sendtext m-p2 %s@s.whatsapp.net %s:0@s.whatsapp.net lost" % (B, B))
        check(line(a, "RECEIPT 0 %s@s.whatsapp.net m-p2 retry" % B), "no retry receipt", a)
        a.cmd("0 sendtext m-p3 %s@s.whatsapp.net %s:0@s.whatsapp.net third" % (B, B))
        check(line(a, "RECEIPT 0 %s@s.whatsapp.net m-p3 delivery" % B), "no receipt after the retry", a)
        got = [(r["id"], r["type"], r.get("text")) for r in received(fw, B)]
        check(got == [("m-p1", "text", "hi phone B"), ("m-p2", "retry", None), ("m-p3", "text", "third")],
              "phone B received %s" % got)
        # A's own phone decrypts A's copy of a message to B and answers as a real client does: type="sender" with
        # the chat as recipient, not a delivery (which would tell A that B got it)
        a.cmd("0 key %s:0@s.whatsapp.net" % A)
        check(line(a, "SESSION 0 %s:0@s.whatsapp.net built" % A), "no session with phone A", a)
        a.cmd("0 sendtext m-own %s@s.whatsapp.net %s:0@s.whatsapp.net my copy" % (B, A))
        check(line(a, "RECEIPT 0 %s@s.whatsapp.net m-own sender recipient=%s@s.whatsapp.net" % (A, B)),
              "own phone's receipt is not type=sender with the chat as recipient", a)
        check(not any(l.startswith("RECEIPT 0 %s@s.whatsapp.net m-own delivery" % A) for l in a.lines),
              "own phone sent a delivery receipt", a)
        # phone B answers on the session A started: a msg
        mid = phone_send(fw, B, A + "@s.whatsapp.net", "answer")
        check(line(a, "MSG 0 %s@s.whatsapp.net %s offline=0 recipient=- enc=msg:" % (B, mid)), "no msg at A", a)
        check(line(a, "TEXT 0 %s@s.whatsapp.net %s answer" % (B, mid)), "A cannot decrypt the answer", a)
        # errors
        check(fw.post("/phone/send?account=19990000000&to=%s@s.whatsapp.net&text=x" % A)[0] == 404, "unknown account")
        check(fw.post("/phone/send?account=%s&to=19990000000@s.whatsapp.net&text=x" % A)[0] == 400, "unknown peer")
        check(fw.post("/phone/send?account=%s&text=x" % A)[0] == 400, "missing to")
        stop(a, b)


def t_account(tmp):
    """POST /admin/account: an account that is only its phone (no pairing), messaging both ways."""
    with Fakewa(tmp) as fw:
        st, js = fw.post("/admin/account?phone=%s&name=Solo" % B)
        check(st == 200 and js["phone"] == B and js["lid"].isdigit(), "account: %d %s" % (st, js))
        st, again = fw.post("/admin/account?phone=%s" % B)
        check(st == 200 and again == js, "a second call made another account: %s" % again)
        acct = [x for x in fw.call("/admin/accounts", "GET")["accounts"] if x["phone"] == B]
        check(len(acct) == 1 and acct[0]["devices"] == [] and acct[0]["push_name"] == "Solo", "accounts: %s" % acct)
        for bad in ("", "?phone=", "?phone=12ab", "?phone=" + "1" * 21):
            check(fw.post("/admin/account" + bad)[0] == 400, "bad phone accepted: %r" % bad)
        a, ja = pair(fw, A)
        a.cmd("0 usync %s@s.whatsapp.net" % B)
        check(line(a, "USYNC 0 %s@s.whatsapp.net devices=0 contact=in lid=%s@lid" % (B, js["lid"])), "usync of B", a)
        mid = phone_send(fw, B, A + "@s.whatsapp.net", "from a phone alone")
        check(line(a, "TEXT 0 %s@s.whatsapp.net %s from a phone alone" % (B, mid)), "A cannot decrypt", a)
        a.cmd("0 sendtext m-s1 %s@s.whatsapp.net %s:0@s.whatsapp.net back" % (B, B))
        check(poll(lambda: received(fw, B) == [{"from": ja["jid"], "id": "m-s1", "type": "text", "text": "back"}], 5),
              "phone B received %s" % received(fw, B))
        stop(a)


def t_redeliver(tmp):
    """A message a device was sent but never receipted (its client died first) comes again, offline, at its next
    login; a receipted one never does."""
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        adev, bdev = ja["jid"], jb["jid"]

        def drop_b():
            bc = [c for c in fw.clients()["clients"] if c["jid"] == bdev and not c["dead"]]
            check(len(bc) == 1, "B's connection %s" % bc)
            fw.call("/admin/drop?client=%d" % bc[0]["id"])
            check(poll(lambda: not device(fw, bdev)["connected"], 5), "B still connected")

        a.cmd("0 send r1 %s@s.whatsapp.net %s 01" % (B, bdev))
        check(line(b, "ACK 0 receipt r1 error=-"), "B's receipt of r1 not acked", b)
        # B is frozen: r2 reaches its socket but no receipt can come back before fakewa drops the connection
        os.kill(b.proc.pid, signal.SIGSTOP)
        try:
            a.cmd("0 send r2 %s@s.whatsapp.net %s 02" % (B, bdev))
            check(line(a, "ACK 0 message r2 error=-"), "no server ack for r2", a)
            drop_b()
            check(device(fw, bdev)["queued"] == 0, "r2 was sent, not queued: %s" % device(fw, bdev))
        finally:
            os.kill(b.proc.pid, signal.SIGCONT)
        check(line(b, "IB 0 offline 1", 15), "no <ib><offline count=1> after the reconnect", b)
        i_ib = b.lines.index("IB 0 offline 1")
        again = [i for i, l in enumerate(b.lines) if l.startswith("MSG 0 %s r2 offline=1 " % adev)]
        check(len(again) == 1 and again[0] < i_ib, "r2 not redelivered once before the marker", b)
        check(not any(" r1 offline=1 " in l for l in b.lines), "the receipted r1 came again", b)
        check(line(a, "RECEIPT 0 %s r2 delivery" % bdev), "no delivery receipt for the redelivered r2", a)
        # receipted now (fakewa acked it): the next login brings nothing
        check(b.wait_for(lambda p: p.lines.count("ACK 0 receipt r2 error=-") >= 1), "r2 receipt not acked", b)
        drop_b()
        check(b.wait_for(lambda p: len([l for l in p.lines if l.startswith("IB 0 offline ")]) >= 3, 15),
              "no third login", b)
        check([l for l in b.lines if l.startswith("IB 0 offline ")][2] == "IB 0 offline 0", "offline after the "
              "receipt: %s" % [l for l in b.lines if l.startswith("IB 0")], b)
        check(len([l for l in b.lines if " r2 offline=1 " in l]) == 1, "r2 delivered after its receipt", b)
        stop(a, b)


def t_devices(tmp):
    """<notification type="devices"> to the devices of an account's peers when it gains or loses a companion."""
    C = "15551110003"
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A, "--backoff-min", "3000", "--backoff-max", "3000")
        b, jb = pair(fw, B)
        # A's companion writes to B: A and B are peers now
        a.cmd("0 send d1 %s@s.whatsapp.net %s 01" % (B, jb["jid"]))
        check(line(b, "MSG 0 %s d1 offline=0" % ja["jid"]), "B did not get d1", b)
        # B gains a companion: A's companion is told; B's own first companion is not (no account_sync here)
        b2, jb2 = pair(fw, B)
        check(line(a, "DEVICES 0 %s@s.whatsapp.net add %s" % (B, jb2["jid"])), "A not told of B's new device", a)
        # C never talked to A: its pairing tells nobody; then C's phone writes to A, and C's next device is told
        c, jc = pair(fw, C)
        phone_send(fw, C, A + "@s.whatsapp.net", "hello A")
        check(line(a, "TEXT 0 %s@s.whatsapp.net" % C), "A did not get C's text", a)
        c2, jc2 = pair(fw, C)
        check(line(a, "DEVICES 0 %s@s.whatsapp.net add %s" % (C, jc2["jid"])), "A not told of C's new device", a)
        devs = [l for l in a.lines if l.startswith("DEVICES ")]
        check(devs == ["DEVICES 0 %s@s.whatsapp.net add %s" % (B, jb2["jid"]),
                       "DEVICES 0 %s@s.whatsapp.net add %s" % (C, jc2["jid"])], "A was told %s" % devs, a)
        check(not any(l.startswith("DEVICES ") for l in b.lines + b2.lines), "B's devices told of their own", b)
        # A is offline when B's second companion is removed: the notification waits for A's next login
        ac = [x for x in fw.clients()["clients"] if x["jid"] == ja["jid"] and not x["dead"]]
        check(len(ac) == 1, "A's connection %s" % ac)
        fw.call("/admin/drop?client=%d" % ac[0]["id"])
        check(poll(lambda: not device(fw, ja["jid"])["connected"], 5), "A still connected")
        st, js = fw.post("/admin/remove-device?" + urllib.parse.urlencode({"jid": jb2["jid"]}))
        check(st == 200, "remove-device %d %s" % (st, js))
        check(device(fw, ja["jid"])["queued"] == 1, "notification not queued: %s" % device(fw, ja["jid"]))
        check(line(a, "IB 0 offline 1", 15), "no <ib><offline count=1> after the reconnect", a)
        i_dev = [i for i, l in enumerate(a.lines) if l == "DEVICES 0 %s@s.whatsapp.net remove %s" % (B, jb2["jid"])]
        check(len(i_dev) == 1 and i_dev[0] < a.lines.index("IB 0 offline 1"), "removal not delivered at login", a)
        check(device(fw, ja["jid"])["queued"] == 0, "queue not emptied")
        # a message to the removed device is skipped, the rest delivered
        a.cmd("0 send d2 %s@s.whatsapp.net %s,%s 02" % (B, jb["jid"], jb2["jid"]))
        check(line(a, "ACK 0 message d2 error=-") and line(b, "MSG 0 %s d2 offline=0" % ja["jid"]), "d2", b)
        stop(b2)
        stop(a, b, c, c2)


def calls(fw, account):
    return fw.call("/phone/calls?account=" + account, "GET")["calls"]


def t_call(tmp):
    """The phone of A calls B (fw_call.h): every connected companion of B gets the <call><offer>, none of A's; a
    terminate ends it; a companion's <call><reject/> is acked and recorded for the account it is addressed to."""
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        b2, jb2 = pair(fw, B)
        ua = A + "@s.whatsapp.net"
        t0 = int(time.time())
        st, js = fw.post("/phone/call?account=%s&to=%s&video=1" % (A, B))
        check(st == 200 and js["sent"] == 2 and re.fullmatch("[0-9A-F]{32}", js["call_id"]), "call: %d %s" % (st, js))
        cid = js["call_id"]
        offer = ("platform=android version=2.24.1 offer call-id=%s call-creator=%s count=0 reason=- "
                 "kids=audio/opus/16000,audio/opus/8000,video/vp8,net/3,encopt/2" % (cid, ua))
        for p in (b, b2):
            got = line(p, "CALL 0 %s " % ua)
            m = re.fullmatch(r"CALL 0 \S+ (\S+) t=(\d+) (.*)", got or "")
            check(m and m.group(3) == offer and abs(int(m.group(2)) - t0) <= 5, "offer: %r" % got, p)
        check(not any(l.startswith("CALL ") for l in a.lines), "the caller's companion was rung", a)
        # audio only, to as a JID, the id given; B's second companion is offline now and hears nothing of it
        stop(b2)
        check(poll(lambda: not device(fw, jb2["jid"])["connected"], 5), "B's second companion still connected")
        st, js = fw.post("/phone/call?account=%s&to=%s&id=ABCDEF0123" % (A, B + "@s.whatsapp.net"))
        check(st == 200 and js == {"call_id": "ABCDEF0123", "sent": 1}, "audio call: %d %s" % (st, js))
        check(b.wait_for(lambda p: any(
            "offer call-id=ABCDEF0123 " in l and l.endswith(" kids=audio/opus/16000,audio/opus/8000,net/3,encopt/2")
            for l in p.lines)), "audio offer", b)
        check(device(fw, jb2["jid"])["queued"] == 0, "a call was queued for an offline device")
        st, js = fw.post("/phone/call-end?account=%s&to=%s&id=ABCDEF0123&reason=timeout" % (A, B))
        check(st == 200 and js == {"call_id": "ABCDEF0123", "sent": 1}, "call-end: %d %s" % (st, js))
        check(b.wait_for(lambda p: any(re.fullmatch(r"CALL 0 %s \S+ t=\d+ platform=- version=- terminate "
                                                    r"call-id=ABCDEF0123 call-creator=%s count=0 reason=timeout "
                                                    r"kids=-" % (ua, ua), l) for l in p.lines)), "terminate", b)
        for q, code in (("account=19990000000&to=" + B, 404), ("account=%s" % A, 400),
                        ("account=%s&to=19990000000" % A, 400), ("account=%s&to=%s" % (A, A), 400),
                        ("account=%s&to=%s&id=not-hex" % (A, B), 400),
                        ("account=%s&to=%s&id=%s" % (A, B, "A" * 65), 400)):
            st, js = fw.post("/phone/call?" + q)
            check(st == code and "error" in js, "call?%s: %d %s" % (q, st, js))
        check(fw.post("/phone/call-end?account=%s&to=%s" % (A, B))[0] == 400, "call-end without id")
        check(fw.post("/phone/call-end?account=%s&to=%s&id=AB&reason=busy" % (A, B))[0] == 400, "bad reason")
        # B's companion rejects the first call, as whatsmeow's RejectCall does
        check(calls(fw, A) == [], "records before any reject")
        b.cmd("0 call rj1 %s reject %s %s 0" % (ua, cid, ua))
        check(line(b, "ACK 0 call rj1 error=- type=reject from=%s" % ua), "reject not acked", b)
        want = {"from": jb["jid"], "to": ua, "tag": "reject", "call_id": cid, "call_creator": ua, "count": "0"}
        check(calls(fw, A) == [want], "records: %s" % calls(fw, A))
        check(calls(fw, B) == [], "recorded for the wrong account")
        # untrusted: no child (acked, not recorded), no id (recorded, not acked), unknown account (acked, not
        # recorded), an id too long (cut), odd bytes (made '?'), to as the account's LID
        lid_a = ja["lid"].split(":")[0] + "@lid"
        b.cmd("0 call rj2 %s -" % ua)
        check(line(b, "ACK 0 call rj2 error=- type=- from=%s" % ua), "childless call not acked", b)
        b.cmd("0 call - %s reject NOID" % ua)
        b.cmd("0 call rj3 19990000000@s.whatsapp.net reject X")
        b.cmd('0 call rj4 %s reject %s a"b\\c<>' % (lid_a, "F" * 100))
        check(line(b, "ACK 0 call rj4 "), "rj4 not acked", b)
        got = calls(fw, A)
        cut = {"from": jb["jid"], "to": lid_a, "tag": "reject", "call_id": "F" * 64, "call_creator": "a?b?c??",
               "count": ""}
        check(len(got) == 3 and got[1]["call_id"] == "NOID" and got[2] == cut, "records: %s" % got)
        check(not any(" call - " in l or "NOID" in l for l in b.lines if l.startswith("ACK ")), "id-less acked", b)
        # the last 16 are kept, oldest first
        for i in range(17):
            b.cmd("0 call r%d %s accept C%d %s 0" % (i, ua, i, ua))
        check(line(b, "ACK 0 call r16 "), "r16 not acked", b)
        got = [c["call_id"] for c in calls(fw, A)]
        check(got == ["C%d" % i for i in range(1, 17)], "kept: %s" % got)
        check(fw.request("GET", "/phone/calls?account=19990000000").status == 404, "unknown account")
        stop(a, b)


def history(fw, account, body):
    """POST /phone/history with body (a dict as JSON, or raw bytes): (status, json)."""
    return fw.post("/phone/history?account=" + account, body if isinstance(body, bytes) else json.dumps(body))


def t_history(tmp):
    """POST /phone/history: the phone sends a history sync chunk as a peer message to its companions, which
    decrypt and inflate it and answer with peer_msg and hist_sync receipts to the own user JID; bad bodies are
    refused with nothing sent; an offline companion gets it at its next login."""
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        own = A + "@s.whatsapp.net"
        chunk = {"syncType": 0, "chunkOrder": 1, "progress": 100,
                 "conversations": [{"id": "15550001111@s.whatsapp.net", "name": "Alice", "unreadCount": 2,
                                    "pnJid": "15550001111@s.whatsapp.net", "lidJid": "123456@lid",
                                    "conversationTimestamp": 1700000000,
                                    "messages": [{"id": "3EB0ABC", "fromMe": False, "text": "hello there",
                                                  "timestamp": 1700000000, "pushName": "Alice", "status": 3},
                                                 {"id": "3EB0ABD", "fromMe": True, "text": "hi"}]},
                                   {"id": "120363000000000001@g.us", "messages": [
                                       {"id": "G1", "participant": "15550001111@s.whatsapp.net", "text": "g"}]}],
                 "pushnames": [{"id": "15550001111@s.whatsapp.net", "pushname": "Alice"}],
                 "lidMappings": [{"pn": "15550001111@s.whatsapp.net", "lid": "123456@lid"}]}
        st, js = history(fw, A, chunk)
        check(st == 200 and js["sent"] == 1 and re.fullmatch(r"3EB0[0-9A-F]{16}", js["id"]), "history: %d %s" %
              (st, js))
        mid = js["id"]
        check(line(a, "MSG 0 %s %s offline=0 recipient=- enc=pkmsg:" % (own, mid)), "no peer pkmsg", a)
        check(line(a, "HISTORY 0 %s %s type=0 chunk=1 progress=100 payload=" % (own, mid)), "not a history sync", a)
        got = line(a, "HISTORY 0 %s %s " % (own, mid))
        check(" sync=ok conversations=2 messages=3 pushnames=1 lids=1 first=15550001111@s.whatsapp.net "
              "text=hello there" in got, "chunk read back: %s" % got, a)
        want = [{"from": ja["jid"], "id": mid, "type": t, "keys": False} for t in ("peer_msg", "hist_sync")]
        check(poll(lambda: [r for r in fw.call("/phone/receipts?account=" + A, "GET")["receipts"]
                            if r["id"] == mid] == want, 5),
              "phone receipts: %s" % fw.call("/phone/receipts?account=" + A, "GET"))
        check(line(a, "ACK 0 receipt %s error=-" % mid), "receipts not acked", a)
        # rawPayload goes verbatim: garbage, and a zlib bomb over the probe's 16 MiB bound, neither readable
        for raw in (b"not zlib at all", zlib.compress(b"\0" * (20 << 20), 9)):
            st, js = history(fw, A, {"syncType": 2, "rawPayload": base64.b64encode(raw).decode()})
            check(st == 200 and js["sent"] == 1, "rawPayload: %d %s" % (st, js))
            got = line(a, "HISTORY 0 %s %s " % (own, js["id"]))
            check(got is not None and " type=2 " in got and " payload=%d inflated=failed/0 sync=bad " % len(raw) in got,
                  "raw payload read back: %s" % got, a)
        # a big chunk (over the old 4 KiB body cap): 2000 messages
        big = {"conversations": [{"id": "%d@s.whatsapp.net" % (15550002000 + i),
                                  "messages": [{"id": "M%d.%d" % (i, k), "text": "t%d" % k} for k in range(100)]}
                                 for i in range(20)]}
        st, js = history(fw, A, big)
        check(st == 200 and js["sent"] == 1, "big chunk: %d %s" % (st, js))
        got = line(a, "HISTORY 0 %s %s " % (own, js["id"]))
        check(got is not None and " sync=ok conversations=20 messages=2000 " in got, "big chunk: %s" % got, a)
        # refused, nothing sent
        nmsg = len([l for l in a.lines if l.startswith("MSG 0 %s " % own)])
        for bad in (b"", b"[]", b"{", b"{} x", b'{"syncType": 7}', b'{"progress": 101}', b'{"chunkOrder": -1}',
                    b'{"syncType": 1.5}', b'{"bogus": 1}', b'{"conversations": {}}',
                    b'{"conversations": [{"messages": [{"status": 6}]}]}',
                    b'{"conversations": [{"messages": [{"fromMe": 1}]}]}',
                    b'{"conversations": [{"id": "a\\u0000b"}]}',
                    b'{"conversations": [{"name": "' + b"x" * 257 + b'"}]}',
                    b'{"pushnames": [{"id": 5}]}', b'{"lidMappings": [{"pn": "x", "jid": "y"}]}',
                    b'{"rawPayload": "!!!"}', b'{"rawPayload": "AAAA", "pushnames": []}',
                    json.dumps({"conversations": [{}] * 257}).encode(),
                    json.dumps({"conversations": [{"messages": [{}] * 5001}] * 2}).encode()):
            st, js = history(fw, A, bad)
            check(st == 400 and "error" in js, "bad body %r: %d %s" % (bad[:80], st, js))
        check(history(fw, "19990000000", {})[0] == 404, "unknown account")
        check(fw.request("GET", "/phone/history?account=" + A).status == 405, "GET allowed")
        # an account without companions: nothing to send to
        fw.post("/admin/account?phone=" + B)
        st, js = history(fw, B, {"progress": 100})
        check(st == 200 and js["sent"] == 0, "no companion: %d %s" % (st, js))
        time.sleep(0.5)
        check(len([l for l in a.lines if l.startswith("MSG 0 %s " % own)]) == nmsg, "a refused body was sent", a)
        # an offline companion gets it at its next login, offline="1"
        os.kill(a.proc.pid, signal.SIGSTOP)
        try:
            ac = [c for c in fw.clients()["clients"] if c["jid"] == ja["jid"] and not c["dead"]]
            check(len(ac) == 1, "A's connection %s" % ac)
            fw.call("/admin/drop?client=%d" % ac[0]["id"])
            check(poll(lambda: not device(fw, ja["jid"])["connected"], 5), "A still connected")
            st, js = history(fw, A, {"syncType": 3, "pushnames": [{"id": own, "pushname": "me"}]})
            check(st == 200 and js["sent"] == 1 and device(fw, ja["jid"])["queued"] == 1, "offline: %d %s %s" %
                  (st, js, device(fw, ja["jid"])))
        finally:
            os.kill(a.proc.pid, signal.SIGCONT)
        check(line(a, "MSG 0 %s %s offline=1 " % (own, js["id"]), 15), "not delivered at the next login", a)
        got = line(a, "HISTORY 0 %s %s " % (own, js["id"]))
        check(got is not None and " type=3 " in got and " pushnames=1 " in got, "offline chunk: %s" % got, a)
        stop(a)


def download(fw, path):
    """GET path on the control port, the media host: (status, Content-Type, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", fw.control, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        r = conn.getresponse()
        return r.status, r.getheader("Content-Type"), r.read()
    finally:
        conn.close()


def media_keys(key):
    """WhatsApp's history media keys from a media key: HKDF-SHA256 (no salt) to iv, cipherKey, macKey."""
    prk = hmac.new(b"\0" * 32, key, hashlib.sha256).digest()
    okm, t = b"", b""
    for i in range(1, 5):
        t = hmac.new(prk, t + b"WhatsApp History Keys" + bytes([i]), hashlib.sha256).digest()
        okm += t
    return okm[:16], okm[16:48], okm[48:80]


def media_line(p, own, mid):
    """The probe's HISTORY-MEDIA line of message mid as a dict of its key=value fields."""
    got = line(p, "HISTORY-MEDIA 0 %s %s " % (own, mid))
    check(got is not None, "no HISTORY-MEDIA line for %s" % mid, p)
    return dict(f.split("=", 1) for f in got.split()[4:])


def t_history_media(tmp):
    """POST /phone/history with "media": true: the chunk is an encrypted blob on the media host (GET directPath
    on the control port) and the notification names it; mediaMissing and mediaCorrupt break the download; the
    store is capped."""
    path_re = r"/v/t62\.7117-24/[0-9a-f]{32}\.enc\?ccb=9-4&oh=[0-9a-f]{16}&oe=[0-9A-F]{8}"
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        own = A + "@s.whatsapp.net"
        chunk = {"syncType": 2, "chunkOrder": 3, "progress": 40, "media": True,
                 "conversations": [{"id": "15550001111@s.whatsapp.net", "messages": [{"id": "M1", "text": "hi"}]}]}
        st, js = history(fw, A, chunk)
        check(st == 200 and js["sent"] == 1 and re.fullmatch(path_re, js["directPath"]), "media: %d %s" % (st, js))
        mid, dp = js["id"], js["directPath"]
        got = line(a, "HISTORY 0 %s %s " % (own, mid))
        check(got is not None and " type=2 chunk=3 progress=40 payload=0 inflated=failed/0 sync=bad " in got,
              "a media chunk went inline: %s" % got, a)
        m = media_line(a, own, mid)
        check(m["path"] == dp and int(m["length"]) > 0 and all(re.fullmatch(r"[0-9a-f]{64}", m[k]) for k in
              ("sha256", "enc_sha256", "key")), "notification fields: %s" % m, a)
        check(poll(lambda: [r["type"] for r in fw.call("/phone/receipts?account=" + A, "GET")["receipts"]
                            if r["id"] == mid] == ["peer_msg", "hist_sync"], 5), "no receipts for the media chunk")
        # the blob: AES-CBC of the payload, padded to the next 16, and a 10-byte MAC; downloaders append a query
        for url in (dp, dp + "&hash=x&mms-type=md-msg-hist&__wa-mms="):
            st, ctype, blob = download(fw, url)
            check(st == 200 and ctype == "application/octet-stream", "GET %s: %d %s" % (url, st, ctype))
            check(len(blob) == (int(m["length"]) // 16 + 1) * 16 + 10, "blob size %d for %s" % (len(blob), m))
            check(hashlib.sha256(blob).hexdigest() == m["enc_sha256"], "fileEncSha256 is not the blob's")
        iv, ckey, mkey = media_keys(bytes.fromhex(m["key"]))
        check(hmac.new(mkey, iv + blob[:-10], hashlib.sha256).digest()[:10] == blob[-10:], "bad MAC")
        plain = decrypt(ckey, iv, blob[:-10])
        if plain is not None:
            check(len(plain) == int(m["length"]) and hashlib.sha256(plain).hexdigest() == m["sha256"],
                  "the blob does not decrypt to the notified payload")
            zlib.decompress(plain)
        listed = [b for b in fw.call("/admin/media", "GET")["blobs"] if b["path"] == dp]
        check(listed == [{"path": dp, "size": len(blob), "downloads": 2, "failed": 0}], "/admin/media: %s" % listed)
        # mediaFailFirst: the first N GETs answer 503 (and are counted apart), then the blob is served
        st, js = history(fw, A, dict(chunk, mediaFailFirst=2))
        check(st == 200 and js["sent"] == 1, "fail first: %d %s" % (st, js))
        codes = [download(fw, js["directPath"])[0] for _ in range(3)]
        listed = [b for b in fw.call("/admin/media", "GET")["blobs"] if b["path"] == js["directPath"]]
        check(codes == [503, 503, 200] and listed[0]["downloads"] == 1 and listed[0]["failed"] == 2,
              "mediaFailFirst: %s %s" % (codes, listed))
        for bad in ({"media": True, "mediaFailFirst": 9}, {"media": True, "mediaFailFirst": 1, "mediaMissing": True},
                    {"mediaFailFirst": 1}):
            st, js = history(fw, A, {**chunk, "media": False, **bad})
            check(st == 400, "%s: %d %s" % (bad, st, js))
        # rawPayload in media mode: those very bytes are the plaintext (an unreadable chunk)
        raw = b"not zlib, encrypted all the same"
        st, js = history(fw, A, {"media": True, "rawPayload": base64.b64encode(raw).decode()})
        check(st == 200 and js["sent"] == 1, "raw media: %d %s" % (st, js))
        m = media_line(a, own, js["id"])
        st, _, blob = download(fw, js["directPath"])
        check(st == 200 and int(m["length"]) == len(raw) and m["sha256"] == hashlib.sha256(raw).hexdigest(),
              "raw media: %d %s" % (st, m))
        iv, ckey, _ = media_keys(bytes.fromhex(m["key"]))
        plain = decrypt(ckey, iv, blob[:-10])
        check(plain is None or plain == raw, "raw media decrypts to %r" % plain)
        # the faults: nothing stored, or a stored blob that does not match its hashes
        st, js = history(fw, A, {"media": True, "mediaMissing": True})
        check(st == 200 and re.fullmatch(path_re, js["directPath"]), "missing: %d %s" % (st, js))
        media_line(a, own, js["id"])
        check(download(fw, js["directPath"])[0] == 404, "a missing blob was served")
        check(all(b["path"] != js["directPath"] for b in fw.call("/admin/media", "GET")["blobs"]), "missing listed")
        st, js = history(fw, A, {"media": True, "mediaCorrupt": True, "progress": 1})
        m = media_line(a, own, js["id"])
        st, _, blob = download(fw, js["directPath"])
        check(st == 200 and len(blob) == (int(m["length"]) // 16 + 1) * 16 + 10 and
              hashlib.sha256(blob).hexdigest() != m["enc_sha256"], "corrupt: %d %s" % (st, m))
        for bad in (b'{"media": 1}', b'{"mediaCorrupt": true}', b'{"media": false, "mediaMissing": true}',
                    b'{"media": true, "mediaCorrupt": true, "mediaMissing": true}'):
            st, js = history(fw, A, bad)
            check(st == 400 and "error" in js, "bad body %r: %d %s" % (bad, st, js))
        check(download(fw, "/v/t62.7117-24/" + "0" * 32 + ".enc?ccb=9-4")[0] == 404, "unknown blob served")
        check(fw.request("POST", dp).status == 405, "POST to a blob allowed")
        # at most 64 blobs: the oldest goes (an account without companions stores them all the same)
        fw.post("/admin/account?phone=" + B)
        paths = [history(fw, B, {"media": True, "chunkOrder": i})[1]["directPath"] for i in range(64)]
        blobs = fw.call("/admin/media", "GET")["blobs"]
        check([b["path"] for b in blobs] == paths, "kept: %d blobs" % len(blobs))
        check(download(fw, dp)[0] == 404, "the oldest blob is still served")
        stop(a)


def decrypt(key, iv, ct):
    """AES-256-CBC decryption and PKCS#7 unpadding when python's cryptography package is there, else None."""
    try:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    except ImportError:
        return None
    d = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    pt = d.update(ct) + d.finalize()
    check(1 <= pt[-1] <= 16 and pt[-pt[-1]:] == bytes([pt[-1]]) * pt[-1], "bad padding")
    return pt[:-pt[-1]]


TESTS = [t_route, t_usync_keys, t_phone, t_account, t_redeliver, t_devices, t_call, t_history, t_history_media]


if __name__ == "__main__":
    sys.exit(run(TESTS))
