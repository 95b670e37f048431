#!/usr/bin/env bash
# Cost as state grows (issue 16): Tessera's hot paths on an empty PostgreSQL database and on
# one that holds what a big deployment leaves behind, in one run, on this machine:
#   1. creates a throwaway database (dropped on exit), lets Tessera migrate it, adds the bench
#      user and clients, and measures every hot path on the empty database;
#   2. seeds it with SQL (bench/scale/seed.sql: 1 M users, 5 M refresh tokens in 1.25 M
#      families, 1 M sessions, 100 k live revocation entries, codes, audit rows…), ANALYZE;
#   3. measures the same hot paths again with a fresh node, at the same settings (defaults,
#      plus token_rate_limit_per_client = 0 as bench/run.sh sets);
#   4. EXPLAIN (ANALYZE, BUFFERS) of each hot query (the SQL of src/store/*.rs), with the plan
#      PostgreSQL picks for the values (custom) and the one it would cache for sqlx's prepared
#      statements (generic); any Seq Scan is flagged;
#   5. memory per live revocation entry (RSS of the seeded node against the empty one, both
#      fresh) and start-up time (spawn to /readyz 200);
#   6. `tessera purge` on the seeded database: rows deleted and seconds per statement (its
#      statements are sampled from pg_stat_activity every 50 ms);
# and prints one markdown table plus those figures. Raw output goes to bench/results/ (ignored).
# Usage: bench/scale.sh
#   env: SCALE=1 (fraction of the row counts; 0.01 for a quick run) DURATION=5s WARMUP=3s
#        CONNS=16 BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (the server
#        to create the throwaway database on; a superuser: the seeding skips foreign-key
#        triggers) BUILD=1 (0: use target/release/tessera as it is)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
started=$SECONDS
SCALE="${SCALE:-1}"
export DURATION="${DURATION:-5s}" WARMUP="${WARMUP:-3s}" CONNS="${CONNS:-16}" WRK_THREADS=1
PG_ADMIN="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PASSWORD="bench-correct-horse-battery-staple"
PORT="${PORT:-3260}"
BASE="http://127.0.0.1:$PORT"
REDIRECT="http://127.0.0.1:9/cb"

need=()
for tool in wrk jq curl openssl psql python3; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=("${need[@]/psql/postgresql-client}")
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

if [ "${BUILD:-1}" = 1 ]; then cargo build --release --bin tessera >&2; fi
bin="$root/target/release/tessera"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$root/bench/results/scale-$stamp"
mkdir -p "$results"
work="$(mktemp -d)"
pids=()
pg_db="tessera_scale_$$"
db_url="${PG_ADMIN%/*}/$pg_db"
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

log() { printf '[scale %4ds] %s\n' "$((SECONDS - started))" "$*" >&2; }
sql() { psql -qAtX -v ON_ERROR_STOP=1 "$db_url" "$@"; }
# count BASE MIN: BASE rows at SCALE, at least MIN.
count() { python3 -c 'import sys; print(max(int(float(sys.argv[1]) * int(sys.argv[2])), int(sys.argv[3])))' "$SCALE" "$1" "$2"; }

export TESSERA_ISSUER="$BASE" TESSERA_BIND="127.0.0.1:$PORT" TESSERA_KEYS_DIR="$work/keys" \
  TESSERA_DATA_DIR="$work/data" DATABASE_URL="$db_url" TESSERA_LOG_LEVEL="${TESSERA_LOG_LEVEL:-warn}" \
  TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0

psql -q "$PG_ADMIN" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
log "database $pg_db; SCALE=$SCALE; results in $results"
# Tessera migrates the database itself on its first command.
printf '%s\n' "$PASSWORD" | "$bin" user add bench --password-stdin >/dev/null
# Logins take these in turn: one account signing in on 16 connections at once would mostly get
# 429 (at most login_max_failures attempts of one account are in flight).
login_users=""
for k in $(seq 16); do
  printf '%s\n' "$PASSWORD" | "$bin" user add "bench-$k" --password-stdin >/dev/null
  login_users="$login_users bench-$k"
done
rs="$("$bin" client add --name bench-rs256 --type confidential --grant-type client_credentials \
  --scope api --json 2>/dev/null)"
