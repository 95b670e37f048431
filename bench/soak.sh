#!/usr/bin/env bash
# Memory over a soak: Tessera (release, SQLite) under rounds of /token (EdDSA, 64 connections),
# /introspect of a live RS256 access token, the refresh_token grant (rotating, first-party
# client, access + ID token) and /login (16 connections each); prints the server's RSS after
# each round. Growth from round to round after the first few would be a leak; a plateau is the
# allocator's working set. The defaults load the server for 12 x 28 s = 5.6 minutes.
# Usage: bench/soak.sh
#   env: ROUNDS=12 TOKEN_SECS=10 INTROSPECT_SECS=6 REFRESH_SECS=6 LOGIN_SECS=6
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
ROUNDS="${ROUNDS:-12}" TOKEN_SECS="${TOKEN_SECS:-10}" INTROSPECT_SECS="${INTROSPECT_SECS:-6}"
REFRESH_SECS="${REFRESH_SECS:-6}" LOGIN_SECS="${LOGIN_SECS:-6}"
for tool in wrk jq curl openssl; do
  command -v "$tool" >/dev/null || {
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk jq curl openssl >/dev/null
    break
  }
done
cargo build --release --bin tessera >&2
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$pid" ] && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT INT TERM
. "$root/bench/load/seed-refresh.sh"
port=3299 base="http://127.0.0.1:3299" password="soak-correct-horse-battery-staple"
export TESSERA_ISSUER="$base" TESSERA_BIND="127.0.0.1:$port" TESSERA_KEYS_DIR="$work/keys" \
  DATABASE_URL="sqlite://$work/t.db" TESSERA_LOG_LEVEL=warn TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0
bin="$root/target/release/tessera"
printf '%s\n' "$password" | "$bin" user add soak --password-stdin >/dev/null
# Logins spread over 16 accounts, one per connection: an account allows only
# `login_max_failures` (5) attempts in flight.
for i in $(seq 16); do
  printf '%s\n' "$password" | "$bin" user add "soak$i" --password-stdin >/dev/null
done
basic() { printf 'Basic %s' "$(printf '%s:%s' "$(jq -r .client_id <<<"$1")" "$(jq -r .client_secret <<<"$1")" | base64 -w0)"; }
ed="$("$bin" client add --name soak --type confidential --grant-type client_credentials \
  --scope api --signing-alg EdDSA --json 2>/dev/null)"
rs="$("$bin" client add --name soak-rs256 --type confidential --grant-type client_credentials \
  --scope api --json 2>/dev/null)"
rf="$("$bin" client add --name soak-refresh --type confidential --first-party \
  --redirect-uri http://127.0.0.1:9/cb --scope "openid offline_access" --signing-alg EdDSA \
  --json 2>/dev/null)"
"$bin" serve >"$work/log" 2>&1 &
pid=$!
for _ in $(seq 300); do curl -fs -o /dev/null "$base/readyz" && break; sleep 0.1; done
cookie="$(curl -fsS -D - -o "$work/login.html" "$base/login" \
  | sed -nE 's/^[Ss]et-[Cc]ookie: (tessera_login=[^;]*).*/\1/p' | tr -d '\r')"
csrf="$(sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p' "$work/login.html")"
rss() { awk '/^VmRSS/{printf "%.1f MB", $2/1024}' "/proc/$pid/status"; }
lua="$root/bench/load/req.lua"
requests() { sed -nE 's/^RESULT requests=([0-9]+).* err_status=([0-9]+).*/\1 \2/p'; }
# "requests" or "requests (N non-2xx)": a soak that turned into a stream of errors is no soak.
shown() { read -r n bad; if [ "${bad:-0}" = 0 ]; then echo "$n"; else echo "$n ($bad non-2xx)"; fi; }
# A fresh access token each round: it must stay live (5 min) through the round's introspection.
live_token() {
  curl -fsS -H "Authorization: $(basic "$rs")" -d grant_type=client_credentials "$base/token" \
    | jq -r .access_token
}
echo "| round | token req | introspect req | refresh req | login req | RSS after |"
echo "|---:|---:|---:|---:|---:|---:|"
echo "| start | | | | | $(rss) |"
mkdir -p "$work/refresh"
for round in $(seq "$ROUNDS"); do
  tokens="$(WRK_METHOD=POST WRK_PATH=/token WRK_BODY=grant_type=client_credentials WRK_AUTH="$(basic "$ed")" \
    wrk -t1 -c64 -d"${TOKEN_SECS}s" -s "$lua" "$base" | requests | shown)"
  introspections="$(WRK_METHOD=POST WRK_PATH=/introspect WRK_BODY="token=$(live_token)" WRK_AUTH="$(basic "$rs")" \
    wrk -t1 -c16 -d"${INTROSPECT_SECS}s" -s "$lua" "$base" | requests | shown)"
  # refresh.lua takes the lowest-numbered tokens file left: one fresh file per round.
  seed_refresh_tokens "$base" "$(jq -r .client_id <<<"$rf")" "$(jq -r .client_secret <<<"$rf")" \
    http://127.0.0.1:9/cb 40 "$work/refresh/tokens-$round" soak "$password"
  refreshes="$(REFRESH_TOKENS_DIR="$work/refresh" WRK_PATH=/token WRK_AUTH="$(basic "$rf")" \
    wrk -t1 -c16 -d"${REFRESH_SECS}s" -s "$root/bench/load/refresh.lua" "$base" | requests | shown)"
  logins="$(WRK_PATH=/login WRK_COOKIE="$cookie" LOGIN_USERS="$(seq -f 'soak%g' -s ' ' 16)" \
    WRK_BODY="username=__USER__&password=$password&csrf=$csrf&return_to=%2Faccount" \
    wrk -t1 -c16 -d"${LOGIN_SECS}s" -s "$root/bench/load/login.lua" "$base" | requests | shown)"
  echo "| $round | $tokens | $introspections | $refreshes | $logins | $(rss) |"
done
