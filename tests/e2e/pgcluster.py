"""PostgreSQL for the e2e tests: a private cluster (scripts/pg.sh), psql, and a throwaway database per test."""

import glob
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from common import REPO, free_port, log, on_exit, forget_on_exit, rand_suffix

PG_SH = os.path.join(REPO, "scripts", "pg.sh")


class PgCluster:
    """A private cluster driven by scripts/pg.sh (start DIR PORT / stop DIR)."""

    def __init__(self, directory=None, port=None):
        self.dir = directory or tempfile.mkdtemp(prefix="wagate-e2e-pg-")
        self.port = port or free_port()
        self.running = False

    @property
    def uri(self):
        return "postgresql://postgres@127.0.0.1:%d/postgres" % self.port

    def start(self):
        env = dict(os.environ, PG_FSYNC="off")
        r = subprocess.run(["bash", PG_SH, "start", self.dir, str(self.port)], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("pg.sh start failed: %s" % r.stdout)
        self.running = True
        on_exit(self.destroy)

    def stop(self):
        subprocess.run(["bash", PG_SH, "stop", self.dir], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)
        self.running = False

    def destroy(self):
        self.stop()
        forget_on_exit(self.destroy)
        if not os.environ.get("WAGATE_E2E_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


_shared_cluster = None


def superuser_uri():
    """WAGATE_TEST_PGURI, or a private cluster started once for this test process."""
    global _shared_cluster
    uri = os.environ.get("WAGATE_TEST_PGURI")
    if uri:
        return uri
    if _shared_cluster is None:
        _shared_cluster = PgCluster()
        log("starting private PostgreSQL on port %d" % _shared_cluster.port)
        _shared_cluster.start()
    return _shared_cluster.uri


def uri_with_db(uri, dbname):
    """Same server and user, another database."""
    p = urllib.parse.urlsplit(uri)
    return urllib.parse.urlunsplit((p.scheme, p.netloc, "/" + dbname, p.query, p.fragment))


def _psql_bin():
    """The newest server-side psql (skips Debian's perl wrapper, which is slow to start)."""
    c = sorted(glob.glob("/usr/lib/postgresql/*/bin/psql"), key=lambda p: [int(x) for x in re.findall(r"\d+", p)])
    return c[-1] if c else "psql"


PSQL = _psql_bin()


def psql(uri, sql, timeout=30):
    """Run one SQL string with psql; return rows as lists of strings (tab separated, unaligned)."""
    r = subprocess.run([PSQL, "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-d", uri, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError("psql failed (%s): %s" % (sql, r.stderr.strip()))
    return [line.split("\t") for line in r.stdout.splitlines() if line != ""]


class Database:
    """A fresh database e2e_<random> on a cluster; dropped by drop()."""

    def __init__(self, admin_uri):
        self.admin_uri = admin_uri
        self.name = "e2e_" + rand_suffix(10)
        psql(admin_uri, "CREATE DATABASE %s" % self.name)
        self.uri = uri_with_db(admin_uri, self.name)

    def query(self, sql):
        return psql(self.uri, sql)

    def scalar(self, sql):
        rows = self.query(sql)
        return rows[0][0] if rows else None

    def count(self, table, where=None):
        return int(self.scalar("SELECT count(*) FROM %s%s" % (table, " WHERE " + where if where else "")))

    def tables(self):
        """Tables of the public schema (after migrations ran)."""
        return [r[0] for r in self.query("SELECT table_name FROM information_schema.tables WHERE table_schema ="
                                         " 'public' AND table_type = 'BASE TABLE' ORDER BY 1")]

    def fingerprint(self, exclude=("schema_migrations",)):
        """{table: (row count, md5 of every row)}: equal fingerprints mean nothing was written (one psql call)."""
        tables = [t for t in self.tables() if t not in exclude]
        if not tables:
            return {}
        sql = " UNION ALL ".join(
            "SELECT '%s', count(*), coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM %s x" % (t, t)
            for t in tables)
        return {r[0]: (int(r[1]), r[2]) for r in self.query(sql)}

    def drop(self):
        try:
            psql(self.admin_uri, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)
        except Exception as e:
            log("could not drop %s: %s" % (self.name, e))

