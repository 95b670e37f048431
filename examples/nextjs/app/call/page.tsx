import { redirect } from "next/navigation";

import { config } from "@/lib/config";
import { currentSession } from "@/lib/session";

export const dynamic = "force-dynamic";

/** Calls the API with the user's access token, from the server: the browser never holds it. */
export default async function CallApi() {
  const session = await currentSession();
  if (!session?.tokens) redirect("/");
  let status: number | string;
  let body: string;
  try {
    const res = await fetch(`${config.apiUrl}/orders`, {
      cache: "no-store",
      headers: { authorization: `Bearer ${session.tokens.accessToken}` },
    });
    status = res.status;
    const text = await res.text();
    body = text || (res.headers.get("www-authenticate") ?? "");
    try {
      body = JSON.stringify(JSON.parse(text), null, 2);
    } catch {}
  } catch (e) {
    status = "unreachable";
    body = String(e);
  }
  return (
    <section>
      <h1>
        The API answered <span id="api-status">{status}</span>
      </h1>
      <pre id="api-body">{body}</pre>
      <div className="actions">
        <a className="button secondary" href="/">
          Back
        </a>
      </div>
    </section>
  );
}
