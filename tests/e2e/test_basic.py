"""GET /, /health, /metrics, unknown routes (404 envelope) and the 1 MiB body limit (413)."""

from harness import API_KEY, E2ETestCase, main, parse_metrics


class BasicTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def test_root(self):
        r = self.sup.request("GET", "/")
        self.assertStatus(r, 200)
        self.assertEqual(r.json.get("status"), 200, r)
        self.assertEqual(r.json.get("message"), "Welcome to the Evolution API, it is working!", r)
        self.assertIsInstance(r.json.get("version"), str, r)
        self.assertIn("clientName", r.json, r)

    def test_root_needs_no_key_and_ignores_a_bad_one(self):
        self.assertStatus(self.sup.request("GET", "/", apikey="wrong"), 200)

    def test_health(self):
        r = self.sup.request("GET", "/health")
        self.assertStatus(r, 200)
        self.assertIn("json", r.headers.get("content-type", ""), r.headers)

    def test_metrics(self):
        r = self.sup.api("GET", "/metrics")
        self.assertStatus(r, 200)
        self.assertTrue(r.headers.get("content-type", "").startswith("text/plain"), r.headers)
        m = parse_metrics(r.text)
        states = {l.get("state"): v for n, l, v in m if n == "wagate_instances"}
        self.assertEqual(set(states), {"open", "connecting", "close"}, r.text[:2000])
        self.assertTrue(any(n == "wagate_webhook_backlog" for n, _, _ in m), r.text[:2000])

    def test_metrics_counts_instances(self):
        self.sup.create_instance("m1")
        self.sup.create_instance("m2")
        self.assertEqual(sum(v for n, l, v in self.sup.metrics() if n == "wagate_instances"), 2)

    def test_unknown_route_404(self):
        r = self.sup.request("GET", "/foo", apikey=API_KEY)
        self.assertStatus(r, 404)
        self.assertEqual(r.json, {"status": 404, "error": "Not Found", "response": {"message": ["Cannot GET /foo"]}})

    def test_unknown_route_keeps_method_and_query(self):
        r = self.sup.request("POST", "/foo/bar?x=1", body={}, apikey=API_KEY)
        self.assertStatus(r, 404)
        self.assertEqual(r.json, {"status": 404, "error": "Not Found",
                                  "response": {"message": ["Cannot POST /foo/bar?x=1"]}})

    def test_unknown_route_without_key_is_still_404(self):
        r = self.sup.request("GET", "/nothing/here")
        self.assertStatus(r, 404)
        self.assertEqual(r.json["response"]["message"], ["Cannot GET /nothing/here"])

    def test_wrong_method_on_known_path(self):
        r = self.sup.request("DELETE", "/instance/fetchInstances", apikey=API_KEY)
        self.assertStatus(r, 404)
        self.assertEqual(r.json["response"]["message"], ["Cannot DELETE /instance/fetchInstances"])

    def test_body_over_1mib_is_413(self):
        big = b'{"instanceName":"big","integration":"WHATSAPP-BAILEYS","pad":"' + b"x" * (1024 * 1024 + 10) + b'"}'
        r = self.sup.request("POST", "/instance/create", raw=big, apikey=API_KEY)
        self.assertStatus(r, 413)
        # nothing was created, and the server still works
        r = self.sup.api("GET", "/instance/fetchInstances")
        self.assertStatus(r, 200)
        self.assertEqual(r.json, [])
        self.assertEqual(self.db.count("instance"), 0)

    def test_body_just_under_1mib_is_accepted(self):
        pad = "x" * (1024 * 1024 - 200)
        r = self.sup.api("POST", "/instance/create",
                         {"instanceName": "justunder", "integration": "WHATSAPP-BAILEYS", "pad": pad})
        self.assertStatus(r, 201)

    def test_malformed_json_is_400(self):
        r = self.sup.request("POST", "/instance/create", raw=b'{"instanceName": ', apikey=API_KEY)
        self.assertStatus(r, 400)
        self.assertEqual(r.json.get("status"), 400, r)
        self.assertEqual(self.db.count("instance"), 0)


if __name__ == "__main__":
    main()
