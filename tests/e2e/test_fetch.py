"""fetchInstances from memory (issue 10): the answer built from the registry is the JSON the old SQL query built
from the tables, member for member and in the same order, for instances in different states (closed and never
connected, with settings/webhook/proxy set, open, logged out, showing QR codes), with each filter, for token
callers, with message/contact/chat counts loaded at start-up, and after a restart. The old query runs here."""

import binascii
import json

from harness import API_KEY, PairingCase, main, wait_until

# The query wagate ran for every fetchInstances call before issue 10 (supervisor/sql.h SQL_FETCH_INSTANCES,
# expanded): $1 client name, $2 instance id, $3 instance name, $4 number, $5 token.
_TS = "to_char((%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
OLD_FETCH_SQL = (
    "WITH sel AS (SELECT * FROM instance i WHERE i.client_name = $1"
    " AND ($2::text IS NULL OR i.id = $2::uuid) AND ($3::text IS NULL OR i.name = $3)"
    " AND ($4::text IS NULL OR i.number = $4) AND ($5::text IS NULL OR i.token = $5)),"
    " mc AS (SELECT instance_id, count(*) AS n FROM message WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1),"
    " cc AS (SELECT instance_id, count(*) AS n FROM contact WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1),"
    " hc AS (SELECT instance_id, count(*) AS n FROM chat WHERE instance_id IN (SELECT id FROM sel) GROUP BY 1)"
    " SELECT coalesce(json_agg(json_build_object("
    "'id', i.id, 'name', i.name, 'connectionStatus', i.connection_status,"
    " 'ownerJid', i.owner_jid, 'profileName', i.profile_name, 'profilePicUrl', i.profile_pic_url,"
    " 'integration', i.integration, 'number', i.number, 'businessId', i.business_id,"
    " 'token', i.token, 'clientName', i.client_name,"
    " 'disconnectionReasonCode', i.disconnection_reason_code,"
    " 'disconnectionObject', i.disconnection_object,"
    " 'disconnectionAt', " + _TS % "i.disconnection_at" + ","
    " 'createdAt', " + _TS % "i.created_at" + ", 'updatedAt', " + _TS % "i.updated_at" + ","
    " 'Chatwoot', NULL,"
    " 'Proxy', CASE WHEN p.instance_id IS NULL THEN NULL ELSE json_build_object('id', p.instance_id,"
    " 'enabled', p.enabled, 'host', p.host, 'port', p.port, 'protocol', p.protocol, 'username', p.username,"
    " 'password', p.password, 'createdAt', " + _TS % "p.created_at" + ", 'updatedAt', " + _TS % "p.updated_at" + ","
    " 'instanceId', p.instance_id) END,"
    " 'Rabbitmq', NULL, 'Sqs', NULL, 'Websocket', NULL,"
    " 'Setting', CASE WHEN s.instance_id IS NULL THEN NULL ELSE json_build_object('id', s.instance_id,"
    " 'rejectCall', s.reject_call, 'msgCall', s.msg_call, 'groupsIgnore', s.groups_ignore,"
    " 'alwaysOnline', s.always_online, 'readMessages', s.read_messages, 'readStatus', s.read_status,"
    " 'syncFullHistory', s.sync_full_history, 'wavoipToken', s.wavoip_token,"
    " 'createdAt', " + _TS % "s.created_at" + ", 'updatedAt', " + _TS % "s.updated_at" + ","
    " 'instanceId', s.instance_id) END,"
    " '_count', json_build_object('Message', coalesce(mc.n, 0), 'Contact', coalesce(cc.n, 0),"
    " 'Chat', coalesce(hc.n, 0))"
    ") ORDER BY i.created_at, i.name), '[]'::json)::text"
    " FROM sel i LEFT JOIN instance_setting s ON s.instance_id = i.id"
    " LEFT JOIN instance_proxy p ON p.instance_id = i.id"
    " LEFT JOIN mc ON mc.instance_id = i.id LEFT JOIN cc ON cc.instance_id = i.id"
    " LEFT JOIN hc ON hc.instance_id = i.id")


