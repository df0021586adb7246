-- Chat finds (issue 9). findMessages without a chat filter pages through all of an instance's messages newest
-- first (ties by row id); message_chat_idx leads with remote_jid, so without one PostgreSQL scanned and sorted
-- every message of every instance (EXPLAIN on 60,000 rows: a sequential scan and a top-N sort). This index gives
-- the page in order and lets the count read only the instance's entries. The chat filter, findChats' newest
-- message per contact and the key id lookups keep using message_chat_idx and UNIQUE (instance_id, key_id).
CREATE INDEX message_instance_time_idx ON message (instance_id, message_timestamp DESC, id DESC);
