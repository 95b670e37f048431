# Sourced by run.sh (needs curl, jq, openssl and `$work`, a scratch directory).
# seed_peer_refresh_tokens: the authorization-code flow (PKCE) with curl against the peer:
# `count` authorizations for the bench-refresh client, each through server.js's
# /interaction/:uid (which logs in the bench account and grants the scopes at once), each
# code redeemed for a refresh token (one per line in `out`), for ../load/refresh.lua to rotate.
# offline_access needs prompt=consent in node-oidc-provider, so every authorization has one
# interaction; each is one curl following the redirects (/auth -> /interaction/:uid ->
# /auth/:uid -> the redirect URI, which is not listening: curl stops there, code in hand).
seed_peer_refresh_tokens() { # base client_id secret redirect count out
  local base="$1" id="$2" secret="$3" redirect="$4" count="$5" out="$6"
  local jar="$work/peer-jar" verifier challenge loc code i
  rm -f "$jar"
  verifier="$(openssl rand -hex 32)"
  challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
  : >"$out"
  for i in $(seq "$count"); do
    loc="$(curl -s -L --max-redirs 4 -c "$jar" -b "$jar" -o /dev/null -w '%{url_effective}' \
      -G "$base/auth" -d response_type=code -d "client_id=$id" \
      --data-urlencode "redirect_uri=$redirect" \
      --data-urlencode "scope=openid offline_access api:read" -d resource=urn:bench:api \
      -d prompt=consent -d "state=s$i" -d "nonce=n$i" \
      -d "code_challenge=$challenge" -d code_challenge_method=S256 || true)"
    code="$(sed -nE "s#^${redirect}\?(.*&)?code=([^&]*).*#\2#p" <<<"$loc")"
    [ -n "$code" ] || { echo "peer authorization $i gave no code (ended at $loc)" >&2; return 1; }
    curl -fsS -u "$id:$secret" -d grant_type=authorization_code --data-urlencode "code=$code" \
      --data-urlencode "redirect_uri=$redirect" -d "code_verifier=$verifier" "$base/token" \
      | jq -er .refresh_token >>"$out"
  done
}
