#!/usr/bin/env bash
# What DPoP (RFC 9449) costs the token endpoint: `POST /token` client_credentials without a
# proof (Bearer) beside the same request with a fresh ES256 or EdDSA proof each time (DPoP),
# in one run, alternating, on a release build at default settings (SQLite; the per-client rate
# limit off, as in bench/run.sh, or it would answer 429 above 1000 requests/s). Prints requests/s
# and the server's CPU time per successful request (utime + stime of the process from
# /proc/<pid>/stat over the wrk run, divided by the 200s), and DPoP's extra µs beside Bearer.
# Goal (issue 14): DPoP adds at most 30 µs of server CPU per request.
#
#   bash bench/dpop.sh            env: DURATION=10 CONNS=16 ROUNDS=2 BENCH_PORT=18081
#                                      CLIENT_ALG= (the client's token algorithm: RS256 by
#                                      default; EdDSA or ES256 make the mint cheap, so that
#                                      DPoP's share shows, and then DURATION=2 keeps a row
#                                      under the replay memory's 100,000 proofs)
#                                      CARGO_TARGET_DIR (where the release build goes)
#
# Each DPoP row sends proofs signed just before it (one wrk thread reads them from a file), so
# that every proof is fresh and used once, as a client does; `bad` counts anything but 200
# (it stays 0 unless the proofs ran out). On SQLite the node remembers at most 100,000 proofs
# within their window (`dpop_proof_lifetime` + `dpop_clock_skew`, 65 s by default) and refuses
# more with 503: before a DPoP row the script waits until enough of the previous rows' proofs
# have left the window, so that rows do not add up to more. Needs wrk, curl. Not run by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-10}"; CONNS="${CONNS:-16}"; ROUNDS="${ROUNDS:-2}"
port="${BENCH_PORT:-18081}"
base="http://127.0.0.1:$port"
for tool in wrk curl awk; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing (apt-get install -y $tool)" >&2; exit 1; }
done
# Proofs are accepted for dpop_proof_lifetime (60 s by default) after their iat.
[ "$DURATION" -le 40 ] || { echo "bench: DURATION must be at most 40 (proof lifetime)" >&2; exit 1; }

cargo build --release --quiet --bin tessera --example dpop_proofs
target="${CARGO_TARGET_DIR:-$PWD/target}"
bin="$target/release/tessera"
gen="$target/release/examples/dpop_proofs"
# The replay window of a proof at the default settings, in seconds (see above).
WINDOW=65

work="$(mktemp -d)"
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

export TESSERA_ISSUER="$base" TESSERA_BIND="127.0.0.1:$port"
export TESSERA_DATA_DIR="$work/data" TESSERA_KEYS_DIR="$work/keys" TESSERA_LOG_LEVEL=warn
export TESSERA_TOKEN_RATE_LIMIT_PER_CLIENT=0
mkdir -p "$work/keys" && chmod 700 "$work/keys"
"$bin" migrate >/dev/null
registered="$("$bin" client add --name bench --type confidential \
  --grant-type client_credentials --scope api.read ${CLIENT_ALG:+--signing-alg "$CLIENT_ALG"} \
  2>/dev/null)"
client_id="$(awk '/^client_id:/ {print $2}' <<<"$registered")"
client_secret="$(awk '/^client_secret:/ {print $2}' <<<"$registered")"
export BASIC="Basic $(printf '%s:%s' "$client_id" "$client_secret" | base64 -w0)"

"$bin" serve >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done

ticks_per_s="$(getconf CLK_TCK)"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }

# run LABEL PROOFS_FILE: one wrk run; prints "LABEL rps cpu_us ok bad load1" (load1: the
# machine's 1-minute load average at the end of the row: other work shares the cores).
run() {
  local before after out okn badn
  before="$(cpu_ticks)"
  out="$(PROOFS_FILE="$2" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s bench/load/dpop.lua "$base/token")"
  after="$(cpu_ticks)"
  okn="$(grep -o 'ok=[0-9]*' <<<"$out" | cut -d= -f2)"
  badn="$(grep -o 'bad=[0-9]*' <<<"$out" | cut -d= -f2)"
  awk -v l="$1" -v ok="$okn" -v bad="$badn" -v d="$DURATION" -v t0="$before" -v t1="$after" \
    -v hz="$ticks_per_s" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { printf "%s %.0f %.1f %d %d %s\n", l, ok / d, (t1 - t0) / hz * 1e6 / (ok > 0 ? ok : 1), ok, bad, la }'
}

