#!/usr/bin/env bash
# Token exchange (RFC 8693) beside client_credentials, in the same run (issue 12 "Done when":
# an exchange within 1.5x the cost of a client_credentials mint of the same algorithm).
#
#   bash bench/exchange.sh            # SQLite, the default store
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/tessera_bench bash bench/exchange.sh
#
# A release build with default settings (RS256 everywhere; the issuer, the address, the data
# and keys directories are set, and the per-client token rate limit is off as in bench/run.sh) in a temporary directory. It registers two APIs, a
# first-party app that gets a user's token for ORDERS (the subject token, by the code flow
# with curl), the orders backend (serves ORDERS, may exchange into BILLING, has
# client_credentials for its actor token), and loads with wrk, through bench/load/oauth-load.sh:
#   - POST /token client_credentials by the backend (no resource: aud is the client);
#   - POST /token token-exchange by the backend: the same subject and actor tokens each time,
#     into BILLING.
# Each row: req/s, p50/p90/p99 latency, server CPU, the machine's load; then CPU per request (server CPU time
# divided by requests) and the ratio exchange / client_credentials.
# Env: DURATION (15s), CONNS ("16 64"), WARMUP (3s), BENCH_PORT (18090), SIGNING_ALG (RS256
# by default: see below), RELEASE_BUILD (1: build
# first; 0: use the release binary as it is), CARGO_TARGET_DIR, BENCH_BIN (another binary, e.g.
# to try the script on a debug build). Needs wrk, curl, jq, openssl, python3.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

port="${BENCH_PORT:-18090}"
BASE="http://127.0.0.1:$port"
PASSWORD="bench-password-$(openssl rand -hex 8)"
REDIRECT="https://app.example.com/cb"
ORDERS="https://orders.example.com"
BILLING="https://billing.example.com"
EXCHANGE="urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS="urn:ietf:params:oauth:token-type:access_token"

for tool in wrk curl jq openssl python3; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 2; }
done

if [ "${RELEASE_BUILD:-1}" = 1 ]; then cargo build --release --quiet; fi
bin="${BENCH_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/tessera}"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export TESSERA_ISSUER="$BASE" TESSERA_BIND="127.0.0.1:$port"
export TESSERA_DATA_DIR="$work/data" TESSERA_KEYS_DIR="$work/keys" TESSERA_LOG_LEVEL=warn
# The one change from the defaults, as in bench/run.sh: the per-client limiter (1,000 token
# requests/s) would turn the measurement into 429s, and both grants here are one client's.
export TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0
mkdir -p "$work/keys" && chmod 700 "$work/keys"
store="SQLite (default)"
if [ -n "${DATABASE_URL:-}" ]; then
  store="PostgreSQL"
  case "$DATABASE_URL" in
    postgres://*) ;;
    *) echo "bench: DATABASE_URL must be a postgres:// URL (or unset for SQLite)" >&2; exit 2 ;;
  esac
  db="${DATABASE_URL##*/}"; db="${db%%\?*}"
  admin_url="${DATABASE_URL%/*}/postgres"
  command -v psql >/dev/null || { echo "bench: psql is missing" >&2; exit 2; }
  psql -q "$admin_url" -c "drop database if exists \"$db\"" -c "create database \"$db\""
fi

"$bin" migrate >/dev/null
# SIGNING_ALG (EdDSA or ES256) registers every API and client with that algorithm instead of
# the default RS256: the mint is then cheap and the exchange's own work (two verifications,
# the policy) shows.
alg_opt=(${SIGNING_ALG:+--signing-alg "$SIGNING_ALG"})
"$bin" api add --identifier "$ORDERS" --name Orders --scope "orders.read" "${alg_opt[@]}" >/dev/null
"$bin" api add --identifier "$BILLING" --name Billing --scope "billing.read" "${alg_opt[@]}" >/dev/null
printf '%s\n' "$PASSWORD" | "$bin" user add bench --password-stdin >/dev/null
app="$("$bin" client add --name bench-app --type confidential --first-party \
  --redirect-uri "$REDIRECT" --scope "openid orders.read" --api "$ORDERS" "${alg_opt[@]}" \
  --json 2>/dev/null)"
backend="$("$bin" client add --name bench-orders-backend --type confidential \
  --grant-type client_credentials --grant-type "$EXCHANGE" --scope "billing.read" \
  --serves-api "$ORDERS" --exchange-audience "$BILLING" "${alg_opt[@]}" --json 2>/dev/null)"
