"""Authentication matrix: no key, wrong key, global key, own token, other instance's token, on instance routes,
create and fetchInstances. wagate checks the key BEFORE instance existence (deliberate deviation: unknown
instance + no/bad key => 401, not 404)."""

from harness import API_KEY, E2ETestCase, main

UNAUTHORIZED = {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}}

# (method, path template, body) of instance routes that must not change anything when refused.
READ_ROUTES = [
    ("GET", "/instance/connectionState/%s", None),
    ("GET", "/settings/find/%s", None),
    ("GET", "/webhook/find/%s", None),
    ("GET", "/proxy/find/%s", None),
]
WRITE_ROUTES = [
    ("POST", "/settings/set/%s", {"rejectCall": True, "groupsIgnore": True, "alwaysOnline": True,
                                  "readMessages": True, "readStatus": True, "syncFullHistory": True}),
    ("POST", "/webhook/set/%s", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x", "events": []}}),
    ("POST", "/proxy/set/%s", {"enabled": False, "host": "", "port": "", "protocol": "http"}),
    ("GET", "/instance/connect/%s", None),
    ("POST", "/instance/restart/%s", None),
    ("DELETE", "/instance/logout/%s", None),
    ("DELETE", "/instance/delete/%s", None),
]


class AuthTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()
        self.a = self.sup.create_instance("alice")
        self.b = self.sup.create_instance("bob")
        self.tok_a = self.a["hash"]
        self.tok_b = self.b["hash"]

    def assert401(self, r, what):
        self.assertEqual(r.status, 401, "%s: %r" % (what, r))
        self.assertEqual(r.json, UNAUTHORIZED, what)

    def refused_keys(self):
        return [("no key", None), ("empty key", ""), ("wrong key", "not-the-key"),
                ("other instance's token", self.tok_b), ("global key lower-cased", API_KEY.upper()),
                ("global key with a suffix", API_KEY + "x")]

    def test_instance_read_routes(self):
        for method, tmpl, body in READ_ROUTES:
            path = tmpl % "alice"
            for what, key in self.refused_keys():
                self.assert401(self.sup.request(method, path, body=body, apikey=key), "%s %s" % (path, what))
            self.assertStatus(self.sup.request(method, path, apikey=API_KEY), 200, path + " global key")
            self.assertStatus(self.sup.request(method, path, apikey=self.tok_a), 200, path + " own token")

    def test_instance_write_routes_refused_change_nothing(self):
        before = self.snapshot()
        for method, tmpl, body in WRITE_ROUTES:
            path = tmpl % "alice"
            for what, key in self.refused_keys():
                self.assert401(self.sup.request(method, path, body=body, apikey=key), "%s %s" % (path, what))
        self.assertEqual(self.snapshot(), before)
        self.assertStatus(self.sup.api("GET", "/instance/connectionState/alice"), 200)

    def test_own_token_can_write_own_instance(self):
        r = self.sup.request("POST", "/settings/set/alice", apikey=self.tok_a,
                             body={"rejectCall": True, "groupsIgnore": False, "alwaysOnline": False,
                                   "readMessages": False, "readStatus": False, "syncFullHistory": False})
        self.assertStatus(r, 201)
        r = self.sup.request("DELETE", "/instance/delete/alice", apikey=self.tok_a)
        self.assertStatus(r, 200)
        self.assertEqual(self.db.count("instance"), 1)

    def test_unknown_instance_auth_before_existence(self):
        for method, tmpl, body in READ_ROUTES + WRITE_ROUTES:
            path = tmpl % "ghost"
            for what, key in (("no key", None), ("wrong key", "nope"), ("a valid token of another instance",
                                                                         self.tok_a)):
                self.assert401(self.sup.request(method, path, body=body, apikey=key), "%s %s" % (path, what))
            r = self.sup.request(method, path, body=body, apikey=API_KEY)
            self.assertStatus(r, 404, path)
            self.assertEqual(r.json["response"]["message"], ['The "ghost" instance does not exist'])

    def test_create_needs_the_global_key(self):
        body = {"instanceName": "carol", "integration": "WHATSAPP-BAILEYS"}
        for what, key in (("no key", None), ("wrong key", "nope"), ("instance token", self.tok_a)):
            self.assert401(self.sup.request("POST", "/instance/create", body=body, apikey=key), what)
        # a taken name with a bad key is 401, not 403 (auth first)
        self.assert401(self.sup.request("POST", "/instance/create", apikey="nope",
                                        body={"instanceName": "alice", "integration": "WHATSAPP-BAILEYS"}),
                       "duplicate with a bad key")
        self.assertEqual(self.db.count("instance"), 2)
        self.assertStatus(self.sup.request("POST", "/instance/create", body=body, apikey=API_KEY), 201)

    def test_fetch_instances(self):
        for what, key in (("no key", None), ("empty key", ""), ("wrong key", "nope")):
            self.assert401(self.sup.request("GET", "/instance/fetchInstances", apikey=key), what)
        r = self.sup.request("GET", "/instance/fetchInstances", apikey=API_KEY)
        self.assertStatus(r, 200)
        self.assertEqual(sorted(x["name"] for x in r.json), ["alice", "bob"])
        r = self.sup.request("GET", "/instance/fetchInstances", apikey=self.tok_a)
        self.assertStatus(r, 200)
        self.assertEqual([x["name"] for x in r.json], ["alice"])
        # a token caller cannot widen the result with a filter naming another instance
        r = self.sup.request("GET", "/instance/fetchInstances?instanceName=bob", apikey=self.tok_a)
        self.assertIn(r.status, (401, 404), r)
        self.assertFalse(isinstance(r.json, list) and r.json, r)

    def test_header_name_is_case_insensitive(self):
        r = self.sup.request("GET", "/instance/connectionState/alice", headers={"APIKEY": API_KEY})
        self.assertStatus(r, 200)

    def test_bearer_is_not_accepted(self):
        r = self.sup.request("GET", "/instance/connectionState/alice",
                             headers={"Authorization": "Bearer " + API_KEY})
        self.assert401(r, "Authorization: Bearer")

    def test_query_string_key_is_not_accepted(self):
        r = self.sup.request("GET", "/instance/connectionState/alice?apikey=" + API_KEY)
        self.assert401(r, "?apikey=")

    def test_unauthenticated_routes(self):
        self.assertStatus(self.sup.request("GET", "/"), 200)
        self.assertStatus(self.sup.request("GET", "/health"), 200)

    def snapshot(self):
        q = ("SELECT (SELECT count(*) FROM instance), (SELECT count(*) FROM instance_setting WHERE reject_call),"
             " (SELECT count(*) FROM instance_webhook), (SELECT count(*) FROM instance_proxy),"
             " (SELECT string_agg(name || ':' || connection_status || ':' || token, ',' ORDER BY name) FROM instance)")
        return self.db.query(q)


if __name__ == "__main__":
    main()
