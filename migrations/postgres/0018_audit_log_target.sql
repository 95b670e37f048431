-- The admin detail pages (a user's, a client's, a key's) and `audit_about` look audit entries
-- up by target (`actor = $1 or target = $2 or target = $3`); without an index on target every
-- such page scans the whole log, which grows with every admin action and key rotation.
create index audit_log_target on audit_log (target);
