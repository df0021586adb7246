#!/usr/bin/env python3
"""End-to-end tests of fakewa's groups (fw_group.h): the w:g2 iqs and w:gp2 notifications, group message fan-out
(skmsg for all, sender keys pairwise), phash in the ack, receipts, and the mock phone's group side (send,
decrypt, /phone/group-create), with wa_probe --pair --commands as the companions (probe_group.h). Every text is
really encrypted: the companions and phones are Signal endpoints on wa_signal.h.

usage: group_e2e.py FAKEWA WA_PROBE [test-name ...]"""
import base64
import hashlib
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwtest import Fakewa, check, poll, run  # noqa: E402
from message_e2e import line, pair, received, stop  # noqa: E402

A, B, C = "15551110001", "15551110002", "15551110003"
UNKNOWN = "19990000000"


def u(phone):
    return phone + "@s.whatsapp.net"


def lines(p, prefix):
    return [x for x in p.lines if x.startswith(prefix)]


def group_create(fw, account, subject, participants, style=None):
    q = {"account": account, "subject": subject, "participants": ",".join(participants)}
    if style:
        q["style"] = style
    st, js = fw.post("/phone/group-create?" + urllib.parse.urlencode(q))
    check(st == 200 and "group" in js, "group-create: %d %s" % (st, js))
    return js["group"]


def phone_send(fw, account, to, text):
    st, js = fw.post("/phone/send?" + urllib.parse.urlencode({"account": account, "to": to, "text": text}))
    check(st == 200 and "id" in js, "phone/send: %d %s" % (st, js))
    return js["id"]


def phash(devices):
    """whatsmeow's participant hash (wa-session.md 4.8) over (phone, device) pairs."""
    ad = sorted("%s.0:%d@s.whatsapp.net" % d for d in devices)
    return "2:" + base64.b64encode(hashlib.sha256("".join(ad).encode()).digest()[:6]).decode().rstrip("=")


