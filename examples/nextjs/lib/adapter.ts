// A tiny Auth.js adapter over lib/store.ts for the database session strategy. Each session keeps
// its own tokens and Tessera `sid` (Auth.js would keep tokens per account, shared by every
// session of the user, and would not know which Tessera session a back-channel logout ends).

import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";

import type { Adapter, AdapterSession, AdapterUser } from "next-auth/adapters";

import { hashToken, read, update, type StoredSession, type Tokens } from "./store";
import { needsRefresh, refresh } from "./tessera";

/** What the sign-in callback learnt, handed to `createSession` within the same request. */
export const signInContext = new AsyncLocalStorage<{ sid?: string; tokens?: Tokens }>();

function toUser(u: AdapterUser | StoredUserLike): AdapterUser {
  return {
    ...u,
    emailVerified: u.emailVerified ? new Date(u.emailVerified) : null,
  } as AdapterUser;
}
type StoredUserLike = { id: string; email: string; emailVerified: string | Date | null };

function toSession(token: string, s: StoredSession): AdapterSession & { sid?: string } {
  return { sessionToken: token, userId: s.userId, expires: new Date(s.expires), sid: s.sid };
}

export function fileAdapter(): Adapter {
  return {
    async createUser(user) {
      const id = user.id || randomUUID();
      const stored = { ...user, id, emailVerified: user.emailVerified?.toISOString() ?? null };
      update((d) => void (d.users[id] = stored));
      return toUser(stored);
    },
    async getUser(id) {
      const u = read().users[id];
      return u ? toUser(u) : null;
    },
    async getUserByEmail(email) {
      const u = Object.values(read().users).find((u) => u.email === email);
      return u ? toUser(u) : null;
    },
    async getUserByAccount({ provider, providerAccountId }) {
      const d = read();
      const id = d.accounts[`${provider}:${providerAccountId}`];
      const u = id ? d.users[id] : undefined;
      return u ? toUser(u) : null;
    },
    async updateUser(user) {
      return update((d) => {
        const merged = {
          ...d.users[user.id],
          ...user,
          emailVerified:
            user.emailVerified === undefined
              ? (d.users[user.id]?.emailVerified ?? null)
              : (user.emailVerified?.toISOString() ?? null),
        };
        d.users[user.id] = merged;
        return toUser(merged);
      });
    },
    async linkAccount(account) {
      // Tokens live with the session, not the account.
      update((d) => void (d.accounts[`${account.provider}:${account.providerAccountId}`] = account.userId));
    },
    async createSession({ sessionToken, userId, expires }) {
      const context = signInContext.getStore();
      const stored: StoredSession = {
        userId,
        expires: expires.toISOString(),
        sid: context?.sid,
        tokens: context?.tokens,
      };
      update((d) => void (d.sessions[hashToken(sessionToken)] = stored));
      return toSession(sessionToken, stored);
    },
    async getSessionAndUser(sessionToken) {
      const key = hashToken(sessionToken);
      const d = read();
      let s = d.sessions[key];
      const user = s ? d.users[s.userId] : undefined;
      if (!s || !user) return null;
      // The access token is refreshed here, on the server, before it expires. A refresh token
      // that Tessera refused for good (rotated out, family revoked, session ended) ends the
      // session: Auth.js then clears the cookie.
      if (s.tokens && needsRefresh(s.tokens)) {
        const r = await refresh(s.tokens);
        if (r.ok) {
          s = update((d) => {
            const current = d.sessions[key];
            if (current) current.tokens = r.tokens;
            return current;
          });
          if (!s) return null;
        } else if (r.ended) {
          update((d) => void delete d.sessions[key]);
          return null;
        }
      }
      return { session: toSession(sessionToken, s), user: toUser(user) };
    },
    async updateSession({ sessionToken, expires }) {
      return update((d) => {
        const s = d.sessions[hashToken(sessionToken)];
        if (!s) return null;
        if (expires) s.expires = expires.toISOString();
        return toSession(sessionToken, s);
      });
    },
    async deleteSession(sessionToken) {
      update((d) => void delete d.sessions[hashToken(sessionToken)]);
    },
  };
}

/** The tokens of a database session, by its cookie value (server-side only). */
export function sessionTokens(sessionToken: string): { sid?: string; tokens?: Tokens } | null {
  const s = read().sessions[hashToken(sessionToken)];
  return s ? { sid: s.sid, tokens: s.tokens } : null;
}
