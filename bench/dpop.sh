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
#
# Each DPoP row sends proofs signed just before it (one wrk thread reads them from a file), so
# that every proof is fresh and used once, as a client does; `bad` counts anything but 200
# (it stays 0 unless the proofs ran out). Needs wrk, curl. Not run by CI.
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
bin="$PWD/target/release/tessera"
gen="$PWD/target/release/examples/dpop_proofs"

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
  --grant-type client_credentials --scope api.read 2>/dev/null)"
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

# run LABEL PROOFS_FILE: one wrk run; prints "LABEL rps cpu_us ok bad".
run() {
  local before after out okn badn
  before="$(cpu_ticks)"
  out="$(PROOFS_FILE="$2" wrk -t1 -c"$CONNS" -d"${DURATION}s" -s bench/load/dpop.lua "$base/token")"
  after="$(cpu_ticks)"
  okn="$(grep -o 'ok=[0-9]*' <<<"$out" | cut -d= -f2)"
  badn="$(grep -o 'bad=[0-9]*' <<<"$out" | cut -d= -f2)"
  awk -v l="$1" -v ok="$okn" -v bad="$badn" -v d="$DURATION" -v t0="$before" -v t1="$after" \
    -v hz="$ticks_per_s" 'BEGIN { printf "%s %.0f %.1f %d %d\n", l, ok / d, (t1 - t0) / hz * 1e6 / (ok > 0 ? ok : 1), ok, bad }'
}

# Proofs for one DPoP row: enough for 1.5 times the bearer row's rate.
proofs() { # alg rps
  local n
  n="$(awk -v r="$2" -v d="$DURATION" 'BEGIN { n = int(r * d * 1.5) + 1000; print n }')"
  "$gen" "$1" "$base/token" "$(date +%s)" "$n" >"$work/proofs-$1"
  echo "$work/proofs-$1"
}

# Warm-up (unreported): connections, caches, the allocator.
DURATION=3 run warmup "" >/dev/null
results="$work/results"
: >"$results"
for round in $(seq "$ROUNDS"); do
  line="$(run "bearer" "")"; echo "$line" >>"$results"
  rps="$(awk '{print $2}' <<<"$line")"
  for alg in ES256 EdDSA; do
    file="$(proofs "$alg" "$rps")"
    run "dpop-$alg" "$file" >>"$results"
    rm -f "$file"
  done
done

echo "POST /token client_credentials, release, SQLite, ${DURATION}s per row, $CONNS connections, $(nproc) cores"
echo
echo "| request | requests/s | server CPU µs/request | DPoP's extra µs | non-200 |"
echo "|---|---:|---:|---:|---:|"
awk '
  { label[NR] = $1; rps[NR] = $2; cpu[NR] = $3; bad[NR] = $5; n[$1]++; sum[$1] += $3 }
  END {
    for (i = 1; i <= NR; i++) {
      extra = (label[i] == "bearer") ? "" : sprintf("%+.1f", cpu[i] - sum["bearer"] / n["bearer"])
      printf "| %s | %d | %.1f | %s | %d |\n", label[i], rps[i], cpu[i], extra, bad[i]
    }
  }' "$results"
