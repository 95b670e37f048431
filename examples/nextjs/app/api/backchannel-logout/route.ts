// OpenID Connect Back-Channel Logout 1.0: Tessera POSTs a logout token here when a session the
// user signed in to this app with ends (logout at Tessera, another app's RP-initiated logout,
// an administrator, a password change). The token is verified as §2.6 says; then the Tessera
// session's app sessions are gone: rows deleted (database strategy), and the sid remembered so
// that any JWT cookie carrying it is refused (JWT strategy).

import { createRemoteJWKSet, jwtVerify, type JWTPayload } from "jose";

import { SESSION_MAX_AGE } from "@/auth";
import { config } from "@/lib/config";
import { revokeSid } from "@/lib/store";
import { metadata } from "@/lib/tessera";

const EVENT = "http://schemas.openid.net/event/backchannel-logout";

const g = globalThis as unknown as { tesseraJwks?: ReturnType<typeof createRemoteJWKSet> };

async function jwks() {
  // jose caches the key set and fetches it again when a token names a kid it lacks.
  g.tesseraJwks ??= createRemoteJWKSet(new URL((await metadata()).jwks_uri));
  return g.tesseraJwks;
}

function refuse(description: string) {
  // §2.8: 400 for a token that does not validate, with an RFC 6749 error body.
  return Response.json(
    { error: "invalid_request", error_description: description },
    { status: 400, headers: { "cache-control": "no-store" } },
  );
}

export async function POST(req: Request) {
  let logoutToken: string | null = null;
  try {
    logoutToken = new URLSearchParams(await req.text()).get("logout_token");
  } catch {
    return refuse("the body is not a form");
  }
  if (!logoutToken) return refuse("logout_token is missing");

  let claims: JWTPayload;
  try {
    // §2.6 steps 3–5: signature with a key of the issuer's JWKS (never a key the token names),
    // iss, aud (this client), iat present and recent; exp when present.
    ({ payload: claims } = await jwtVerify(logoutToken, await jwks(), {
      issuer: config.issuer,
      audience: config.clientId,
      typ: "logout+jwt",
      algorithms: ["RS256", "ES256", "EdDSA"],
      requiredClaims: ["iat"],
      maxTokenAge: "5m",
    }));
  } catch (e) {
    return refuse(`the logout token does not verify: ${(e as Error).message}`);
  }
  // §2.6 step 6–8: the logout event, a sid (this app keys its sessions by it), and no nonce.
  const events = claims.events as Record<string, unknown> | undefined;
  if (typeof events !== "object" || events === null || typeof events[EVENT] !== "object") {
    return refuse("the logout token has no back-channel logout event");
  }
  if ("nonce" in claims) return refuse("a logout token must not carry a nonce");
  if (typeof claims.sid !== "string" || claims.sid === "") {
    return refuse("the logout token has no sid");
  }
  const ended = revokeSid(claims.sid, SESSION_MAX_AGE * 1000);
  console.log(`back-channel logout: Tessera session ${claims.sid} ended (${ended} database session(s))`);
  return new Response(null, { status: 200, headers: { "cache-control": "no-store" } });
}
