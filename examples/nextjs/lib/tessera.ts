// Talking to Tessera from the server: discovery, and refreshing the access token with its
// rotating refresh token.

import { config } from "./config";
import type { Tokens } from "./store";

type Metadata = {
  issuer: string;
  token_endpoint: string;
  end_session_endpoint: string;
  jwks_uri: string;
};

const g = globalThis as unknown as {
  tesseraMetadata?: Promise<Metadata>;
  tesseraRefreshes?: Map<string, { at: number; result: Promise<RefreshResult> }>;
};

export function metadata(): Promise<Metadata> {
  g.tesseraMetadata ??= fetch(`${config.issuer}/.well-known/openid-configuration`, {
    cache: "no-store",
  })
    .then((res) => {
      if (!res.ok) throw new Error(`discovery answered ${res.status}`);
      return res.json() as Promise<Metadata>;
    })
    .catch((e) => {
      g.tesseraMetadata = undefined;
      throw e;
    });
  return g.tesseraMetadata;
}

/** What the token endpoint answered, in the form the sessions keep. */
export function tokensFrom(
  body: {
    access_token: string;
    expires_in?: number;
    refresh_token?: string;
    id_token?: string;
  },
  previous?: Tokens,
): Tokens {
  const lifetime = body.expires_in ?? 300;
  return {
    accessToken: body.access_token,
    accessExpiresAt: Math.floor(Date.now() / 1000) + lifetime,
    accessLifetime: lifetime,
    // Tessera rotates: the answer carries the successor. Keep the old one only if none came.
    refreshToken: body.refresh_token ?? previous?.refreshToken,
    idToken: body.id_token ?? previous?.idToken,
  };
}

/** Refresh when a third of the token's lifetime is left (at most a minute before `exp`). */
export function needsRefresh(tokens: Tokens, nowSeconds = Date.now() / 1000): boolean {
  const margin = Math.min(60, tokens.accessLifetime / 3);
  return nowSeconds >= tokens.accessExpiresAt - margin;
}

export type RefreshResult =
  | { ok: true; tokens: Tokens }
  /** `ended`: Tessera refused the refresh token for good (rotated out, family or session
   * revoked, user disabled): the user must sign in again. Otherwise a passing failure. */
  | { ok: false; ended: boolean; error: string };

/**
 * Refreshes once per refresh token. Tessera's refresh tokens work once: a second use of the same
 * token is reuse and revokes the whole family (RFC 9700 §4.14). Two requests of one browser can
 * carry the same cookie at once, and a request that left before the refreshed cookie arrived
 * still carries the old one; both get the first refresh's answer, kept for a minute. (Several
 * app instances would share this through a store, or rely on Tessera's `refresh_token_grace`.)
 */
export function refresh(tokens: Tokens): Promise<RefreshResult> {
  const rt = tokens.refreshToken;
  if (!rt) return Promise.resolve({ ok: false, ended: true, error: "no refresh token" });
  const inflight = (g.tesseraRefreshes ??= new Map());
  const now = Date.now();
  for (const [key, entry] of inflight) if (now - entry.at > 60_000) inflight.delete(key);
  const known = inflight.get(rt);
  if (known) return known.result;
  const result = doRefresh(tokens, rt);
  inflight.set(rt, { at: now, result });
  return result;
}

async function doRefresh(tokens: Tokens, refreshToken: string): Promise<RefreshResult> {
  try {
    const { token_endpoint } = await metadata();
    const basic = Buffer.from(
      `${encodeURIComponent(config.clientId)}:${encodeURIComponent(config.clientSecret)}`,
    ).toString("base64");
    const res = await fetch(token_endpoint, {
      method: "POST",
      cache: "no-store",
      headers: {
        authorization: `Basic ${basic}`,
        "content-type": "application/x-www-form-urlencoded",
      },
      // Without `resource`, Tessera issues the token for the one API the sign-in granted.
      body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: refreshToken }),
    });
    const body = await res.json().catch(() => ({}));
    if (res.ok && typeof body.access_token === "string") {
      return { ok: true, tokens: tokensFrom(body, tokens) };
    }
    // RFC 6749 §5.2: invalid_grant means this refresh token will never work again.
    const ended = res.status === 400 && body.error === "invalid_grant";
    return { ok: false, ended, error: body.error ?? `token endpoint answered ${res.status}` };
  } catch (e) {
    return { ok: false, ended: false, error: String(e) };
  }
}

/** The claims of a JWT we received from Tessera over TLS, read for display only. */
export function claimsOf(jwt: string | undefined): Record<string, unknown> {
  try {
    const payload = jwt?.split(".")[1];
    return payload ? JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) : {};
  } catch {
    return {};
  }
}
