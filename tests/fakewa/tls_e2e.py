#!/usr/bin/env python3
"""fakewa's TLS certificate as standard clients see it: with the written certificate as the only CA, OpenSSL's
s_client, Python's default context and (when installed) Node verify it for 127.0.0.1 and for localhost, and
refuse it for another name. The certificate carries subjectAltName DNS:localhost, IP:127.0.0.1
(worker/wa/wa_tls.c).

usage: tls_e2e.py FAKEWA WA_PROBE [test-name ...]"""
import base64
import os
import shutil
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwtest import Fakewa, check, run  # noqa: E402


def t_openssl(tmp):
    with Fakewa(tmp) as fw:
        for flag, name in (("-verify_ip", "127.0.0.1"), ("-verify_hostname", "localhost")):
            r = subprocess.run(["openssl", "s_client", "-verify_return_error", "-CAfile", fw.cert, "-connect",
                                "127.0.0.1:%d" % fw.port, flag, name], stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=20)
            check(r.returncode == 0 and "Verify return code: 0 (ok)" in r.stdout,
                  "openssl s_client %s %s: rc=%d\n%s\n%s" % (flag, name, r.returncode, r.stdout[-800:], r.stderr))
        r = subprocess.run(["openssl", "s_client", "-verify_return_error", "-CAfile", fw.cert, "-connect",
                            "127.0.0.1:%d" % fw.port, "-verify_hostname", "example.com"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=20)
        check(r.returncode != 0, "openssl accepted the certificate for example.com")


def _python_handshake(fw, name):
    """A TLS connection to fakewa verified for name with Python's default context; the WebSocket upgrade
    answer read over it (a standard client gets as far as the WebSocket)."""
    ctx = ssl.create_default_context(cafile=fw.cert)
    with socket.create_connection(("127.0.0.1", fw.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=name) as s:
            key = base64.b64encode(os.urandom(16)).decode()
            s.sendall(("GET /ws/chat HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (name, key)).encode())
            return s.recv(4096).decode(errors="replace")


def t_python(tmp):
    with Fakewa(tmp) as fw:
        for name in ("127.0.0.1", "localhost"):
            head = _python_handshake(fw, name)
            check(head.startswith("HTTP/1.1 101"), "%s: no WebSocket upgrade over verified TLS: %r" % (name, head))
        try:
            _python_handshake(fw, "example.com")
            check(False, "python accepted the certificate for example.com")
        except ssl.SSLCertVerificationError:
            pass


NODE_CHECK = r"""
const tls = require('tls'), fs = require('fs')
const [port, ca, host] = process.argv.slice(1)
const s = tls.connect({ host: '127.0.0.1', port: +port, ca: fs.readFileSync(ca),
	servername: host === '127.0.0.1' ? undefined : host,
	checkServerIdentity: (h, cert) => tls.checkServerIdentity(host, cert) }, () => { s.end(); process.exit(0) })
s.on('error', (e) => { console.error(e.message); process.exit(1) })
"""


def t_node(tmp):
    node = shutil.which("node")
    if node is None:
        # under CI a missing tool is a failure, not a skip (as the other suites do)
        check(os.environ.get("CI", "") in ("", "0", "false"), "node not installed (required under CI)")
        print("skip node: not installed", flush=True)
        return
    with Fakewa(tmp) as fw:
        for name in ("127.0.0.1", "localhost"):
            r = subprocess.run([node, "-e", NODE_CHECK, str(fw.port), fw.cert, name], capture_output=True,
                               text=True, timeout=20)
            check(r.returncode == 0, "node refused %s: %s" % (name, r.stderr))
        r = subprocess.run([node, "-e", NODE_CHECK, str(fw.port), fw.cert, "example.com"], capture_output=True,
                           text=True, timeout=20)
        check(r.returncode != 0, "node accepted the certificate for example.com")


TESTS = [t_openssl, t_python, t_node]

if __name__ == "__main__":
    sys.exit(run(TESTS))
