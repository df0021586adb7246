"""The HTTP layer as Express serves Evolution: reason phrases, CORS (preflight and headers), HEAD like GET on a
keep-alive connection, case-insensitive paths with an optional trailing slash, urlencoded bodies (axios' empty
POST included) and compact JSON on the routes whose JSON PostgreSQL builds."""

import json
import socket
import urllib.parse

from harness import API_KEY, E2ETestCase, main

# Node's http.STATUS_CODES for what wagate sends (Python's own table differs on 413 and 422)
REASONS = {200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized",
           403: "Forbidden", 404: "Not Found", 409: "Conflict", 413: "Payload Too Large",
           422: "Unprocessable Entity", 501: "Not Implemented", 503: "Service Unavailable"}

ORIGIN = "https://app.example"


class RawConn:
    """One keep-alive HTTP/1.1 connection read byte by byte, so a response with more or fewer body bytes
    than its Content-Length shows up as a desynchronised next response."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        self.buf = b""

    def close(self):
        self.sock.close()

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("connection closed; unread: %r" % self.buf[:200])
        self.buf += chunk

    def request(self, method, path, headers=None, body=b""):
        h = {"Host": "127.0.0.1", "apikey": API_KEY}
        h.update(headers or {})
        lines = ["%s %s HTTP/1.1" % (method, path)] + ["%s: %s" % kv for kv in h.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        status_line, *hl = head.decode("latin-1").split("\r\n")
        if not status_line.startswith("HTTP/1.1 "):
            raise AssertionError("desynchronised: %r" % status_line)
        hdrs = {}
        for line in hl:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs["content-length"]) if method != "HEAD" else 0
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status_line, hdrs, body


class HttpTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def assertReason(self, r):
        """The status line's phrase and the error body's "error" are the status's proper phrase."""
        self.assertEqual(r.reason, REASONS[r.status], r)
        if r.status >= 400 and r.json is not None:
            self.assertEqual(r.json.get("error"), REASONS[r.status], r)

    def req(self, method, path, body=None, headers=None, apikey=API_KEY, raw=None):
        """http_request with the status line's reason phrase kept (as r.reason)."""
        import http.client
        h = {"Connection": "close"}
        if apikey is not None:
            h["apikey"] = apikey
        if body is not None:
            raw = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        conn = http.client.HTTPConnection("127.0.0.1", self.sup.port, timeout=30)
        try:
            conn.request(method, path, body=raw, headers=h)
            resp = conn.getresponse()
            from supervisor import Response
            r = Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
            r.reason = resp.reason
            return r
        finally:
            conn.close()

    # --- 1. reason phrases
    def test_reason_phrases(self):
        seen = set()
        for method, path, body, key in [("GET", "/", None, None), ("GET", "/nothing", None, None),
                                        ("GET", "/instance/fetchInstances", None, None),
                                        ("POST", "/instance/create",
                                         {"instanceName": "rp", "integration": "WHATSAPP-BAILEYS"}, API_KEY),
                                        ("POST", "/instance/create", {"integration": "WHATSAPP-BAILEYS"}, API_KEY),
                                        ("POST", "/instance/setPresence/rp", {"presence": "available"}, API_KEY),
                                        ("OPTIONS", "/instance/create", None, None)]:
            r = self.req(method, path, body, apikey=key)
            self.assertReason(r)
            seen.add(r.status)
        self.assertTrue({200, 201, 204, 400, 401, 404} <= seen, seen)

    # --- 2. CORS
    def test_preflight_on_any_path_without_key(self):
        for path in ["/instance/create", "/no/such/path", "/instance/connect/nobody"]:
            r = self.req("OPTIONS", path, apikey=None, headers={
                "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "apikey,content-type"})
            self.assertStatus(r, 204)
            self.assertReason(r)
            self.assertEqual(r.body, b"")
            self.assertEqual(r.headers.get("content-length"), "0", r.headers)
            self.assertEqual(r.headers.get("access-control-allow-origin"), ORIGIN, r.headers)
            self.assertEqual(r.headers.get("access-control-allow-credentials"), "true", r.headers)
            self.assertEqual(r.headers.get("access-control-allow-methods"), "POST,GET,PUT,DELETE", r.headers)
            self.assertEqual(r.headers.get("access-control-allow-headers"), "apikey,content-type", r.headers)
            self.assertEqual(r.headers.get("vary"), "Origin, Access-Control-Request-Headers", r.headers)
        # no requested headers: none allowed back
        r = self.req("OPTIONS", "/", apikey=None, headers={"Origin": ORIGIN})
        self.assertStatus(r, 204)
        self.assertNotIn("access-control-allow-headers", r.headers)

    def test_cors_headers_on_normal_and_error_replies(self):
        for method, path, key, status in [("GET", "/", None, 200), ("GET", "/instance/fetchInstances", None, 401),
                                          ("GET", "/instance/fetchInstances", API_KEY, 200),
                                          ("GET", "/nothing", None, 404)]:
            r = self.req(method, path, apikey=key, headers={"Origin": ORIGIN})
            self.assertStatus(r, status)
            self.assertEqual(r.headers.get("access-control-allow-origin"), ORIGIN, r.headers)
            self.assertEqual(r.headers.get("access-control-allow-credentials"), "true", r.headers)
            self.assertEqual(r.headers.get("vary"), "Origin", r.headers)
            self.assertNotIn("access-control-allow-methods", r.headers)
        # not a browser: nothing to echo
        r = self.req("GET", "/")
        self.assertStatus(r, 200)
        self.assertNotIn("access-control-allow-origin", r.headers)

    def test_cors_configured(self):
        sup = self.supervisor(env={"CORS_ORIGIN": "https://a.example, http://b.example:3000",
                                   "CORS_METHODS": "get,post", "CORS_CREDENTIALS": "false"})
        self.sup = sup
        r = self.req("OPTIONS", "/instance/create", apikey=None, headers={"Origin": "http://b.example:3000"})
        self.assertStatus(r, 204)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "http://b.example:3000", r.headers)
        self.assertEqual(r.headers.get("access-control-allow-methods"), "GET,POST", r.headers)
        self.assertNotIn("access-control-allow-credentials", r.headers)
        r = self.req("GET", "/", headers={"Origin": "https://a.example"})
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("access-control-allow-origin"), "https://a.example", r.headers)
        # another origin: refused with a clear error, and nothing done
        r = self.req("POST", "/instance/create", {"instanceName": "evil", "integration": "WHATSAPP-BAILEYS"},
                     headers={"Origin": "https://evil.example"})
        self.assertErrorEnvelope(r, 403, "Forbidden")
        self.assertReason(r)
        self.assertEqual(r.json["response"]["message"], "Not allowed by CORS")
        self.assertNotIn("access-control-allow-origin", r.headers)
        self.assertEqual(self.db.count("instance"), 0)
        r = self.req("OPTIONS", "/instance/create", apikey=None, headers={"Origin": "https://evil.example"})
        self.assertStatus(r, 204)
        self.assertNotIn("access-control-allow-origin", r.headers)
        # our own origin (a page the supervisor serves) and non-browser clients always work
        own = "http://127.0.0.1:%d" % sup.port
        r = self.req("GET", "/instance/fetchInstances", headers={"Origin": own, "Host": "127.0.0.1:%d" % sup.port})
        self.assertStatus(r, 200)
        self.assertEqual(r.headers.get("access-control-allow-origin"), own, r.headers)
        self.assertStatus(self.req("GET", "/instance/fetchInstances"), 200)

    # --- 3. HEAD like GET, on one keep-alive connection
    def test_head_matches_get_on_keepalive(self):
        self.sup.create_instance("hd")
        self.sup.api("POST", "/webhook/set/hd", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/x",
                                                             "events": []}})
        paths = ["/", "/instance/fetchInstances", "/instance/fetchInstances?instanceName=hd",
                 "/instance/connectionState/hd", "/settings/find/hd", "/webhook/find/hd", "/proxy/find/hd",
                 "/instance/connectionState/nobody", "/instance/connectionState/hd?x=1"]
        c = RawConn(self.sup.port)
        try:
            for p in paths:
                gs, gh, gb = c.request("GET", p)
                hs, hh, hb = c.request("HEAD", p, headers={"Origin": ORIGIN})
                self.assertEqual(hs.split(" ", 1)[1], gs.split(" ", 1)[1], p)
                self.assertEqual(hh.get("content-length"), str(len(gb)), (p, hh, gb[:200]))
                self.assertEqual(hh.get("content-type"), gh.get("content-type"), p)
                self.assertEqual(hh.get("access-control-allow-origin"), ORIGIN, p)
            # HEAD of /metrics and /health: a length, no body; then the connection still answers in step
            for p in ["/metrics", "/health"]:
                hs, hh, _ = c.request("HEAD", p)
                self.assertIn(" 200 ", hs + " ")
                self.assertGreater(int(hh["content-length"]), 0, hh)
            s, h, b = c.request("GET", "/")
            self.assertEqual(json.loads(b)["status"], 200)
            self.assertEqual(c.buf, b"")
        finally:
            c.close()

    def test_head_without_a_get_route_is_404(self):
        c = RawConn(self.sup.port)
        try:
            s, h, _ = c.request("HEAD", "/instance/create")
            self.assertTrue(s.startswith("HTTP/1.1 404 Not Found"), s)
            gs, gh, gb = c.request("GET", "/instance/create")
            self.assertTrue(gs.startswith("HTTP/1.1 404"), gs)
            self.assertEqual(json.loads(gb)["response"]["message"], ["Cannot GET /instance/create"])
            self.assertEqual(int(h["content-length"]), len(gb.replace(b"GET", b"HEAD")))
        finally:
            c.close()

    # --- 4. paths as Express routes them
    def test_case_and_trailing_slash(self):
        self.sup.create_instance("CaseName")
        for p in ["/instance/connectionState/CaseName/", "/INSTANCE/CONNECTIONSTATE/CaseName",
                  "/Instance/connectionstate/CaseName/"]:
            r = self.req("GET", p)
            self.assertStatus(r, 200, p)
            self.assertEqual(r.json["instance"]["instanceName"], "CaseName", r)
        # the name keeps its case
        r = self.req("GET", "/instance/connectionState/casename")
        self.assertErrorEnvelope(r, 404, "Not Found")
        self.assertEqual(r.json["response"]["message"], ['The "casename" instance does not exist'])
        for p in ["/instance/fetchInstances/", "/INSTANCE/FETCHINSTANCES", "/HEALTH/", "/Metrics"]:
            self.assertStatus(self.req("GET", p), 200, p)
        for p in ["/instance/fetchInstances//", "/instance/connectionState/CaseName//",
                  "/instance/connectionState/CaseName/x", "/instance/connectionState/"]:
            self.assertStatus(self.req("GET", p), 404, p)
        r = self.req("POST", "/Instance/Create/", {"instanceName": "viaSlash", "integration": "WHATSAPP-BAILEYS"})
        self.assertStatus(r, 201)

    # --- 5. urlencoded bodies
    def form(self, method, path, text, **kw):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(kw.pop("headers", {}))
        return self.req(method, path, raw=text.encode() if text is not None else None, headers=h, **kw)

    def test_urlencoded_create(self):
        r = self.form("POST", "/instance/create", "instanceName=form1&integration=WHATSAPP-BAILEYS")
        self.assertStatus(r, 201)
        self.assertEqual(r.json["instance"]["instanceName"], "form1", r)
        # nesting as qs reads it, with a percent-encoded URL and an events array
        body = "instanceName=form2&integration=WHATSAPP-BAILEYS&webhook[url]=%s&webhook[events][]=QRCODE_UPDATED" \
               "&webhook[events][]=CONNECTION_UPDATE" % urllib.parse.quote("http://127.0.0.1:9/hook", safe="")
        r = self.form("POST", "/instance/create", body, headers={"Content-Type":
                                                                "application/x-www-form-urlencoded; charset=UTF-8"})
        self.assertStatus(r, 201)
        w = self.req("GET", "/webhook/find/form2").json
        self.assertEqual(w["url"], "http://127.0.0.1:9/hook", w)
        self.assertEqual(w["events"], ["QRCODE_UPDATED", "CONNECTION_UPDATE"], w)
        # values are strings, as in Express: a boolean field gets the schema's error, not a crash
        r = self.form("POST", "/settings/set/form1", "rejectCall=true&groupsIgnore=false&alwaysOnline=false"
                      "&readMessages=false&readStatus=false&syncFullHistory=false")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        # curl -d sends JSON with the form type; wagate always read it as JSON
        r = self.form("POST", "/instance/create", '{"instanceName":"curl1","integration":"WHATSAPP-BAILEYS"}')
        self.assertStatus(r, 201)
        self.assertEqual(self.db.count("instance"), 3)

    def test_urlencoded_refusals(self):
        r = self.form("POST", "/instance/create", "&".join("a%d=1" % i for i in range(1001)))
        self.assertErrorEnvelope(r, 413, "Payload Too Large")
        self.assertReason(r)
        r = self.form("POST", "/instance/create", "instanceName" + "[a]" * 40 + "=1")
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertIn("nested", r.json["response"]["message"][0])
        self.assertEqual(self.db.count("instance"), 0)

    def test_empty_urlencoded_post(self):
        """axios' POST without data sends Content-Type: application/x-www-form-urlencoded and no body."""
        for n in ["ax", "ax2", "ax3"]:
            self.sup.create_instance(n)
        want = self.req("POST", "/instance/restart/ax", raw=b"")
        r = self.form("POST", "/instance/restart/ax2", "", headers={"Content-Length": "0"})
        self.assertEqual(r.status, want.status, (r, want))
        self.assertNotEqual(r.status, 400, r)
        self.assertReason(r)
        # no Content-Length at all, on a keep-alive connection
        c = RawConn(self.sup.port)
        try:
            s, h, b = c.request("POST", "/instance/restart/ax3",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
            self.assertIn(" %d " % want.status, s + " ")
            s, h, b = c.request("GET", "/instance/connectionState/ax3")
            self.assertEqual(json.loads(b)["instance"]["instanceName"], "ax3")
        finally:
            c.close()
        # an empty form is an empty body: create answers the schema's 400, not a parse error
        r = self.form("POST", "/instance/create", "", headers={"Content-Length": "0"})
        self.assertErrorEnvelope(r, 400, "Bad Request")
        self.assertNotIn("urlencoded", json.dumps(r.json))

    # --- 6. compact JSON
    def test_compact_json_on_database_built_routes(self):
        self.sup.create_instance("cj", webhook={"url": "http://127.0.0.1:9/h", "events": ["CALL"],
                                                "headers": {"x-a": "1, 2"}})
        self.assertStatus(self.sup.api("POST", "/proxy/set/cj", {"enabled": False, "host": "", "port": "",
                                                                 "protocol": "http"}), 201)
        replies = [self.req("GET", "/instance/fetchInstances"),
                   self.req("GET", "/instance/fetchInstances?instanceName=cj"),
                   self.req("GET", "/settings/find/cj"),
                   self.req("POST", "/webhook/set/cj", {"webhook": {"enabled": True, "url": "http://127.0.0.1:9/h",
                                                                    "headers": {"x-b": "a : b"},
                                                                    "events": ["CALL"]}}),
                   self.req("GET", "/webhook/find/cj"),
                   self.req("GET", "/proxy/find/cj")]
        for r in replies:
            self.assertIn(r.status, (200, 201), r)
            compact = json.dumps(json.loads(r.body), separators=(",", ":"), ensure_ascii=False).encode()
            self.assertEqual(r.body, compact, r)
            self.assertNotIn(b'" : ', r.body)
        # spaces inside strings are data, and stay
        self.assertEqual(self.req("GET", "/webhook/find/cj").json["headers"], {"x-b": "a : b"})


if __name__ == "__main__":
    main()
