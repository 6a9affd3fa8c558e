// Reads the join token's claims in the browser.
//
// The token is a JWT signed by the server. The page only *reads* its payload (to show the
// name and decide which buttons to offer); the server verifies the signature on every
// connection, so nothing here is trusted for security.

/** Decode one base64url segment into a UTF-8 string. */
function decodeBase64Url(segment) {
  const base64 = segment.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

const NO_PERMISSIONS = Object.freeze({
  publish_audio: false,
  publish_video: false,
  publish_screen: false,
  moderate: false,
  subscribe: false,
});

/**
 * The claims of a join token, or throws if it is not a JWT.
 * @returns {{identity: string, name: string, role: string, sessionId: string,
 *            perms: object, expiresAt: number|null}}
 */
export function readJoinToken(token) {
  const parts = (token || "").split(".");
  if (parts.length !== 3) throw new Error("the join link has no valid token");
  let claims;
  try {
    claims = JSON.parse(decodeBase64Url(parts[1]));
  } catch {
    throw new Error("the join link's token cannot be read");
  }
  return {
    identity: String(claims.sub ?? ""),
    name: String(claims.name || claims.sub || ""),
    role: String(claims.role ?? ""),
    sessionId: String(claims.sid ?? ""),
    perms: { ...NO_PERMISSIONS, ...(claims.perms || {}) },
    expiresAt: typeof claims.exp === "number" ? claims.exp : null,
  };
}
