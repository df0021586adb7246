"""Issue 11: the HTTP listener cannot be exhausted. Connections over HTTP_MAX_CONNECTIONS or over
HTTP_MAX_CONNECTIONS_PER_IP are closed at once (a 503), a slowloris crowd is closed at HTTP_REQUEST_TIMEOUT,
an idle keep-alive connection is not, and a fresh client keeps being answered. With RLIMIT_NOFILE below what
the connections need, accept's EMFILE pauses the listener: no busy loop, a few log lines, recovery when
descriptors come back. Flood clients use their own loopback addresses (127.0.0.2...) so that the per-address
cap is exercised apart from the good client on 127.0.0.1."""

import os
import resource
import select
import socket
import struct
import threading
import time

from harness import E2ETestCase, main, wait_until

TIMEOUT = 4  # HTTP_REQUEST_TIMEOUT of these scenarios


def open_from(src, port, blocking=True):
    """A TCP connection to the supervisor from loopback address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    if blocking:
        s.settimeout(5)
        s.connect(("127.0.0.1", port))
    else:
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
    return s


def abort(s):
    """Close with a reset: a client-side TIME_WAIT would hold its source port, and the harness's free_port() may
    pick that port for another test's server, whose bind then fails (the machine is shared)."""
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    s.close()


def closed_or_answered(s):
    """What the server did to s so far: None (nothing), b"" (closed), or the bytes it sent."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return None
    try:
        return s.recv(4096)
    except (ConnectionResetError, BrokenPipeError):
        return b""
    except BlockingIOError:
        return None


class Crowd:
    """Connections from one address that each send a request one byte at a time (slowloris), on a thread;
    records when the server closed each of them."""

    def __init__(self, src, port, n, every=0.5):
        self.socks = [open_from(src, port) for _ in range(n)]
        self.opened = time.monotonic()
        self.closed_at = {}
        self.answered = {}
        self.every = every
        self.payload = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 1000
        self.stop = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        i = 0
        while not self.stop and len(self.closed_at) < len(self.socks):
            for k, s in enumerate(self.socks):
                if k in self.closed_at:
                    continue
                got = closed_or_answered(s)
                if got is not None:
                    self.closed_at[k] = time.monotonic()
                    if got:
                        self.answered[k] = got
                    continue
                try:
                    s.send(self.payload[i % len(self.payload):i % len(self.payload) + 1])
                except OSError:
                    self.closed_at[k] = time.monotonic()
            i += 1
            time.sleep(self.every)

    def close(self):
        self.stop = True
        self.thread.join(5)
        for s in self.socks:
            abort(s)


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


class FloodTest(E2ETestCase):
    def fresh_health(self, sup, timeout=5):
        """GET /health from 127.0.0.1 on a new connection; (status, seconds)."""
        t0 = time.monotonic()
        r = sup.request("GET", "/health", timeout=timeout)
        return r.status, time.monotonic() - t0

    def test_caps_slowloris_keepalive(self):
        sup = self.supervisor({"HTTP_MAX_CONNECTIONS": "50", "HTTP_MAX_CONNECTIONS_PER_IP": "20",
                               "HTTP_REQUEST_TIMEOUT": str(TIMEOUT)})
        self.assertIn("at most 50 connections, 20 per client address", sup.log_text())

        # An idle keep-alive connection: one request answered, then silence longer than the request deadline.
        ka = socket.create_connection(("127.0.0.1", sup.port), timeout=10)
        ka.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        first = ka.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)

        # 30 connections from one address that send nothing: 20 held, 10 refused at once.
        idle = [open_from("127.0.0.2", sup.port) for _ in range(30)]
        t0 = time.monotonic()
        refused = wait_until(lambda: (lambda d: d if len(d) >= 10 else None)(
            {k: v for k, v in ((k, closed_or_answered(s)) for k, s in enumerate(idle)) if v is not None}),
            TIMEOUT - 1, interval=0.05, msg="10 connections over the per-address cap refused")
        self.assertLess(time.monotonic() - t0, TIMEOUT - 1)
        self.assertEqual(len(refused), 10, "refused: %r" % refused)
        for k, v in refused.items():
            self.assertTrue(v == b"" or v.startswith(b"HTTP/1.1 503"), v)
        self.assertTrue(any(v.startswith(b"HTTP/1.1 503") for v in refused.values()), refused)

        # A slowloris crowd from a second address, under the caps: the good client is still answered at once.
        crowd = Crowd("127.0.0.3", sup.port, 15)
        self.addCleanup(crowd.close)
        for _ in range(5):
            status, took = self.fresh_health(sup)
            self.assertEqual(status, 200)
            self.assertLess(took, 1.0, "GET /health took %.2fs beside the flood" % took)

        # Over the total cap (20 + 15 held, 20 more from a third address): the surplus is refused at once,
        # and so is the good client while every slot is taken, quickly rather than hanging.
        more = [open_from("127.0.0.4", sup.port) for _ in range(20)]
        wait_until(lambda: sum(1 for s in more if closed_or_answered(s) is not None) >= 5, 2, interval=0.05,
                   msg="connections over the total cap refused")
        status, took = self.fresh_health(sup)
        self.assertEqual(status, 503)
        self.assertLess(took, 1.0)

        # The slowloris connections, which never finish a request, are closed at the deadline: not before,
        # not much later, and without an answer.
        wait_until(lambda: len(crowd.closed_at) == 15, TIMEOUT + 5, msg="slowloris connections closed",
                   msg_fn=lambda: len(crowd.closed_at))
        lived = [crowd.closed_at[k] - crowd.opened for k in crowd.closed_at]
        self.assertGreater(min(lived), TIMEOUT - 0.6, lived)
        self.assertLess(max(lived), TIMEOUT + 3, lived)
        self.assertEqual(crowd.answered, {})
        # the silent ones too, so slots come back and the good client is served again within the deadline
        status = wait_until(lambda: self.fresh_health(sup)[0] == 200, TIMEOUT + 3, interval=0.2,
                            msg="fresh client answered after the deadline freed slots")
        for s in idle + more:
            abort(s)

        # The keep-alive connection idled through all that and still serves its next request.
        ka.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        second = ka.recv(65536)
        self.assertTrue(second.startswith(b"HTTP/1.1 200"), second)
        # ... and a request started on it must also finish within the deadline
        ka.sendall(b"GET /health HTTP/1.1\r\n")
        t0 = time.monotonic()
        ka.settimeout(TIMEOUT + 5)
        self.assertEqual(ka.recv(65536), b"")
        self.assertGreater(time.monotonic() - t0, TIMEOUT - 0.6)
        abort(ka)
        self.assertIn("HTTP_MAX_CONNECTIONS_PER_IP reached", sup.log_text())
        self.assertLess(sup.log_text().count("refused a connection"), 4, sup.log_tail())
        # and /metrics counts what the log only samples
        self.assertGreaterEqual(float(sup.metric("wagate_http_connections_refused_total")), 10)
        self.assertGreaterEqual(float(sup.metric("wagate_http_request_timeouts_total")), 1)

    def test_emfile_pauses_listener(self):
        sup = self.supervisor({"HTTP_MAX_CONNECTIONS": "5000", "HTTP_MAX_CONNECTIONS_PER_IP": "5000",
                               "HTTP_REQUEST_TIMEOUT": str(TIMEOUT)})
        pid = sup.proc.pid
        nfd = len(os.listdir("/proc/%d/fd" % pid))
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        # room for 20 more descriptors: the flood below needs more
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (nfd + 20, hard))
        self.addCleanup(lambda: sup.running() and resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard)))

        flood = [open_from("127.0.0.%d" % (2 + i % 5), sup.port, blocking=False) for i in range(100)]
        self.addCleanup(lambda: [abort(s) for s in flood])
        wait_until(lambda: "pausing new connections" in sup.log_text(), 10, msg="accept hit EMFILE",
                   msg_fn=lambda: sup.log_tail(10))
        # paused, not spinning: the supervisor sleeps while connections wait in the backlog
        c0, t0 = cpu_seconds(pid), time.monotonic()
        wait_until(lambda: time.monotonic() - t0 >= 2, 5, interval=0.1, msg="2 s of flood")
        used = cpu_seconds(pid) - c0
        self.assertLess(used, 0.5, "the supervisor used %.2f s of CPU in %.1f s while out of descriptors"
                        % (used, time.monotonic() - t0))

        # The flood goes away: descriptors come back, accepting resumes, and a fresh client is answered.
        for s in flood:
            abort(s)
        status = wait_until(lambda: (lambda r: r if r[0] == 200 else None)(self.fresh_health(sup, timeout=3)),
                            TIMEOUT + 10, interval=0.2, ignore=(OSError,),
                            msg="fresh client answered after the flood")
        self.assertLess(status[1], 3)
        wait_until(lambda: "accepting connections again" in sup.log_text(), 5, msg="end of the pause logged")
        text = sup.log_text()
        accept_lines = [line for line in text.splitlines() if "accept" in line.lower()]
        self.assertLess(len(accept_lines), 10, "\n".join(accept_lines[:20]))
        self.assertNotIn("Too many open files", text.replace("accept: Too many open files; pausing", ""))
        self.assertLess(len(text), 200000, "log grew to %d bytes" % len(text))
        self.assertGreaterEqual(float(sup.metric("wagate_http_accept_pauses_total")), 1)


if __name__ == "__main__":
    main()
