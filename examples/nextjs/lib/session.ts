// The signed-in user's session and tokens, on the server only (pages, server actions).

import { cookies } from "next/headers";
import { decode, type JWT } from "next-auth/jwt";

import { auth } from "@/auth";

import { sessionTokens } from "./adapter";
import { strategy } from "./config";
import type { Tokens } from "./store";

export type AppSession = {
  name?: string | null;
  email?: string | null;
  sid?: string;
  tokens?: Tokens;
};

async function sessionCookie(): Promise<{ name: string; value: string } | null> {
  const jar = await cookies();
  for (const name of ["__Secure-authjs.session-token", "authjs.session-token"]) {
    const whole = jar.get(name)?.value;
    if (whole) return { name, value: whole };
    // Auth.js splits a cookie over 4 KB into name.0, name.1, …
    const chunks = jar
      .getAll()
      .filter((c) => c.name.startsWith(`${name}.`))
      .sort((a, b) => Number(a.name.slice(name.length + 1)) - Number(b.name.slice(name.length + 1)));
    if (chunks.length) return { name, value: chunks.map((c) => c.value).join("") };
  }
  return null;
}

/** The session if it is alive (Auth.js checked it: revoked sid, refresh), with its tokens. */
export async function currentSession(): Promise<AppSession | null> {
  const session = await auth();
  if (!session?.user) return null;
  const cookie = await sessionCookie();
  if (!cookie) return null;
  let tokens: Tokens | undefined;
  if (strategy() === "database") {
    tokens = sessionTokens(cookie.value)?.tokens;
  } else {
    const secret = process.env.AUTH_SECRET ?? "";
    const jwt = (await decode({ token: cookie.value, secret, salt: cookie.name })) as JWT | null;
    tokens = jwt?.tokens;
  }
  return {
    name: session.user.name,
    email: session.user.email,
    sid: (session as { sid?: string }).sid,
    tokens,
  };
}
