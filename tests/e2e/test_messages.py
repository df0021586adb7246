"""Text messages end to end (issue 9): the real wagate + workers + PostgreSQL + fakewa with its mock phones (real
Signal) + a webhook receiver. Each test pairs its own instances (and so has its own phones):

1. phone -> instance: row (from_me false, text, push name), chat and contact rows, findMessages, messages.upsert;
   the sender phone's own companion stores the DeviceSentMessage copy (from_me true).
2. instance -> phone: sendText's 201 shape, the exact plaintext at the phone, status PENDING/SERVER_ACK ->
   DELIVERY_ACK (only up), send.message and messages.update webhooks.
3. instance <-> instance: texts both ways, each side's rows, chat rows, the LID mapping learnt.
4. whatsappNumbers: a paired number exists, an unknown one does not; sendText to it is a 400 and writes nothing.
5. offline: texts sent while the supervisor (and so every worker) is down arrive once it is back, exactly once.
6. durability: 50 texts while the receiving worker is killed (-9) mid-stream: all 50 rows, each exactly once.
7. retry: the phone fails a decryption (retry receipt): it still ends up with the plaintext.
8. markMessageAsRead: the phone gets the read receipt; bad bodies are 400 and change nothing.
9. typing: sendText's delay and /chat/sendPresence show their state in the chat (fakewa records it) for the delay.
10. shutdown: SIGTERM while a sendText waits for a stopped worker and a sendPresence for its delay exits cleanly.
11. delete and logout while texts flow both ways: clean answers, nothing of the deleted instance left.
12. connection drops while texts flow both ways: each text sent or received exactly once, no ghost sends.

One test: python3 test_messages.py MessagesTest.test_retry (see README.md)."""

import collections
import concurrent.futures
import os
import signal
import time

from harness import log, main, wait_until
from messaging import MessagingCase, RECORD_KEYS, UPDATE_KEYS, ipc_backlog, ipc_unread, lid_user, sql_str, user_jid

TEXT = "ol\u00e1 \u00fcn\u00efc\u00f8de \U0001F44B \"quoted\" & <tags>\nsecond line"


