"""CPU time of processes from /proc, for the bench drivers (messages_driver.py, webhooks.sh)."""
import os


def ticks(pid):
    """utime + stime of a process, in clock ticks (0 once it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            v = f.read().rsplit(")", 1)[1].split()
        return int(v[11]) + int(v[12])
    except (OSError, ValueError, IndexError):
        return 0


def children(ppid):
    """The pids whose parent is ppid."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == ppid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out
