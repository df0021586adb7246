"""DELETE /instance/delete removes every row of that instance in every table that has an instance_id column
(found through information_schema, so future tables are covered), and leaves other instances alone."""

import random

from harness import E2ETestCase, Receiver, main, wait_until

# The outbox deliberately outlives the instance (instance.delete must still be delivered): checked separately.
OUTBOX = "webhook_outbox"
DELETE_EVENTS = {"instance.delete", "remove.instance", "logout.instance", "connection.update"}


def sql_value(data_type, udt, iid, n):
    """A literal of that column type, unique per n."""
    if udt == "uuid":
        return "'%s'" % iid
    if data_type in ("text", "character varying", "character"):
        return "'e2e-%d-%d'" % (n, random.randint(0, 1 << 30))
    if data_type in ("integer", "bigint", "smallint", "numeric"):
        return str(n * 1000 + random.randint(0, 999))
    if data_type == "boolean":
        return "false"
    if data_type == "bytea":
        return "'\\x00%02x'::bytea" % (n % 256)
    if data_type in ("json", "jsonb"):
        return "'{}'::%s" % data_type
    if data_type.startswith("timestamp"):
        return "now()"
    if data_type == "ARRAY":
        return "'{}'"
    if data_type == "USER-DEFINED":
        return None
    return "'%d'" % n


class DeleteTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.rx = Receiver().start()
        self.addCleanup(self.rx.stop)
        self.sup = self.supervisor({"WEBHOOK_GLOBAL_URL": self.rx.url, "WEBHOOK_GLOBAL_ENABLED": "true"})

    def instance_tables(self):
        rows = self.db.query("SELECT table_name FROM information_schema.columns WHERE table_schema = 'public'"
                             " AND column_name = 'instance_id' ORDER BY 1")
        return [r[0] for r in rows]

    def populate(self, table, iid, rows=3):
        """Insert rows with only the NOT NULL columns filled (ON CONFLICT DO NOTHING for 1:1 tables)."""
        cols = self.db.query("SELECT column_name, data_type, udt_name, is_nullable, coalesce(column_default, '')"
                             " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '%s'"
                             " ORDER BY ordinal_position" % table)
        for n in range(rows):
            names, vals = [], []
            for name, dtype, udt, nullable, default in cols:
                if name != "instance_id" and (nullable == "YES" or default != ""):
                    continue
                v = sql_value(dtype, udt, iid, n)
                if v is None:
                    continue
                names.append(name)
                vals.append(v)
            self.db.query("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (table, ", ".join(names),
                                                                                      ", ".join(vals)))

    def test_delete_removes_every_row(self):
        gone = self.sup.create_instance("gone", webhook={"url": self.rx.url + "/inst", "events": []})
        keep = self.sup.create_instance("keep", webhook={"url": self.rx.url + "/inst", "events": []})
        gid, kid = gone["instance"]["instanceId"], keep["instance"]["instanceId"]
        self.assertStatus(self.sup.api("POST", "/proxy/set/gone", {"enabled": False, "host": "", "port": "",
                                                                   "protocol": "http"}), 201)
        self.assertStatus(self.sup.api("POST", "/proxy/set/keep", {"enabled": False, "host": "", "port": "",
                                                                   "protocol": "http"}), 201)
        tables = [t for t in self.instance_tables() if t != OUTBOX]
        self.assertTrue(tables, "no table has an instance_id column")
        for t in tables:
            self.populate(t, gid)
            self.populate(t, kid)
        for t in tables:
            self.assertGreater(self.db.count(t, "instance_id = '%s'" % gid), 0, "could not populate " + t)
        keep_before = {t: self.db.count(t, "instance_id = '%s'" % kid) for t in tables}

        r = self.sup.api("DELETE", "/instance/delete/gone")
        self.assertStatus(r, 200)
        left = {t: self.db.count(t, "instance_id = '%s'" % gid) for t in tables}
        self.assertEqual({t: n for t, n in left.items() if n}, {}, "rows left behind")
        self.assertEqual(self.db.count("instance", "id = '%s'" % gid), 0)
        self.assertEqual({t: self.db.count(t, "instance_id = '%s'" % kid) for t in tables}, keep_before)
        self.assertEqual(self.db.count("instance", "id = '%s'" % kid), 1)

        # the delete events are delivered, then the outbox holds nothing of that instance
        self.rx.wait_event("instance.delete", "gone")
        if OUTBOX in self.instance_tables():
            wait_until(lambda: self.db.count(OUTBOX, "instance_id = '%s'" % gid) == 0, 15,
                       msg="outbox rows of the deleted instance drained")
        ev = self.rx.events("instance.delete", "gone")[0]["body"]
        self.assertEqual(ev["data"], {"instanceName": "gone", "instanceId": gid})
        # the instance is really gone for the API and after a restart
        self.sup.restart()
        names = [x["name"] for x in self.sup.api("GET", "/instance/fetchInstances").json]
        self.assertEqual(names, ["keep"])
        self.assertNotIn(gid, self.sup.worker_pids())

    def test_delete_twice(self):
        self.sup.create_instance("twice")
        self.assertStatus(self.sup.api("DELETE", "/instance/delete/twice"), 200)
        r = self.sup.api("DELETE", "/instance/delete/twice")
        self.assertErrorEnvelope(r, 404, "Not Found")

    def test_delete_many_concurrently(self):
        import threading
        names = ["c%d" % i for i in range(8)]
        for n in names:
            self.sup.create_instance(n)
        results = {}

        def go(n):
            results[n] = self.sup.api("DELETE", "/instance/delete/" + n).status
        th = [threading.Thread(target=go, args=(n,)) for n in names]
        for t in th:
            t.start()
        for t in th:
            t.join(60)
        self.assertEqual(set(results.values()), {200}, results)
        self.assertEqual(self.db.count("instance"), 0)
        for t in self.instance_tables():
            if t != OUTBOX:
                self.assertEqual(self.db.count(t), 0, t)
        wait_until(lambda: not self.sup.worker_pids(), 15, msg="no workers left")


if __name__ == "__main__":
    main()
