#!/usr/bin/env python3
"""End-to-end tests of the WhatsApp transport: fakewa (server) + wa_probe (wa_conn clients).

usage: transport_e2e.py FAKEWA WA_PROBE [test-name ...]
Each test starts its own fakewa (TLS, generated certificate and root key) and drives wa_probe, reading the
STATE lines it prints. Exit 0 when every selected test passed."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fwtest import Fakewa, Probe, check, poll, run  # noqa: E402


def t_tls_handshake(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "3")
        ok = p.wait_for(lambda p: any(l.startswith("NODE 0 iq pair-device") for l in p.lines), 8)
        check(ok, "no pair-device node after the handshake", p)
        check(p.count("open") == 1, "expected one open", p)
        cl = fw.clients()
        check(cl["count"] == 1 and cl["clients"][0]["phase"] == "open" and cl["clients"][0]["tls"], "fakewa: %s" % cl)
        p.finish()
        check(p.count("close") == 0, "unexpected close", p)


def t_plain_ws(tmp):
    with Fakewa(tmp, tls=False) as fw:
        p = Probe(fw, "--exit-after-open", "1", "--run-seconds", "5")
        p.finish()
        check(p.count("open") == 1, "no open over ws://", p)


def t_wrong_root(tmp):
    with Fakewa(tmp) as fw:
        bad = os.path.join(tmp, "bad.pub")
        with open(bad, "w") as f:
            f.write(os.urandom(32).hex() + "\n")
        p = Probe(fw, "--run-seconds", "5", root=bad)
        rc = p.finish(8)
        st = p.states()
        closes = [s for s in st if s[1] == "close"]
        check(rc == 0 and len(closes) == 1, "expected exactly one close", p)
        check(closes[0][2] == 400 and closes[0][3] == -1, "expected reason 400 with no retry", p)
        check("certificate" in closes[0][5], "reason text should name the certificate", p)
        check(p.count("connecting") == 1, "retried after a certificate failure", p)
        check(closes[0][4] < 4000, "the probe should have given up at once", p)


def t_tls_untrusted(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "5", ca=False)
        p.finish(8)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 400 and closes[0][3] == -1, "untrusted TLS cert not fatal", p)
        check("TLS certificate" in closes[0][5], "reason should say TLS certificate", p)


def t_515(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=515&client=all")
        check(p.wait_for(lambda p: p.count("open") >= 2, 5), "no reconnect after 515", p)
        st = p.states()
        close = [s for s in st if s[1] == "close"][0]
        reopen = [s for s in st if s[1] == "open"][1]
        check(close[2] == 515 and close[3] == 0, "515 should retry at once", p)
        check(reopen[4] - close[4] < 1000, "reconnect after 515 took too long", p)
        p.proc.terminate()
        p.finish()


def t_401(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=401&client=all&conflict=device_removed")
        p.finish(5)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 401 and closes[0][3] == -1, "401 must close for good", p)
        check(p.count("connecting") == 1, "reconnected after 401", p)


def t_replaced(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "6")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?conflict=replaced&client=all")
        p.finish(5)
        closes = [s for s in p.states() if s[1] == "close"]
        check(len(closes) == 1 and closes[0][2] == 440 and closes[0][3] == -1, "replaced must close for good", p)


def t_503_backoff(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "8")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        fw.call("/admin/stream-error?code=503&client=all")
        check(p.wait_for(lambda p: p.count("open") >= 2, 6), "no reconnect after 503", p)
        close = [s for s in p.states() if s[1] == "close"][0]
        # --backoff-min 300 with backoff.h's equal jitter: the first retry is in [150, 300] ms
        check(close[2] == 503 and 150 <= close[3] <= 2000, "503 should back off: %s" % (close,), p)
        p.proc.terminate()
        p.finish()


def t_drop(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "10")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        for i in range(3):
            fw.call("/admin/drop?client=all")
            check(p.wait_for(lambda p, n=i + 2: p.offers() >= n, 10), "no reconnect after drop %d" % i, p)
        closes = [s for s in p.states() if s[1] == "close"]
        check(all(c[2] == 428 and c[3] > 0 for c in closes), "drops should back off", p)
        # Backoff grows (equal jitter, each delay in [base/2, base]): the third delay exceeds the first.
        check(closes[2][3] > closes[0][3], "backoff did not grow: %s" % ([c[3] for c in closes],), p)
        p.proc.terminate()
        p.finish()


def t_stall(tmp):
    with Fakewa(tmp) as fw:
        p = Probe(fw, "--run-seconds", "10", "--keepalive", "300", "--deadline", "600")
        check(p.wait_for(lambda p: p.offers() >= 1, 10), "no open", p)
        check(poll(lambda: fw.clients()["pings_answered"] >= 3, 10), "fewer than 3 keepalives answered", p)
        check(p.count("close") == 0, "closed while the server answered pings", p)
        fw.call("/admin/stall?client=all")
        check(p.wait_for(lambda p: p.count("close") >= 1, 4), "stall not detected", p)
        close = [s for s in p.states() if s[1] == "close"][0]
        check(close[2] == 408 and close[3] > 0, "stall should be 408 with backoff: %s" % (close,), p)
        check(p.wait_for(lambda p: p.count("open") >= 2, 5), "no reconnect after stall", p)
        fw.call("/admin/unstall?client=all")
        p.proc.terminate()
        p.finish()


def t_200_clients(tmp):
    with Fakewa(tmp) as fw:
        # Handshakes cost CPU on both sides (X25519, certificate checks): allow a slow, shared machine.
        p = Probe(fw, "--count", "200", "--keepalive", "1000", "--deadline", "15000", "--connect-timeout", "90000",
                  "--run-seconds", "200")
        check(p.wait_for(lambda p: p.offers() >= 200, 120), "not all 200 opened (%d)" % p.offers(), p)
        cl = fw.clients()
        check(cl["count"] == 200, "fakewa sees %d clients" % cl["count"])
        before = cl["pings_answered"]
        # several keepalive periods: two answered pings per connection
        check(poll(lambda: fw.clients()["pings_answered"] - before >= 400, 60),
              "too few keepalives answered: %d" % (fw.clients()["pings_answered"] - before))
        check(p.count("close") == 0, "a connection closed during the keepalive period", p)
        p.proc.terminate()
        p.finish(15)
        check(p.count("close") == 0, "a connection closed during the keepalive period", p)
        check(any(l == "SUMMARY open=200 handshakes=200" for l in p.lines), "summary", p)


TESTS = [t_tls_handshake, t_plain_ws, t_wrong_root, t_tls_untrusted, t_515, t_401, t_replaced, t_503_backoff,
         t_drop, t_stall, t_200_clients]


if __name__ == "__main__":
    sys.exit(run(TESTS))
