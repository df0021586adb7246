"""The Baileys agent (baileys_agent.mjs) as a Python object: a real Baileys client paired with fakewa as one
account, commands in, events out (JSON lines). Shared by interop_msg.py (Baileys <-> fakewa's mock phones) and
interop_wagate.py (Baileys <-> a wagate instance). Standard library only."""
import itertools
import json
import os
import subprocess
import threading
import time


class Agent:
    """node baileys_agent.mjs, started in node_dir (where baileys_agent.mjs and node_modules are)."""

    def __init__(self, node_dir, url, root_file, control_port, phone, log_path):
        self.phone = phone
        self.log_path = log_path
        self.events = []
        self.cond = threading.Condition()
        self.tags = itertools.count(1)
        self.errf = open(log_path, "ab")
        self.proc = subprocess.Popen(["node", "baileys_agent.mjs", url, root_file, str(control_port), phone],
                                     cwd=node_dir, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.errf, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                ev = {"ev": "garbage", "line": line.rstrip("\n")}
            with self.cond:
                self.events.append(ev)
                self.cond.notify_all()
        with self.cond:
            self.events.append({"ev": "exit"})
            self.cond.notify_all()

    def wait(self, what, pred, timeout=20):
        """The first event for which pred is true (waits up to timeout s); AssertionError otherwise. An agent
        that gave up (fatal, close, exit) fails at once with what it said."""
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for ev in self.events:
                    if pred(ev):
                        return ev
                dead = [ev for ev in self.events if ev["ev"] in ("fatal", "close", "exit")]
                if dead:
                    raise AssertionError("waiting for %s: the Baileys agent ended: %s\n%s" %
                                         (what, dead[0], self.tail()))
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError("timed out waiting for %s\nevents: %s\n%s" %
                                         (what, json.dumps(self.events[-20:]), self.tail()))
                self.cond.wait(left)

    def tail(self, n=40):
        """The end of Baileys' own log (stderr)."""
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return ""
        return "----- Baileys log (%s) -----\n%s" % (self.log_path, "\n".join(lines[-n:]))

    def wait_open(self, timeout=40, nth=1):
        """The nth "open" event (1: the first login; 2: after the first reconnect ...)."""
        def pred(e):
            opens = [x for x in self.events if x["ev"] == "open"]
            return len(opens) >= nth and opens[nth - 1] is e
        return self.wait("Baileys open #%d" % nth, pred, timeout)

    def command(self, op, timeout=20, **args):
        """Run one command; its answer event (sent, groups); AssertionError on an error event."""
        tag = next(self.tags)
        self.proc.stdin.write(json.dumps(dict(args, op=op, tag=tag)) + "\n")
        self.proc.stdin.flush()
        ev = self.wait("the answer to %s %s" % (op, args), lambda e: e.get("tag") == tag, timeout)
        if ev["ev"] == "error":
            raise AssertionError("Baileys %s %s failed: %s\n%s" % (op, args, ev["error"], self.tail()))
        return ev

    def send(self, to, text, timeout=20):
        """sendMessage(to, {text}); the message id."""
        return self.command("send", timeout, to=to, text=text)["id"]

    def wait_status(self, mid, status, timeout=20):
        """Baileys' status of our message mid reached status (3 delivered, 4 read): a messages.update, or a
        messages.upsert of it carrying the status (Baileys merges a receipt into an upsert still buffered)."""
        return self.wait("status %d of %s" % (status, mid), lambda e: e["ev"] in ("update", "msg") and
                         e.get("id") == mid and (e.get("status") or 0) >= status, timeout)

    def messages(self):
        with self.cond:
            return [e for e in self.events if e["ev"] == "msg"]

    def wait_text(self, text, timeout=20):
        """The messages.upsert event that carries text."""
        return self.wait("Baileys to receive %r" % text, lambda e: e["ev"] == "msg" and e.get("text") == text,
                         timeout)

    def stop(self):
        """quit, then SIGTERM/SIGKILL if it lingers; the exit status."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(5)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.thread.join(5)
        self.errf.close()
        return self.proc.returncode


def sender_is(ev, phone, lid):
    """Whether a messages.upsert event's author (participant in a group, else the chat) is this account, named
    by phone JID or LID (Baileys 7 may key either way and give the other as the ...Alt field)."""
    names = {phone + "@s.whatsapp.net", lid}
    if ev.get("remoteJid", "").endswith("@g.us"):
        cand = [ev.get("participant"), ev.get("participantAlt")]
    else:
        cand = [ev.get("remoteJid"), ev.get("remoteJidAlt")]
    return any(c and c.split(":")[0].split("@")[0] + "@" + c.split("@")[1] in names for c in cand)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def log(msg):
    print(msg, flush=True)


def node_dir():
    """INTEROP_NODE_DIR (run.sh sets it: baileys_agent.mjs next to node_modules)."""
    d = os.environ.get("INTEROP_NODE_DIR")
    if not d or not os.path.exists(os.path.join(d, "node_modules")):
        raise SystemExit("INTEROP_NODE_DIR must name a directory with node_modules (run through run.sh)")
    return d
