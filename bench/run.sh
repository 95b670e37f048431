#!/usr/bin/env bash
# Tessera against its peer (node-oidc-provider), in one run, on this machine:
#   builds Tessera in release mode; starts it on PostgreSQL (a throwaway database, created and
#   dropped here) and on SQLite; seeds a user and clients (RS256, EdDSA); loads each scenario
#   with wrk through bench/load/oauth-load.sh; runs the peer's bench/peer-node-oidc/run.sh; and
#   prints one markdown table with the peer's figures and the ratio.
# Usage: bench/run.sh
#   env: DURATION=5s CONNS="16 64" LOGIN_CONNS="16 48" WARMUP=3s BACKENDS="postgres sqlite" PEER=1
#        BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres (the server to create
#        the throwaway database on)
# Everything it starts is stopped on exit (trap). Raw tables go to bench/results/ (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
export DURATION="${DURATION:-5s}" CONNS="${CONNS:-16 64}" WARMUP="${WARMUP:-3s}" WRK_THREADS=1
BACKENDS="${BACKENDS:-postgres sqlite}"
PG_ADMIN="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PASSWORD="bench-correct-horse-battery-staple"
# Logins in flight from one address are capped by `login_max_failures_per_ip` (50 by default,
# since each could be a failure), and wrk connects from one address: the login rows stay below.
LOGIN_CONNS="${LOGIN_CONNS:-16 48}"
LOGIN_ACCOUNTS=64

need=()
for tool in wrk jq curl openssl psql; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=("${need[@]/psql/postgresql-client}")
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

cargo build --release --bin tessera >&2
bin="$root/target/release/tessera"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
results="$root/bench/results/$stamp"
mkdir -p "$results"
work="$(mktemp -d)"
pids=()
pg_db=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$pg_db" ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Tessera's settings for one backend, as environment variables.
tessera_env() { # backend port
  local dir="$work/$1"
  mkdir -p "$dir"
  local db
  if [ "$1" = postgres ]; then db="${PG_ADMIN%/*}/$pg_db"; else db="sqlite://$dir/tessera.db"; fi
  echo "TESSERA_ISSUER=http://127.0.0.1:$2 TESSERA_BIND=127.0.0.1:$2 TESSERA_KEYS_DIR=$dir/keys" \
       "TESSERA_DATA_DIR=$dir/data DATABASE_URL=$db TESSERA_LOG_LEVEL=warn" \
       "TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0"
}

# seed_refresh_tokens: the authorization-code flow with curl, for the refresh rows.
. "$root/bench/load/seed-refresh.sh"

