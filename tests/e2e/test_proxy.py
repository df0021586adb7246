"""A worker reaches WhatsApp (fakewa) through its instance's proxy: HTTP CONNECT through tinyproxy with Basic
credentials and SOCKS5 through microsocks with username/password, each pairing to open; proof that the bytes
went through the proxy (tinyproxy's CONNECT log line, and the worker's only TCP peer being the proxy's port);
wrong credentials close with reason 604 and a "proxy: ..." detail and are retried; a /proxy/set with the right
ones applies on the next connection.

The WhatsApp URL is ws://localhost:PORT here, so the target goes to the proxy as a name and the proxy resolves
it (SOCKS5 address type 3)."""

import os
import shutil
import subprocess
import tempfile
import urllib.parse

from harness import PairingCase, free_port, main, missing, wait_until
from common import track_proc

USER, PASS = "wagate", "s3cret-pw"


def tcp_peer_ports(pid):
    """Remote ports of the established TCP connections of process pid (from /proc)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open("/proc/%d/net/%s" % (pid, table)) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "01" and cols[9] in inodes:  # 01 = ESTABLISHED
                ports.add(int(cols[2].rsplit(":", 1)[1], 16))
    return ports


class Tinyproxy:
    """tinyproxy on loopback with BasicAuth, allowing CONNECT to one port only, logging to its own file."""

    def __init__(self, connect_port):
        if not shutil.which("tinyproxy"):
            missing("tinyproxy not installed (scripts/deps.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="wagate-e2e-tinyproxy-")
        self.port = free_port()
        self.log_path = os.path.join(self.dir, "tinyproxy.log")
        self.conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(self.conf, "w") as f:
            f.write("Port %d\nListen 127.0.0.1\nTimeout 60\nLogFile \"%s\"\nLogLevel Info\nMaxClients 20\n"
                    "Allow 127.0.0.1\nBasicAuth %s %s\nConnectPort %d\n"
                    % (self.port, self.log_path, USER, PASS, connect_port))
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        track_proc(self.proc)
        wait_until(lambda: "Accepting connections" in self.log(), 10, msg="tinyproxy listening")
        return self

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Microsocks:
    """microsocks (SOCKS5) on loopback with username/password."""

    def __init__(self):
        if not shutil.which("microsocks"):
            missing("microsocks not installed (scripts/deps.sh installs it)")
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["microsocks", "-i", "127.0.0.1", "-p", str(self.port), "-u", USER,
                                      "-P", PASS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        track_proc(self.proc)

        def listening():
            import socket
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 10, msg="microsocks listening")
        return self

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class ProxyTest(PairingCase):

    @property
    def pairing_env(self):
        # Read by PairingCase.setUp once fakewa runs: the target is a name the proxy has to resolve.
        return {"WA_WEBSOCKET_URL": self.fw.url.replace("127.0.0.1", "localhost")}

    def fakewa_port(self):
        return urllib.parse.urlsplit(self.fw.url).port

    def tinyproxy(self):
        tp = Tinyproxy(self.fakewa_port()).start()
        self.addCleanup(tp.stop)
        return tp

    def microsocks(self):
        ms = Microsocks().start()
        self.addCleanup(ms.stop)
        return ms

    def create_with_proxy(self, name, protocol, port, password=PASS):
        return self.new_instance(name, proxyHost="127.0.0.1", proxyPort=str(port), proxyProtocol=protocol,
                                 proxyUsername=USER, proxyPassword=password)

    def assert_only_peer_is(self, iid, port):
        """The worker's TCP connections (besides its IPC socketpair) go to the proxy, none to fakewa."""
        pid = self.sup.worker_pids()[iid]
        peers = tcp_peer_ports(pid)
        self.assertIn(port, peers, "worker %d is not connected to the proxy (peers %r)" % (pid, peers))
        self.assertNotIn(self.fakewa_port(), peers, "worker %d is connected to fakewa directly" % pid)

    def close_updates(self, name, reason):
        return [d for d in self.updates(name, "close") if d.get("statusReason") == reason]

    def test_http_connect_pairs_and_opens(self):
        tp = self.tinyproxy()
        iid = self.create_with_proxy("viahttp", "http", tp.port)
        self.scan("viahttp", phone="5511900000101")
        self.sup.wait_state("viahttp", "open", 40)
        self.assertIn("CONNECT localhost:%d HTTP/1.1" % self.fakewa_port(), tp.log())
        self.assert_only_peer_is(iid, tp.port)

    def test_socks5_pairs_and_opens(self):
        ms = self.microsocks()
        iid = self.create_with_proxy("viasocks", "socks5", ms.port)
        self.scan("viasocks", phone="5511900000102")
        self.sup.wait_state("viasocks", "open", 40)
        self.assert_only_peer_is(iid, ms.port)

    def test_wrong_credentials_close_604_then_proxy_set_applies(self):
        tp = self.tinyproxy()
        ms = self.microsocks()
        for name, protocol, port, detail in (("badhttp", "http", tp.port, "proxy: 401 Unauthorized"),
                                             ("badsocks", "socks5", ms.port, "proxy: SOCKS5 auth refused")):
            self.create_with_proxy(name, protocol, port, password="wrong")
            self.assertStatus(self.sup.api("GET", "/instance/connect/" + name), 200)
            # Refused, reported as 604 with the proxy's words, and retried with backoff (a second refusal).
            wait_until(lambda: len(self.close_updates(name, 604)) >= 2, 30,
                       msg="two 604 closes of %s" % name, msg_fn=lambda: self.updates(name))
            row = self.wait_row(name, disconnectionReasonCode=604)
            self.assertEqual(row["disconnectionObject"], detail, row)
            self.assertEqual(self.sup.state(name), "close")
            self.assertEqual(self.fw.clients(), [], "nothing reached fakewa with wrong proxy credentials")

        # The right password through /proxy/set: the worker's next attempt gets through and shows a QR.
        r = self.sup.api("POST", "/proxy/set/badsocks", {"enabled": True, "host": "127.0.0.1",
                                                         "port": str(ms.port), "protocol": "socks5",
                                                         "username": USER, "password": PASS})
        self.assertStatus(r, 201)
        wait_until(lambda: len(self.qr_events("badsocks")) >= 1, 40, msg="a QR for badsocks after /proxy/set",
                   msg_fn=lambda: self.updates("badsocks")[-3:])
        self.scan("badsocks", phone="5511900000103")
        self.sup.wait_state("badsocks", "open", 40)
        self.assert_only_peer_is(self.instance_id("badsocks"), ms.port)
        # The other instance still has the wrong password and stays refused.
        self.assertEqual(self.sup.state("badhttp"), "close")

    def test_https_proxy_is_refused_clearly(self):
        import socket
        ls = socket.socket()
        ls.bind(("127.0.0.1", 0))
        ls.listen(4)
        self.addCleanup(ls.close)
        port = str(ls.getsockname()[1])
        msg = "Invalid proxy: protocol https is not supported (use http, socks4 or socks5)"
        r = self.sup.api("POST", "/instance/create", {"instanceName": "tlsproxy", "integration": "WHATSAPP-BAILEYS",
                                                      "proxyHost": "127.0.0.1", "proxyPort": port,
                                                      "proxyProtocol": "https"})
        self.assertStatus(r, 400)
        self.assertEqual(r.json["response"]["message"], [msg])
        self.sup.create_instance("tlsproxy")
        r = self.sup.api("POST", "/proxy/set/tlsproxy", {"enabled": True, "host": "127.0.0.1", "port": port,
                                                         "protocol": "HTTPS"})
        self.assertStatus(r, 400)
        self.assertEqual(r.json["response"]["message"], [msg])

    def test_dead_proxy_is_604(self):
        port = free_port()  # nothing listens there by the time the worker dials (the create check needs one)
        import socket
        ls = socket.socket()
        ls.bind(("127.0.0.1", port))
        ls.listen(4)
        self.create_with_proxy("deadproxy", "socks5", port)
        ls.close()
        self.assertStatus(self.sup.api("GET", "/instance/connect/deadproxy"), 200)
        row = self.wait_row("deadproxy", 30, disconnectionReasonCode=604)
        self.assertRegex(row["disconnectionObject"],
                         r"^proxy: (connect to socks5 127\.0\.0\.1:%d: Connection refused|"
                         r"connection (closed|reset) by the proxy)" % port, row)


if __name__ == "__main__":
    main()
