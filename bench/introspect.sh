#!/usr/bin/env bash
# Introspections per second: a release build on SQLite in a temporary directory, one live
# client_credentials access token, `wrk` POSTing it to /introspect. Not run by CI.
#
#   bash bench/introspect.sh [seconds] [connections]
#
# Needs wrk (Debian: apt-get install wrk) and curl. The access-token path reads no database,
# and client authentication reads the client row from the node's cache (on by default; changes
# are pushed to every node). The same token each time: after the first request its signature comes
# from the verified-token cache, so the figure is the HTTP stack, one SHA-256 of the token and
# one of the client secret, and the revocation-list look-ups.
set -euo pipefail
cd "$(dirname "$0")/.."

duration="${1:-10}"
connections="${2:-32}"
threads="$(nproc)"
port="${BENCH_PORT:-18080}"

command -v wrk >/dev/null || { echo "bench: wrk is missing; install it: apt-get install -y wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "bench: curl is missing" >&2; exit 1; }

cargo build --release --quiet
bin="$PWD/target/release/tessera"

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export TESSERA_ISSUER="http://127.0.0.1:$port" TESSERA_BIND="127.0.0.1:$port"
export TESSERA_DATA_DIR="$work/data" TESSERA_KEYS_DIR="$work/keys" TESSERA_LOG_LEVEL=warn
mkdir -p "$work/keys" && chmod 700 "$work/keys"

"$bin" migrate >/dev/null
registered="$("$bin" client add --name bench --type confidential \
  --grant-type client_credentials --scope api.read 2>/dev/null)"
client_id="$(awk '/^client_id:/ {print $2}' <<<"$registered")"
client_secret="$(awk '/^client_secret:/ {print $2}' <<<"$registered")"

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

token="$(curl -fsS -u "$client_id:$client_secret" -d grant_type=client_credentials \
  "http://127.0.0.1:$port/token" | sed -E 's/.*"access_token":"([^"]+)".*/\1/')"
answer="$(curl -fsS -u "$client_id:$client_secret" -d "token=$token" "http://127.0.0.1:$port/introspect")"
case "$answer" in
  *'"active":true'*) ;;
  *) echo "bench: introspection does not answer active: $answer" >&2; exit 1 ;;
esac

basic="$(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"
cat >"$work/introspect.lua" <<LUA
wrk.method = "POST"
wrk.body = "token=$token"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA

echo "POST /introspect: ${duration}s, $connections connections, $threads threads (release, SQLite)"
wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/introspect.lua" \
  "http://127.0.0.1:$port/introspect" | tee "$work/wrk.txt"
rps="$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk.txt")"
echo "introspections per second: $rps"
