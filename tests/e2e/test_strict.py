"""Strict request parsing (issue 11): non-RFC 8259 JSON, NUL and invalid UTF-8 in bodies, forms, paths and
queries, ambiguous Content-Length / Transfer-Encoding framing; /metrics behind a credential and /health without
counts for anonymous callers."""

import base64
import json
import socket

from harness import API_KEY, E2ETestCase, main

CREATE = "/instance/create"


def raw_exchange(port, data, timeout=10):
    """Send data on a fresh connection and read until the server closes it; a server that keeps the connection
    open fails the test by the socket timeout. Returns every byte received."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise AssertionError("the server kept the connection open; received %r" % out[:300])
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    return out


def split_responses(data):
    """Every HTTP response in a byte stream, as (status, {header: value}, body)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise AssertionError("truncated response: %r" % data[:300])
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        out.append((status, hdrs, rest[:n]))
        data = rest[n:]
    return out


def post_raw(headers, body):
    """A POST /instance/create request with exactly these header lines (apikey and Host added first)."""
    lines = ["POST %s HTTP/1.1" % CREATE, "Host: 127.0.0.1", "apikey: " + API_KEY] + headers
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def create_body(name):
    return ('{"instanceName":"%s","integration":"WHATSAPP-BAILEYS"}' % name).encode()


