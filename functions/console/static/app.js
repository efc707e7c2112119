// The console's entry: how to sign in (config.json), who is signed in, and which page the address names.
// Pages are chosen by the hash (#/compliance, #/card, #/evidence) so the function serves one document.

import { apiClient } from "./api.js";
import { currentSession, signIn, signOut } from "./auth.js";
import { cardPage } from "./card.js";
import { compliancePage } from "./compliance.js";
import { errorBox, h } from "./dom.js";
import { evidencePage } from "./evidence.js";

const MANAGE = "Consent.Manage";
const READ = "Insights.Read";
const PAGES = {
  compliance: { title: "Compliance", role: MANAGE, render: (api, root, later) => compliancePage(api, root, later) },
  card: { title: "Relationship card", role: READ, render: (api, root) => cardPage(api, root) },
  evidence: { title: "Evidence", role: MANAGE, render: (api, root) => evidencePage(api, root) },
};
const REFRESH_MS = 3000;

let timer = null;

function refreshLater(again) {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    try {
      if (await again()) refreshLater(again);
    } catch {
      // a failed refresh leaves the page as it was; the next navigation reads again
    }
  }, REFRESH_MS);
}

function signInView(config, root) {
  const possible = config.auth.mode !== "none";
  root.replaceChildren(
    h("h1", {}, "Sign in"),
    possible
      ? h("p", {}, "Sign in with your organisation's account to see its consent, purges and relationship insights.")
      : h("p", { class: "notice" }, "Sign-in is not configured for this deployment (CONSOLE_CLIENT_ID is not set)."),
    possible ? h("button", { type: "button", onclick: () => signIn(config) }, "Sign in") : "",
  );
}

function showWho(config, session) {
  const who = document.getElementById("who");
  if (!session) {
    who.replaceChildren();
    return;
  }
  who.replaceChildren(
    h("span", {}, `${session.name} · tenant ${session.tenantId.slice(0, 8)}…`),
    h("button", { type: "button", class: "secondary", onclick: () => signOut(config) }, "Sign out"),
  );
}

function pageName(session) {
  const asked = location.hash.replace(/^#\/?/, "");
  if (PAGES[asked]) return asked;
  return session.roles.includes(MANAGE) ? "compliance" : "card";
}

async function render(config, session) {
  const root = document.getElementById("main");
  clearTimeout(timer);
  if (!session) {
    signInView(config, root);
    return;
  }
  const name = pageName(session);
  const page = PAGES[name];
  for (const link of document.querySelectorAll("#nav a")) {
    const allowed = session.roles.includes(PAGES[link.dataset.page].role);
    link.parentElement.hidden = !allowed;
    if (link.dataset.page === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${page.title} · m365-consent-insights console`;
  if (!session.roles.includes(page.role)) {
    root.replaceChildren(h("h1", {}, page.title), h("p", { class: "notice" }, `This page needs the role ${page.role}, which your account does not have.`));
    return;
  }
  await page.render(apiClient(session), root, refreshLater);
  root.focus({ preventScroll: true });
}

async function start() {
  const root = document.getElementById("main");
  try {
    const config = await (await fetch("config.json")).json();
    const session = await currentSession(config);
    showWho(config, session);
    window.addEventListener("hashchange", () => render(config, session));
    await render(config, session);
  } catch (error) {
    root.replaceChildren(h("h1", {}, "Console"), errorBox(error));
  }
}

start();