rf="$("$bin" client add --name bench-refresh --type confidential --first-party \
  --redirect-uri "$REDIRECT" --scope "openid offline_access" --signing-alg EdDSA --json 2>/dev/null)"
api="$("$bin" client add --name bench-api --type confidential --grant-type client_credentials \
  --scope api --resource-server --json 2>/dev/null)"
cid() { jq -r .client_id <<<"$1"; }
secret() { jq -r .client_secret <<<"$1"; }

# seed_refresh_tokens: the authorization-code flow with curl, for the refresh rows.
. "$root/bench/load/seed-refresh.sh"

node_pid=""
# start_node NAME: starts Tessera, waits for /readyz; sets node_pid, startup_ms, rss_kb.
start_node() {
  local t0 t1
  t0="$(date +%s%N)"
  "$bin" serve >"$results/tessera-$1.log" 2>&1 &
  node_pid=$!
  pids+=("$node_pid")
  until curl -fs -m 2 -o /dev/null "$BASE/readyz"; do
    kill -0 "$node_pid" 2>/dev/null || { cat "$results/tessera-$1.log" >&2; exit 1; }
    sleep 0.02
  done
  t1="$(date +%s%N)"
  startup_ms=$(( (t1 - t0) / 1000000 ))
  sleep 2
  rss_kb="$(awk '/^VmRSS/{print $2}' "/proc/$node_pid/status")"
  log "node $1 ready in ${startup_ms} ms, RSS $((rss_kb / 1024)) MB"
}
stop_node() {
  kill "$node_pid"
  wait "$node_pid" 2>/dev/null || true
  node_pid=""
}

# A signed-in session cookie of the bench user (a fresh login each call).
login_cookie() {
  local jar="$work/login-jar" csrf
  rm -f "$jar"
  csrf="$(curl -fsS -c "$jar" -b "$jar" "$BASE/login" | sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p')"
  curl -fsS -c "$jar" -b "$jar" -o /dev/null --data-urlencode username=bench \
    --data-urlencode "password=$PASSWORD" --data-urlencode "csrf=$csrf" \
    --data-urlencode return_to=/account "$BASE/login"
  awk '$6 == "tessera_session" {print $6 "=" $7}' "$jar"
}

