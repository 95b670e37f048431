-- A session of a user who enrolled TOTP counts only once the code step is passed: until then
-- (mfa_required = 1 and mfa_at is null) it opens nothing but the code step itself.
alter table sessions add column mfa_required bigint not null default 0;
