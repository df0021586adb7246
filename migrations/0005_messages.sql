-- Messaging (issue 9). LID <-> phone-number mappings the worker learns from stanzas and usync answers (user JIDs
-- without device), one row per LID of an instance; logout wipes them with the Signal keys, delete cascades.
CREATE TABLE lid_map (
    instance_id  uuid NOT NULL REFERENCES instance (id) ON DELETE CASCADE,
    lid          text NOT NULL,
    pn           text NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (instance_id, lid)
);
-- The send routes resolve a phone number to its LID (and receipts the other way): by pn too.
CREATE INDEX lid_map_pn_idx ON lid_map (instance_id, pn);
