// The app's server-side state, in one JSON file: users, accounts and sessions for the database
// strategy (a real app uses a database adapter), and the revoked Tessera sessions (`sid`s) that
// the JWT strategy must refuse. A file rather than module memory because Next.js may load this
// module more than once (middleware, route handlers and pages are bundled apart); every read
// goes to the file, every write replaces it atomically. Session tokens are kept as SHA-256.

import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { config } from "./config";

export type Tokens = {
  accessToken: string;
  /** Seconds since the epoch. */
  accessExpiresAt: number;
  /** The lifetime Tessera gave the access token, in seconds (refresh at a third of it left). */
  accessLifetime: number;
  refreshToken?: string;
  idToken?: string;
};

export type StoredUser = {
  id: string;
  name?: string | null;
  email: string;
  emailVerified: string | null;
  image?: string | null;
};

export type StoredSession = {
  userId: string;
  /** ISO date: when Auth.js ends the session. */
  expires: string;
  /** Tessera's session id (`sid` of the ID token): back-channel logout names it. */
  sid?: string;
  tokens?: Tokens;
};

type Data = {
  users: Record<string, StoredUser>;
  /** "provider:providerAccountId" → user id. */
  accounts: Record<string, string>;
  /** SHA-256 of the session token → session. */
  sessions: Record<string, StoredSession>;
  /** Revoked Tessera sid → when the entry may be dropped (ms since the epoch). */
  revokedSids: Record<string, number>;
};

const empty = (): Data => ({ users: {}, accounts: {}, sessions: {}, revokedSids: {} });

function file(): string {
  return join(config.dataDir, "store.json");
}

export function read(): Data {
  try {
    return { ...empty(), ...JSON.parse(readFileSync(file(), "utf8")) };
  } catch {
    return empty();
  }
}

/** Reads, changes and writes the file; no await inside, so no other request interleaves. */
export function update<T>(change: (data: Data) => T): T {
  const data = read();
  const result = change(data);
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const tmp = `${file()}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(data), { mode: 0o600 });
  renameSync(tmp, file());
  return result;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Ends every session of Tessera session `sid`: the database strategy's rows go, and the sid is
 * remembered (until no cookie that carries it can still be valid) for the JWT strategy.
 */
export function revokeSid(sid: string, rememberForMs: number): number {
  const now = Date.now();
  return update((data) => {
    for (const [s, until] of Object.entries(data.revokedSids)) {
      if (until < now) delete data.revokedSids[s];
    }
    data.revokedSids[sid] = now + rememberForMs;
    let ended = 0;
    for (const [hash, session] of Object.entries(data.sessions)) {
      if (session.sid === sid) {
        delete data.sessions[hash];
        ended += 1;
      }
    }
    return ended;
  });
}

export function isSidRevoked(sid: string | undefined): boolean {
  if (!sid) return false;
  const until = read().revokedSids[sid];
  return until !== undefined && until >= Date.now();
}