cid() { jq -r .client_id <<<"$1"; }
secret() { jq -r .client_secret <<<"$1"; }

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
until curl -fs -m 2 -o /dev/null "$BASE/readyz"; do
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.05
done

# The subject: bench's token for ORDERS, by the code flow (first-party: no consent page).
jar="$work/jar"
csrf="$(curl -fsS -c "$jar" -b "$jar" "$BASE/login" | sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p')"
curl -fsS -c "$jar" -b "$jar" -o /dev/null --data-urlencode username=bench \
  --data-urlencode "password=$PASSWORD" --data-urlencode "csrf=$csrf" \
  --data-urlencode return_to=/account "$BASE/login"
verifier="$(openssl rand -hex 32)"
challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
loc="$(curl -sS -b "$jar" -o /dev/null -w '%{redirect_url}' -G "$BASE/authorize" \
  -d response_type=code -d "client_id=$(cid "$app")" --data-urlencode "redirect_uri=$REDIRECT" \
  --data-urlencode "scope=openid orders.read" --data-urlencode "resource=$ORDERS" -d state=s \
  -d nonce=n -d "code_challenge=$challenge" -d code_challenge_method=S256)"
code="$(sed -nE 's/.*[?&]code=([^&]*).*/\1/p' <<<"$loc")"
[ -n "$code" ] || { echo "bench: no code from /authorize: $loc" >&2; exit 1; }
subject="$(curl -fsS -u "$(cid "$app"):$(secret "$app")" -d grant_type=authorization_code \
  --data-urlencode "code=$code" --data-urlencode "redirect_uri=$REDIRECT" \
  -d "code_verifier=$verifier" "$BASE/token" | jq -r .access_token)"
actor="$(curl -fsS -u "$(cid "$backend"):$(secret "$backend")" -d grant_type=client_credentials \
  "$BASE/token" | jq -r .access_token)"
body="grant_type=$EXCHANGE&subject_token=$subject&subject_token_type=$ACCESS"
body="$body&actor_token=$actor&actor_token_type=$ACCESS&audience=$BILLING"
check="$(curl -sS -u "$(cid "$backend"):$(secret "$backend")" --data "$body" "$BASE/token")"
[ "$(jq -r .issued_token_type <<<"$check")" = "$ACCESS" ] \
  || { echo "bench: the exchange does not work: $check" >&2; exit 1; }
alg() { cut -d. -f1 <<<"$1" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg; }
echo "<!-- $store, $bin, default settings; subject alg $(alg "$subject"), exchanged alg $(alg "$(jq -r .access_token <<<"$check")"), client_credentials alg $(alg "$actor"); subject lives $(( $(cut -d. -f2 <<<"$subject" | tr '_-' '/+' | base64 -d 2>/dev/null | jq '.exp - .iat') ))s -->"

# Exchanges are minted for as long as the subject lives (5 min by default): keep runs short.
table="$work/table.md"
export BASE SERVER_PID="$server" CLIENT_ID="$(cid "$backend")" CLIENT_SECRET="$(secret "$backend")"
export SCOPE="" SANITY=0 DURATION="${DURATION:-15s}" CONNS="${CONNS:-16 64}" WARMUP="${WARMUP:-3s}"
ENDPOINTS=token bash "$root/bench/load/oauth-load.sh" | tee "$table"
HEADER=0 ENDPOINTS=exchange EXCHANGE_BODY="$body" bash "$root/bench/load/oauth-load.sh" | tee -a "$table"

# CPU per request: server CPU (% of one core) / req/s; and the exchange's cost relative to a
# client_credentials mint at the same concurrency.
python3 - "$table" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) < 10 or not cells[2].replace(".", "").isdigit():
        continue
    name, conc, rps, cpu = cells[0], cells[1], float(cells[2]), float(cells[9].rstrip("%"))
    kind = "exchange" if "exchange" in name else "client_credentials"
    rows[(kind, conc)] = (rps, cpu / 100 / rps * 1000 if rps else float("nan"), cells[3], cells[5])
print()
print("| grant | conc | req/s | p50 | p99 | server CPU ms/request | exchange / client_credentials (CPU per request) |")
print("|---|---:|---:|---:|---:|---:|---:|")
for (kind, conc), (rps, ms, p50, p99) in sorted(rows.items(), key=lambda kv: (int(kv[0][1]), kv[0][0])):
    ratio = ""
    if kind == "exchange" and ("client_credentials", conc) in rows:
        ratio = f"{ms / rows[('client_credentials', conc)][1]:.2f}x"
    print(f"| {kind} | {conc} | {rps:.0f} | {p50} | {p99} | {ms:.3f} | {ratio} |")
PY
