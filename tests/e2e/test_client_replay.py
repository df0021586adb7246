"""Replays the requests an Evolution client sends, byte for byte as it sends them: the instance operations of
n8n-nodes-evolution-api (the most used Evolution client on npm), with its methods, headers and bodies, including
the empty-body POST its HTTP helper (axios) sends with Content-Type: application/x-www-form-urlencoded. Every
operation must succeed against wagate with fakewa as WhatsApp, as it does against Evolution.

One test: python3 test_client_replay.py ClientReplayTest.test_n8n_instance_operations"""

import http.client
import json

from harness import PairingCase, main, wait_until
from supervisor import API_KEY

# What n8n's request helper (axios underneath) puts on every request.
AXIOS_HEADERS = {
    "Accept": "application/json,text/html,application/xhtml+xml,application/xml,text/*;q=0.9, image/*;q=0.8, */*;q=0.7",
    "User-Agent": "n8n",
    "Accept-Encoding": "gzip, compress, deflate, br",
    "Connection": "keep-alive",
}


class Client:
    """One keep-alive connection, as axios' agent keeps it; reconnects when the server closed it."""

    def __init__(self, port, apikey=API_KEY):
        self.port = port
        self.apikey = apikey
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def close(self):
        self.conn.close()

    def send(self, method, uri, body=None, form_empty=False, raw=None, content_type=None):
        """(status, json or None, raw body). body: a JSON request (json: true). form_empty: axios' POST without
        data (Content-Type: application/x-www-form-urlencoded, no body). raw: bytes with content_type."""
        h = dict(AXIOS_HEADERS, apikey=self.apikey)
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        elif form_empty:
            h["Content-Type"] = "application/x-www-form-urlencoded"
            h["Content-Length"] = "0"
        elif raw is not None:
            data = raw
            h["Content-Type"] = content_type
        for attempt in (0, 1):
            try:
                self.conn.request(method, uri, body=data, headers=h)
                r = self.conn.getresponse()
                text = r.read()
                break
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # the server closed the kept-alive connection between requests: axios opens a new one
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        if r.getheader("Connection", "").lower() == "close":
            self.conn.close()
        try:
            j = json.loads(text.decode()) if text else None
        except ValueError:
            j = None
        return r.status, j, text


