"""The driver of bench/messages.sh (run by it; standard library only): pairs instances with fakewa's mock phones,
runs the webhook receiver (bench/msg_sink.c, timestamping every messages.upsert), sends texts instance -> instance
through POST /message/sendText with the load generator (bench/msg_load.c, one run per set) and measures, per
message, the time from the request to the receiving instance's messages.upsert at the receiver (API accepted ->
fakewa -> receiving worker -> row committed -> webhook delivered). Prints the result lines on stdout; a failure is
one line on stderr and exit 1.

The sender and the receiver are C programs because they run on the same 2 cores as what is measured: in Python
(a thread pool of http.client senders, an asyncio receiver) they took ~15 % of those cores, ~0.8 s of CPU per
2,000 texts. The pairing, the bookkeeping and the figures stay here. Their binaries come from BENCH_LOAD_BIN and
BENCH_SINK_BIN (messages.sh builds them).

The latency is split at the receiving row's created_at (the storing transaction's start, read with psql): API ->
row stored, row -> webhook delivered.

usage: messages_driver.py BASE KEY FW_CONTROL SCRATCH_DIR DB_URI PAIRS:MESSAGES:CONCURRENCY ...
  (e.g. 1:1000:32 50:2000:100; pair sets grow: the pairs of a smaller set are reused by the next)"""

import concurrent.futures
import glob
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import time

from proc_cpu import children, ticks

BASE, KEY, CONTROL, SCRATCH, DB = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
PORT = int(BASE.rsplit(":", 1)[1])
LIMIT = float(os.environ.get("BENCH_TIMEOUT", "600"))
LOAD_BIN, SINK_BIN = os.environ.get("BENCH_LOAD_BIN", ""), os.environ.get("BENCH_SINK_BIN", "")


def die(msg):
    sys.stderr.write("%s\n" % msg)
    sys.exit(1)


