// Auth.js with one OpenID Connect provider: Tessera. SESSION_STRATEGY picks where the session
// lives: "jwt" (an encrypted cookie, nothing on the server but the revoked-sid set) or
// "database" (a row per session, lib/adapter.ts).

import NextAuth from "next-auth";
import type { JWT } from "next-auth/jwt";

import { fileAdapter, signInContext } from "./lib/adapter";
import { config, strategy } from "./lib/config";
import { isSidRevoked, type Tokens } from "./lib/store";
import { needsRefresh, refresh, tokensFrom } from "./lib/tessera";

/** How long a session lasts in the app (Auth.js `maxAge`), in seconds. */
export const SESSION_MAX_AGE = 12 * 60 * 60;

declare module "next-auth/jwt" {
  interface JWT {
    sid?: string;
    tokens?: Tokens;
  }
}

export const { handlers, auth, signIn, signOut } = NextAuth(() => {
  const useDatabase = strategy() === "database";
  return {
    trustHost: true,
    session: { strategy: strategy(), maxAge: SESSION_MAX_AGE },
    adapter: useDatabase ? fileAdapter() : undefined,
    providers: [
      {
        id: "tessera",
        name: "Tessera",
        type: "oidc",
        issuer: config.issuer,
        clientId: config.clientId,
        clientSecret: config.clientSecret,
        // PKCE (S256), state and nonce: Tessera requires PKCE, the other two are defence in depth.
        checks: ["pkce", "state", "nonce"],
        authorization: {
          params: {
            scope: `openid profile email offline_access ${config.apiScope}`,
            // RFC 8707: the access token is for this API (its `aud`), with only its scopes.
            resource: config.apiIdentifier,
          },
        },
        profile(claims) {
          return {
            id: String(claims.sub),
            name: (claims.name ?? claims.preferred_username ?? claims.sub) as string,
            email: (claims.email ?? `${claims.sub}@users.invalid`) as string,
          };
        },
      },
    ],
    callbacks: {
      async signIn({ account, profile }) {
        // The database strategy's createSession (same request) picks these up.
        const context = signInContext.getStore();
        if (context && account?.access_token) {
          context.sid = typeof profile?.sid === "string" ? profile.sid : undefined;
          context.tokens = tokensFrom({
            access_token: account.access_token,
            expires_in: account.expires_in,
            refresh_token: account.refresh_token,
            id_token: account.id_token,
          });
        }
        return true;
      },
      async jwt({ token, account, profile }): Promise<JWT | null> {
        if (account?.access_token) {
          // Sign-in: the tokens go into the encrypted cookie, never to the browser's scripts.
          return {
            ...token,
            sid: typeof profile?.sid === "string" ? profile.sid : undefined,
            tokens: tokensFrom({
              access_token: account.access_token,
              expires_in: account.expires_in,
              refresh_token: account.refresh_token,
              id_token: account.id_token,
            }),
          };
        }
        // Signed out at Tessera (back-channel logout): this cookie is dead, whatever it says.
        if (isSidRevoked(token.sid)) return null;
        if (token.tokens && needsRefresh(token.tokens)) {
          const r = await refresh(token.tokens);
          if (r.ok) return { ...token, tokens: r.tokens };
          if (r.ended) return null;
        }
        return token;
      },
      async session({ session, token }) {
        // What `auth()` and /api/auth/session return: never the tokens themselves.
        const sid = useDatabase
          ? (session as unknown as { sid?: string }).sid
          : (token as JWT | undefined)?.sid;
        return { ...session, sid };
      },
    },
  };
});