class ClientReplayTest(PairingCase):

    def setUp(self):
        super().setUp()
        self.cl = Client(self.sup.port)
        self.addCleanup(self.cl.close)

    def ok(self, want, got, what):
        status, j, text = got
        self.assertEqual(status, want, "%s: %d %s" % (what, status, text[:300]))
        return j

    def test_n8n_instance_operations(self):
        cl = self.cl
        # Create instance (basic): settings, webhook, rabbitmq and the chatwoot fields it always sends.
        j = self.ok(201, cl.send("POST", "/instance/create", {
            "instanceName": "n8n", "integration": "WHATSAPP-BAILEYS", "token": "n8n-token",
            "rejectCall": True, "msgCall": "no calls", "groupsIgnore": False, "alwaysOnline": False,
            "readMessages": False, "readStatus": False, "syncFullHistory": False,
            "webhook": {"url": self.rx.url, "byEvents": False, "base64": False, "events": ["CONNECTION_UPDATE"]},
            "rabbitmq": {"enabled": False, "events": []},
            "chatwootAccountId": "", "chatwootToken": "", "chatwootUrl": "", "chatwootSignMsg": False,
            "chatwootReopenConversation": False, "chatwootConversationPending": False,
            "chatwootImportContacts": False, "chatwootNameInbox": "", "chatwootMergeBrazilContacts": False,
            "chatwootImportMessages": False, "chatwootDaysLimitImportMessages": 0, "chatwootOrganization": "",
            "chatwootLogo": ""}), "create")
        self.assertEqual(j["hash"], "n8n-token")
        self.assertEqual(j["rabbitmq"], {"enabled": False})
        iid = j["instance"]["instanceId"]
        wait_until(lambda: iid in self.sup.worker_pids(), 20, msg="worker of n8n")
        # Connect: the QR object; then the phone scans it.
        j = self.ok(200, cl.send("GET", "/instance/connect/n8n"), "connect")
        self.assertIn("count", j)
        self.scan("n8n", phone="5511999990201", push="N8n Phone")
        self.sup.wait_state("n8n", "open", 40)
        j = self.ok(200, cl.send("GET", "/instance/connect/n8n"), "connect (open)")
        self.assertEqual(j, {"instance": {"instanceName": "n8n", "state": "open"}})
        j = self.ok(200, cl.send("GET", "/instance/connectionState/n8n"), "connectionState")
        self.assertEqual(j["instance"]["state"], "open")
        # Fetch instances, all and by name.
        j = self.ok(200, cl.send("GET", "/instance/fetchInstances"), "fetchInstances")
        self.assertEqual([x["name"] for x in j], ["n8n"])
        j = self.ok(200, cl.send("GET", "/instance/fetchInstances?instanceName=n8n"), "fetchInstances by name")
        self.assertEqual(j[0]["connectionStatus"], "open")
        # Set presence.
        j = self.ok(201, cl.send("POST", "/instance/setPresence/n8n", {"presence": "available"}), "setPresence")
        self.assertEqual(j, {"presence": "available"})
        # Instance settings.
        j = self.ok(201, cl.send("POST", "/settings/set/n8n", {
            "rejectCall": False, "msgCall": "", "groupsIgnore": True, "alwaysOnline": True, "readMessages": False,
            "syncFullHistory": False, "readStatus": False}), "settings/set")
        self.assertEqual(j["settings"]["instanceName"], "n8n")
        # Webhook: its own key names (webhookByEvents/webhookBase64) are unknown to Evolution and ignored.
        j = self.ok(201, cl.send("POST", "/webhook/set/n8n", {"webhook": {
            "enabled": True, "url": self.rx.url, "webhookByEvents": False, "webhookBase64": False,
            "events": ["CONNECTION_UPDATE", "QRCODE_UPDATED"]}}), "webhook/set")
        self.assertEqual(j["events"], ["CONNECTION_UPDATE", "QRCODE_UPDATED"])
        j = self.ok(200, cl.send("GET", "/webhook/find/n8n"), "webhook/find")
        self.assertEqual(j["url"], self.rx.url)
        # RabbitMQ (disabled in Evolution's default configuration, and not built into wagate).
        self.ok(201, cl.send("POST", "/rabbitmq/set/n8n", {"rabbitmq": {"enabled": True, "events": []}}),
                "rabbitmq/set")
        self.ok(200, cl.send("GET", "/rabbitmq/find/n8n"), "rabbitmq/find")
        # Proxy find (nothing set: null).
        status, j, text = cl.send("GET", "/proxy/find/n8n")
        self.assertEqual((status, text), (200, b"null"))
        # Restart: axios' POST without data, with the form content type.
        pid = self.sup.worker_pids()[iid]
        j = self.ok(200, cl.send("POST", "/instance/restart/n8n", form_empty=True), "restart")
        self.assertEqual(j, {"instance": {"instanceName": "n8n", "state": "open"}})
        wait_until(lambda: self.sup.worker_pids().get(iid) not in (None, pid), 20, msg="a new worker")
        self.sup.wait_state("n8n", "open", 40)
        # Logout, then delete (both DELETE without a body).
        j = self.ok(200, cl.send("DELETE", "/instance/logout/n8n"), "logout")
        self.assertEqual(j["response"]["message"], "Instance logged out")
        self.sup.wait_state("n8n", "close", 20)
        j = self.ok(200, cl.send("DELETE", "/instance/delete/n8n"), "delete")
        self.assertEqual(j["response"]["message"], "Instance deleted")
        self.assertEqual(self.ok(200, cl.send("GET", "/instance/fetchInstances"), "fetchInstances after"), [])

    def test_instance_token_client(self):
        """A client holding only an instance token: verify-creds refuses it (global key only), its routes take it."""
        self.new_instance("tok", token="tok-secret")
        tc = Client(self.sup.port, apikey="tok-secret")
        self.addCleanup(tc.close)
        self.assertEqual(self.ok(401, tc.send("POST", "/verify-creds", form_empty=True), "verify-creds"),
                         {"status": 401, "error": "Unauthorized", "response": {"message": "Unauthorized"}})
        j = self.ok(200, self.cl.send("POST", "/verify-creds", form_empty=True), "verify-creds (global)")
        self.assertEqual(j["message"], "Credentials are valid")
        j = self.ok(200, tc.send("GET", "/instance/fetchInstances"), "fetchInstances (token)")
        self.assertEqual([x["name"] for x in j], ["tok"])
        self.ok(200, tc.send("GET", "/instance/connectionState/tok"), "connectionState (token)")

    def test_urlencoded_body(self):
        """Express also parses urlencoded bodies (setPresence from an HTML form or a client configured that way)."""
        self.pair("form", "5511999990202")
        r = self.cl.send("POST", "/instance/setPresence/form", raw=b"presence=available",
                         content_type="application/x-www-form-urlencoded")
        self.assertEqual(r[0], 201, r)
        self.assertEqual(r[1], {"presence": "available"})


if __name__ == "__main__":
    main()