class StrictTest(E2ETestCase):

    def setUp(self):
        super().setUp()
        self.sup = self.supervisor()

    def assertRefused(self, r, fragment, status=400):
        """The error envelope with status, and fragment in its message."""
        self.assertErrorEnvelope(r, status, {400: "Bad Request", 501: "Not Implemented"}[status])
        self.assertIn(fragment, json.dumps(r.json["response"]["message"], ensure_ascii=False), r)

    # --- JSON bodies
    def test_non_rfc8259_json_is_400(self):
        cases = [
            (b'{"instanceName":"nul\\u0000evil","integration":"WHATSAPP-BAILEYS"}',
             "a NUL character (\\\\u0000) in a string at byte 20"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","a\\u0000b":1}', "NUL character"),
            (b'{"instanceName":"nul\x00evil","integration":"WHATSAPP-BAILEYS"}', "a NUL byte in a string"),
            (b'{"instanceName":"bad\xffutf8","integration":"WHATSAPP-BAILEYS"}', "invalid UTF-8 at byte 20"),
            (b'{"instanceName":"caf\xe9","integration":"WHATSAPP-BAILEYS"}', "invalid UTF-8"),
            (b'{"instanceName":"ov\xc0\x80","integration":"WHATSAPP-BAILEYS"}', "invalid UTF-8"),
            (b'{"instanceName":"sur\xed\xa0\x80","integration":"WHATSAPP-BAILEYS"}', "invalid UTF-8"),
            (b'{"instanceName":"lone\\ud800","integration":"WHATSAPP-BAILEYS"}', "surrogate"),
            (b'{/* c */"instanceName":"c","integration":"WHATSAPP-BAILEYS"}', "comments are not JSON"),
            (b'{"instanceName":"c","integration":"WHATSAPP-BAILEYS"} // c', "comments are not JSON"),
            (b"{'instanceName':'q','integration':'WHATSAPP-BAILEYS'}", "single quotes are not JSON"),
            (b'{"instanceName":"t","integration":"WHATSAPP-BAILEYS",}', "a trailing comma is not JSON"),
            (b'{"instanceName":"t","integration":"WHATSAPP-BAILEYS","x":[1,]}', "a trailing comma is not JSON"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","x":NaN}', "unexpected 'N'"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","x":Infinity}', "unexpected 'I'"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","x":01}', "leading zero"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","x":1.}', "a digit after the decimal point"),
            (b'{"instanceName":"n","integration":"WHATSAPP-BAILEYS","x":99999999999999999999999}', "out of range"),
            (b'{instanceName:"u","integration":"WHATSAPP-BAILEYS"}', "a name in double quotes expected"),
            (b'{"instanceName":"tab\there","integration":"WHATSAPP-BAILEYS"}', "control character"),
            (b'{"instanceName":"x","integration":"WHATSAPP-BAILEYS"}x', "the end of the text expected"),
            (b'{"instanceName":"x","integration":"WHATSAPP-BAILEYS"}\x00', "unexpected byte 0x00"),
        ]
        for body, fragment in cases:
            r = self.sup.request("POST", CREATE, raw=body, apikey=API_KEY)
            self.assertRefused(r, fragment)
            self.assertTrue(r.json["response"]["message"][0].startswith("Invalid JSON body: "), r)
        # the same rules for a JSON body sent with the form type (curl -d)
        r = self.sup.request("POST", CREATE, raw=b'{"instanceName":"f\\u0000","integration":"WHATSAPP-BAILEYS"}',
                             apikey=API_KEY, headers={"Content-Type": "application/x-www-form-urlencoded"})
        self.assertRefused(r, "NUL character")
        # and on other routes that read a body
        self.sup.create_instance("strict1")
        r = self.sup.request("POST", "/settings/set/strict1", raw=b'{"rejectCall":true,}', apikey=API_KEY)
        self.assertRefused(r, "a trailing comma is not JSON")
        self.assertEqual(self.db.count("instance"), 1)
        self.assertEqual([i["name"] for i in self.sup.api("GET", "/instance/fetchInstances").json], ["strict1"])

    def test_valid_json_still_accepted(self):
        # escapes decode, a leading BOM and whitespace are fine, the value keeps every character
        body = (b'\xef\xbb\xbf \r\n{ "instanceName" : "caf\\u00e9-\\ud83d\\ude00" ,'
                b'\t"integration":"WHATSAPP-BAILEYS" }\n')
        r = self.sup.request("POST", CREATE, raw=body, apikey=API_KEY)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["instance"]["instanceName"], "caf\u00e9-\U0001F600")
        r = self.sup.api("GET", "/instance/connectionState/caf%C3%A9-%F0%9F%98%80")
        self.assertStatus(r, 200)

    # --- form bodies
    def test_form_nul_and_invalid_utf8_are_400(self):
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        for body, fragment in [
                (b"instanceName=nul%00evil&integration=WHATSAPP-BAILEYS", "the value of parameter 1 holds a NUL"),
                (b"integration=WHATSAPP-BAILEYS&instanceName=caf%E9", "the value of parameter 2 is not valid UTF-8"),
                (b"instanceName=raw\xff&integration=WHATSAPP-BAILEYS", "is not valid UTF-8"),
                (b"instance%00Name=x&integration=WHATSAPP-BAILEYS", "the name of parameter 1 holds a NUL")]:
            r = self.sup.request("POST", CREATE, raw=body, apikey=API_KEY, headers=form)
            self.assertRefused(r, fragment)
            self.assertTrue(r.json["response"]["message"][0].startswith("Invalid urlencoded body: "), r)
        self.assertEqual(self.db.count("instance"), 0)
        r = self.sup.request("POST", CREATE, raw=b"instanceName=caf%C3%A9&integration=WHATSAPP-BAILEYS",
                             apikey=API_KEY, headers=form)
        self.assertStatus(r, 201)
        self.assertEqual(r.json["instance"]["instanceName"], "caf\u00e9")

    # --- path and query
    def test_nul_and_invalid_utf8_in_path_and_query_are_400(self):
        self.sup.create_instance("foo")
        # without the check %00 cut the name to "foo" and answered foo's state
        r = self.sup.api("GET", "/instance/connectionState/foo%00bar")
        self.assertRefused(r, "The request path must be UTF-8 without NUL characters")
        r = self.sup.api("GET", "/instance/connectionState/foo%FF")
        self.assertRefused(r, "The request path must be UTF-8")
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=foo%00bar")
        self.assertRefused(r, "Query parameters must be UTF-8 without NUL characters")
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=%E9")
        self.assertRefused(r, "Query parameters must be UTF-8")
        r = self.sup.api("GET", "/instance/fetchInstances?instanceName=foo")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.json), 1)
        # raw bytes in the request line, even on a route that does not exist (its 404 would echo them)
        for target, fragment in [(b"/nothing?x=\xff", "Query parameters"), (b"/nothing/\xff", "The request path")]:
            responses = split_responses(raw_exchange(self.sup.port, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n"
                                                     b"Connection: close\r\n\r\n"))
            self.assertEqual(responses[0][0], 400, responses)
            self.assertIn(fragment, json.loads(responses[0][2])["response"]["message"][0])

    # --- framing: each refusal is a JSON 400/501 and the connection is closed after it
    def assertRefusedAndClosed(self, data, fragment, status=400):
        responses = split_responses(raw_exchange(self.sup.port, data))
        self.assertEqual(len(responses), 1, responses)
        st, hdrs, body = responses[0]
        self.assertEqual(st, status, (hdrs, body))
        self.assertEqual(hdrs.get("connection", "").lower(), "close", hdrs)
        j = json.loads(body)
        self.assertEqual(j["status"], status, j)
        self.assertIn(fragment, j["response"]["message"][0], j)

    def test_ambiguous_framing_is_refused_and_closed(self):
        b = create_body("framed")
        n = len(b)
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json", "Content-Length: %d" % n,
                                              "Content-Length: %d" % n], b), "more than one Content-Length")
        # differing lengths: libevent reads by the first; the tail would be the next request
        tail = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json", "Content-Length: %d" % n,
                                              "Content-Length: %d" % (n + len(tail))], b + tail),
                                    "more than one Content-Length")
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json", "Content-Length: +%d" % n], b),
                                    "Content-Length must be decimal digits only")
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json", "Content-Length: -0"], b""),
                                    "Content-Length must be decimal digits only")
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json", "Transfer-Encoding: gzip"], b),
                                    "Transfer-Encoding other than chunked is not supported", status=501)
        # whitespace before the colon: libevent would not see a Content-Length and run the body as a request
        smuggled = b"GET /metrics HTTP/1.1\r\nHost: x\r\napikey: " + API_KEY.encode() + b"\r\n\r\n"
        self.assertRefusedAndClosed(post_raw(["Content-Type: application/json",
                                              "Content-Length : %d" % len(smuggled)], smuggled),
                                    "the header name \"Content-Length \" is not a token")
        self.assertRefusedAndClosed(post_raw(["Host: evil.example", "Content-Type: application/json",
                                              "Content-Length: %d" % n], b), "more than one Host header")
        self.assertEqual(self.db.count("instance"), 0)
        # optional whitespace around a valid value is RFC 9110's, and chunked alone is read
        responses = split_responses(raw_exchange(self.sup.port, post_raw(
            ["Content-Type: application/json", "Content-Length: \t%d\t" % n, "Connection: close"], b)))
        self.assertEqual([r[0] for r in responses], [201], responses)
        c = create_body("chunked")
        responses = split_responses(raw_exchange(self.sup.port, post_raw(
            ["Content-Type: application/json", "Transfer-Encoding: chunked", "Connection: close"],
            b"%x\r\n" % len(c) + c + b"\r\n0\r\n\r\n")))
        self.assertEqual([r[0] for r in responses], [201], responses)

    def test_errors_libevent_answers_itself(self):
        # libevent 2.1 answers these before wagate's callback, with its own HTML page (no hook: see README)
        b = create_body("libevent")
        for data, status in [
                (post_raw(["Content-Type: application/json", "Content-Length: -1"], b""), 400),
                (post_raw(["Content-Type: application/json", "Transfer-Encoding: chunked",
                           "Content-Length: %d" % len(b)],
                          b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n"), 400),
                (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 400),
                (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70000 + b"\r\n\r\n", 400)]:
            responses = split_responses(raw_exchange(self.sup.port, data))
            self.assertEqual(responses[0][0], status, responses[0][:2])
        self.assertEqual(self.db.count("instance"), 0)
        self.assertStatus(self.sup.request("GET", "/health"), 200)

    # --- /metrics and /health
    def test_metrics_needs_the_global_key(self):
        token = self.sup.create_instance("m1")["hash"]
        for key in [None, "", "wrong-key", token, API_KEY + "x"]:
            r = self.sup.request("GET", "/metrics", apikey=key)
            self.assertErrorEnvelope(r, 401, "Unauthorized")
            self.assertNotIn("www-authenticate", r.headers)
            self.assertNotIn("wagate_", r.text)
        # basic auth is not accepted while it is not configured
        basic = "Basic " + base64.b64encode(b"prometheus:x").decode()
        self.assertStatus(self.sup.request("GET", "/metrics", headers={"Authorization": basic}), 401)
        r = self.sup.api("GET", "/metrics")
        self.assertStatus(r, 200)
        self.assertIn('wagate_instance_state{instance="m1"', r.text)
        self.assertStatus(self.sup.request("HEAD", "/metrics"), 401)

    def test_metrics_basic_auth(self):
        sup = self.supervisor(env={"METRICS_USER": "prometheus", "METRICS_PASSWORD": "s3cret:with colon"})

        def get(auth=None, apikey=None):
            h = {"Authorization": auth} if auth is not None else {}
            return sup.request("GET", "/metrics", apikey=apikey, headers=h)

        def basic(user_pass):
            return "Basic " + base64.b64encode(user_pass).decode()

        self.assertStatus(get(basic(b"prometheus:s3cret:with colon")), 200)
        self.assertStatus(get("basic  " + base64.b64encode(b"prometheus:s3cret:with colon").decode()), 200)
        self.assertStatus(get(apikey=API_KEY), 200)
        for auth in [None, basic(b"prometheus:wrong"), basic(b"other:s3cret:with colon"), basic(b"prometheus"),
                     basic(b"prometheus:s3cret:with colon\x00"), basic(b"prometheus\x00:s3cret:with colon"),
                     "Basic !!!notbase64", "Bearer " + API_KEY, "Basic", basic(b":")]:
            r = get(auth)
            self.assertErrorEnvelope(r, 401, "Unauthorized")
            self.assertTrue(r.headers.get("www-authenticate", "").startswith("Basic realm="), r.headers)
        # the metrics credential opens nothing else
        r = sup.request("GET", "/instance/fetchInstances",
                        headers={"Authorization": basic(b"prometheus:s3cret:with colon")})
        self.assertStatus(r, 401)

    def test_health_counts_only_for_the_global_key(self):
        token = self.sup.create_instance("h1")["hash"]
        for key in [None, "wrong-key", token]:
            r = self.sup.request("GET", "/health", apikey=key)
            self.assertStatus(r, 200)
            self.assertEqual(r.json, {"status": "ok", "database": "up"})
        r = self.sup.api("GET", "/health")
        self.assertStatus(r, 200)
        self.assertEqual(r.json["status"], "ok", r)
        self.assertEqual(r.json["instances"], 1, r)
        self.assertIn("workersReady", r.json)
        self.assertIn("uptimeSeconds", r.json)


if __name__ == "__main__":
    main()
