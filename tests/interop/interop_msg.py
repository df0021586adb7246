#!/usr/bin/env python3
"""Interop of messaging (issue 9): a real Baileys client (baileys_agent.mjs, npm baileys@7.0.0-rc14) paired with
fakewa as account A exchanges texts with fakewa's mock phones B and C, 1:1 and in a group. Both ends really
encrypt: Baileys' libsignal on one side, fakewa's mock phone (wa_signal.h) on the other, so each side reading
the other's plaintext is the proof that the two Signal implementations agree, and that fakewa's routing,
usync, prekey fetch, group iqs and fan-out meet what a real client expects. Also: receipts both ways (delivery
and read), and Baileys offline while B and C write (fakewa's queue, <ib><offline>, then the same sessions).

usage: INTEROP_NODE_DIR=DIR interop_msg.py FAKEWA   (run.sh msg sets it up)"""
import os
import shutil
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fakewa"))
from fakewa_proc import FakewaProc  # noqa: E402
from interop_agent import Agent, check, log, node_dir, sender_is  # noqa: E402

A, B, C = "15552220001", "15552220002", "15552220003"


def u(phone):
    return phone + "@s.whatsapp.net"


class Fw(FakewaProc):
    def post(self, path, **q):
        r = self.request("POST", path + "?" + urllib.parse.urlencode(q), b"", timeout=20)
        check(r.status == 200, "POST %s %s -> %d %s" % (path, q, r.status, r.json))
        return r.json

    def received(self, phone):
        r = self.request("GET", "/phone/received?account=" + phone)
        check(r.status == 200, "received of %s -> %d %s" % (phone, r.status, r.json))
        return r.json["received"]

    def wait_device(self, jid, pred, what, agent, timeout=20):
        """Poll /admin/accounts until the device jid satisfies pred."""
        end = time.monotonic() + timeout
        while True:
            d = [x for a in self.accounts() for x in a["devices"] if x["jid"] == jid]
            if d and pred(d[0]):
                return d[0]
            if time.monotonic() > end:
                raise AssertionError("timed out waiting for %s: %s\n%s" % (what, d, agent.tail()))
            time.sleep(0.1)

    def wait_receipt(self, phone, pred, what, agent, timeout=20):
        """The first receipt phone got (GET /phone/receipts) that pred accepts."""
        end = time.monotonic() + timeout
        while True:
            r = self.request("GET", "/phone/receipts?account=" + phone)
            check(r.status == 200, "receipts of %s -> %d %s" % (phone, r.status, r.json))
            got = [x for x in r.json["receipts"] if pred(x)]
            if got:
                return got[0]
            if time.monotonic() > end:
                raise AssertionError("phone %s never got %s; it got %s\n%s" % (phone, what, r.json, agent.tail()))
            time.sleep(0.1)

    def wait_received(self, phone, pred, what, agent, timeout=20):
        """The first entry of phone's received list that pred accepts (polled: fakewa has no push)."""
        end = time.monotonic() + timeout
        while True:
            got = [r for r in self.received(phone) if pred(r)]
            if got:
                return got[0]
            if time.monotonic() > end:
                raise AssertionError("phone %s never got %s; it received %s\n%s" %
                                     (phone, what, self.received(phone), agent.tail()))
            time.sleep(0.1)