# measure PHASE: every hot path against the running node; rows to $results/PHASE.md.
measure() {
  local phase="$1" n=0 c
  for c in $CONNS; do [ "$c" -gt "$n" ] && n="$c"; done
  local runs=$(( $(wc -w <<<"$CONNS") + 1 ))   # the warm-up and each concurrency
  local load=(env BASE="$BASE" SERVER_PID="$node_pid" SCOPE= "$root/bench/load/oauth-load.sh")
  local k out="$results/$phase.md"
  : >"$out"
  # Login: the same form as bench/run.sh.
  local cookie csrf body
  cookie="$(curl -fsS -D - -o "$work/login.html" "$BASE/login" \
    | sed -nE 's/^[Ss]et-[Cc]ookie: (tessera_login=[^;]*).*/\1/p' | tr -d '\r')"
  csrf="$(sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p' "$work/login.html")"
  body="username=__USER__&password=$PASSWORD&csrf=$csrf&return_to=%2Faccount"
  log "$phase: login"
  LOGIN_USERS="$login_users" LOGIN_COOKIE="$cookie" LOGIN_BODY="$body" CLIENT_ID="$(cid "$rs")" CLIENT_SECRET="$(secret "$rs")" \
    LABEL="[$phase] " SANITY=0 ENDPOINTS=login "${load[@]}" | tee -a "$out"
  # Refresh: tokens from the real flow, rotated by refresh.lua.
  log "$phase: refresh"
  rm -rf "$work/refresh" && mkdir -p "$work/refresh"
  for k in $(seq "$runs"); do
    seed_refresh_tokens "$BASE" "$(cid "$rf")" "$(secret "$rf")" "$REDIRECT" $((2 * n + 8)) \
      "$work/refresh/tokens-$k" bench "$PASSWORD"
  done
  REFRESH_TOKENS_DIR="$work/refresh" CLIENT_ID="$(cid "$rf")" CLIENT_SECRET="$(secret "$rf")" \
    LABEL="[$phase] " HEADER=0 SANITY=0 ENDPOINTS=refresh "${load[@]}" | tee -a "$out"
  # Authorization codes from GET /authorize in 4 sessions (authorize.lua keeps them), then
  # redeemed by code.lua: the run of each is the same length, and /authorize is the cheaper.
  log "$phase: authorize + code exchange"
  local cookies="" verifier challenge
  for k in 1 2 3 4; do cookies="${cookies:+$cookies|}$(login_cookie)"; done
  verifier="$(openssl rand -hex 32)"
  challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
  rm -rf "$work/codes" && mkdir -p "$work/codes"
  local q="/authorize?response_type=code&client_id=$(cid "$rf")&redirect_uri=$(jq -rn --arg u "$REDIRECT" '$u|@uri')"
  q="$q&scope=openid%20offline_access&nonce=n&code_challenge=$challenge&code_challenge_method=S256"
  AUTHORIZE_URL="$q" WRK_COOKIES="$cookies" CODES_DIR="$work/codes" CLIENT_ID="$(cid "$rf")" \
    CLIENT_SECRET="$(secret "$rf")" LABEL="[$phase] " HEADER=0 SANITY=0 ENDPOINTS=authorize \
    "${load[@]}" | tee -a "$out"
  # The codes for the exchange: its warm-up's, then twice its run's length of them (/authorize
  # may be the slower one; a run that runs out counts only its 2xx answers).
  rm -rf "$work/codes" && mkdir -p "$work/codes"
  local secs="${DURATION%s}" warm="${WARMUP%s}"
  for k in "$warm" $((2 * secs)); do
    [ "$k" = 0 ] && continue
    WRK_PATH="$q" WRK_COOKIES="$cookies" CODES_DIR="$work/codes" \
      wrk -t1 -c"$n" -d"${k}s" -s "$root/bench/load/authorize.lua" "$BASE" >/dev/null
  done
  log "$phase: codes: $(cat "$work"/codes/codes-* | wc -l)"
  CODES_DIR="$work/codes" REDIRECT_URI="$REDIRECT" CODE_VERIFIER="$verifier" \
    CLIENT_ID="$(cid "$rf")" CLIENT_SECRET="$(secret "$rf")" LABEL="[$phase] " HEADER=0 SANITY=0 \
    ENDPOINTS=code "${load[@]}" | tee -a "$out"
  # Introspection: a client_credentials access token (no database: revocation list in
  # memory), then a refresh token (its row by hash) asked by its own client.
  log "$phase: introspection"
  CLIENT_ID="$(cid "$rs")" CLIENT_SECRET="$(secret "$rs")" LABEL="[$phase] " HEADER=0 \
    INTROSPECT_NAME="access token" ENDPOINTS=introspection "${load[@]}" | tee -a "$out"
  local live_rt
  seed_refresh_tokens "$BASE" "$(cid "$rf")" "$(secret "$rf")" "$REDIRECT" 1 "$work/rt-intro" \
    bench "$PASSWORD"
  live_rt="$(head -1 "$work/rt-intro")"
  CLIENT_ID="$(cid "$rf")" CLIENT_SECRET="$(secret "$rf")" LABEL="[$phase] " HEADER=0 SANITY=0 \
    INTROSPECT_TOKEN="$live_rt" INTROSPECT_NAME="refresh token" ENDPOINTS=introspection \
    "${load[@]}" | tee -a "$out"
  # /revocations?since=: full pages from all over the list, then one resource server paging
  # through all of it from 0, one request at a time.
  log "$phase: /revocations"
  local lo hi
  read -r lo hi < <(sql -F ' ' -c "select coalesce(min(id), 1) - 1, greatest(coalesce(max(id), 0) - 1000, coalesce(min(id), 1) - 1) from revocations where expires_at > extract(epoch from now())")
  SINCE_MIN="$lo" SINCE_MAX="$hi" CLIENT_ID="$(cid "$api")" CLIENT_SECRET="$(secret "$api")" \
    LABEL="[$phase] " HEADER=0 SANITY=0 ENDPOINTS=revocations "${load[@]}" | tee -a "$out"
  local since=0 more=true pages=0 entries=0 t0 t1 page
  t0="$(date +%s%N)"
  while [ "$more" = true ]; do
    page="$(curl -fsS -u "$(cid "$api"):$(secret "$api")" "$BASE/revocations?since=$since")"
    read -r since more k < <(jq -r '"\(.cursor) \(.more) \(.revocations | length)"' <<<"$page")
    pages=$((pages + 1)); entries=$((entries + k))
  done
  t1="$(date +%s%N)"
  echo "<!-- full pass: $pages pages, $entries entries in $(( (t1 - t0) / 1000000 )) ms -->" | tee -a "$out"
}

