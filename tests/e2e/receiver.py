"""The webhook receiver of the e2e tests: a threaded HTTP server that records every request."""

import http.server
import json
import socket
import sys
import threading
import time

from common import free_port, wait_until


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # headers and body are two writes: with Nagle on, a keep-alive sender waits for the delayed ACK (40 ms)
        # before it sees the body, which capped deliveries at ~22/s per connection
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        rec = self.server.receiver
        try:
            parsed = json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            parsed = None
        with rec.lock:
            rec.seen += 1
            # fail_every = n: the 1st, (n+1)th, ... request is answered 500 (a flaky receiver)
            status = 500 if rec.fail_every and rec.seen % rec.fail_every == 1 % rec.fail_every else rec.status
        entry = {"method": self.command, "path": self.path,
                 "headers": {k.lower(): v for k, v in self.headers.items()},
                 "body": parsed, "raw": body, "status": status, "time": time.time()}
        with rec.lock:
            rec.requests.append(entry)
        if rec.delay:
            time.sleep(rec.delay)  # a slow receiver; each request has its own thread
        entry["answered"] = time.time()
        payload = b'{"ok":true}' if status < 300 else b'{"ok":false}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        try:
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (its timeout); the request is recorded, the product will retry

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle


class _Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    request_queue_size = 1024  # socketserver's 5 drops SYNs when wagate opens many delivery connections at once

    def process_request(self, request, client_address):
        """Remember open connections, so that 'down' can cut the keep-alive ones too."""
        with self.receiver.lock:
            self.receiver.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.receiver.lock:
            self.receiver.conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        """A sender that hung up (its timeout) is routine: the product retries; anything else is printed."""
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class Receiver:
    """A threaded HTTP server on 127.0.0.1 that records every request; answers `status` (200 by default)."""

    def __init__(self, port=None):
        self.port = port or free_port()
        self.requests = []
        self.lock = threading.Lock()
        self.status = 200
        self.delay = 0.0      # seconds before each answer (slow mode)
        self.fail_every = 0   # n > 0: answer 500 to one request in n (flaky mode)
        self.seen = 0         # requests seen, for fail_every
        self.conns = set()    # open connections (sockets)
        self.server = None
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def start(self):
        """Listen on self.port (again, after stop: the old socket may linger a moment)."""
        self.server = wait_until(lambda: _Server(("127.0.0.1", self.port), _Handler), 10, msg="port %d" % self.port,
                                 ignore=(OSError,))
        self.server.daemon_threads = True
        self.server.receiver = self
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def set_mode(self, mode, delay=0.2, fail_every=2):
        """'up' (answers at once), 'slow' (delay seconds per answer), 'flaky' (slow, and 500 to one request in
        fail_every), 'down' (stopped: connections refused); restarts the server when leaving 'down'."""
        with self.lock:
            self.delay = delay if mode in ("slow", "flaky") else 0.0
            self.fail_every = fail_every if mode == "flaky" else 0
        if mode == "down":
            self.stop()
            # a stopped server still answers on its open keep-alive connections: cut them
            with self.lock:
                conns, self.conns = list(self.conns), set()
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif self.server is None:
            self.start()
        return self

    def stop(self):
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def accepted(self):
        """Requests answered 2xx (the ones the product may consider delivered)."""
        return [r for r in self.snapshot() if r["status"] < 300]

    def events(self, event=None, instance=None, accepted_only=True):
        reqs = self.accepted() if accepted_only else self.snapshot()
        out = []
        for r in reqs:
            b = r["body"] if isinstance(r["body"], dict) else {}
            if event is not None and b.get("event") != event:
                continue
            if instance is not None and b.get("instance") != instance:
                continue
            out.append(r)
        return out

    def wait_event(self, event, instance=None, timeout=15, count=1, pred=None):
        def have():
            ev = [r for r in self.events(event, instance) if pred is None or pred(r)]
            return ev if len(ev) >= count else None
        return wait_until(have, timeout, msg="webhook %s for %s (got: %s)" % (
            event, instance, [(r["body"] or {}).get("event") for r in self.snapshot()][-20:]))

