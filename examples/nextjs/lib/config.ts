// Every setting comes from the environment (see README.md); a missing one stops the app with
// the name of what to set rather than failing later on a request.

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`set ${name} (see examples/nextjs/README.md)`);
  return value;
}

export type Strategy = "jwt" | "database";

export function strategy(): Strategy {
  const s = process.env.SESSION_STRATEGY ?? "jwt";
  if (s !== "jwt" && s !== "database") {
    throw new Error(`SESSION_STRATEGY must be "jwt" or "database", not "${s}"`);
  }
  return s;
}

export const config = {
  get issuer() {
    return required("TESSERA_ISSUER").replace(/\/$/, "");
  },
  get clientId() {
    return required("TESSERA_CLIENT_ID");
  },
  get clientSecret() {
    return required("TESSERA_CLIENT_SECRET");
  },
  /** The API's identifier at Tessera: sent as `resource` (RFC 8707), it becomes the token's `aud`. */
  get apiIdentifier() {
    return required("API_IDENTIFIER");
  },
  /** Where the API answers. */
  get apiUrl() {
    return required("API_URL").replace(/\/$/, "");
  },
  get apiScope() {
    return process.env.API_SCOPE ?? "orders.read";
  },
  get dataDir() {
    return process.env.DATA_DIR ?? ".data";
  },
};

/** Where this app is reached (Auth.js's AUTH_URL): the post-logout redirect comes back here. */
export function appUrl(): string {
  return required("AUTH_URL").replace(/\/$/, "");
}