# --- 1. The empty database -------------------------------------------------------------------
start_node empty
empty_startup_ms=$startup_ms empty_rss_kb=$rss_kb
# A full page's worth of live entries for the /revocations baseline (deleted again after):
# an empty list would measure empty pages.
now="$(date +%s)"
sql -c "insert into revocations (kind, target, revoked_at, expires_at, reason)
        select 'jti', 'baseline-' || i, $now, $now + 3600, 'client_request'
        from generate_series(1, 2000) i"
measure empty
stop_node
sql -c "delete from revocations"

# --- 2. Seeding ------------------------------------------------------------------------------
n_users="$(count 1000000 100)" n_families="$(count 1250000 100)" n_sessions="$(count 1000000 100)"
n_revocations="$(count 100000 100)"
hash="$(sql -c "select password_hash from users where username = 'bench'")"
log "seeding: $n_users users, $((4 * n_families)) refresh tokens, $n_sessions sessions, $n_revocations live revocations"
t0="$(date +%s%N)"
psql -qX "$db_url" -v now="$(date +%s)" -v hash="$hash" -v users="$n_users" \
  -v clients="$(count 1000 20)" -v sessions="$n_sessions" -v families="$n_families" \
  -v codes="$(count 200000 100)" -v revocations="$n_revocations" \
  -v expired_revocations="$(count 10000 10)" -v audit="$(count 2000000 100)" \
  -v throttle="$(count 10000 10)" -v totp="$(count 10000 10)" -v consents="$(count 100000 10)" \
  -f "$root/bench/scale/seed.sql" 2>&1 | tee "$results/seed.log" >&2
t1="$(date +%s%N)"
seed_ms=$(( (t1 - t0) / 1000000 ))
for t in users clients sessions session_clients refresh_families refresh_tokens \
         authorization_codes revocations audit_log login_throttle totp_credentials consents; do
  sql -F ' | ' -c "select '$t', count(*), pg_size_pretty(pg_total_relation_size('$t')) from $t"
done | tee "$results/tables.txt" >&2
log "seeded in $((seed_ms / 1000)).$(( seed_ms % 1000 / 100 )) s"

# --- 3. The seeded database ------------------------------------------------------------------
live_entries="$(sql -c "select count(*) from revocations where expires_at > extract(epoch from now())")"
start_node seeded
seeded_startup_ms=$startup_ms seeded_rss_kb=$rss_kb
measure seeded
stop_node

