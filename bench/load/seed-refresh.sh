# Sourced by bench/run.sh and bench/soak.sh (needs curl, jq, openssl and `$work`, a scratch
# directory). seed_refresh_tokens: the authorization-code flow with curl: log in once as
# `user`, then `count` authorizations for a first-party client, each redeemed for a refresh
# token (one per line in `out`), for refresh.lua to rotate.
seed_refresh_tokens() { # base client_id secret redirect count out user password
  local base="$1" id="$2" secret="$3" redirect="$4" count="$5" out="$6" user="$7" password="$8"
  local jar="$work/jar" verifier challenge csrf loc code i
  rm -f "$jar"
  csrf="$(curl -fsS -c "$jar" -b "$jar" "$base/login" | sed -nE 's/.*name="csrf" value="([^"]*)".*/\1/p')"
  curl -fsS -c "$jar" -b "$jar" -o /dev/null \
    --data-urlencode "username=$user" --data-urlencode "password=$password" \
    --data-urlencode "csrf=$csrf" --data-urlencode return_to=/account "$base/login"
  verifier="$(openssl rand -hex 32)"
  challenge="$(printf %s "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')"
  : >"$out"
  for i in $(seq "$count"); do
    loc="$(curl -sS -b "$jar" -o /dev/null -w '%{redirect_url}' -G "$base/authorize" \
      -d response_type=code -d "client_id=$id" --data-urlencode "redirect_uri=$redirect" \
      --data-urlencode "scope=openid offline_access" -d "state=s$i" -d "nonce=n$i" \
      -d "code_challenge=$challenge" -d code_challenge_method=S256)"
    code="$(sed -nE 's/.*[?&]code=([^&]*).*/\1/p' <<<"$loc")"
    curl -fsS -u "$id:$secret" -d grant_type=authorization_code --data-urlencode "code=$code" \
      --data-urlencode "redirect_uri=$redirect" -d "code_verifier=$verifier" "$base/token" \
      | jq -r .refresh_token >>"$out"
  done
}