def t_group_iq(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        c, jc = pair(fw, C)
        # create: the unknown number is answered with error 404 and left out; B hears of it, a (the creator's
        # creating device) only gets the answer
        a.cmd("0 gcreate Team %s,%s" % (u(B), u(UNKNOWN)))
        got = line(a, "GROUP 0 probe-gcreate ")
        check(got is not None, "no create answer", a)
        gid = got.split()[3]
        check(gid.endswith("@g.us") and gid.startswith("120363") and "-" not in gid, "group JID %s" % gid, a)
        check(got.endswith("subject=Team creator=%s participants=%s,%s,%s!404" % (u(A), u(A), u(B), u(UNKNOWN))),
              "create answer: %s" % got, a)
        check(line(b, "NOTIF 0 w:gp2 %s create actor=%s %s,%s" % (gid, u(A), u(A), u(B))), "B not notified", b)
        check(not lines(c, "NOTIF "), "a non-member was notified", c)
        # metadata and participating
        a.cmd("0 gquery " + gid)
        check(line(a, "GROUP 0 probe-gquery %s subject=Team creator=%s participants=%s,%s" % (gid, u(A), u(A), u(B))),
              "metadata", a)
        b.cmd("0 gjoined")
        check(line(b, "GROUPS 0 " + gid), "participating of B", b)
        c.cmd("0 gjoined")
        check(line(c, "GROUPS 0 -"), "participating of C (none)", c)
        c.cmd("0 gquery " + gid)
        check(line(c, "GERROR 0 probe-gquery 403"), "a non-member read the metadata", c)
        c.cmd("0 gquery 120363999999999999@g.us")
        check(line(c, "GERROR 0 probe-gquery 404"), "unknown group", c)
        # add C (and B again: 409), then remove C: each side hears of it
        a.cmd("0 gadd %s %s,%s" % (gid, u(C), u(B)))
        check(line(a, "GCHANGE 0 add %s=ok,%s=409" % (u(C), u(B))), "add answer", a)
        check(line(c, "NOTIF 0 w:gp2 %s add actor=%s %s" % (gid, u(A), u(C))), "C not told it was added", c)
        check(line(b, "NOTIF 0 w:gp2 %s add actor=%s %s" % (gid, u(A), u(C))), "B not told of the add", b)
        c.cmd("0 gjoined")
        check(line(c, "GROUPS 0 " + gid), "C not in the group after add", c)
        a.cmd("0 gremove %s %s" % (gid, u(C)))
        check(line(a, "GCHANGE 0 remove %s=ok" % u(C)), "remove answer", a)
        check(line(c, "NOTIF 0 w:gp2 %s remove actor=%s %s" % (gid, u(A), u(C))), "C not told it was removed", c)
        groups = fw.call("/admin/groups", "GET")["groups"]
        check([(g["jid"], g["subject"], g["participants"]) for g in groups] == [(gid, "Team", [u(A), u(B)])],
              "admin/groups: %s" % groups)
        # the phone creates one (older JID form): every member device is notified, the creator's companion too
        gid2 = group_create(fw, B, "Old style", [A, C], style="old")
        check(gid2.startswith(B + "-") and gid2.endswith("@g.us"), "old-style JID %s" % gid2)
        for p in (a, b, c):
            check(line(p, "NOTIF 0 w:gp2 %s create actor=%s %s,%s,%s" % (gid2, u(B), u(B), u(A), u(C))),
                  "create by phone B not notified", p)
        # bad input
        check(fw.post("/phone/group-create?account=%s&subject=x&participants=%s" % (A, UNKNOWN))[0] == 400,
              "unknown participant accepted")
        check(fw.post("/phone/group-create?account=%s&subject=&participants=%s" % (A, B))[0] == 400, "empty subject")
        check(fw.post("/phone/group-create?account=%s&participants=%s" % (A, B))[0] == 400, "no subject")
        check(fw.post("/phone/group-create?account=%s&subject=x&participants=%s" % (UNKNOWN, B))[0] == 404,
              "unknown creator")
        stop(a, b, c)


def t_group_messages(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        c, jc = pair(fw, C, "--backoff-min", "3000", "--backoff-max", "3000")
        adev, bdev, cdev = ja["jid"], jb["jid"], jc["jid"]
        gid = group_create(fw, A, "Chat", [B, u(C)])
        check(line(b, "NOTIF 0 w:gp2 %s create" % gid), "B not notified", b)
        # phone A -> group: sender key pairwise + skmsg to every member device, its own companion included
        m1 = phone_send(fw, A, gid, "hello group")
        for p in (a, b, c):
            check(line(p, "GMSG 0 %s %s %s offline=0 encs=pkmsg,skmsg" % (gid, u(A), m1)), "no pkmsg+skmsg", p)
            check(line(p, "GTEXT 0 %s %s %s hello group" % (gid, u(A), m1)), "group text not decrypted", p)
        for ph in (B, C):
            check(poll(lambda: {"from": u(A), "id": m1, "type": "text", "text": "hello group", "group": gid}
                       in received(fw, ph), 5), "phone %s received %s" % (ph, received(fw, ph)))
        # a second text: the sender key is known, only the skmsg comes
        m2 = phone_send(fw, A, gid, "second")
        check(line(b, "GMSG 0 %s %s %s offline=0 encs=skmsg" % (gid, u(A), m2)), "sender key sent again", b)
        check(line(b, "GTEXT 0 %s %s %s second" % (gid, u(A), m2)), "second text", b)
        # companion b -> group: sessions with every other member device, then its sender key to each
        devs = [u(A).replace("@", ":0@"), u(B).replace("@", ":0@"), u(C).replace("@", ":0@"), adev, cdev]
        b.cmd("0 key " + ",".join(devs))
        for d in devs:
            check(line(b, "SESSION 0 %s built" % d), "no session with " + d, b)
        b.cmd("0 gsend g1 %s - %s hi all" % (gid, ",".join(devs)))
        check(line(b, "GSENT 0 g1 skdm=5"), "not sent", b)
        check(line(b, "ACK 0 message g1 error=-"), "no server ack", b)
        for p in (a, c):
            check(line(p, "GTEXT 0 %s %s g1 hi all" % (gid, bdev)), "b's text not decrypted", p)
        for ph in (A, B, C):
            check(poll(lambda: {"from": bdev, "id": "g1", "type": "text", "text": "hi all", "group": gid}
                       in received(fw, ph), 5), "phone %s received %s" % (ph, received(fw, ph)))
        # receipts come back to b with the reader as participant: companions and phones
        for who in (adev, cdev, u(A), u(C)):
            check(line(b, "RECEIPT 0 %s g1 delivery participant=%s" % (gid, who)), "no receipt from " + who, b)
        check(not lines(b, "GMSG 0 %s %s g1" % (gid, bdev)), "the sender got its own message", b)
        # a later text without sender keys; phash: a wrong one is answered with fakewa's, the right one is not
        right = phash([(p, d) for p in (A, B, C) for d in (0, 1)])
        b.cmd("0 gsend g2 %s 2:AAAAAAAA - later" % gid)
        check(line(b, "ACK 0 message g2 error=- phash=" + right), "wrong phash not answered with fakewa's", b)
        check(line(a, "GTEXT 0 %s %s g2 later" % (gid, bdev)), "later text", a)
        b.cmd("0 gsend g3 %s %s - right" % (gid, right))
        check(line(b, "ACK 0 message g3 error=-"), "no ack for g3", b)
        check(lines(b, "ACK 0 message g3 error=-") == ["ACK 0 message g3 error=-"], "right phash answered", b)
        check(line(c, "GTEXT 0 %s %s g3 right" % (gid, bdev)), "g3", c)
        # fakewa keeps a message until its receipt and redelivers it at the next login: c's receipt of g3 (its
        # last message; the earlier ones were receipted before it) must be in before the drop
        check(line(c, "ACK 0 receipt g3 error=-"), "c's receipt of g3 not acked", c)
        # offline: c drops, phone A and b send, fakewa queues both; c gets them at its next login, decrypted
        cc = [x for x in fw.clients()["clients"] if x["jid"] == cdev and not x["dead"]]
        check(len(cc) == 1, "C's connection %s" % cc)
        fw.call("/admin/drop?client=%d" % cc[0]["id"])
        check(poll(lambda: not fw.device(cdev)["connected"], 5), "C still connected")
        m3 = phone_send(fw, A, gid, "while away")
        b.cmd("0 gsend g7 %s - - also away" % gid)
        check(line(b, "ACK 0 message g7 error=-"), "no ack for g7", b)
        check(poll(lambda: fw.device(cdev)["queued"] == 2, 5), "not queued: %s" % fw.device(cdev))
        check(line(c, "IB 0 offline 2", 15), "no <ib><offline count=2> after the reconnect", c)
        check(line(c, "GTEXT 0 %s %s %s while away" % (gid, u(A), m3)), "queued phone text", c)
        check(line(c, "GTEXT 0 %s %s g7 also away" % (gid, bdev)), "queued companion text", c)
        check(line(c, "GMSG 0 %s %s g7 offline=1 encs=skmsg" % (gid, bdev)), "not marked offline", c)
        # refused: a group C is not in, an unknown group, a non-member device in <participants>
        gid_ab = group_create(fw, A, "AB", [B])
        c.cmd("0 gsend g4 %s - - nope" % gid_ab)
        check(line(c, "ACK 0 message g4 error=479"), "a non-member's send accepted", c)
        c.cmd("0 gsend g5 120363999999999999@g.us - - nope")
        check(line(c, "ACK 0 message g5 error=479"), "unknown group accepted", c)
        b.cmd("0 key " + cdev)
        b.cmd("0 gsend g6 %s - %s nope" % (gid_ab, cdev))
        check(line(b, "ACK 0 message g6 error=479"), "<to> outside the group accepted", b)
        check(not any(" g4 " in x or " g5 " in x or " g6 " in x for p in (a, b, c) for x in lines(p, "GMSG")),
              "a refused message was delivered")
        stop(a, b, c)


def t_reinstall(tmp):
    with Fakewa(tmp) as fw:
        a, ja = pair(fw, A)
        b, jb = pair(fw, B)
        c, jc = pair(fw, C)
        gid = group_create(fw, A, "Before", [B])
        # sessions with phone A: b starts one (pkmsg to the phone), phone A sends in the group (pkmsg to b, a)
        pa = u(A).replace("@", ":0@")
        b.cmd("0 key " + pa)
        check(line(b, "SESSION 0 %s built" % pa), "no session with phone A", b)
        b.cmd("0 sendtext r1 %s %s before" % (u(A), pa))
        check(poll(lambda: any(r["id"] == "r1" and r.get("text") == "before" for r in received(fw, A)), 5),
              "phone A did not decrypt r1: %s" % received(fw, A))
        m1 = phone_send(fw, A, gid, "old key")
        check(line(b, "GTEXT 0 %s %s %s old key" % (gid, u(A), m1)), "group text before the reinstall", b)
        # reinstall: the devices of A and B (sessions with the phone) are told, C (none) is not
        st, js = fw.post("/phone/reinstall?account=" + A)
        check(st == 200 and js == {"notified": 2}, "reinstall: %d %s" % (st, js))
        check(line(b, "IDENTITY 0 " + u(A)), "B not told of the new identity", b)
        check(line(a, "IDENTITY 0 " + u(A)), "A's companion not told", a)
        check(not lines(c, "IDENTITY "), "C told though it had no session", c)
        # b's old session is useless now: the new phone cannot decrypt it and asks for a retry
        b.cmd("0 sendtext r2 %s %s stale" % (u(A), pa))
        check(line(b, "RECEIPT 0 %s r2 retry" % u(A)), "no retry receipt for the old session", b)
        # the new phone's texts carry its new identity: b accepts it (a new session) in the group and 1:1
        m2 = phone_send(fw, A, gid, "new key")
        check(line(b, "GMSG 0 %s %s %s offline=0 encs=pkmsg,skmsg" % (gid, u(A), m2)), "no new sender key", b)
        check(line(b, "GTEXT 0 %s %s %s new key" % (gid, u(A), m2)), "group text after the reinstall", b)
        # a fresh bundle holds the new identity: b's new session reaches the new phone
        b.cmd("0 key " + pa)
        check(poll(lambda: len(lines(b, "SESSION 0 %s built" % pa)) == 2, 5), "no second session", b)
        b.cmd("0 sendtext r3 %s %s after" % (u(A), pa))
        check(poll(lambda: any(r["id"] == "r3" and r.get("text") == "after" for r in received(fw, A)), 5),
              "the new phone did not decrypt r3: %s" % received(fw, A))
        check(fw.post("/phone/reinstall?account=" + UNKNOWN)[0] == 404, "unknown account")
        stop(a, b, c)


TESTS = [t_group_iq, t_group_messages, t_reinstall]


if __name__ == "__main__":
    sys.exit(run(TESTS))
