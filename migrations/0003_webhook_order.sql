-- Webhooks in order per instance (issue 11): webhook_outbox rows form one queue per (instance, url), delivered
-- in id order, only the head of each queue being eligible. The claim finds the heads by walking this index
-- one queue at a time (a loose index scan: one probe per queue, not a scan of the backlog). Rows without an
-- instance (none today, but the column allows it) share the nil UUID: their own queue per URL. The claim,
-- hold and sweep statements spell the expression exactly like this, so the planner matches the index.
CREATE INDEX webhook_outbox_queue_idx
    ON webhook_outbox (url, (coalesce(instance_id, '00000000-0000-0000-0000-000000000000'::uuid)), id);