def req(port, method, path, body=None, timeout=120):
    """One request on its own connection: (status, parsed JSON or None)."""
    hdr = {"apikey": KEY}
    if body is not None:
        body = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdr["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=hdr)
        r = c.getresponse()
        data = r.read()
        return r.status, (json.loads(data) if data else None)
    finally:
        c.close()


def metrics():
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
    c.request("GET", "/metrics", headers={"apikey": KEY})
    return c.getresponse().read().decode()


def db_counts():
    """(writes, write transactions, statements) so far, from /metrics: how well the writes were batched."""
    want = ("wagate_writes_total", "wagate_write_transactions_total", "wagate_db_queries_total")
    got = {}
    for line in metrics().splitlines():
        name, _, value = line.partition(" ")
        if name in want:
            got[name] = int(float(value))
    return tuple(got.get(n, 0) for n in want)


def worker_pids():
    """{instance_id: pid} from /metrics."""
    out = {}
    for line in metrics().splitlines():
        if line.startswith("wagate_worker_pid{"):
            iid = line.split('instance_id="', 1)[1].split('"', 1)[0]
            pid = int(float(line.rsplit(" ", 1)[1]))
            if pid > 0:
                out[iid] = pid
    return out


def wait(pred, what, limit=LIMIT, interval=0.2):
    end = time.monotonic() + limit
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            die("timed out after %ds waiting for %s" % (limit, what() if callable(what) else what))
        time.sleep(interval)


def psql(sql):
    """Rows of one query (tab-separated fields) with the newest server-side psql."""
    c = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"))
    # the query on stdin: a set of many texts names more ids than one argument may hold (128 KB)
    r = subprocess.run([c[-1] if c else "psql", "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", DB], input=sql, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        die("psql: %s" % r.stderr.strip())
    return [line.split("\t") for line in r.stdout.splitlines() if line]


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def fw_devices():
    _, j = req(CONTROL, "GET", "/admin/accounts")
    return {d["jid"]: d for a in j["accounts"] for d in a["devices"]}


def pair(name, phone):
    """create (qrcode:true) -> fakewa's phone scans -> open with its prekeys uploaded; returns the device JID."""
    st, j = req(PORT, "POST", "/instance/create", {"instanceName": name, "integration": "WHATSAPP-BAILEYS",
                                                   "qrcode": True})
    if st != 201:
        die("create %s: %s %s" % (name, st, j))
    code = (j.get("qrcode") or {}).get("code")
    end = time.monotonic() + 120
    while True:
        if code:
            st, j = req(CONTROL, "POST", "/admin/mock-phone/scan-qr?phone=%s" % phone, code.encode())
            if st == 200:
                return j["jid"]
            if st != 404:
                die("scan %s: %s %s" % (name, st, j))
        if time.monotonic() > end:
            die("scan %s: no QR that fakewa knows" % name)
        time.sleep(0.3)
        st, j = req(PORT, "GET", "/instance/connect/" + name)
        code = j.get("code") if st == 200 and isinstance(j, dict) else None


def state(name):
    st, j = req(PORT, "GET", "/instance/connectionState/" + name)
    return (j or {}).get("instance", {}).get("state") if st == 200 else None


def cpu(rx_pid):
    """CPU seconds so far of wagate, its workers, fakewa, PostgreSQL (postmaster and backends), the receiver and
    the driver: this process plus its waited-for children, i.e. the msg_load runs (and the psql runs, which come
    after a set's second reading). The receiver is not among those children until the very end (it is waited for
    only once stopped), so it is counted once, from /proc. A process that exited meanwhile (a killed worker) is
    simply missing."""
    hz = os.sysconf("SC_CLK_TCK")
    sup, fw = int(os.environ.get("BENCH_SUP_PID", "0")), int(os.environ.get("BENCH_FW_PID", "0"))
    try:
        with open(os.path.join(SCRATCH, "pg", "data", "postmaster.pid")) as f:
            pm = int(f.readline())
    except (OSError, ValueError):
        pm = 0
    t = os.times()
    return {"wagate": ticks(sup) / hz, "workers": sum(ticks(p) for p in children(sup)) / hz,
            "fakewa": ticks(fw) / hz, "postgres": (ticks(pm) + sum(ticks(p) for p in children(pm))) / hz,
            "receiver": ticks(rx_pid) / hz,
            "driver": t.user + t.system + t.children_user + t.children_system}


def pss(pid):
    """(PSS, private, RSS) kB of a process."""
    v = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Pss", "Rss", "Private_Clean", "Private_Dirty"):
                v[k] = int(rest.split()[0])
    return v["Pss"], v["Private_Clean"] + v["Private_Dirty"], v["Rss"]


class Arrivals:
    """Reads the receiver's file ("<instance> <key.id> <time>" lines, appended while it runs) incrementally:
    {key.id: (instance, time)}."""

    def __init__(self, path):
        self.path, self.pos, self.seen = path, 0, {}

    def poll(self):
        with open(self.path) as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind("\n") + 1
        self.pos += len(data[:end].encode())
        for line in data[:end].splitlines():
            inst, mid, t = line.split(" ")
            self.seen.setdefault(mid, (inst, float(t)))
        return self.seen


def run_set(npairs, nmsgs, conc, arrivals, rx_pid, rate=0):
    """nmsgs texts over npairs sender -> receiver pairs, conc in flight (at most, offered at rate texts/s when
    rate > 0): (msg/s, p50 ms, p99 ms, ...)."""
    out = os.path.join(SCRATCH, "sends.txt")
    t_start, c0, d0 = time.time(), cpu(rx_pid), db_counts()
    try:
        r = subprocess.run([LOAD_BIN, str(PORT), KEY, str(npairs), str(nmsgs), str(conc), out] +
                           ([str(rate)] if rate > 0 else []),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=LIMIT)
    except subprocess.TimeoutExpired:
        die("msg_load: not done after %ds" % LIMIT)
    t_sent = time.time()
    if r.returncode != 0:
        # stderr (e.g. a sanitizer's report) and the status first, the summary last: messages.sh shows the last line
        said = (r.stderr.strip(), "exit %d" % r.returncode, r.stdout.strip())
        die("msg_load: %s" % "\n".join(x for x in said if x))
    sends = {}  # id -> (pair, t0)
    with open(out) as f:
        for line in f:
            p, mid, t0 = line.split(" ")
            sends[mid] = (int(p), float(t0))
    if len(sends) != nmsgs:
        die("msg_load: %d distinct ids for %d texts (%s)" % (len(sends), nmsgs, r.stdout.strip()))

    def all_in():
        seen = arrivals.poll()
        return all(mid in seen for mid in sends)
    wait(all_in, lambda: "%d messages.upsert at the receiver (%d in)" % (nmsgs, sum(m in arrivals.seen
                                                                                        for m in sends)),
         interval=0.05)
    seen = arrivals.seen
    bad = [mid for mid, (p, _) in sends.items() if seen[mid][0] != "r%d" % p]
    if bad:
        die("%d messages arrived at the wrong instance" % len(bad))
    c1, d1 = cpu(rx_pid), db_counts()
    used = "cpu s: " + ", ".join("%s %.1f" % (k, c1[k] - c0[k]) for k in c1)
    # per text: what wagate costs (its processes and its database), fakewa (WhatsApp and the phones' Signal), and the
    # bench's own sender and receiver, all sharing the machine's cores
    per = {k: (c1[k] - c0[k]) * 1000 / nmsgs for k in c1}
    used += " (ms per text: wagate+workers+postgres %.2f, fakewa %.2f, bench %.2f)" % (
        per["wagate"] + per["workers"] + per["postgres"], per["fakewa"], per["receiver"] + per["driver"])
    used += "; db: %d writes in %d transactions, %d statements" % tuple(b - a for a, b in zip(d0, d1))
    lat = [(seen[mid][1] - t0) * 1000 for mid, (_, t0) in sends.items()]
    last = max(seen[mid][1] for mid in sends)
    # The texts' other webhooks (send.message and messages.update of the sender's one queue, delivered in order)
    # may still be queued when the last messages.upsert arrives: how many, and when the outbox is empty. A rate
    # whose webhooks fall behind is not sustained.
    left = int(psql("SELECT count(*) FROM webhook_outbox")[0][0])
    if left > 0:
        wait(lambda: psql("SELECT count(*) FROM webhook_outbox")[0][0] == "0", "the webhook outbox to drain",
             interval=0.05)
    drained = time.time()
    backlog = "%d webhooks still queued then, all delivered %.2f s later (%.0f msg/s with every webhook)" % (
        left, max(0.0, drained - last), nmsgs / (drained - t_start))
    # the split: when the receiving instance's row was stored
    stored = {r[0]: float(r[1]) for r in psql(
        "SELECT key_id, extract(epoch FROM created_at) FROM message WHERE NOT from_me AND key_id IN (%s)"
        % ",".join("'%s'" % mid for mid in sends))}
    to_row = [(stored[mid] - t0) * 1000 for mid, (_, t0) in sends.items() if mid in stored]
    to_hook = [(seen[mid][1] - stored[mid]) * 1000 for mid in sends if mid in stored]
    split = "API->row p50 %.1f p99 %.1f ms, row->webhook p50 %.1f p99 %.1f ms" % (
        statistics.median(to_row), pct(to_row, 0.99), statistics.median(to_hook), pct(to_hook, 0.99)) \
        if to_row else "no rows found for the split"
    if rate > 0:
        # msg_load's "late L max_lag_ms M": texts written over 1 ms after they were due (every connection busy, or
        # msg_load itself waiting for a CPU)
        said = r.stdout.split()
        lag = dict(zip(said[0::2], said[1::2]))
        backlog += "; offered %d msg/s, %s written late (>1 ms; worst %s ms)" % (rate, lag.get("late", "?"),
                                                                               lag.get("max_lag_ms", "?"))
    return nmsgs / (last - t_start), statistics.median(lat), pct(lat, 0.99), t_sent - t_start, \
        split + "; " + used + "; " + backlog


def main():
    sets = []
    for s in sys.argv[6:]:
        load, _, rate = s.partition("@")
        a, b, c = (int(x) for x in load.split(":"))
        sets.append((a, b, c, int(rate or 0)))
    rport = int(os.environ.get("BENCH_RECEIVER_PORT", "0"))
    rfile = os.path.join(SCRATCH, "arrivals.txt")
    open(rfile, "w").close()
    if not (LOAD_BIN and SINK_BIN):
        die("BENCH_LOAD_BIN and BENCH_SINK_BIN must name the built msg_load and msg_sink")
    rx = subprocess.Popen([SINK_BIN, str(rport), rfile], stdout=subprocess.PIPE, text=True)
    try:
        if rx.stdout.readline().strip() != "msg_sink ready":
            die("msg_sink did not start")
        arrivals = Arrivals(rfile)
        have = 0
        for npairs, nmsgs, conc, offered in sets:
            t0 = time.time()
            names = []
            with concurrent.futures.ThreadPoolExecutor(max_workers=8) as ex:
                jobs = []
                for p in range(have + 1, npairs + 1):
                    jobs.append(ex.submit(pair, "s%d" % p, "15553%06d" % p))
                    jobs.append(ex.submit(pair, "r%d" % p, "15554%06d" % p))
                    names += ["s%d" % p, "r%d" % p]
                jids = [j.result() for j in jobs]
            for n in names:
                wait(lambda: state(n) == "open", "%s open" % n)
            wait(lambda: all(fw_devices().get(j, {}).get("prekeys", 0) >= 812 for j in jids), "prekeys uploaded")
            t_pair = time.time() - t0
            if have == 0:
                time.sleep(2)  # idle: the logins are done, a few keepalives go by
                pid = list(worker_pids().values())[0]
                print("messages: idle paired worker PSS %d kB (private %d kB, RSS %d kB; after pairing)" % pss(pid),
                      flush=True)
            # warm-up: one message per pair builds the Signal sessions (pkmsg), not measured; a set on the pairs
            # of the one before needs none
            if npairs > have:
                run_set(npairs, npairs, min(conc, npairs), arrivals, rx.pid)
            have = npairs
            rate, p50, p99, t_send, split = run_set(npairs, nmsgs, conc, arrivals, rx.pid, offered)
            print("messages pairs=%d: %d texts, %.0f msg/s end to end (goal 2000), latency p50 %.1f ms p99 %.1f ms "
                  "(%s; %s%d in flight; sendText calls took %.2f s; pairing took %.1f s)"
                  % (npairs, nmsgs, rate, p50, p99, split, "at most " if offered else "", conc, t_send, t_pair),
                  flush=True)
        # the receiving worker of pair 1 after the load, then after a restart (kill -9, logged in again, idle)
        ids = {}
        _, j = req(PORT, "GET", "/instance/fetchInstances")
        for x in j:
            ids[x["name"]] = x["id"]
        pid = worker_pids()[ids["r1"]]
        time.sleep(2)
        print("messages: idle worker PSS %d kB (private %d kB, RSS %d kB; after the load)" % pss(pid), flush=True)
        os.kill(pid, signal.SIGKILL)
        new = wait(lambda: (lambda q: q if q and q != pid else None)(worker_pids().get(ids["r1"])), "r1 restarted")
        wait(lambda: state("r1") == "open", "r1 open again")
        time.sleep(2)
        print("messages: idle worker PSS %d kB (private %d kB, RSS %d kB; after a restart)" % pss(new), flush=True)
    finally:
        # SIGTERM: msg_sink frees everything and exits (a leak checker around it reports at exit)
        rx.terminate()
        try:
            rx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rx.kill()
            rx.wait()


if __name__ == "__main__":
    main()