def scenario(fw, agent):
    lid = {}
    for ph in (B, C):
        lid[ph] = fw.post("/admin/account", phone=ph, name="Phone " + ph)["lid"] + "@lid"
    opened = agent.wait_open()
    check(opened["jid"].startswith(A + ":"), "Baileys logged in as %s, not a device of %s" % (opened["jid"], A))
    me = opened["jid"]
    log("Baileys open as %s (lid %s)" % (me, opened["lid"]))

    # 1:1, phone B -> Baileys: the first is a pkmsg (B's phone starts a session from A's uploaded bundle)
    mid = fw.post("/phone/send", account=B, to=u(A), text="hello Baileys, from phone B")["id"]
    ev = agent.wait_text("hello Baileys, from phone B")
    check(ev["id"] == mid and not ev["fromMe"] and sender_is(ev, B, lid[B]), "1:1 text from B: %s" % ev)
    log("phone B -> Baileys: decrypted (%s)" % ev)
    mid = fw.post("/phone/send", account=B, to=u(A), text="second, on the same session")["id"]
    ev = agent.wait_text("second, on the same session")
    check(ev["id"] == mid and sender_is(ev, B, lid[B]), "second 1:1 text from B: %s" % ev)
    # Baileys' receipts reach phone B: delivery on its own ("inactive": a delivery from a client that is not
    # marked online, markOnlineOnConnect false), read when the application reads it
    fw.wait_receipt(B, lambda r: r["id"] == mid and r["type"] in ("", "inactive") and r["from"] == me,
                    "Baileys' delivery", agent)
    agent.command("read", id=mid)
    fw.wait_receipt(B, lambda r: r["id"] == mid and r["type"] == "read" and r["from"] == me, "Baileys' read", agent)
    log("Baileys' delivery and read receipts reached phone B")

    # 1:1, Baileys -> phone B: Baileys answers on the session B started, then to C with a new session
    sid = agent.send(u(B), "hello phone B, from Baileys")
    got = fw.wait_received(B, lambda r: r["id"] == sid, "Baileys' text " + sid, agent)
    check(got["type"] == "text" and got["text"] == "hello phone B, from Baileys" and got["from"].startswith(A),
          "phone B got %s" % got)
    log("Baileys -> phone B: decrypted (%s)" % got)
    # phone B's receipts reach Baileys: its automatic delivery receipt, then a read one (messages.update)
    agent.wait_status(sid, 3)
    fw.post("/phone/receipt", account=B, to=u(A), ids=sid, type="read")
    agent.wait_status(sid, 4)
    log("phone B's delivery and read receipts reached Baileys")
    sid = agent.send(u(C), "hello phone C, a new session")
    got = fw.wait_received(C, lambda r: r["id"] == sid, "Baileys' text " + sid, agent)
    check(got["type"] == "text" and got["text"] == "hello phone C, a new session", "phone C got %s" % got)
    mid = fw.post("/phone/send", account=C, to=u(A), text="C answers")["id"]
    ev = agent.wait_text("C answers")
    check(ev["id"] == mid and sender_is(ev, C, lid[C]), "answer from C: %s" % ev)
    log("Baileys <-> phone C: both ways")

    # a group B creates with A and C: Baileys hears of it and can read its metadata
    gid = fw.post("/phone/group-create", account=B, subject="Interop", participants="%s,%s" % (A, C))["group"]
    groups = agent.command("groups")["groups"]
    mine = [g for g in groups if g["id"] == gid]
    check(len(mine) == 1 and mine[0]["subject"] == "Interop", "Baileys' groups: %s" % groups)
    log("group %s: Baileys sees %s" % (gid, mine[0]))

    # group, phone B -> all: B's sender key comes pairwise (pkmsg/msg), the text as an skmsg
    mid = fw.post("/phone/send", account=B, to=gid, text="hello group, from phone B")["id"]
    ev = agent.wait_text("hello group, from phone B")
    check(ev["id"] == mid and ev["remoteJid"] == gid and sender_is(ev, B, lid[B]), "group text from B: %s" % ev)
    got = fw.wait_received(C, lambda r: r["id"] == mid, "B's group text", agent)
    check(got.get("text") == "hello group, from phone B", "phone C got %s" % got)
    log("phone B -> group: Baileys and phone C decrypted")

    # group, Baileys -> all: Baileys' own sender key distribution (skdm) then its skmsg
    sid = agent.send(gid, "hello group, from Baileys")
    for ph in (B, C):
        got = fw.wait_received(ph, lambda r: r["id"] == sid, "Baileys' group text " + sid, agent)
        check(got["type"] == "text" and got["text"] == "hello group, from Baileys" and got.get("group") == gid,
              "phone %s got %s" % (ph, got))
    log("Baileys -> group: phones B and C decrypted")
    # the second text of each side: only the skmsg (the sender keys are known)
    sid = agent.send(gid, "Baileys again")
    for ph in (B, C):
        got = fw.wait_received(ph, lambda r: r["id"] == sid, "Baileys' second group text", agent)
        check(got["type"] == "text" and got["text"] == "Baileys again", "phone %s got %s" % (ph, got))
    mid = fw.post("/phone/send", account=C, to=gid, text="C in the group")["id"]
    ev = agent.wait_text("C in the group")
    check(ev["id"] == mid and ev["remoteJid"] == gid and sender_is(ev, C, lid[C]), "group text from C: %s" % ev)
    mid = fw.post("/phone/send", account=B, to=gid, text="B again")["id"]
    ev = agent.wait_text("B again")
    check(ev["id"] == mid, "second group text from B: %s" % ev)
    bad = [r for ph in (B, C) for r in fw.received(ph) if r["type"] != "text"]
    check(not bad, "the phones could not read: %s" % bad)
    log("group: second texts both ways")

    # offline: Baileys disconnects, B and C write (1:1 and in the group), fakewa queues; at the next login Baileys
    # gets them before <ib><offline>, decrypts them and upserts them (as 'append': they carry offline="1")
    me_dev = opened["jid"]
    agent.command("disconnect")
    fw.wait_device(me_dev, lambda d: not d["connected"], "Baileys disconnected", agent)
    queued = [("1:1", fw.post("/phone/send", account=B, to=u(A), text="while you were away (B)")["id"]),
              ("group", fw.post("/phone/send", account=C, to=gid, text="while you were away (C, group)")["id"]),
              ("1:1", fw.post("/phone/send", account=C, to=u(A), text="while you were away (C)")["id"])]
    fw.wait_device(me_dev, lambda d: d["queued"] == 3, "3 stanzas queued for Baileys", agent)
    agent.command("connect")
    agent.wait_open(nth=2)
    for text, (kind, mid) in zip(("while you were away (B)", "while you were away (C, group)",
                                  "while you were away (C)"), queued):
        ev = agent.wait_text(text)
        check(ev["id"] == mid and (ev["remoteJid"] == gid) == (kind == "group"), "offline %s text: %s" % (kind, ev))
        check(ev["upsert"] == "append", "an offline message upserted as %r, not 'append': %s" % (ev["upsert"], ev))
    fw.wait_device(me_dev, lambda d: d["queued"] == 0, "the queue drained", agent)
    # and the sessions survived the reconnect (Baileys' stored state): a text each way
    sid = agent.send(u(B), "back online")
    got = fw.wait_received(B, lambda r: r["id"] == sid, "Baileys' text after the reconnect", agent)
    check(got["type"] == "text" and got["text"] == "back online", "phone B got %s" % got)
    log("offline: 3 queued texts delivered at the next login, sessions kept")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tmp = tempfile.mkdtemp(prefix="wagate-interop-msg-")
    fw = Fw(sys.argv[1], tmp, tls=True, debug=True).start()
    agent = None
    try:
        agent = Agent(node_dir(), fw.url, fw.root, fw.control, A, os.path.join(tmp, "baileys.log"))
        scenario(fw, agent)
    except AssertionError as e:
        print("INTEROP FAIL %s" % e)
        print("----- fakewa log (tail) -----\n%s" % "\n".join(fw.log_text().splitlines()[-60:]))
        print("logs kept in %s" % tmp)
        return 1
    finally:
        rc = agent.stop() if agent else None
        fw.stop()
    if rc != 0:
        print("INTEROP FAIL the Baileys agent exited with %s; logs kept in %s" % (rc, tmp))
        return 1
    shutil.rmtree(tmp, ignore_errors=True)
    print("INTEROP OK Baileys <-> fakewa phones: 1:1 and group texts both ways, receipts both ways, offline queue")
    return 0


if __name__ == "__main__":
    sys.exit(main())
