-- The webhook outbox takes ~4 rows per text message and deletes each once delivered, so every index on it is
-- paid for twice per row (the insert, then vacuuming the dead entry). Two of its indexes serve no statement:
-- the claim, hand-off and retry walk webhook_outbox_queue_idx or the primary key, and the max-age sweep
-- filters on created_at (no row is older than the cutoff in normal operation; a sequential scan of what is
-- left is what it did with the index too). Nothing deletes outbox rows by instance: they outlive it, to be
-- delivered. Two index entries fewer per webhook row (bench/messages.sh: within its run-to-run spread).
DROP INDEX IF EXISTS webhook_outbox_due_idx;
DROP INDEX IF EXISTS webhook_outbox_instance_idx;
