-- Pairing (issue 4): whether the stored credentials belong to a device the phone has linked.
-- Unpaired creds (fresh registration material) are kept so a worker restart shows QRs for the same keys;
-- only paired ones make the instance log in by itself at start (connect_now).
ALTER TABLE auth_creds ADD COLUMN paired boolean NOT NULL DEFAULT false;
