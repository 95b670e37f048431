import { redirect } from "next/navigation";

import { signIn, signOut } from "@/auth";
import { appUrl, config } from "@/lib/config";
import { currentSession } from "@/lib/session";
import { claimsOf, metadata } from "@/lib/tessera";

export const dynamic = "force-dynamic";

async function signInWithTessera() {
  "use server";
  await signIn("tessera", { redirectTo: "/" });
}

/** Ends the app's session, then Tessera's (OpenID Connect RP-Initiated Logout 1.0). */
async function signOutEverywhere() {
  "use server";
  const session = await currentSession();
  await signOut({ redirect: false });
  const url = new URL((await metadata()).end_session_endpoint);
  // The ID token shows Tessera that this app asks for its own session to end (no confirmation
  // page); client_id lets Tessera check the post-logout redirect even without it.
  if (session?.tokens?.idToken) url.searchParams.set("id_token_hint", session.tokens.idToken);
  url.searchParams.set("client_id", config.clientId);
  url.searchParams.set("post_logout_redirect_uri", `${appUrl()}/`);
  redirect(url.toString());
}

function time(seconds: unknown): string {
  return typeof seconds === "number" ? new Date(seconds * 1000).toISOString() : "–";
}

export default async function Home() {
  const session = await currentSession();
  if (!session) {
    return (
      <section>
        <h1 id="signed-out">You are signed out</h1>
        <p>This app signs you in with Tessera (OpenID Connect, code flow with PKCE).</p>
        <form action={signInWithTessera} className="actions">
          <button id="sign-in" type="submit">
            Sign in with Tessera
          </button>
        </form>
      </section>
    );
  }
  const access = claimsOf(session.tokens?.accessToken);
  return (
    <>
      <section>
        <h1>
          Signed in as <span id="who">{session.name}</span>
        </h1>
        <dl>
          <dt>Email</dt>
          <dd>{session.email}</dd>
          <dt>Tessera session</dt>
          <dd>
            <code id="sid">{session.sid}</code>
          </dd>
        </dl>
      </section>
      <section>
        <h1>Access token</h1>
        <p>Kept on the server; refreshed (with a rotated refresh token) before it expires.</p>
        <dl>
          <dt>Token id</dt>
          <dd>
            <code id="token-jti">{String(access.jti ?? "–")}</code>
          </dd>
          <dt>Audience</dt>
          <dd>
            <code id="token-aud">{String(access.aud ?? "–")}</code>
          </dd>
          <dt>Scope</dt>
          <dd>{String(access.scope ?? "–")}</dd>
          <dt>Expires</dt>
          <dd id="token-exp" data-exp={String(access.exp ?? "")}>
            {time(access.exp)}
          </dd>
        </dl>
        <div className="actions">
          <a id="call-api" className="button" href="/call">
            Call the API
          </a>
          <form action={signOutEverywhere}>
            <button id="sign-out" type="submit" className="secondary">
              Sign out
            </button>
          </form>
        </div>
      </section>
    </>
  );
}
