// Before a page renders, the session is read once here, where a response can still set
// cookies: with the JWT strategy, a refreshed access token (and its rotated refresh token) goes
// back into the cookie, and a session that ended is cleared. The page then sees the same
// cookie the browser will keep, so it never refreshes with a refresh token already used.

import { NextResponse, type NextRequest } from "next/server";

import { auth } from "@/auth";

export async function middleware(req: NextRequest) {
  // Called with the request, Auth.js answers with the session's Set-Cookie lines.
  const checked = (await auth(req as never)) as unknown as Response | null;
  const setCookies = checked?.headers.getSetCookie() ?? [];
  if (setCookies.length === 0) return NextResponse.next();
  const forwarded = new Map(req.cookies.getAll().map((c) => [c.name, c.value]));
  for (const line of setCookies) {
    const [pair, ...attributes] = line.split(";");
    const eq = pair.indexOf("=");
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    const cleared = attributes.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === "";
    if (cleared) forwarded.delete(name);
    else forwarded.set(name, value);
  }
  const headers = new Headers(req.headers);
  headers.set(
    "cookie",
    [...forwarded].map(([n, v]) => `${n}=${v}`).join("; "),
  );
  const res = NextResponse.next({ request: { headers } });
  for (const line of setCookies) res.headers.append("set-cookie", line);
  return res;
}

export const config = {
  runtime: "nodejs",
  // Pages only: not Auth.js's own routes, the back-channel endpoint, or static files.
  matcher: ["/((?!api/|_next/|favicon.ico).*)"],
};
