// Signing in: MSAL.js (authorization code + PKCE) against the SPA app registration in Azure, or the
// development identity provider that `make serve` runs on loopback. Either way the page ends up with a bearer
// token for our API and reads the tenant, the user and the roles from its claims (for display and to choose
// the pages; the API checks them again on every call).

const SESSION = "consent-insights.session";
const STATE = "consent-insights.state";

export function claimsOf(token) {
  const part = token.split(".")[1] || "";
  const text = atob(part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "="));
  return JSON.parse(new TextDecoder().decode(Uint8Array.from(text, (c) => c.charCodeAt(0))));
}

function sessionFrom(token) {
  const claims = claimsOf(token);
  return {
    token,
    tenantId: claims.tid,
    userId: claims.oid,
    name: claims.name || claims.preferred_username || claims.oid,
    roles: claims.roles || [],
    expiresAt: (claims.exp || 0) * 1000,
  };
}

function randomState() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function returnAddress() {
  return location.origin + location.pathname;
}

// --- development identity provider -------------------------------------------------------------------------

function developmentSession() {
  if (location.hash.includes("access_token=")) {
    const answer = new URLSearchParams(location.hash.slice(1));
    const expected = sessionStorage.getItem(STATE);
    sessionStorage.removeItem(STATE);
    history.replaceState(null, "", returnAddress());
    if (!expected || answer.get("state") !== expected) {
      throw new Error("The sign-in answer did not match the request; please sign in again.");
    }
    sessionStorage.setItem(SESSION, answer.get("access_token"));
  }
  const token = sessionStorage.getItem(SESSION);
  if (!token) return null;
  const session = sessionFrom(token);
  if (session.expiresAt < Date.now() + 30_000) {
    sessionStorage.removeItem(SESSION);
    return null;
  }
  return session;
}

function developmentSignIn(auth) {
  const state = randomState();
  sessionStorage.setItem(STATE, state);
  const url = new URL(auth.signInUrl);
  url.searchParams.set("redirect_uri", returnAddress());
  url.searchParams.set("state", state);
  location.assign(url.toString());
}

// --- MSAL ---------------------------------------------------------------------------------------------------

let msalApp = null;

async function msalClient(auth) {
  if (!msalApp) {
    msalApp = new window.msal.PublicClientApplication({
      auth: { clientId: auth.clientId, authority: auth.authority, redirectUri: returnAddress() },
      cache: { cacheLocation: "sessionStorage" },
    });
    await msalApp.initialize();
  }
  return msalApp;
}

async function msalSession(auth) {
  const app = await msalClient(auth);
  const redirected = await app.handleRedirectPromise();
  const account = redirected?.account || app.getAllAccounts()[0];
  if (!account) return null;
  app.setActiveAccount(account);
  const result = await app.acquireTokenSilent({ scopes: auth.scopes, account });
  return sessionFrom(result.accessToken);
}

// --- what the page calls ------------------------------------------------------------------------------------

export async function currentSession(config) {
  const auth = config.auth;
  if (auth.mode === "development") return developmentSession();
  if (auth.mode === "msal") return msalSession(auth);
  return null;
}

export async function signIn(config) {
  const auth = config.auth;
  if (auth.mode === "development") return developmentSignIn(auth);
  if (auth.mode === "msal") return (await msalClient(auth)).loginRedirect({ scopes: auth.scopes });
  return undefined;
}

export async function signOut(config) {
  sessionStorage.removeItem(SESSION);
  if (config.auth.mode === "msal" && msalApp) {
    await msalApp.logoutRedirect({ postLogoutRedirectUri: returnAddress() });
    return;
  }
  location.assign(returnAddress());
}
