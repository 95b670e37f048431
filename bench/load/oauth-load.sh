#!/usr/bin/env bash
# Load one running OAuth 2.0 / OIDC server on loopback with wrk and print a markdown table.
# Generic on purpose, so that the peer and our own IdP are measured the same way.
# Tessera's copy of shared/bench/load/oauth-load.sh, changed to: skip introspection when
# discovery advertises no introspection_endpoint; label rows (LABEL); add the server's RSS
# after each row; and load two more shapes, `refresh` (refresh.lua rotates refresh tokens
# read from REFRESH_TOKENS_FILE) and `login` (POST LOGIN_PATH with LOGIN_BODY and LOGIN_COOKIE);
# and for bench/scale.sh: `authorize` (authorize.lua: GET AUTHORIZE_URL with WRK_COOKIES, keeping
# the codes in CODES_DIR), `code` (code.lua redeems them: REDIRECT_URI, CODE_VERIFIER) and
# `revocations` (revocations.lua: GET /revocations?since= between SINCE_MIN and SINCE_MAX, as the
# client, which must be a resource server); `exchange` (POST EXCHANGE_BODY to the token
# endpoint as the client: bench/exchange.sh); INTROSPECT_TOKEN introspects that token instead of
# a fresh client_credentials one (INTROSPECT_NAME names the row); LOGIN_USERS (usernames) makes
# `login` take them in turn (login.lua: LOGIN_BODY has __USER__ where the username goes).
#
# Required env:
#   BASE            loopback URL under which /.well-known/openid-configuration is served
#                   (e.g. http://127.0.0.1:3100, or http://127.0.0.1:3200/auth/v1)
#   SERVER_PID      pid of the server process (for its CPU use; child threads included)
#   CLIENT_ID, CLIENT_SECRET   a confidential client allowed the client_credentials grant
# Optional env:
#   TOKEN_EXTRA     extra form parameters for the JWT-minting token request (e.g. "&resource=urn:x")
#   INTROSPECT_EXTRA  extra form parameters for the token request whose token gets introspected
#                   (node-oidc-provider only introspects opaque tokens: "&resource=urn:bench:opaque")
#   DURATION (15s)  CONNS ("16 64")  WRK_THREADS (1)  ENDPOINTS ("jwks token introspection")
#   WARMUP (3s)     unreported wrk run at the first concurrency before each endpoint's runs
#   TOKEN_AUTH (basic)  client auth at the token endpoint: basic (client_secret_basic) or post
#                   (client_secret_post); introspection always uses client_secret_basic
#   SCOPE (api:read)  scope parameter of the token requests; empty: none sent
# Endpoints are discovered from /.well-known/openid-configuration.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
: "${BASE:?}" "${SERVER_PID:?}" "${CLIENT_ID:?}" "${CLIENT_SECRET:?}"
case "$BASE" in http://127.*|http://localhost*|http://\[::1\]*) ;; *) echo "BASE must be a loopback URL" >&2; exit 2;; esac
DURATION="${DURATION:-15s}"; WARMUP="${WARMUP:-3s}"; CONNS="${CONNS:-16 64}"; WRK_THREADS="${WRK_THREADS:-1}"
ENDPOINTS="${ENDPOINTS:-jwks token introspection}"
command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 2; }

disc="$(curl -fsS "$BASE/.well-known/openid-configuration")"
ORIGIN="$(sed -E 's#^(https?://[^/]+).*#\1#' <<<"$BASE")"   # endpoint paths below are absolute
path_of() { jq -r ".$1" <<<"$disc" | sed -E 's#^https?://[^/]+##'; }
JWKS_PATH="$(path_of jwks_uri)"; TOKEN_PATH="$(path_of token_endpoint)"
INTRO_PATH="$(path_of introspection_endpoint)"
SCOPE="${SCOPE-api:read}"; SCOPE_PARAM=""; [ -n "$SCOPE" ] && SCOPE_PARAM="&scope=$SCOPE"
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"