bench_backend() { # backend port
  local backend="$1" port="$2" base="http://127.0.0.1:$2" env_vars pid
  if [ "$backend" = postgres ]; then
    pg_db="tessera_bench_$$"
    psql -q "$PG_ADMIN" -c "CREATE DATABASE \"$pg_db\"" >/dev/null
  fi
  env_vars="$(tessera_env "$backend" "$port")"
  local tessera=(env $env_vars "$bin")
  printf '%s\n' "$PASSWORD" | "${tessera[@]}" user add bench --password-stdin >/dev/null
  # The login rows spread over as many accounts as connections: one account allows only
  # `login_max_failures` (5) attempts in flight, since each could be a failure.
  for i in $(seq "$LOGIN_ACCOUNTS"); do
    printf '%s\n' "$PASSWORD" | "${tessera[@]}" user add "bench$i" --password-stdin >/dev/null
  done
  local rs ed rf
  rs="$("${tessera[@]}" client add --name bench-rs256 --type confidential \
    --grant-type client_credentials --scope api --json 2>/dev/null)"
  ed="$("${tessera[@]}" client add --name bench-eddsa --type confidential \
    --grant-type client_credentials --scope api --signing-alg EdDSA --json 2>/dev/null)"
  rf="$("${tessera[@]}" client add --name bench-refresh --type confidential --first-party \
    --redirect-uri http://127.0.0.1:9/cb --scope "openid offline_access" --signing-alg EdDSA \
    --json 2>/dev/null)"
  "${tessera[@]}" serve >"$results/tessera-$backend.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  for _ in $(seq 300); do
    curl -fs -o /dev/null "$base/readyz" && break
    kill -0 "$pid" 2>/dev/null || { cat "$results/tessera-$backend.log" >&2; exit 1; }
    sleep 0.1
  done
  local load=(env BASE="$base" SERVER_PID="$pid" SCOPE= "$root/bench/load/oauth-load.sh")
  cid() { jq -r .client_id <<<"$1"; }
  secret() { jq -r .client_secret <<<"$1"; }
  {
    echo "### tessera on $backend"
    CLIENT_ID="$(cid "$rs")" CLIENT_SECRET="$(secret "$rs")" LABEL="[$backend] " \
      ENDPOINTS="jwks token introspection" "${load[@]}" | sed -E 's/\(JWT AT\)/RS256/'
    CLIENT_ID="$(cid "$ed")" CLIENT_SECRET="$(secret "$ed")" LABEL="[$backend] " HEADER=0 \
      ENDPOINTS=token "${load[@]}" | sed -E 's/\(JWT AT\)/EdDSA/'
    if [ "$backend" = postgres ]; then
      local n=0
      for c in $CONNS; do [ "$c" -gt "$n" ] && n="$c"; done
      mkdir -p "$work/refresh"
      # One file per wrk run (the warm-up and each concurrency): refresh.lua takes the next.
      for k in $(seq $(( $(wc -w <<<"$CONNS") + 1 ))); do
        seed_refresh_tokens "$base" "$(cid "$rf")" "$(secret "$rf")" http://127.0.0.1:9/cb \
          $((2 * n + 8)) "$work/refresh/tokens-$k" bench "$PASSWORD"
      done
      REFRESH_TOKENS_DIR="$work/refresh" CLIENT_ID="$(cid "$rf")" CLIENT_SECRET="$(secret "$rf")" \
        LABEL="[$backend] " HEADER=0 SANITY=0 ENDPOINTS=refresh "${load[@]}"
    fi
    local cookie csrf body
    cookie="$(curl -fsS -D - -o "$work/login.html" "$base/login" \
      | sed -nE 's/^[Ss]et-[Cc]ookie: (tessera_login=[^;]*).*/\1/p' | tr -d '\r')"
    csrf="$(sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p' "$work/login.html")"
    body="username=__USER__&password=$PASSWORD&csrf=$csrf&return_to=%2Faccount"
    local accounts
    accounts="$(seq -f 'bench%g' -s ' ' "$LOGIN_ACCOUNTS")"
    LOGIN_USERS="$accounts" LOGIN_COOKIE="$cookie" LOGIN_BODY="$body" CLIENT_ID="$(cid "$rs")" \
      CONNS="$LOGIN_CONNS" \
      CLIENT_SECRET="$(secret "$rs")" LABEL="[$backend] " HEADER=0 SANITY=0 ENDPOINTS=login \
      "${load[@]}"
    # /token while a login flood (64 connections) keeps argon2 busy: DESIGN §5 says the
    # hashing runs under a semaphore so that it cannot starve the token endpoint.
    local secs="${DURATION%s}"
    LOGIN_USERS="$accounts" WRK_PATH=/login WRK_BODY="$body" WRK_COOKIE="$cookie" \
      wrk -t1 -c64 -d"$((secs + 3))s" -s "$root/bench/load/login.lua" "$base" >/dev/null 2>&1 &
    local flood=$!
    sleep 1
    CLIENT_ID="$(cid "$rs")" CLIENT_SECRET="$(secret "$rs")" LABEL="[$backend] during login flood: " \
      HEADER=0 SANITY=0 WARMUP=0 CONNS=16 ENDPOINTS=token "${load[@]}" | sed -E 's/\(JWT AT\)/RS256/'
    wait "$flood" || true
    echo "<!-- tessera $backend memory after the run: $(grep -E 'VmHWM|VmRSS' "/proc/$pid/status" | tr -s ' \t' ' ' | tr '\n' ' ') threads: $(ls "/proc/$pid/task" | wc -l) -->"
  } | tee "$results/tessera-$backend.md"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  if [ "$backend" = postgres ]; then
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$pg_db\" WITH (FORCE)" >/dev/null
    pg_db=""
  fi
}

port=3200
for backend in $BACKENDS; do
  bench_backend "$backend" "$port"
  port=$((port + 1))
  sleep 2
done

if [ "${PEER:-1}" = 1 ]; then
  (cd bench/peer-node-oidc && bash run.sh) | tee "$results/peer.md"
fi

echo
echo "## Tessera vs node-oidc-provider ($(date -u +%F), $(nproc) cores, wrk -t1 -d$DURATION)"
[ -f "$results/peer.md" ] || : >"$results/peer.md"
python3 "$root/bench/table.py" "$results"/tessera-*.md "$results/peer.md" | tee "$results/summary.md"
