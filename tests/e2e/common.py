"""What every part of the e2e harness needs: progress lines, free ports, waiting on a condition, a missing tool
(skip, or fail under CI), and the registry of everything started so that any exit path can stop it."""

import atexit
import os
import random
import signal
import socket
import string
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))

_lock = threading.Lock()
_live_procs = []   # subprocess.Popen: killed on exit
_cleanups = []     # callables run on exit after the processes are killed, in registration order


def log(msg):
    """Progress line on stderr (meson shows it on failure)."""
    sys.stderr.write("[e2e %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port that was free a moment ago on every address, chosen below the kernel's ephemeral range: a port
    the kernel hands out (bind to 0) is also what it gives the next outgoing connection, so a server started on it
    a moment later could find it taken by some test's client socket ("Address already in use")."""
    low = min(_ephemeral_low(), 65536)
    lo, hi = (10000, low - 1) if low > 11000 else (1024, 65535)
    for _ in range(200):
        p = random.randint(lo, hi)
        s = socket.socket()
        try:
            s.bind(("0.0.0.0", p))
        except OSError:
            continue
        finally:
            s.close()
        return p
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rand_suffix(n=8):
    return "".join(random.choice(string.ascii_lowercase + string.digits) for _ in range(n))


def wait_until(pred, timeout=10.0, interval=0.1, msg="condition", msg_fn=None, ignore=()):
    """Poll pred() until it returns a truthy value; return it, or raise AssertionError after timeout.

    An exception from pred() fails at once (a broken predicate is not a slow one), except the types in
    `ignore`, which the caller expects while the condition is not met yet (e.g. ConnectionRefusedError while a
    server starts); the last of those is named in the timeout message."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except ignore as e:
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            if msg_fn is not None:
                try:
                    extra += "; state: %r" % (msg_fn(),)
                except Exception as e:
                    extra += "; state unavailable: %r" % (e,)
            raise AssertionError("timed out after %.1fs waiting for %s%s" % (timeout, msg, extra))
        time.sleep(interval)


def missing(what):
    """A tool or binary the test needs is not there: a skip, but a failure under CI (CI set), where it must be."""
    if os.environ.get("CI"):
        raise AssertionError("%s (CI is set: a missing tool is a failure)" % what)
    raise unittest.SkipTest(what)


def pid_alive(pid):
    """Whether pid runs (a zombie does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def track_proc(proc):
    """Kill proc on any exit path."""
    with _lock:
        _live_procs.append(proc)


def on_exit(fn):
    """Run fn() on any exit path, after every tracked process was killed (once, however often it is asked)."""
    with _lock:
        if fn not in _cleanups:
            _cleanups.append(fn)


def forget_on_exit(fn):
    with _lock:
        if fn in _cleanups:
            _cleanups.remove(fn)


def kill_everything():
    """Kill every tracked process, then run the exit cleanups (workers of ours, private clusters)."""
    with _lock:
        procs = list(_live_procs)
        cleanups = list(_cleanups)
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
                p.wait(10)
            except Exception:
                pass
    for fn in cleanups:
        try:
            fn()
        except Exception:
            pass


atexit.register(kill_everything)


def _on_term(sig, frame):
    kill_everything()
    os._exit(128 + sig)


signal.signal(signal.SIGTERM, _on_term)
signal.signal(signal.SIGHUP, _on_term)