TOKEN_AUTH="${TOKEN_AUTH:-basic}"; TOKEN_HDR="$BASIC"; CRED_PARAM=""
if [ "$TOKEN_AUTH" = post ]; then
  TOKEN_HDR=""; CRED_PARAM="&client_id=${CLIENT_ID}&client_secret=${CLIENT_SECRET}"
fi
mint() { curl -fsS -X POST ${TOKEN_HDR:+-H "Authorization: $TOKEN_HDR"} \
  -d "grant_type=client_credentials${SCOPE_PARAM}${CRED_PARAM}$1" "$ORIGIN$TOKEN_PATH"; }
# sanity checks: a JWT access token, an opaque token that introspects as active (SANITY=0
# skips them, for runs whose client has no client_credentials grant)
if [ "${SANITY:-1}" = 1 ]; then
jwt_resp="$(mint "${TOKEN_EXTRA:-}")"
jwt="$(jq -r .access_token <<<"$jwt_resp")"
jwt_alg="$(cut -d. -f1 <<<"$jwt" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .alg || true)"
intro_tok="$(mint "${INTROSPECT_EXTRA:-}" | jq -r .access_token)"
if [ "$INTRO_PATH" = null ]; then
  active="not advertised"
  ENDPOINTS="$(sed -E 's/\<introspection\>//' <<<"$ENDPOINTS")"
else
  active="$(curl -fsS -X POST -H "Authorization: $BASIC" --data-urlencode "token=$intro_tok" "$ORIGIN$INTRO_PATH" | jq -r .active)"
  [ "$active" = "true" ] || { echo "introspection sanity check failed" >&2; exit 1; }
fi
echo "<!-- sanity: token endpoint issued a ${#jwt}-byte access token, alg=${jwt_alg}; introspection of a fresh token: ${active} -->"
fi
intro_tok="${INTROSPECT_TOKEN:-${intro_tok:-}}"

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }   # utime+stime, all threads, clock ticks
hz="$(getconf CLK_TCK)"
cpu_total() { awk '/^cpu /{print $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8}' /proc/stat; }   # user nice system irq softirq
cpu_steal() { awk '/^cpu /{print $9}' /proc/stat; }   # time the hypervisor gave to other guests