# Proofs for one DPoP row: enough for twice the bearer row's rate (the rates move with the
# machine's load), at most the replay memory's room.
proof_count() { # rps
  awk -v r="$1" -v d="$DURATION" 'BEGIN { n = int(r * d * 2) + 1000; print (n > 100000 ? 100000 : n) }'
}
# The DPoP rows still within their replay window: "iat proofs_used" per line. `room` prints
# how many more proofs the replay memory takes now; `wait_room N` sleeps until N fit.
live="$work/live"
: >"$live"
room() {
  awk -v now="$(date +%s)" -v w="$WINDOW" '$1 + w + 2 > now { s += $2 } END { print 100000 - s }' "$live"
}
wait_room() {
  local oldest
  while [ "$(room)" -lt "$1" ]; do
    oldest="$(awk -v now="$(date +%s)" -v w="$WINDOW" '$1 + w + 2 > now { print $1; exit }' "$live")"
    sleep $(( oldest + WINDOW + 2 - $(date +%s) ))
  done
}
proofs() { # alg count
  local iat
  iat="$(date +%s)"
  "$gen" "$1" "$base/token" "$iat" "$2" >"$work/proofs-$1"
  echo "$iat" >"$work/iat"
  echo "$work/proofs-$1"
}

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
# Warm-up (unreported): connections, caches, the allocator.
rps="$(DURATION=3 run warmup "" | awk '{print $2}')"
results="$work/results"
: >"$results"
# Each DPoP row right after a bearer row, so that each pair shares the machine's state.
for round in $(seq "$ROUNDS"); do
  for alg in ES256 EdDSA; do
    # Room first, so that the bearer row and its DPoP row follow each other without a pause.
    wait_room "$(proof_count "$rps")"
    line="$(run "bearer" "")"; echo "$line" >>"$results"
    rps="$(awk '{print $2}' <<<"$line")"
    n="$(proof_count "$rps")"
    [ "$n" -le "$(room)" ] || n="$(room)"
    proofs "$alg" "$n" >"$work/file"
    file="$(cat "$work/file")"
    line="$(run "dpop-$alg" "$file")"; echo "$line" >>"$results"
    echo "$(cat "$work/iat") $(awk '{print $4 + $5}' <<<"$line")" >>"$live"
    rm -f "$file"
  done
done

echo "POST /token client_credentials (client signs ${CLIENT_ALG:-RS256}), release, SQLite, ${DURATION}s per row, $CONNS connections, $(nproc) cores, load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| request | requests/s | server CPU µs/request | DPoP's extra µs (vs the bearer row before it) | non-200 | load avg |"
echo "|---|---:|---:|---:|---:|---:|"
awk '
  $1 == "bearer" { prev = $3 }
  { extra = ($1 == "bearer") ? "" : sprintf("%+.1f", $3 - prev)
    printf "| %s | %d | %.1f | %s | %d | %s |\n", $1, $2, $3, extra, $5, $6 }' "$results"
echo
echo "| request | rows | server CPU µs/request, mean (min–max) | DPoP's extra µs, mean (min–max) |"
echo "|---|---:|---:|---:|"
awk '
  function show(l) {
    printf "| %s | %d | %.1f (%.1f–%.1f) | %s |\n", l, n[l], sum[l] / n[l], lo[l], hi[l],
      (l == "bearer") ? "" : sprintf("%+.1f (%+.1f–%+.1f)", xs[l] / n[l], xlo[l], xhi[l])
  }
  { l = $1; n[l]++; sum[l] += $3
    if (n[l] == 1 || $3 < lo[l]) lo[l] = $3
    if (n[l] == 1 || $3 > hi[l]) hi[l] = $3 }
  l == "bearer" { prev = $3; next }
  { x = $3 - prev; xs[l] += x
    if (n[l] == 1 || x < xlo[l]) xlo[l] = x
    if (n[l] == 1 || x > xhi[l]) xhi[l] = x }
  END { show("bearer"); show("dpop-ES256"); show("dpop-EdDSA") }' "$results"
