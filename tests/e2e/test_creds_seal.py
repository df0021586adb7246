"""Credentials encrypted at rest (WAGATE_CREDS_KEY, supervisor/seal.h), against fakewa's mock phone: rows
written before a key was set are re-sealed when one is; a paired instance logs back in from sealed rows after a
restart; a rotation (new key + old key) re-seals every row with the new key; a key that opens nothing, or one
row's blob copied onto another's, fails those instances only, with the reason in fetchInstances.

Checked at the SQL level: every auth_creds.creds and signal_prekey.record starts with the blob magic, version
and the id of the expected key; with Python's cryptography package (when installed) the creds also decrypt
with the key and the row's context, and not with another row's."""

import hashlib
import os

from harness import PairingCase, main, wait_until

K1 = bytes(range(1, 33))
K2 = bytes(range(101, 133))
K3 = bytes(range(201, 233))
MAGIC = b"WGS\x01"

try:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
except ImportError:  # the SQL-level checks still run
    AESGCM = None


def key_id(key):
    return hashlib.sha256(b"wagate creds key id" + key).digest()[:8]


def prefix_hex(key):
    return (MAGIC + key_id(key)).hex()


class CredsSealTest(PairingCase):

    def restart(self, **env):
        """Stop, set (or with None, drop) variables, start again."""
        self.assertEqual(self.sup.stop(), 0)
        self.sup.extra_env.update(env)
        self.sup.start()

    def key_file(self, name, key, mode=0o600):
        path = os.path.join(self.sup.workdir, name)
        with open(path, "w") as f:
            f.write(key.hex() + "\n")
        os.chmod(path, mode)
        return path

    def blob_counts(self):
        """{table: (rows, rows whose value does not start with magic+version)} of both sealed columns."""
        out = {}
        for table, col in (("auth_creds", "creds"), ("signal_prekey", "record")):
            r = self.db.query("SELECT count(*), count(*) FILTER (WHERE substring(%s FROM 1 FOR 4) <> '\\x%s'::bytea)"
                              " FROM %s" % (col, MAGIC.hex(), table))
            out[table] = (int(r[0][0]), int(r[0][1]))
        return out

    def assert_sealed_with(self, key, names):
        """Every creds row and prekey record of names is a blob of key (magic, version, its key id)."""
        ids = "', '".join(self.ids[n] for n in names)
        for table, col in (("auth_creds", "creds"), ("signal_prekey", "record")):
            rows = self.db.query("SELECT encode(substring(%s FROM 1 FOR 12), 'hex'), count(*) FROM %s"
                                 " WHERE instance_id IN ('%s') GROUP BY 1" % (col, table, ids))
            self.assertEqual([r[0] for r in rows], [prefix_hex(key)], "%s.%s: %r" % (table, col, rows))
            self.assertGreater(sum(int(r[1]) for r in rows), 0, table)
        self.assertEqual(self.db.count("auth_creds", "instance_id IN ('%s')" % ids), len(names))
        if AESGCM is None:
            return
        for n in names:
            blob = self.creds_blob(n)
            plain = self.open_creds(key, blob, self.ids[n])
            self.assertFalse(plain.startswith(b"W"), "creds of %s still sealed inside" % n)
            other = [x for x in self.ids if x != n][0]
            with self.assertRaises(Exception, msg="creds of %s open as %s's" % (n, other)):
                self.open_creds(key, blob, self.ids[other])

    def creds_blob(self, name):
        return bytes.fromhex(self.db.scalar("SELECT encode(creds, 'hex') FROM auth_creds WHERE instance_id = '%s'"
                                            % self.ids[name]))

    @staticmethod
    def open_creds(key, blob, iid):
        aad = blob[:24] + b"auth_creds.creds\0" + iid.encode()
        return AESGCM(key).decrypt(blob[12:24], blob[24:], aad)

    def wait_open_again(self, names, timeout=40):
        for n in names:
            self.sup.wait_state(n, "open", timeout)
            self.assertEqual(len(self.qr_events(n)), self.nqr[n], "%s showed a QR after the restart" % n)

    def test_seal_rotate_and_refuse(self):
        # plaintext rows first, as a deployment from before encryption has them
        self.ids = {}
        for i, n in enumerate(("cs1", "cs2")):
            self.pair(n, "1555000710%d" % i)
            self.ids[n] = self.instance_id(n)
            self.wait_prekeys_uploaded(n)
        counts = self.blob_counts()
        self.assertEqual(counts["auth_creds"], (2, 2), counts)
        self.assertEqual(counts["signal_prekey"], (2 * 812, 2 * 812), counts)

        # a key set: rows re-sealed at start, the instances log back in from them
        self.nqr = {n: len(self.qr_events(n)) for n in self.ids}
        self.restart(WAGATE_CREDS_KEY=K1.hex())
        self.wait_open_again(self.ids)
        self.assert_sealed_with(K1, self.ids)
        self.assertIn("cs1: stored credentials and 812 prekey(s) re-sealed with the current key", self.sup.log_text())

        # written sealed from the start: a third pairing under the key
        self.pair("cs3", "15550007103")
        self.ids["cs3"] = self.instance_id("cs3")
        self.wait_prekeys_uploaded("cs3")
        self.assert_sealed_with(K1, ["cs3"])
        self.assertEqual(self.blob_counts()["signal_prekey"], (3 * 812, 0))
        self.nqr = {n: len(self.qr_events(n)) for n in self.ids}

        # a key file readable by others is refused at start with a clear message
        self.assertEqual(self.sup.stop(), 0)
        self.sup.extra_env.update(WAGATE_CREDS_KEY=None, WAGATE_CREDS_KEY_FILE=self.key_file("k2", K2, 0o644))
        self.sup.start(wait=False)
        wait_until(lambda: not self.sup.running(), 20, msg="wagate refuses a world-readable key file")
        self.assertIn("chmod 600", self.sup.log_text())

        # rotation: the new key from a file, the old one still given; every row re-sealed with the new key
        self.key_file("k2", K2)
        self.sup.extra_env.update(WAGATE_CREDS_KEY_OLD=K1.hex())
        self.sup.start()
        self.wait_open_again(self.ids)
        self.assert_sealed_with(K2, self.ids)
        self.assertEqual(self.blob_counts()["signal_prekey"], (3 * 812, 0))

        # the old key removed: still fine
        self.restart(WAGATE_CREDS_KEY_OLD=None)
        self.wait_open_again(self.ids)

        # a key that opens nothing: every instance fails to start, with the reason, and the supervisor stays up
        self.restart(WAGATE_CREDS_KEY_FILE=None, WAGATE_CREDS_KEY=K3.hex())
        for n in self.ids:
            row = self.wait_row(n, disconnectionReasonCode=500)
            self.assertIn("cannot be decrypted", row["disconnectionObject"] or "", row)
            self.assertIn("neither the current nor the old key", row["disconnectionObject"] or "", row)
            self.assertEqual(self.sup.state(n), "close")
            self.assertNotIn(self.ids[n], self.sup.worker_pids())
        self.assertIn("%s: not started: stored credentials cannot be decrypted" % "cs1", self.sup.log_text())
        self.assertEqual(self.sup.request("GET", "/health").status, 200)
        self.assert_sealed_with(K2, self.ids)  # nothing was rewritten

        # the right key again, but cs2's row holds cs1's blob: cs2 alone fails (the row is in the AAD)
        self.assertEqual(self.sup.stop(), 0)
        self.db.query("UPDATE auth_creds SET creds = (SELECT creds FROM auth_creds WHERE instance_id = '%s')"
                      " WHERE instance_id = '%s'" % (self.ids["cs1"], self.ids["cs2"]))
        self.sup.extra_env.update(WAGATE_CREDS_KEY=K2.hex())
        self.sup.start()
        for n in ("cs1", "cs3"):
            self.sup.wait_state(n, "open", 40)
        row = self.wait_row("cs2", disconnectionReasonCode=500)
        self.assertIn("authentication tag", row["disconnectionObject"] or "", row)
        self.assertNotIn(self.ids["cs2"], self.sup.worker_pids())
        self.assertEqual(self.sup.state("cs2"), "close")


if __name__ == "__main__":
    main()
