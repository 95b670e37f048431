#!/usr/bin/env bash
# Memory over a soak: Tessera (release, SQLite) under rounds of /token (EdDSA, 64 connections)
# and /login (16 connections); prints the server's RSS after each round. Growth from round to
# round after the first would be a leak; a plateau is the allocator's working set.
# Usage: bench/soak.sh   env: ROUNDS=6 TOKEN_SECS=15 LOGIN_SECS=8
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
ROUNDS="${ROUNDS:-6}" TOKEN_SECS="${TOKEN_SECS:-15}" LOGIN_SECS="${LOGIN_SECS:-8}"
command -v wrk >/dev/null && command -v jq >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk jq >/dev/null
}
cargo build --release --bin tessera >&2
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM
port=3299 base="http://127.0.0.1:3299" password="soak-correct-horse-battery-staple"
export TESSERA_ISSUER="$base" TESSERA_BIND="127.0.0.1:$port" TESSERA_KEYS_DIR="$work/keys" \
  DATABASE_URL="sqlite://$work/t.db" TESSERA_LOG_LEVEL=warn TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0
bin="$root/target/release/tessera"
printf '%s\n' "$password" | "$bin" user add soak --password-stdin >/dev/null
ed="$("$bin" client add --name soak --type confidential --grant-type client_credentials \
  --scope api --signing-alg EdDSA --json 2>/dev/null)"
auth="Basic $(printf '%s:%s' "$(jq -r .client_id <<<"$ed")" "$(jq -r .client_secret <<<"$ed")" | base64 -w0)"
"$bin" serve >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.1; done
cookie="$(curl -fsS -D - -o "$work/login.html" "$base/login" \
  | sed -nE 's/^[Ss]et-[Cc]ookie: (tessera_login=[^;]*).*/\1/p' | tr -d '\r')"
csrf="$(sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p' "$work/login.html")"
rss() { awk '/^VmRSS/{printf "%.1f MB", $2/1024}' "/proc/$pid/status"; }
echo "| round | token req | login req | RSS after |"
echo "|---:|---:|---:|---:|"
echo "| start | | | $(rss) |"
lua="$root/bench/load/req.lua"
for round in $(seq "$ROUNDS"); do
  t="$(WRK_METHOD=POST WRK_PATH=/token WRK_BODY=grant_type=client_credentials WRK_AUTH="$auth" \
    wrk -t1 -c64 -d"${TOKEN_SECS}s" -s "$lua" "$base" | sed -nE 's/^RESULT requests=([0-9]+).*/\1/p')"
  l="$(WRK_METHOD=POST WRK_PATH=/login WRK_COOKIE="$cookie" \
    WRK_BODY="username=soak&password=$password&csrf=$csrf&return_to=%2Faccount" \
    wrk -t1 -c16 -d"${LOGIN_SECS}s" -s "$lua" "$base" | sed -nE 's/^RESULT requests=([0-9]+).*/\1/p')"
  echo "| $round | $t | $l | $(rss) |"
done
