-- Room on each message page for its rows' status changes. A sent text's row is updated twice after its insert
-- (SERVER_ACK, then DELIVERY_ACK; READ and PLAYED later), and with the default fillfactor of 100 its page was
-- full by the time the later ones came: the new row version went to another page, with a new entry in each of
-- message's four indexes (bench/messages.sh, 1 pair: 1,042 of 6,002 status updates were HOT). Pages filled to
-- 80 % keep the versions on the page: no index entry is written (status is in no index) and the old version is
-- pruned by the page's next reader instead of waiting for VACUUM. Applies to pages filled from now on; the table
-- is not rewritten (only a SHARE UPDATE EXCLUSIVE lock, for an instant).
ALTER TABLE message SET (fillfactor = 80);
