-- Issue 16 (cost as state grows): the same indexes as PostgreSQL's 0012, for two look-ups
-- that were fine on a small database and are not on a big one (bench/scale.sh).

-- The failed-login fold (count_audit_since, bump_folded_audit): one actor's entries of one
-- action since a minute ago, read by one index instead of every entry of that actor. It also
-- serves every look-up by actor alone, so it replaces audit_log_actor.
create index audit_log_actor_action_at on audit_log (actor, action, at);
drop index audit_log_actor;

-- The purge of unused idle-expired refresh tokens (purge_idle_refresh_tokens_batch): only
-- unused tokens are ever looked up by idle expiry, so the index holds only them.
create index refresh_tokens_unused_idle_expires_at on refresh_tokens (idle_expires_at)
    where used_at is null;
drop index refresh_tokens_idle_expires_at;
