-- No statistics for columns that only carry payload. ANALYZE sorts a sample of every column it keeps
-- statistics for, and for jsonb that means comparing whole documents: half the time of an ANALYZE of message
-- (40,000 rows: 240-270 ms, 113-122 ms without) and two thirds of one of webhook_outbox (a 30,000-row backlog of
-- ~800-byte bodies: 205-220 ms, 73-76 ms without). wagate analyzes message while it is young and the outbox when
-- its backlog doubles (lifecycle.c, webhook_sql.c), autovacuum after that; at 50 pairs in bench/messages.sh the
-- ANALYZEs were ~10 % of PostgreSQL's CPU. No statement filters, joins or sorts on these columns' values (they
-- are read whole, or by a path into them that column statistics do not describe), so no plan uses what was
-- dropped. The columns' existing statistics are removed at the next ANALYZE.
ALTER TABLE message ALTER COLUMN key SET STATISTICS 0, ALTER COLUMN message SET STATISTICS 0;
ALTER TABLE webhook_outbox ALTER COLUMN body SET STATISTICS 0, ALTER COLUMN headers SET STATISTICS 0;
