"""Messaging scenarios (issue 9): MessagingCase = PairingCase (fakewa with its mock phones + a webhook receiver + a
supervisor) plus the steps of a text exchange: instances paired and ready to receive, the mock phones' control API
(/phone/send, /phone/received, /phone/fail-next-decrypt, /phone/receipts), the message rows as psql sees them and
Evolution's shapes (evolution-api-lite.md 2.5, 2.6, 4.2)."""

import json
import shutil
import subprocess
import time
import urllib.parse

from common import missing, wait_until
from pairing import PairingCase

# Evolution's status names in the order a stored status may move (it only ever goes up).
STATUS_ORDER = ["ERROR", "PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ", "PLAYED"]
# The normalized message ("messageRaw", evolution-api-lite.md 2.5 and 9) of the sendText answer and send.message;
# an incoming one (messages.upsert) has pushName too. contextInfo is absent for a plain text.
MSG_KEYS = {"key", "message", "messageType", "messageTimestamp", "instanceId", "status", "source"}
RECORD_KEYS = {"id", "key", "pushName", "messageType", "message", "messageTimestamp", "instanceId", "source",
               "contextInfo", "MessageUpdate"}
UPDATE_KEYS = {"keyId", "remoteJid", "fromMe", "status", "instanceId"}


def _unix_sockets():
    """Every Unix socket (ss -x): (Recv-Q, local inode, peer inode, process column)."""
    if shutil.which("ss") is None:
        missing("ss not installed (iproute2)")
    out = subprocess.run(["ss", "-x", "-n", "-p"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=10).stdout.splitlines()
    rows = []
    for line in out[1:]:
        f = line.split()
        # Netid State Recv-Q Send-Q Local-Address Port(inode) Peer-Address Port(inode) [Process]
        if len(f) >= 8 and f[2].isdigit() and f[5].isdigit() and f[7].isdigit():
            rows.append((int(f[2]), f[5], f[7], " ".join(f[8:])))
    return rows


def ipc_unread(worker_pid):
    """Bytes the supervisor wrote to the worker that the worker has not read yet: the Recv-Q of the worker's own
    Unix sockets. Meaningful while the worker is stopped."""
    return sum(q for q, _, _, proc in _unix_sockets() if "pid=%d," % worker_pid in proc)


def ipc_backlog(worker_pid):
    """Bytes the worker wrote to its supervisor that the supervisor has not read yet: the Recv-Q of the far ends
    of the worker's Unix sockets. Meaningful while the supervisor is stopped."""
    rows = _unix_sockets()
    peers = {peer for _, _, peer, proc in rows if "pid=%d," % worker_pid in proc}
    return sum(q for q, local, _, proc in rows if local in peers and "pid=%d," % worker_pid not in proc)


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def user_jid(phone):
    return "%s@s.whatsapp.net" % phone


def lid_user(scan):
    """The LID user of fakewa's scan answer ("123:1@lid" -> "123")."""
    return scan["lid"].split("@")[0].split(":")[0]


class MessagingCase(PairingCase):

    # --- instances
    def pair_ready(self, name, phone, push):
        """create -> connect -> scan -> open, then the first 812 prekeys uploaded (a phone can start a session with
        the new device at once). Returns fakewa's scan answer plus name, iid, phone, push, user (the user JID)."""
        res = self.pair(name, phone, push=push)
        self.wait_prekeys_uploaded(name, timeout=40)
        wait_until(lambda: (self.fw.device(res["jid"]) or {}).get("connected"), 15, msg="%s connected" % name)
        return dict(res, name=name, iid=self.instance_id(name), phone=phone, push=push, user=user_jid(phone))

    # --- the mock phones (tests/fakewa/fw_routes_phone.c)
    def phone_send(self, account, to, text):
        """Account's phone sends text to the user JID `to`; the message id."""
        q = urllib.parse.urlencode({"account": account, "to": to, "text": text})
        r = self.fw.post("/phone/send?" + q)
        self.assertEqual(r.status, 200, "phone/send %s -> %s: %r" % (account, to, r))
        return r.json["id"]

    def phone_received(self, account):
        """What account's phone decrypted (or failed to): [{from, id, type, text?}], oldest first."""
        r = self.fw.request("GET", "/phone/received?account=" + account)
        self.assertEqual(r.status, 200, r)
        return r.json["received"]

    def wait_phone_text(self, account, mid, text, sender=None, timeout=30):
        """The phone decrypted message mid to exactly text (from the device sender, if given)."""
        def have():
            got = [g for g in self.phone_received(account) if g.get("id") == mid and g.get("type") == "text"]
            return got or None
        got = wait_until(have, timeout, interval=0.2, msg="phone %s decrypts %s" % (account, mid),
                         msg_fn=lambda: self.phone_received(account)[-5:])
        self.assertEqual(got[0].get("text"), text, got)
        if sender is not None:
            self.assertEqual(got[0].get("from"), sender, got)
        return got

    # --- rows
    def msgs(self, iid, where="true"):
        """message rows of an instance (every column; key and message as objects), oldest row first."""
        out = self.db.scalar("SELECT coalesce(jsonb_agg(to_jsonb(m) ORDER BY m.id), '[]'::jsonb)::text FROM message m "
                             "WHERE m.instance_id = %s AND (%s)" % (sql_str(iid), where))
        return json.loads(out)

    def msg_row(self, iid, mid):
        rows = self.msgs(iid, "key_id = %s" % sql_str(mid))
        self.assertLessEqual(len(rows), 1, rows)
        return rows[0] if rows else None

    def wait_msg(self, iid, mid, timeout=30, pred=None, what="row"):
        """The message row (iid, mid) once it exists (and pred(row) holds)."""
        def have():
            row = self.msg_row(iid, mid)
            return row if row is not None and (pred is None or pred(row)) else None
        return wait_until(have, timeout, interval=0.2, msg="%s %s of %s" % (what, mid, iid),
                          msg_fn=lambda: self.msg_row(iid, mid))

    def wait_status(self, iid, mid, at_least, timeout=30):
        """Poll the row until its status is at least at_least; the statuses seen on the way, which must only go up."""
        seen = []

        def have():
            row = self.msg_row(iid, mid)
            st = row and row.get("status")
            if st and (not seen or seen[-1] != st):
                seen.append(st)
            return st in STATUS_ORDER and STATUS_ORDER.index(st) >= STATUS_ORDER.index(at_least)
        wait_until(have, timeout, interval=0.05, msg="status %s of %s" % (at_least, mid), msg_fn=lambda: seen)
        idx = [STATUS_ORDER.index(s) for s in seen]
        self.assertEqual(idx, sorted(idx), "the status of %s went down: %s" % (mid, seen))
        return seen

    def count_rows(self, table, iid, where="true"):
        return self.db.count(table, "instance_id = %s AND (%s)" % (sql_str(iid), where))

    def assert_row(self, row, iid, mid, remote, from_me, text, push=None):
        self.assertEqual(row["instance_id"], iid)
        self.assertEqual((row["key_id"], row["remote_jid"], row["from_me"]), (mid, remote, from_me), row)
        self.assertEqual(row["message_type"], "conversation", row)
        self.assertEqual(row["message"].get("conversation"), text, row)
        key = row["key"]
        self.assertEqual((key.get("remoteJid"), key.get("fromMe"), key.get("id")), (remote, from_me, mid), row)
        self.assertFalse(key.get("participant"), "a 1:1 message with a participant: %r" % row)
        self.assertLess(abs(row["message_timestamp"] - time.time()), 300, row)
        if push is not None:
            self.assertEqual(row["push_name"], push, row)

    # --- API
    def send_text(self, name, number, text, **kw):
        body = {"number": number, "text": text}
        body.update(kw)
        return self.sup.api("POST", "/message/sendText/" + name, body, timeout=90)

    def assert_sent_shape(self, d, iid, remote, text, what="sendText"):
        """Evolution's messageRaw of a text we sent (the 201 answer, send.message)."""
        self.assertIsInstance(d, dict, what)
        self.assertTrue(MSG_KEYS <= set(d), "%s: %r" % (what, d))
        self.assertEqual((d["key"].get("remoteJid"), d["key"].get("fromMe")), (remote, True), d)
        self.assertRegex(d["key"].get("id") or "", r"^[0-9A-F]{16,}$", d)
        self.assertEqual(d["message"], {"conversation": text}, d)
        self.assertEqual(d["messageType"], "conversation", d)
        self.assertIsInstance(d["messageTimestamp"], int, d)
        self.assertLess(abs(d["messageTimestamp"] - time.time()), 300, d)
        self.assertEqual(d["instanceId"], iid, d)

    def assert_received_shape(self, d, iid, remote, mid, text, push, what="messages.upsert"):
        """Evolution's messageRaw of an incoming text (messages.upsert; findMessages' record has no status)."""
        self.assertIsInstance(d, dict, what)
        self.assertTrue((MSG_KEYS | {"pushName"}) - ({"status"} if what == "findMessages" else set()) <= set(d),
                        "%s: %r" % (what, d))
        self.assertEqual((d["key"].get("remoteJid"), d["key"].get("fromMe"), d["key"].get("id")),
                         (remote, False, mid), "%s: %r" % (what, d))
        self.assertEqual(d.get("pushName"), push, d)
        self.assertEqual(d.get("message"), {"conversation": text}, d)
        self.assertEqual(d.get("messageType"), "conversation", d)
        self.assertIsInstance(d.get("messageTimestamp"), int, d)
        self.assertLess(abs(d["messageTimestamp"] - time.time()), 300, d)
        self.assertEqual(d.get("instanceId"), iid, d)
        self.assertIn(d.get("source"), ("android", "ios", "web", "desktop", "unknown"), d)

    def find_messages(self, name, where):
        r = self.sup.api("POST", "/chat/findMessages/" + name, {"where": where})
        self.assertStatus(r, 200)
        return r.json["messages"]["records"]

    # --- webhooks
    def hooks(self, event, name, mid):
        """data of every accepted delivery of event for instance name about message mid."""
        out = []
        for d in self.events(event, name):
            if not isinstance(d, dict):
                continue
            kid = d.get("keyId") if event == "messages.update" else (d.get("key") or {}).get("id")
            if kid == mid:
                out.append(d)
        return out

    def wait_hook(self, event, name, mid, pred=None, timeout=30):
        def have():
            got = [d for d in self.hooks(event, name, mid) if pred is None or pred(d)]
            return got or None
        return wait_until(have, timeout, interval=0.1, msg="webhook %s of %s for %s" % (event, name, mid),
                          msg_fn=lambda: [(r["body"] or {}).get("event") for r in self.rx.snapshot()][-15:])

    def wait_outbox_empty(self, timeout=30):
        """Every webhook enqueued so far was delivered (the marker after which duplicates would show)."""
        wait_until(lambda: self.db.count("webhook_outbox") == 0, timeout, interval=0.2, msg="the outbox drained",
                   msg_fn=lambda: self.db.query("SELECT event, attempts, last_error FROM webhook_outbox LIMIT 5"))