def sql_lit(v):
    return "NULL" if v is None else "'" + v.replace("'", "''") + "'"


def ordered(v):
    """v with every object as a list of (key, value) pairs: equal means same members in the same order."""
    if isinstance(v, dict):
        return [(k, ordered(x)) for k, x in v.items()]
    if isinstance(v, list):
        return [ordered(x) for x in v]
    return v


class FetchTest(PairingCase):

    def old_fetch(self, iid=None, name=None, number=None, token=None):
        """The old query's JSON text (hex through psql, which would split json_agg's lines)."""
        sql = OLD_FETCH_SQL
        for n, v in ((5, token), (4, number), (3, name), (2, iid), (1, "wagate")):
            sql = sql.replace("$%d" % n, sql_lit(v))
        h = self.db.scalar("SELECT encode(convert_to(q.t, 'UTF8'), 'hex') FROM (%s) AS q(t)" % sql)
        return binascii.unhexlify(h).decode("utf-8")

    def new_fetch(self, query="", apikey=API_KEY):
        r = self.sup.api("GET", "/instance/fetchInstances" + query, apikey=apikey)
        return r

    def assertSameAsOld(self, query="", apikey=API_KEY, timeout=20, **old):
        """The route's body equals the old query's JSON (the table is written after the registry: wait)."""
        last = {}

        def same():
            r = self.new_fetch(query, apikey)
            last["new"], last["old"] = r, self.old_fetch(**old)
            if r.status != 200:
                return False
            return ordered(json.loads(r.body.decode())) == ordered(json.loads(last["old"]))
        wait_until(same, timeout, interval=0.2, msg="fetchInstances%s as the old query" % query,
                   msg_fn=lambda: "new %r\nold %s" % (last.get("new"), last.get("old")))
        body = last["new"].body.decode()
        self.assertNotIn('" : ', body, "compact JSON")
        return json.loads(body)

    def build_states(self):
        """Five instances in different states; returns {name: create answer}."""
        made = {}
        made["plain"] = self.sup.create_instance("plain")
        made["dressed"] = self.sup.create_instance(
            "dressed", token="dressed-token", number="5511999990001", rejectCall=True, msgCall="busy, call later",
            groupsIgnore=True, readStatus=True, webhook={"url": self.rx.url, "byEvents": False, "base64": True,
                                                         "events": ["CONNECTION_UPDATE"]})
        r = self.sup.api("POST", "/proxy/set/dressed", {"enabled": False, "host": "10.0.0.9", "port": "3128",
                                                         "protocol": "http"})
        self.assertStatus(r, 201)
        r = self.sup.api("POST", "/settings/set/dressed", {"rejectCall": False, "msgCall": "ünïcode / \"quoted\"",
                                                            "groupsIgnore": False, "alwaysOnline": True,
                                                            "readMessages": True, "readStatus": False,
                                                            "syncFullHistory": True})
        self.assertIn(r.status, (200, 201), r)
        self.pair("opened", "5511999990002", push="Opened Push")
        self.pair("gone", "5511999990003", push="Gone")
        r = self.sup.api("DELETE", "/instance/logout/gone")
        self.assertStatus(r, 200)
        self.sup.wait_state("gone", "close")
        self.new_instance("qr")
        self.sup.wait_qr("qr")
        for n in ("opened", "gone", "qr"):
            made[n] = {"instance": {"instanceId": self.instance_id(n)}, "hash": self.sup.fetch(n)["token"]}
        return made

    def instance_id(self, name):
        return self.sup.fetch(name)["id"]

    def test_same_json_as_the_old_query(self):
        made = self.build_states()
        rows = self.assertSameAsOld()
        self.assertEqual([x["name"] for x in rows], ["plain", "dressed", "opened", "gone", "qr"])
        by = {x["name"]: x for x in rows}
        self.assertEqual(by["opened"]["connectionStatus"], "open")
        self.assertEqual(by["gone"]["connectionStatus"], "close")
        self.assertIsNotNone(by["gone"]["disconnectionReasonCode"])
        self.assertIsNotNone(by["gone"]["disconnectionAt"])
        self.assertEqual(by["qr"]["connectionStatus"], "connecting")
        self.assertIsNotNone(by["dressed"]["Proxy"])
        self.assertIsNone(by["plain"]["Proxy"])
        self.assertEqual(by["dressed"]["Setting"]["msgCall"], "ünïcode / \"quoted\"")

        # one instance by name, by id (any case PostgreSQL's uuid input takes), by number; id wins over name
        for n, m in made.items():
            iid = m["instance"]["instanceId"]
            self.assertSameAsOld("?instanceName=" + n, name=n)
            self.assertSameAsOld("?instanceId=" + iid, iid=iid)
            self.assertSameAsOld("?instanceId=" + iid.upper(), iid=iid)
            self.assertSameAsOld("?instanceId=%s&instanceName=plain" % iid, iid=iid)
            # token callers see their own instance, and the number filter is ignored for them
            self.assertSameAsOld("", apikey=m["hash"], token=m["hash"])
            self.assertSameAsOld("?number=nothing", apikey=m["hash"], token=m["hash"])
        self.assertSameAsOld("?number=5511999990001", number="5511999990001")

        # not found: the old answers
        r = self.new_fetch("?instanceName=nobody")
        self.assertErrorEnvelope(r, 404, "Not Found")
        self.assertEqual(r.json["response"]["message"], ['Instance "nobody" not found'])
        r = self.new_fetch("?instanceId=not-a-uuid")
        self.assertErrorEnvelope(r, 404, "Not Found")
        self.assertEqual(r.json["response"]["message"], ['Instance "not-a-uuid" not found'])
        r = self.new_fetch("?number=123")
        self.assertErrorEnvelope(r, 404, "Not Found")
        r = self.new_fetch("?instanceName=plain", apikey="dressed-token")
        self.assertErrorEnvelope(r, 401, "Unauthorized")

    def test_counts_loaded_at_start_and_restart(self):
        self.build_states()
        self.assertSameAsOld()
        ids = {n: self.instance_id(n) for n in ("plain", "dressed", "opened")}
        # message/contact/chat rows (nothing writes them yet): counted once at start-up
        self.db.query(
            "INSERT INTO chat (instance_id, remote_jid) SELECT '%(o)s', 'c' || g || '@s.whatsapp.net'"
            " FROM generate_series(1, 3) g;"
            "INSERT INTO contact (instance_id, remote_jid) SELECT '%(d)s', 'k' || g || '@s.whatsapp.net'"
            " FROM generate_series(1, 2) g;"
            "INSERT INTO message (instance_id, key_id, remote_jid, from_me, message_type, key, message,"
            " message_timestamp) SELECT '%(o)s', 'm' || g, 'c1@s.whatsapp.net', false, 'conversation', '{}',"
            " '{}', g FROM generate_series(1, 5) g" % {"o": ids["opened"], "d": ids["dressed"]})
        self.sup.restart()
        rows = self.assertSameAsOld()
        by = {x["name"]: x for x in rows}
        self.assertEqual(by["opened"]["_count"], {"Message": 5, "Contact": 0, "Chat": 3})
        self.assertEqual(by["dressed"]["_count"], {"Message": 0, "Contact": 2, "Chat": 0})
        self.assertEqual(by["plain"]["_count"], {"Message": 0, "Contact": 0, "Chat": 0})
        # the paired instance logs in again by itself: still the same JSON once it is open
        self.sup.wait_state("opened", "open", 40)
        self.assertSameAsOld()


if __name__ == "__main__":
    main()