class MessagesTest(MessagingCase):

    def test_phone_to_instance(self):
        me = self.pair_ready("in1", "15557100001", "Instance One")
        peer = self.pair_ready("peer1", "15557100002", "Peer Phone")
        t0 = int(time.time())
        mid = self.phone_send(peer["phone"], me["user"], TEXT)
        row = self.wait_msg(me["iid"], mid)
        self.assert_row(row, me["iid"], mid, peer["user"], False, TEXT, push=peer["push"])
        self.assertGreaterEqual(row["message_timestamp"], t0 - 2, row)
        self.assertEqual(row["status"], "DELIVERY_ACK", row)   # Evolution's default for an incoming message
        self.assertEqual(self.count_rows("chat", me["iid"], "remote_jid = %s" % sql_str(peer["user"])), 1)
        contact = self.db.query("SELECT push_name FROM contact WHERE instance_id = %s AND remote_jid = %s"
                                % (sql_str(me["iid"]), sql_str(peer["user"])))
        self.assertEqual(contact, [[peer["push"]]])
        # findMessages: Evolution's record shape
        recs = self.find_messages("in1", {"key": {"id": mid}})
        self.assertEqual(len(recs), 1, recs)
        self.assertEqual(set(recs[0]), RECORD_KEYS)
        self.assert_received_shape(recs[0], me["iid"], peer["user"], mid, TEXT, peer["push"], "findMessages")
        # messages.upsert with Evolution's payload, once
        up = self.wait_hook("messages.upsert", "in1", mid)[0]
        self.assert_received_shape(up, me["iid"], peer["user"], mid, TEXT, peer["push"])
        self.assertEqual(up.get("status"), "DELIVERY_ACK", up)
        # the phone gets the delivery receipt: the message is not redelivered (nor stored twice) later
        self.assertEqual(self.hooks("send.message", "in1", mid), [])
        # the sender phone's companion (peer1) got the DeviceSentMessage copy: our own message in the chat with in1
        own = self.wait_msg(peer["iid"], mid, what="own-device copy")
        self.assert_row(own, peer["iid"], mid, me["user"], True, TEXT)
        own_up = self.wait_hook("messages.upsert", "peer1", mid)[0]
        self.assertEqual((own_up["key"].get("fromMe"), own_up["key"].get("remoteJid")), (True, me["user"]), own_up)
        self.wait_outbox_empty()
        self.assertEqual(len(self.hooks("messages.upsert", "in1", mid)), 1)
        self.assertEqual(self.count_rows("message", me["iid"]), 1)

    def test_instance_to_phone(self):
        me = self.pair_ready("out2", "15557200001", "Sender Instance")
        peer = self.pair_ready("peer2", "15557200002", "Receiving Phone")
        r = self.send_text("out2", peer["phone"], TEXT)
        self.assertStatus(r, 201)
        d = r.json
        self.assert_sent_shape(d, me["iid"], peer["user"], TEXT)
        self.assertEqual(d["status"], "PENDING", d)
        mid = d["key"]["id"]
        # the phone decrypted exactly our plaintext, from our device
        self.wait_phone_text(peer["phone"], mid, TEXT, sender=me["jid"])
        # the row: ours, its status only goes up, to DELIVERY_ACK (the phone's delivery receipt)
        row = self.wait_msg(me["iid"], mid)
        self.assert_row(row, me["iid"], mid, peer["user"], True, TEXT)
        self.assertEqual(row["message_timestamp"], d["messageTimestamp"], row)
        seen = self.wait_status(me["iid"], mid, "DELIVERY_ACK")
        self.assertTrue(set(seen) <= {"PENDING", "SERVER_ACK", "DELIVERY_ACK", "READ"}, seen)
        # send.message carries the same object as the answer; no messages.upsert for a message we sent
        sm = self.wait_hook("send.message", "out2", mid)[0]
        self.assert_sent_shape(sm, me["iid"], peer["user"], TEXT, "send.message")
        self.assertEqual({k: sm["key"].get(k) for k in ("remoteJid", "fromMe", "id")}, d["key"], sm)
        self.assertEqual(sm["messageTimestamp"], d["messageTimestamp"], sm)
        # messages.update: Evolution's payload, DELIVERY_ACK among them, statuses only going up
        self.wait_hook("messages.update", "out2", mid, pred=lambda u: u.get("status") == "DELIVERY_ACK")
        ups = self.hooks("messages.update", "out2", mid)
        for u in ups:
            self.assertTrue(UPDATE_KEYS <= set(u), u)
            self.assertEqual((u["remoteJid"], u["fromMe"], u["instanceId"]), (peer["user"], True, me["iid"]), u)
        self.wait_outbox_empty()
        self.assertEqual(self.hooks("messages.upsert", "out2", mid), [])
        self.assertEqual(len(self.hooks("send.message", "out2", mid)), 1)
        self.assertEqual(self.count_rows("message", me["iid"]), 1)

    def test_instance_to_instance(self):
        a = self.pair_ready("ia", "15557300001", "Alice")
        b = self.pair_ready("ib", "15557300002", "Bob")
        sent = []   # (from, to, id, text)
        for i in range(3):
            for x, y in ((a, b), (b, a)):
                text = "%s to %s #%d" % (x["push"], y["push"], i)
                r = self.send_text(x["name"], y["phone"], text)
                self.assertStatus(r, 201, text)
                self.assert_sent_shape(r.json, x["iid"], y["user"], text)
                sent.append((x, y, r.json["key"]["id"], text))
        for x, y, mid, text in sent:
            mine = self.wait_msg(x["iid"], mid, what="sender's row")
            self.assert_row(mine, x["iid"], mid, y["user"], True, text)
            theirs = self.wait_msg(y["iid"], mid, what="receiver's row")
            self.assert_row(theirs, y["iid"], mid, x["user"], False, text, push=x["push"])
            self.wait_status(x["iid"], mid, "DELIVERY_ACK")
            up = self.wait_hook("messages.upsert", y["name"], mid)[0]
            self.assert_received_shape(up, y["iid"], x["user"], mid, text, x["push"])
            # the sender's phone got the DeviceSentMessage copy and decrypted it
            self.wait_phone_text(x["phone"], mid, text, sender=x["jid"])
        for x, y in ((a, b), (b, a)):
            self.assertEqual(self.count_rows("message", x["iid"]), 6)
            self.assertEqual(self.count_rows("message", x["iid"], "from_me"), 3)
            self.assertEqual(self.count_rows("chat", x["iid"], "remote_jid = %s" % sql_str(y["user"])), 1)
            self.assertEqual(self.count_rows("contact", x["iid"], "remote_jid = %s" % sql_str(y["user"])), 1)
            # the peer's LID <-> phone number mapping was learnt (sender_lid / usync)
            n = self.count_rows("lid_map l", x["iid"], "l::text LIKE %s AND l::text LIKE %s"
                                % (sql_str("%" + lid_user(y) + "@lid%"), sql_str("%" + y["user"] + "%")))
            self.assertGreaterEqual(n, 1, "no lid_map row for %s" % y["name"])
        # the rows came through the write chains: transactions of at least one statement each (one snapshot)
        m = {n: v for n, l, v in self.sup.metrics() if not l}
        tx = m["wagate_write_transactions_total"]
        self.assertGreater(tx, 0)
        self.assertLessEqual(tx, m["wagate_db_queries_total"])
        self.assertGreaterEqual(m["wagate_writes_total"], tx)
        self.assertLessEqual(m["wagate_writes_merged_total"], m["wagate_writes_total"])
        # findChats on each side: the other one, with the newest message
        for x, y in ((a, b), (b, a)):
            r = self.sup.api("POST", "/chat/findChats/" + x["name"], {})
            self.assertStatus(r, 200)
            chats = [c for c in r.json if c.get("remoteJid") == y["user"]]
            self.assertEqual(len(chats), 1, r.json)
            # the newest of the chat (the last ones may share their second: any of the chat's messages)
            self.assertIn(chats[0]["lastMessage"]["key"]["id"], [m[2] for m in sent], chats[0])

    def test_whatsapp_numbers(self):
        me = self.pair_ready("wn", "15557400001", "Numbers")
        peer = self.pair_ready("wn-peer", "15557400002", "Known")
        unknown = "15557499999"
        r = self.sup.api("POST", "/chat/whatsappNumbers/wn", {"numbers": [peer["phone"], unknown]})
        self.assertStatus(r, 200)
        self.assertIsInstance(r.json, list, r)
        by = {e.get("number"): e for e in r.json}
        self.assertEqual(set(by), {peer["phone"], unknown}, r.json)
        self.assertEqual((by[peer["phone"]]["exists"], by[peer["phone"]]["jid"]), (True, peer["user"]), r.json)
        self.assertIs(by[unknown]["exists"], False, r.json)
        # sendText to the unknown number: 400 with the lookup object, nothing stored, no webhook
        r = self.send_text("wn", unknown, "nobody there")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        msg = r.json["response"]["message"]
        self.assertIsInstance(msg, list, r)
        self.assertTrue(any(isinstance(m, dict) and m.get("exists") is False and m.get("jid") == user_jid(unknown)
                            and m.get("number") == unknown for m in msg), r)
        # and a good send afterwards (the marker): only it is stored
        r = self.send_text("wn", peer["phone"], "somebody there")
        self.assertStatus(r, 201)
        self.wait_msg(me["iid"], r.json["key"]["id"])
        self.assertEqual(self.count_rows("message", me["iid"]), 1)
        self.assertEqual(self.count_rows("message", me["iid"], "remote_jid = %s" % sql_str(user_jid(unknown))), 0)
        for t in ("chat", "contact"):
            self.assertEqual(self.count_rows(t, me["iid"], "remote_jid = %s" % sql_str(user_jid(unknown))), 0, t)
        self.wait_outbox_empty()
        self.assertEqual([d for d in self.events("send.message", "wn") if d["key"]["remoteJid"] == user_jid(unknown)],
                         [])
        # bad bodies
        for body in ({"numbers": "15557400002"}, {"numbers": [15557400002]}, {"numbers": []}, ["15557400002"]):
            r = self.sup.api("POST", "/chat/whatsappNumbers/wn", body)
            self.assertErrorEnvelope(r, 400, "Bad Request")

    def test_offline_delivery(self):
        me = self.pair_ready("off", "15557500001", "Offline")
        peer = self.pair_ready("off-peer", "15557500002", "Writer")
        # the supervisor stops, and with it (no RUNTIME_DIRECTORY: no adoption) every worker
        self.sup.stop()
        wait_until(lambda: not (self.fw.device(me["jid"]) or {}).get("connected"), 20,
                   msg="off disconnected at fakewa", msg_fn=lambda: self.fw.device(me["jid"]))
        texts = ["while you were away #%d" % i for i in range(3)]
        ids = [self.phone_send(peer["phone"], me["user"], t) for t in texts]
        self.assertEqual(self.fw.device(me["jid"])["queued"], 3, self.fw.device(me["jid"]))
        self.assertEqual(self.count_rows("message", me["iid"]), 0)
        self.sup.start()
        self.sup.wait_state("off", "open", 40)
        for mid, text in zip(ids, texts):
            row = self.wait_msg(me["iid"], mid)
            self.assert_row(row, me["iid"], mid, peer["user"], False, text, push=peer["push"])
            self.wait_hook("messages.upsert", "off", mid)
        # exactly once: fakewa has nothing left for the device; a worker restart brings nothing again
        wait_until(lambda: self.fw.device(me["jid"])["queued"] == 0, 10, msg="queue drained")
        logins = self.fw.device(me["jid"])["logins"]
        pid = self.sup.worker_pids()[me["iid"]]
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: self.fw.device(me["jid"])["logins"] > logins, 40, msg="off logs in again")
        self.sup.wait_state("off", "open", 40)
        # a new text after the second login is the marker that everything older was handled
        last = self.phone_send(peer["phone"], me["user"], "after the restart")
        self.wait_msg(me["iid"], last)
        self.wait_hook("messages.upsert", "off", last)
        self.wait_outbox_empty()
        self.assertEqual(self.count_rows("message", me["iid"]), 4)
        for mid in ids:
            self.assertEqual(len(self.hooks("messages.upsert", "off", mid)), 1, mid)

    def test_durability_kill9(self):
        """The worker dies (kill -9) amid 50 texts with some of them decrypted and waiting for their commit: the
        supervisor is frozen (SIGSTOP) while the second batch arrives, so the worker's MessageStore requests queue
        up unanswered on its IPC socket; it is killed once that queue is not empty, the supervisor resumes. Then
        the rest arrive while it restarts. Every text ends up stored once and announced once."""
        n = 50
        me = self.pair_ready("dur", "15557600001", "Durable")
        peer = self.pair_ready("dur-peer", "15557600002", "Stream")
        texts = ["durable #%02d" % i for i in range(n)]
        ids = [self.phone_send(peer["phone"], me["user"], t) for t in texts[:10]]
        wait_until(lambda: self.count_rows("message", me["iid"]) == 10, 30, msg="the first 10 rows")
        pid = self.sup.worker_pids()[me["iid"]]
        os.kill(self.sup.proc.pid, signal.SIGSTOP)
        try:
            ids += [self.phone_send(peer["phone"], me["user"], t) for t in texts[10:30]]
            wait_until(lambda: ipc_backlog(pid) > 0, 20, interval=0.02,
                       msg="the worker's requests waiting on its IPC socket")
            os.kill(pid, signal.SIGKILL)
        finally:
            os.kill(self.sup.proc.pid, signal.SIGCONT)
        in_db = self.count_rows("message", me["iid"])
        ids += [self.phone_send(peer["phone"], me["user"], t) for t in texts[30:]]
        wait_until(lambda: (self.sup.worker_pids().get(me["iid"]) or pid) != pid, 20, msg="worker restarted")
        wait_until(lambda: self.count_rows("message", me["iid"]) >= n, 90, interval=0.5, msg="all %d rows" % n,
                   msg_fn=lambda: self.count_rows("message", me["iid"]))
        log("rows when the worker was killed: %d of %d" % (in_db, n))
        rows = self.msgs(me["iid"])
        self.assertEqual(sorted(r["key_id"] for r in rows), sorted(ids))
        self.assertEqual(sorted(r["message"].get("conversation") for r in rows), sorted(texts))
        for r in rows:
            self.assertEqual((r["from_me"], r["remote_jid"]), (False, peer["user"]), r)
        # fakewa holds nothing queued any more, and each message was announced once
        wait_until(lambda: self.fw.device(me["jid"])["queued"] == 0, 10, msg="queue drained")
        self.wait_outbox_empty(60)
        for mid in ids:
            self.assertEqual(len(self.hooks("messages.upsert", "dur", mid)), 1, mid)
        self.assertEqual(self.count_rows("message", me["iid"]), n)

    def test_retry(self):
        me = self.pair_ready("rt", "15557700001", "Retrier")
        peer = self.pair_ready("rt-peer", "15557700002", "Picky Phone")
        r = self.send_text("rt", peer["phone"], "first")
        self.assertStatus(r, 201)
        first = r.json["key"]["id"]
        self.wait_phone_text(peer["phone"], first, "first")
        # the next decryption at the phone fails on purpose: a retry receipt goes back to our device
        self.assertEqual(self.fw.post("/phone/fail-next-decrypt?account=" + peer["phone"]).status, 200)
        r = self.send_text("rt", peer["phone"], TEXT)
        self.assertStatus(r, 201)
        mid = r.json["key"]["id"]
        got = wait_until(lambda: [g for g in self.phone_received(peer["phone"]) if g["id"] == mid
                                  and g["type"] == "retry"], 30, msg="the phone asked for a retry")
        self.assertEqual(len(got), 1, got)
        self.wait_phone_text(peer["phone"], mid, TEXT, sender=me["jid"])
        self.wait_status(me["iid"], mid, "DELIVERY_ACK")
        # and the session still works afterwards
        r = self.send_text("rt", peer["phone"], "third")
        self.assertStatus(r, 201)
        self.wait_phone_text(peer["phone"], r.json["key"]["id"], "third")
        texts = [g for g in self.phone_received(peer["phone"]) if g["id"] == mid and g["type"] == "text"]
        self.assertEqual(len(texts), 1, "the phone got the retried message %d times" % len(texts))
        self.assertEqual(self.count_rows("message", me["iid"]), 3)

    def test_mark_read(self):
        me = self.pair_ready("rd", "15557800001", "Reader")
        peer = self.pair_ready("rd-peer", "15557800002", "Writer")
        mid = self.phone_send(peer["phone"], me["user"], "please read me")
        self.wait_msg(me["iid"], mid)
        good = {"readMessages": [{"remoteJid": peer["user"], "fromMe": False, "id": mid}]}
        before = self.rows_fingerprint(me["iid"])
        receipts0 = self.phone_receipts(peer["phone"])
        bad = [{}, {"readMessages": []}, {"readMessages": "x"}, {"readMessages": [{"id": mid}]},
               {"readMessages": [{"remoteJid": peer["user"], "fromMe": "no", "id": mid}]},
               {"readMessages": [{"remoteJid": peer["user"], "fromMe": False}]},
               {"readMessages": [{"remoteJid": peer["user"], "fromMe": False, "id": 12}]},
               ["readMessages"]]
        for body in bad:
            r = self.sup.api("POST", "/chat/markMessageAsRead/rd", body)
            self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(self.rows_fingerprint(me["iid"]), before, "a bad markMessageAsRead wrote")
        r = self.sup.api("POST", "/chat/markMessageAsRead/rd", good)
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"message": "Read messages", "read": "success"})
        got = wait_until(lambda: [x for x in self.phone_receipts(peer["phone"]) if x["id"] == mid
                                  and x.get("type") == "read"], 20, msg="read receipt at the phone",
                         msg_fn=lambda: self.phone_receipts(peer["phone"]))
        self.assertEqual(got[0]["from"].split("@")[0].split(":")[0], me["phone"], got)
        # the bad requests sent nothing: only the good one's receipt is new
        new = [x for x in self.phone_receipts(peer["phone"]) if x not in receipts0 and x.get("type") == "read"]
        self.assertEqual(len(new), 1, new)

    def test_typing(self):
        """sendText's delay shows composing in the chat for that long, then paused, then sends; /chat/sendPresence
        shows a state for its delay (recording as composing media=audio) and answers after it; bad bodies are 400
        and send nothing."""
        me = self.pair_ready("ty", "15557900001", "Typist")
        peer = self.pair_ready("ty-peer", "15557900002", "Watcher")

        def client():
            cl = [c for c in self.fw.clients() if c.get("jid") == me["jid"]]
            self.assertEqual(len(cl), 1, self.fw.clients())
            return cl[0]

        n0 = client()["messages_in"]
        states0 = client()["chatstates"]
        t0 = time.monotonic()
        r = self.send_text("ty", peer["phone"], "after typing", delay=1200)
        self.assertStatus(r, 201)
        # (libevent's timers run on a coarse clock: a few ms early at most)
        self.assertGreaterEqual(time.monotonic() - t0, 1.15, "sendText answered before its delay")
        mid = r.json["key"]["id"]
        self.wait_phone_text(peer["phone"], mid, "after typing", sender=me["jid"])
        # composing, then paused, both before the message went out (N: the messages the client had sent then)
        self.assertEqual(client()["chatstates"][len(states0):],
                         ["composing %s %d" % (peer["user"], n0), "paused %s %d" % (peer["user"], n0)])
        self.assertGreater(client()["messages_in"], n0)

        states1 = client()["chatstates"]
        bad = [{"number": peer["phone"], "presence": "recording"},
               {"number": peer["phone"], "presence": "typing", "delay": 10},
               {"number": peer["phone"], "presence": "composing", "delay": "soon"},
               {"number": peer["phone"], "presence": "composing", "delay": 1.5},
               {"number": peer["phone"], "presence": "composing", "delay": 3600001},
               {"presence": "composing", "delay": 10}]
        for body in bad:
            r = self.sup.api("POST", "/chat/sendPresence/ty", body)
            self.assertErrorEnvelope(r, 400, "Bad Request")
        r = self.send_text("ty", peer["phone"], "never", delay="soon")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertEqual(r.json["response"]["message"], [["Enter a value in milliseconds"]], r)
        self.assertEqual(client()["chatstates"], states1, "a bad request sent a chatstate")
        t0 = time.monotonic()
        r = self.sup.api("POST", "/chat/sendPresence/ty", {"number": peer["phone"], "presence": "recording",
                                                           "delay": 300})
        self.assertStatus(r, 201)
        self.assertEqual(r.json, {"presence": "recording"})
        self.assertGreaterEqual(time.monotonic() - t0, 0.25, "sendPresence answered before its delay")
        n1 = client()["messages_in"]
        self.assertEqual(client()["chatstates"][len(states1):],
                         ["composing-audio %s %d" % (peer["user"], n1), "paused %s %d" % (peer["user"], n1)])

    def test_stop_with_requests_waiting(self):
        """SIGTERM while API calls wait: a sendText for a worker that does not answer (stopped), and a sendPresence
        waiting out its delay. wagate exits cleanly: the HTTP server (and with it those requests) goes first, and
        what answers the calls later (the stopped worker's cancelled request, the typing ended by the shutdown)
        touches neither the requests nor leaks their state (the sanitizer builds check both)."""
        me = self.pair_ready("ts", "15557910001", "Stopper")
        peer = self.pair_ready("ts-peer", "15557910002", "Watcher")
        cl = lambda: [c for c in self.fw.clients() if c.get("jid") == me["jid"]][0]
        states0 = len(cl()["chatstates"])
        pid = self.sup.worker_pids()[me["iid"]]
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as ex:
            typing = ex.submit(self.sup.api, "POST", "/chat/sendPresence/ts",
                               {"number": peer["phone"], "presence": "composing", "delay": 30000})
            wait_until(lambda: len(cl()["chatstates"]) > states0, 20, msg="the typing shown")
            os.kill(pid, signal.SIGSTOP)
            try:
                sending = ex.submit(self.send_text, "ts", peer["phone"], "never sent")
                wait_until(lambda: ipc_unread(pid) > 0, 20, msg="the SendText waiting at the stopped worker")
                self.assertEqual(self.sup.stop(), 0, self.sup.log_tail())
            finally:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:  # the shutdown killed it
                    pass
            for f in (typing, sending):
                try:
                    f.result(timeout=20)
                except Exception:   # the connection closed without an answer: what a stopped server does
                    pass
        self.assertEqual(self.db.query("SELECT count(*) FROM message WHERE message->>'conversation' = 'never sent'"),
                         [['0']])

    def test_delete_and_logout_under_traffic(self):
        """An instance deleted, and another logged out, while texts flow to and from them through the API and
        from phones: each answer is a 201 or a clean error, nothing of the deleted instance is left, the logged
        out one keeps its messages, and the instance beside them goes on (the sanitizer builds check memory)."""
        gone = self.pair_ready("dg", "15557920001", "Deleted")
        out = self.pair_ready("dl", "15557920002", "LoggedOut")
        stay = self.pair_ready("ds", "15557920003", "Stays")
        stop = []

        codes = {"dg": [], "dl": []}

        def api_loop(name, to):
            while not stop:
                codes[name].append(self.send_text(name, to, "api %d" % len(codes[name])).status)

        def phone_loop(account, to):
            n = 0
            while not stop:
                self.phone_send(account, to, "phone %d" % n)
                n += 1
            return n

        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as ex:
            loops = [ex.submit(api_loop, "dg", stay["phone"]), ex.submit(api_loop, "dl", stay["phone"]),
                     ex.submit(phone_loop, stay["phone"], gone["user"]),
                     ex.submit(phone_loop, stay["phone"], out["user"])]
            try:
                wait_until(lambda: self.count_rows("message", gone["iid"]) >= 20 and
                           self.count_rows("message", out["iid"]) >= 20, 60, msg="traffic both ways")
                self.assertStatus(self.sup.api("DELETE", "/instance/logout/dl"), 200)
                self.assertStatus(self.sup.api("DELETE", "/instance/delete/dg"), 200)
                # traffic goes on against the closed and the deleted instance
                wait_until(lambda: all(c and c[-1] != 201 for c in codes.values()), 30, msg="refused sends",
                           msg_fn=lambda: {k: v[-3:] for k, v in codes.items()})
            finally:
                stop.append(1)
            for f in loops:
                f.result(timeout=60)
        self.assertTrue(set(codes["dg"] + codes["dl"]) <= {201, 400, 404},
                        {k: sorted(set(v)) for k, v in codes.items()})
        self.assertEqual(self.sup.api("GET", "/health").status, 200)
        for table in ("message", "chat", "contact", "signal_session", "lid_map"):
            self.assertEqual(self.count_rows(table, gone["iid"]), 0, table)
        self.assertGreater(self.count_rows("message", out["iid"]), 0)
        self.sup.wait_state("dl", "close", 30)
        r = self.send_text("ds", gone["phone"], "still here")
        self.assertStatus(r, 201)
        self.wait_phone_text(gone["phone"], r.json["key"]["id"], "still here", sender=stay["jid"])

    def test_connection_drops_under_traffic(self):
        """WhatsApp drops the instance's connection four times while texts flow both ways: every sendText that
        answered 201 reaches the phone exactly once, none that failed reaches it at all, and every text of the
        phone is stored exactly once (the offline queue of each new login brings what the drop cut)."""
        me = self.pair_ready("cd", "15557960001", "Dropped")
        peer = self.pair_ready("cd-peer", "15557960002", "Other")
        stop, sent, phone_ids, failed = [], [], [], []

        def api_loop(tag):
            n = 0
            while not stop:
                r = self.send_text("cd", peer["phone"], "api %s %d" % (tag, n))
                n += 1
                if r.status == 201:
                    sent.append(r.json["key"]["id"])
                    continue
                failed.append(r.status)
                self.assertIn(r.status, (400, 503, 504), r)
                self.sup.wait_state("cd", "open", 60)

        def phone_loop():
            while not stop:
                phone_ids.append(self.phone_send(peer["phone"], me["user"], "phone %d" % len(phone_ids)))
                if len(phone_ids) > 5:  # a few in flight, not a flood
                    self.wait_msg(me["iid"], phone_ids[-5], timeout=60)

        with concurrent.futures.ThreadPoolExecutor(max_workers=3) as ex:
            loops = [ex.submit(api_loop, "x"), ex.submit(api_loop, "y"), ex.submit(phone_loop)]
            try:
                for _ in range(4):
                    n0 = len(sent)
                    wait_until(lambda: len(sent) > n0 + 20, 60, msg="texts going out")
                    cl = [c for c in self.fw.clients() if c.get("jid") == me["jid"]]
                    self.assertEqual(self.fw.call("/admin/drop?client=%d" % cl[0]["id"]), {"affected": 1})
                    self.sup.wait_state("cd", "open", 60)
            finally:
                stop.append(1)
            for f in loops:
                f.result(timeout=90)
        for mid in phone_ids:
            self.wait_msg(me["iid"], mid, timeout=60)
        self.assertEqual(self.db.query("SELECT key_id FROM message GROUP BY instance_id, key_id HAVING count(*) > 1"),
                         [])

        def api_texts():
            return [g for g in self.phone_received(peer["phone"]) if (g.get("text") or "").startswith("api ")]
        wait_until(lambda: len(api_texts()) >= len(sent), 60, msg="the phone got every text sent",
                   msg_fn=lambda: set(sent) - {g["id"] for g in api_texts()})
        got = collections.Counter(g["id"] for g in api_texts())
        self.assertEqual(set(got), set(sent), "a text reached the phone though its sendText failed, or not at all")
        self.assertEqual({m: c for m, c in got.items() if c > 1}, {}, "a text reached the phone twice")
        self.assertGreater(len(failed), 0, "no send met a drop")

    def rows_fingerprint(self, iid):
        """The instance's message, chat and contact rows (the other instance keeps writing its own meanwhile)."""
        return {t: self.db.scalar("SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM %s x "
                                  "WHERE instance_id = %s" % (t, sql_str(iid))) for t in ("message", "chat", "contact")}

    def phone_receipts(self, account):
        """Receipts account's phone was sent ([{from, id, type}], oldest first)."""
        r = self.fw.request("GET", "/phone/receipts?account=" + account)
        self.assertEqual(r.status, 200, r)
        return r.json["receipts"]


if __name__ == "__main__":
    main()
