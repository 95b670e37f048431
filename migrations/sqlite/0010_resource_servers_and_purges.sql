-- Issue 11 point 9: a resource server (an API) may introspect any client's tokens and pull the
-- revocation list; other clients learn only about their own tokens.
alter table clients add column resource_server bigint not null default 0
    constraint clients_resource_server_check check (resource_server in (0, 1));

-- Issue 11 point 10: the purge finds what is old enough to go by index, in small batches.
create index refresh_families_expires_at on refresh_families (expires_at);
create index refresh_families_revoked_at on refresh_families (revoked_at);
create index refresh_tokens_idle_expires_at on refresh_tokens (idle_expires_at);
create index login_throttle_last_failure on login_throttle (last_failure);

-- Issue 11 point 10: past a per-minute cap, anonymous entries of one action (a failed-login
-- flood) are folded into one entry whose count says how many it stands for.
alter table audit_log add column count bigint not null default 1;