# --- 4. EXPLAIN --------------------------------------------------------------------------------
log "EXPLAIN"
now="$(date +%s)"
{
  cat <<EOF
\\set ON_ERROR_STOP on
\\set now $now
select token_hash as tok, family_id as fam from refresh_tokens
  where used_at is null and idle_expires_at > :now order by token_hash limit 1 offset 1000 \\gset
select id_hash as sess, sid, user_id as uid from sessions
  where expires_at > :now order by id_hash limit 1 offset 1000 \\gset
select username_key as uname from users order by id limit 1 offset $((n_users / 2)) \\gset
select code_hash as code from authorization_codes order by code_hash limit 1 offset 50 \\gset
select kind as rkind, target as rtarget from revocations
  where issued_before is null and expires_at > :now order by id limit 1 offset $((n_revocations / 2)) \\gset
select id as cursor from revocations
  where expires_at > :now order by id limit 1 offset $((n_revocations / 2)) \\gset
select client_id as client from clients order by client_id limit 1 offset 10 \\gset
select key as tkey from login_throttle order by key limit 1 offset 100 \\gset
EOF
  # label | parameter types | arguments | the statement, as in src/store/*.rs
  while IFS='|' read -r label types args stmt; do
    [ -n "$label" ] || continue
    for mode in custom generic; do
      printf "\\\\echo '### %s [%s]'\nbegin;\nprepare q(%s) as %s;\nset local plan_cache_mode = force_%s_plan;\nexplain (analyze, buffers) execute q(%s);\nrollback;\ndeallocate q;\n" \
        "$label" "$mode" "$types" "$stmt" "$mode" "$args"
    done
  done <<'EOF'
refresh token by hash (grant, introspection)|text|:'tok'|select t.token_hash, t.idle_expires_at, t.used_at, f.family_id, f.client_id, f.user_id, f.sid, f.scope, f.auth_time, f.amr, f.created_at, f.expires_at, f.revoked_at from refresh_tokens t join refresh_families f on f.family_id = t.family_id where t.token_hash = $1
rotation: mark used|text,bigint,text,text|:'tok', :now, 'sealed', :'fam'|update refresh_tokens set used_at = $2, successor_sealed = $3 where token_hash = $1 and used_at is null and family_id in (select family_id from refresh_families where family_id = $4 and revoked_at is null)
rotation: insert successor|text,text,bigint,bigint|'successor-hash', :'fam', :now, :now + 604800|insert into refresh_tokens (token_hash, family_id, created_at, idle_expires_at) values ($1, $2, $3, $4)
rotation: forget older sealed successors|text,text|:'fam', :'tok'|update refresh_tokens set successor_sealed = null where family_id = $1 and token_hash <> $2 and successor_sealed is not null
session by id hash|text,bigint,bigint|:'sess', :now, :now - 7200|select id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent, mfa_required, mfa_at from sessions where id_hash = $1 and expires_at > $2 and last_seen_at > $3
session touch|text,bigint|:'sess', :now|update sessions set last_seen_at = $2 where id_hash = $1
session by sid (code redemption)|text,bigint,bigint|:'sid', :now, :now - 7200|update sessions set last_seen_at = last_seen_at where sid = $1 and expires_at > $2 and last_seen_at > $3
user by name (login)|text|:'uname'|select id, username, email, display_name, password_hash, roles, disabled, created_at, updated_at, password_changed_at from users where username_key = $1
user by id (every grant)|text|:'uid'|select id, username, email, display_name, password_hash, roles, disabled, created_at, updated_at, password_changed_at from users where id = $1
login: lock the user row|text,text|:'uid', 'x'|update users set updated_at = updated_at where id = $1 and password_hash = $2 and disabled = 0
login: insert session|text,text,text,bigint,text,bigint,bigint,bigint,text,text,bigint,bigint|'new-hash', 'new-sid', :'uid', :now, 'pwd', :now, :now, :now + 43200, '127.0.0.1', 'curl', 0, null|insert into sessions (id_hash, sid, user_id, auth_time, amr, created_at, last_seen_at, expires_at, ip, user_agent, mfa_required, mfa_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
login: throttle reservation|text,bigint,bigint,bigint,bigint,bigint,bigint|:'tkey', :now, :now - 900, 50, 10, 1, 900|insert into login_throttle (key, failures, window_start, last_failure) values ($1, 1, $2, $2) on conflict (key) do update set failures = case when login_throttle.window_start <= $3 then 1 else login_throttle.failures + 1 end, window_start = case when login_throttle.window_start <= $3 then $2 else login_throttle.window_start end, last_failure = $2 where login_throttle.window_start <= $3 or login_throttle.failures < $4 or login_throttle.last_failure + case when login_throttle.failures - $4 between 0 and $5 then cast($6 as bigint) << cast(login_throttle.failures - $4 as integer) else $7 end <= $2 returning failures
login: TOTP enrolment|text|:'uid'|select secret, confirmed_at, last_step from totp_credentials where user_id = $1
login: audit entry|bigint,text,text,text,text,text,text|:now, 'user:bench', 'login.succeeded', :'uid', null, '127.0.0.1', 'curl'|insert into audit_log (at, actor, action, target, detail, ip, user_agent) values ($1, $2, $3, $4, $5, $6, $7)
login flood: anonymous entries this minute|bigint,text,text|:now - 60, 'anonymous', 'login.failed'|select count(*) from audit_log where at >= $1 and actor = $2 and action = $3
code by hash|text|:'code'|select code_hash, client_id, user_id, sid, redirect_uri, redirect_uri_sent, scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, used_at, family_id from authorization_codes where code_hash = $1
code redemption: mark used|text,bigint,text|:'code', :now, 'fam'|update authorization_codes set used_at = $2, family_id = $3 where code_hash = $1 and used_at is null
code redemption: insert family|text,text,text,text,text,bigint,text,bigint,bigint|'new-family', :'client', :'uid', :'sid', 'openid', :now, 'pwd', :now, :now + 2592000|insert into refresh_families (family_id, client_id, user_id, sid, scope, auth_time, amr, created_at, expires_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
authorize: insert code|text,text,text,text,text,text,text,text,bigint,text,bigint,bigint,bigint|'new-code', :'client', :'uid', :'sid', 'https://x/cb', 'openid', 'n', 'c', :now, 'pwd', :now, :now + 60, 1|insert into authorization_codes (code_hash, client_id, user_id, sid, redirect_uri, scope, nonce, code_challenge, auth_time, amr, created_at, expires_at, redirect_uri_sent) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
authorize: session-client link|text,text,bigint|:'sid', :'client', :now|insert into session_clients (sid, client_id, created_at) values ($1, $2, $3) on conflict (sid, client_id) do nothing
consent (third-party authorize)|text,text|:'uid', :'client'|select scope from consents where user_id = $1 and client_id = $2
client by id (authentication, cache miss)|text|:'client'|select client_id, name, client_type, secret_hash, redirect_uris, post_logout_redirect_uris, grant_types, scopes, first_party, access_token_ttl, backchannel_logout_uri, signing_alg, created_at, updated_at, resource_server from clients where client_id = $1
revocation of a token/session/family|text,text|:'rkind', :'rtarget'|select id, kind, target, issued_before, revoked_at, expires_at, reason from revocations where kind = $1 and target = $2 and issued_before is null
revocation insert: drop expired same target|text,text,bigint|:'rkind', :'rtarget', :now|delete from revocations where kind = $1 and target = $2 and issued_before is null and expires_at <= $3
revocation insert|text,text,bigint,bigint,bigint,text|'sid', 'new-target', null, :now, :now + 3660, 'logout'|insert into revocations (kind, target, issued_before, revoked_at, expires_at, reason) values ($1, $2, $3, $4, $5, $6) on conflict (kind, target) where issued_before is null do nothing returning id
/revocations?since= page|bigint,bigint,bigint|:cursor, :now, 1000|select id, kind, target, issued_before, revoked_at, expires_at, reason from revocations where id > $1 and expires_at > $2 order by id limit $3
node sync: entries after cursor|bigint|:cursor + 40000|select id, kind, target, issued_before, revoked_at, expires_at, reason from revocations where id > $1 order by id
node start: every live entry (bulk)|bigint|:now|select id, kind, target, issued_before, revoked_at, expires_at, reason from revocations where expires_at > $1 order by id
EOF
} >"$work/explain.sql"
sql -f "$work/explain.sql" >"$results/explain.txt" 2>&1 || { cat "$results/explain.txt" >&2; exit 1; }
python3 - "$results/explain.txt" >"$results/explain-summary.md" <<'PY'
import re, sys
blocks, cur = {}, None
for line in open(sys.argv[1]):
    m = re.match(r"### (.*) \[(custom|generic)\]", line.strip())
    if m:
        cur = (m.group(1), m.group(2)); blocks[cur] = []
    elif cur:
        blocks[cur].append(line.rstrip())
def verdict(lines):
    text = "\n".join(lines)
    scans = re.findall(r"(Seq Scan|Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?(?: using (\S+))? on (\S+)", text)
    seq = sorted({t for k, _, t in scans if k == "Seq Scan"})
    idx = sorted({f"{k} {i or t}" for k, i, t in scans if k != "Seq Scan"})
    ms = re.search(r"Execution Time: ([\d.]+) ms", text)
    buf = re.search(r"Buffers: (shared [^\n]*)", text)
    if seq: v = "**SEQ SCAN on " + ", ".join(seq) + "**" + (" (+ " + ", ".join(idx) + ")" if idx else "")
    elif idx: v = ", ".join(idx)
    else: v = "no scan (insert: index upkeep only)"
    return v, (ms.group(1) + " ms" if ms else "?"), (buf.group(1) if buf else "")
print("| query | plan for the values (custom) | time | generic plan (sqlx prepares) | time | buffers (custom) |")
print("|---|---|---:|---|---:|---|")
seqs = []
for label in dict.fromkeys(k[0] for k in blocks):
    c = verdict(blocks[(label, "custom")]); g = verdict(blocks.get((label, "generic"), []))
    print(f"| {label} | {c[0]} | {c[1]} | {g[0]} | {g[1]} | {c[2]} |")
    if "SEQ SCAN" in c[0] + g[0]: seqs.append(label)
print()
print("Seq scans: " + (", ".join(seqs) if seqs else "none"))
PY

# --- 5. Purge ----------------------------------------------------------------------------------
log "purge"
sql -F '|' -c "select 'authorization_codes', count(*) from authorization_codes union all
  select 'sessions', count(*) from sessions union all select 'session_clients', count(*) from session_clients union all
  select 'refresh_families', count(*) from refresh_families union all select 'refresh_tokens', count(*) from refresh_tokens union all
  select 'revocations', count(*) from revocations union all select 'audit_log', count(*) from audit_log union all
  select 'login_throttle', count(*) from login_throttle" >"$results/purge-before.txt"
# The purge's statements, sampled every 50 ms from pg_stat_activity (as NOTICEs, one session).
monitor_sql="do \$\$ declare r record; begin loop perform pg_stat_clear_snapshot();
  for r in select query from pg_stat_activity where datname = current_database()
      and pid <> pg_backend_pid() and state = 'active'
      and (query like 'delete from %' or query like 'update refresh_tokens set successor_sealed = null where token_hash in%') loop
    raise notice 'Q % %', extract(epoch from clock_timestamp()), left(regexp_replace(r.query, '\s+', ' ', 'g'), 90);
  end loop; perform pg_sleep(0.05); end loop; end \$\$"
PGAPPNAME=scale-purge-monitor psql -qX "$db_url" -c "$monitor_sql" >/dev/null 2>"$results/purge-monitor.txt" &
monitor=$!
pids+=("$monitor")
sleep 0.5
t0="$(date +%s%N)"
"$bin" purge --json >"$results/purge.json" 2>"$results/purge.stderr"
t1="$(date +%s%N)"
purge_ms=$(( (t1 - t0) / 1000000 ))
sql -c "select pg_cancel_backend(pid) from pg_stat_activity where application_name = 'scale-purge-monitor'" >/dev/null
wait "$monitor" 2>/dev/null || true
# A second purge right after: what one round costs when there is nothing (much) to delete.
t0="$(date +%s%N)"
"$bin" purge --json >"$results/purge-again.json" 2>>"$results/purge.stderr"
t1="$(date +%s%N)"
purge_again_ms=$(( (t1 - t0) / 1000000 ))
python3 - "$results/purge-monitor.txt" "$results/purge.json" >"$results/purge-summary.md" <<'PY'
import json, re, sys
stmts = [("authorization_codes", "delete from authorization_codes"), ("sessions", "delete from sessions"),
         ("session_clients", "delete from session_clients"),
         ("refresh_families (expired / revoked, with their tokens)", "delete from refresh_families"),
         ("refresh_tokens (idle unused)", "delete from refresh_tokens"),
         ("sealed successors", "update refresh_tokens set successor_sealed"),
         ("login_throttle", "delete from login_throttle"), ("revocations", "delete from revocations"),
         ("client_changes", "delete from client_changes"), ("audit_log", "delete from audit_log")]
# The statements run one after the other: a statement's time is from its first sample to its
# last (plus one interval), summed over its stretches.
seen, last = {}, None
for line in open(sys.argv[1]):
    m = re.search(r"Q ([\d.]+) (.*)", line)
    if not m: continue
    t, q = float(m.group(1)), m.group(2)
    name = next((n for n, prefix in stmts if q.startswith(prefix)), None)
    if name is None: continue
    if last and last[0] == name and t - last[2] < 1.0:
        last[2] = t
    else:
        last = [name, t, t]; seen.setdefault(name, []).append(last)
seen = {n: sum(b - a + 0.05 for _, a, b in runs) for n, runs in seen.items()}
rows = json.load(open(sys.argv[2]))
keys = {"authorization_codes": "authorization_codes", "sessions": "sessions", "session_clients": "session_clients",
        "refresh_families (expired / revoked, with their tokens)": "refresh_families",
        "refresh_tokens (idle unused)": "refresh_tokens", "sealed successors": "sealed_successors",
        "login_throttle": "login_throttle", "revocations": "revocations", "client_changes": "client_changes",
        "audit_log": "audit_log"}
print("| table | rows deleted | seconds (sampled every 50 ms) | rows/s |")
print("|---|---:|---:|---:|")
for name, _ in stmts:
    n = rows.get(keys[name], 0)
    if name in seen:
        s = seen[name]
        print(f"| {name} | {n} | {s:.2f} | {n / s:.0f} |")
    else:
        print(f"| {name} | {n} | < 0.05 | |")
PY

# --- 6. The report -----------------------------------------------------------------------------
{
  echo "## Cost as state grows ($(date -u +%F), $(nproc) cores, SCALE=$SCALE, wrk -t1 -c$CONNS -d$DURATION)"
  echo
  python3 - "$results/empty.md" "$results/seeded.md" "${DURATION%s}" <<'PY'
import re, sys
dur = float(sys.argv[3])
def rows(path):
    out = {}
    for line in open(path):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 8 or not cells[0].startswith("["): continue
        name = re.sub(r"^\[\w+\] ", "", cells[0])
        rps, non2xx = float(cells[2]), int(cells[7])
        good = max(rps - non2xx / dur, 0.0)   # req/s answered 2xx
        out[(name, cells[1])] = (good, cells[5], non2xx)
    return out
e, s = rows(sys.argv[1]), rows(sys.argv[2])
print("| scenario | conc | empty req/s | seeded req/s | ratio (seeded slower ×) | empty p99 | seeded p99 | goal ≤ 1.25× |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
for key in e:
    if key not in s: continue
    (eg, ep, en), (sg, sp, sn) = e[key], s[key]
    ratio = eg / sg if sg else float("inf")
    note = "" if en == 0 and sn == 0 else f" ({en}/{sn} non-2xx)"
    extra = ""
    if "revocations" in key[0]: extra = f" ({eg*1000:.0f} / {sg*1000:.0f} entries/s)"
    print(f"| {key[0]}{extra}{note} | {key[1]} | {eg:.0f} | {sg:.0f} | {ratio:.2f}× | {ep} | {sp} | {'yes' if ratio <= 1.25 else '**NO**'} |")
PY
  echo
  echo "Full pass of /revocations from since=0, one request at a time:"
  echo "empty (2000 entries): $(sed -nE 's/<!-- full pass: (.*) -->/\1/p' "$results/empty.md");" \
    "seeded: $(sed -nE 's/<!-- full pass: (.*) -->/\1/p' "$results/seeded.md")"
  echo
  echo "Seeding: $((seed_ms / 1000)).$((seed_ms % 1000 / 100)) s (SQL, then ANALYZE). Tables after seeding:"
  echo
  echo '```'
  cat "$results/tables.txt"
  echo '```'
  echo
  echo "### EXPLAIN (ANALYZE, BUFFERS) on the seeded database"
  echo
  cat "$results/explain-summary.md"
  echo
  echo "### Memory and start-up"
  echo
  python3 -c '
import sys
e, s, n, es, ss = map(int, sys.argv[1:])
per = (s - e) * 1024 / n if n else 0
met = lambda ok: "met" if ok else "NOT met"
print(f"- RSS of a fresh node after /readyz (+2 s): empty {e/1024:.1f} MB, seeded {s/1024:.1f} MB with {n} live revocation entries loaded: **{per:.0f} bytes per entry** (goal <= 150: {met(per <= 150)})")
print(f"- start-up, spawn to /readyz 200: empty {es} ms, seeded {ss} ms (goal <= 2000 ms: {met(ss <= 2000)})")
' "$empty_rss_kb" "$seeded_rss_kb" "$live_entries" "$empty_startup_ms" "$seeded_startup_ms"
  echo
  echo "### Purge (tessera purge on the seeded database)"
  echo
  echo "First purge: $((purge_ms / 1000)).$((purge_ms % 1000 / 100)) s in all; a second one right after (nothing left to delete): $((purge_again_ms / 1000)).$((purge_again_ms % 1000 / 100)) s."
  echo
  cat "$results/purge-summary.md"
  echo
  echo "Total run time of bench/scale.sh: $((SECONDS - started)) s."
} | tee "$results/summary.md"