if [ "${HEADER:-1}" = 1 ]; then
echo
echo "| endpoint | conc | req/s | p50 | p90 | p99 | max | non-2xx | sock err | server CPU (100% = 1 core) | wrk CPU | machine busy (100% = 1 core) | steal | server RSS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
fi
SCRIPT=req.lua
run_one() { # name conc method path body auth
  local name="${LABEL:-}$1" c="$2"
  export WRK_METHOD="$3" WRK_PATH="$4" WRK_BODY="$5" WRK_AUTH="$6"
  if [ "${first_of_endpoint:-0}" = 1 ] && [ "$WARMUP" != 0 ]; then
    wrk -t"$WRK_THREADS" -c"$c" -d"$WARMUP" -s "$here/$SCRIPT" "$ORIGIN" >/dev/null 2>&1 || true
    first_of_endpoint=0; sleep 1
  fi
  local s0 t0 b0 st0 out w
  s0="$(ticks "$SERVER_PID")"; t0="$(cpu_total)"; b0="$(cpu_busy)"; st0="$(cpu_steal)"
  out="$(mktemp)"
  wrk -t"$WRK_THREADS" -c"$c" -d"$DURATION" --timeout 10s -s "$here/$SCRIPT" "$ORIGIN" >"$out" 2>&1 &
  w=$!
  sleep 1; local wt0; wt0="$(ticks "$w" 2>/dev/null || echo 0)"
  local wt1="$wt0"
  while kill -0 "$w" 2>/dev/null; do wt1="$(ticks "$w" 2>/dev/null || echo "$wt1")"; sleep 0.5; done
  wait "$w" || true
  local s1 t1 b1 st1; s1="$(ticks "$SERVER_PID")"; t1="$(cpu_total)"; b1="$(cpu_busy)"; st1="$(cpu_steal)"
  local line; line="$(grep '^RESULT' "$out" || true)"
  if [ -z "$line" ]; then echo "wrk failed:" >&2; cat "$out" >&2; rm -f "$out"; return 1; fi
  local rss; rss="$(awk '/^VmRSS/{printf "%.0f MB", $2/1024}' "/proc/$SERVER_PID/status")"
  python3 - "$name" "$c" "$line" "$s0" "$s1" "$t0" "$t1" "$b0" "$b1" "$wt0" "$wt1" "$hz" "$st0" "$st1" "$rss" <<'PY'
import sys
name, c, line, s0, s1, t0, t1, b0, b1, w0, w1, hz, st0, st1, rss = sys.argv[1:]
kv = dict(x.split("=") for x in line.split()[1:])
dur = int(kv["duration_us"]) / 1e6
f = lambda us: f"{int(us)/1000:.2f} ms"
srv = (int(s1) - int(s0)) / int(hz) / dur * 100
# wrk ticks are sampled from 1 s after start to its last sample: ~dur-1 s
wrk_cpu = (int(w1) - int(w0)) / int(hz) / max(dur - 1.5, 1) * 100
import os
ncpu = os.cpu_count()
busy = (int(b1) - int(b0)) / max(int(t1) - int(t0), 1) * 100 * ncpu
steal = (int(st1) - int(st0)) / max(int(t1) - int(t0), 1) * 100 * ncpu
sock = sum(int(kv[k]) for k in ("err_connect", "err_read", "err_write", "err_timeout"))
print(f"| {name} | {c} | {float(kv['rps']):.0f} | {f(kv['p50_us'])} | {f(kv['p90_us'])} | {f(kv['p99_us'])} | {f(kv['max_us'])} "
      f"| {kv['err_status']} | {sock} | {srv:.0f}% | {wrk_cpu:.0f}% | {busy:.0f}% | {steal:.0f}% | {rss} |")
PY
  rm -f "$out"
}
for ep in $ENDPOINTS; do
  first_of_endpoint=1
  for c in $CONNS; do
    case "$ep" in
      jwks) run_one "GET ${JWKS_PATH}" "$c" GET "$JWKS_PATH" "" "" ;;
      token) run_one "POST ${TOKEN_PATH} client_credentials (JWT AT)" "$c" POST "$TOKEN_PATH" \
               "grant_type=client_credentials${SCOPE_PARAM}${CRED_PARAM}${TOKEN_EXTRA:-}" "$TOKEN_HDR" ;;
      introspection) run_one "POST ${INTRO_PATH} (${INTROSPECT_NAME:-active token})" "$c" POST \
               "$INTRO_PATH" "token=${intro_tok}" "$BASIC" ;;
      authorize) SCRIPT=authorize.lua run_one "GET /authorize (signed in, first-party)" "$c" GET \
               "${AUTHORIZE_URL:?}" "" "" ;;
      code) SCRIPT=code.lua run_one "POST ${TOKEN_PATH} authorization_code" "$c" POST \
               "$TOKEN_PATH" "" "$TOKEN_HDR" ;;
      revocations) SCRIPT=revocations.lua run_one "GET /revocations?since= (full pages)" "$c" GET \
               /revocations "" "$BASIC" ;;
      exchange) run_one "POST ${TOKEN_PATH} token-exchange (JWT AT)" "$c" POST "$TOKEN_PATH" \
               "${EXCHANGE_BODY:?}" "$TOKEN_HDR" ;;
      refresh) SCRIPT=refresh.lua run_one "POST ${TOKEN_PATH} refresh_token (rotating)" "$c" POST \
               "$TOKEN_PATH" "" "$TOKEN_HDR" ;;
      login) if [ -n "${LOGIN_USERS:-}" ]; then login_script=login.lua; else login_script=req.lua; fi
             SCRIPT="$login_script" WRK_COOKIE="${LOGIN_COOKIE:-}" LOGIN_USERS="${LOGIN_USERS:-}" \
               run_one "POST ${LOGIN_PATH:-/login} (valid password)" "$c" POST "${LOGIN_PATH:-/login}" \
               "${LOGIN_BODY:?}" "" ;;
      *) echo "unknown endpoint $ep" >&2; exit 2 ;;
    esac
    sleep 2
  done
done
