// The compliance page (role Consent.Manage): consent and its basis per feature, opt-outs, ingestion progress,
// purges with their deadlines, and the audit log; grant, withdraw and change opt-outs, each confirmed first
// with what will be deleted and by when.

import { confirmAction, errorBox, h, short, table, timeLeft, when } from "./dom.js";

const DAY = 86_400_000;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FEATURES = { relationship_analytics: "Relationship analytics", who_knows_whom: "Who knows whom" };

function deadlines() {
  const now = Date.now();
  return `live data by ${when(new Date(now + DAY).toISOString())}, backups by ${when(new Date(now + 30 * DAY).toISOString())}`;
}

export async function compliancePage(api, root, refreshLater) {
  const status = h("p", { class: "notice", role: "status", "aria-live": "polite" });
  const sections = {
    consent: h("section", { class: "panel", "aria-labelledby": "consent-h" }),
    optouts: h("section", { class: "panel", "aria-labelledby": "optouts-h" }),
    ingestion: h("section", { class: "panel", "aria-labelledby": "ingestion-h" }),
    purges: h("section", { class: "panel", "aria-labelledby": "purges-h" }),
    audit: h("section", { class: "panel", "aria-labelledby": "audit-h" }),
  };
  status.hidden = true;
  root.replaceChildren(
    h("h1", {}, "Compliance"),
    status,
    h("div", { class: "grid" }, sections.consent, sections.optouts),
    sections.ingestion,
    sections.purges,
    sections.audit,
  );
  const say = (text) => {
    status.textContent = text;
    status.hidden = false;
  };
  const act = async (work) => {
    try {
      say(await work());
      await draw();
    } catch (error) {
      say(error.message);
    }
  };

  async function drawConsent() {
    const consent = await api.get("/consent");
    const rows = Object.entries(FEATURES).map(([key, label]) => {
      const feature = consent.features[key];
      const legacy = feature.legacy ? `${feature.legacy.status}, expires ${when(feature.legacy.expiresAt)}` : "—";
      return [label, feature.enabled ? "on" : "off", feature.basis, legacy];
    });
    const granted = consent.state === "granted";
    const button = granted
      ? h("button", { class: "danger", type: "button", onclick: () => withdraw() }, "Withdraw consent")
      : h("button", { type: "button", onclick: () => grant() }, "Grant consent");
    sections.consent.replaceChildren(
      h("h2", { id: "consent-h" }, "Consent"),
      h("p", {}, "State: ", h("strong", { "data-testid": "consent-state" }, consent.state),
        consent.granted ? ` (granted ${when(consent.granted.recordedAt)})` : "",
        consent.revoked ? ` (withdrawn ${when(consent.revoked.recordedAt)})` : ""),
      table("Features and their basis", ["Feature", "Enabled", "Basis", "Legacy form"], rows),
      h("div", { class: "actions" }, button),
    );
  }

  async function grant() {
    const ok = await confirmAction(
      "Grant consent",
      "Both features are enabled for this tenant and a year of mail and meeting metadata of every included user is ingested.",
      "Grant",
    );
    if (ok) await act(async () => (await api.put("/consent", {}), "Consent granted; ingestion starts."));
  }

  async function withdraw() {
    const ok = await confirmAction(
      "Withdraw consent",
      `Ingestion stops at once and everything collected for this tenant is deleted: ${deadlines()}.`,
      "Withdraw and delete",
    );
    if (ok) await act(async () => `Consent withdrawn; purge ${short((await api.delete("/consent")).purgeId)} queued.`);
  }

  async function drawOptOuts() {
    const optouts = await api.get("/opt-outs");
    const groupInput = h("input", { id: "group-id", name: "group-id", inputmode: "text", autocomplete: "off", size: 38 });
    const userInput = h("input", { id: "user-id", name: "user-id", inputmode: "text", autocomplete: "off", size: 38 });
    const groupIds = optouts.groups.map((g) => g.groupId);
    sections.optouts.replaceChildren(
      h("h2", { id: "optouts-h" }, "Opt-outs"),
      table("Opted-out groups", ["Group", "Source", "Since", ""], optouts.groups.map((g) => [
        h("span", { class: "mono" }, g.groupId), g.source, when(g.addedAt),
        h("button", { type: "button", class: "secondary", "aria-label": `Opt in group ${g.groupId}`,
          onclick: () => changeGroups(groupIds.filter((id) => id !== g.groupId), null) }, "Opt in"),
      ])),
      h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); addGroup(groupInput.value.trim(), groupIds); } },
        h("div", {}, h("label", { for: "group-id" }, "Group object ID"), groupInput),
        h("button", { type: "submit" }, "Opt group out")),
      table("Opted-out users", ["User", "Since", "Purge", ""], optouts.users.map((u) => [
        h("span", { class: "mono" }, u.userId), when(u.optedOutAt), short(u.purgeId),
        h("button", { type: "button", class: "secondary", "aria-label": `Opt in user ${u.userId}`,
          onclick: () => optUserIn(u.userId) }, "Opt in"),
      ])),
      h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); optUserOut(userInput.value.trim()); } },
        h("div", {}, h("label", { for: "user-id" }, "User object ID"), userInput),
        h("button", { type: "submit" }, "Opt user out")),
    );
  }

  async function addGroup(groupId, current) {
    if (!GUID.test(groupId)) return say("A group object ID is a GUID, such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301.");
    return changeGroups([...current, groupId], groupId);
  }

  async function changeGroups(groupIds, added) {
    const text = added
      ? `The members of group ${added} stop being ingested at once; what was collected of them is deleted (unless the tenant keeps it by policy): ${deadlines()}.`
      : "The group's members are included again from the next ingestion run.";
    if (await confirmAction(added ? "Opt a group out" : "Opt a group back in", text, "Confirm")) {
      await act(async () => {
        const answer = await api.put("/opt-outs/groups", { groupIds });
        return `Groups updated (${answer.added.length} added, ${answer.removed.length} removed).`;
      });
    }
  }

  async function optUserOut(userId) {
    if (!GUID.test(userId)) return say("A user object ID is a GUID, such as 3f2504e0-4f89-11d3-9a0c-0305e82c3301.");
    const ok = await confirmAction("Opt a user out",
      `${userId} stops being ingested at once and never appears in an insight; what was collected of them is deleted: ${deadlines()}.`,
      "Opt out and delete");
    if (ok) await act(async () => `User opted out; purge ${short((await api.put(`/opt-outs/users/${userId}`)).purgeId)} queued.`);
    return undefined;
  }

  async function optUserIn(userId) {
    if (await confirmAction("Opt a user back in", `${userId} is ingested again from the next run.`, "Opt in")) {
      await act(async () => (await api.delete(`/opt-outs/users/${userId}`), "User opted back in."));
    }
  }

  async function drawIngestion() {
    const progress = await api.get("/ingestion");
    const windows = progress.backfillWindows;
    const failing = progress.failingUsers.map((f) => [h("span", { class: "mono" }, f.userId), f.windows.join(", "), f.attempts, f.error || "—", when(f.since)]);
    sections.ingestion.replaceChildren(
      h("h2", { id: "ingestion-h" }, "Ingestion"),
      h("p", {}, "Phase: ", h("strong", { "data-testid": "ingestion-phase" }, progress.phase),
        progress.phase === "off" ? ` (${progress.reason})` : "",
        " · accuracy: ", h("strong", {}, progress.accuracy),
        progress.membershipPending ? " · opted-out groups are being resolved" : ""),
      h("label", { for: "backfill-progress" }, `Backfill: ${windows.done} of ${windows.total} windows, ${progress.users.backfilled} of ${progress.users.total} users`),
      h("progress", { id: "backfill-progress", max: Math.max(windows.total, 1), value: windows.done }),
      progress.estimatedBackfillEnd ? h("p", { class: "muted" }, `Estimated end: ${when(progress.estimatedBackfillEnd)}`) : "",
      failing.length ? table("Failing users", ["User", "Windows", "Attempts", "Last error", "Since"], failing) : h("p", { class: "muted" }, "No user is failing."),
    );
    return progress.phase === "backfilling" || progress.phase === "not-started";
  }

  // Storage is what the verification counts; Graph's subscriptions are said apart, and never as a zero Graph did not show.
  function graphNote(graph) {
    if (!graph || graph.state === "removed") return "";
    const text = graph.state === "pending"
      ? `Graph subscriptions: ${graph.pending} not removed yet (Graph stops delivering by ${when(graph.stopsBy)})`
      : `Graph subscriptions: expired ${when(graph.stopsBy)}, not verified through Graph`;
    return h("span", { class: "muted", "data-testid": "purge-graph" }, ` · ${text}`);
  }

  async function drawPurges() {
    const page = await api.get("/purges?limit=50");
    const rows = page.purges.map((p) => {
      const deadline = (iso, doneAt) => {
        if (doneAt) return h("span", { class: new Date(doneAt) <= new Date(iso) ? "met" : "overdue" }, `done ${when(doneAt)}`);
        const left = timeLeft(iso);
        return h("span", { class: left.overdue ? "overdue" : "pending" }, left.text);
      };
      const found = p.verification ? Object.values(p.verification).reduce((a, b) => a + b, 0) : null;
      return [
        h("span", { class: "mono", title: p.id }, short(p.id)),
        `${p.scope.kind}${p.scope.userId ? ` ${short(p.scope.userId)}` : ""}`,
        p.reason,
        h("span", { "data-testid": "purge-status" }, p.status),
        deadline(p.liveDeadline, p.verifiedAt),
        deadline(p.backupDeadline, p.verifiedAt && p.backupsDeletedAt),
        `${p.steps.length} steps`,
        h("span", {},
          found === null ? "—" : found === 0 ? h("span", { class: "met" }, "0 left") : h("span", { class: "overdue" }, `${found} left`),
          graphNote(p.graphSubscriptions)),
      ];
    });
    sections.purges.replaceChildren(
      h("h2", { id: "purges-h" }, "Purges"),
      table("Purges, newest first", ["Purge", "Scope", "Reason", "Status", "Live data (24 h)", "Backups (30 days)", "Steps", "Verification"], rows),
    );
    // A swept purge waits for Graph (next attempt in up to 30 minutes): nothing to watch arrive.
    return page.purges.some((p) => p.status !== "completed" && p.status !== "swept");
  }

  let auditEntries = [];
  let auditContinuation = null;
  const kindFilter = h("select", { id: "audit-kind", onchange: () => drawAuditTable() }, h("option", { value: "" }, "All kinds"));
  const auditTable = h("div");
  const olderButton = h("button", { type: "button", class: "secondary", onclick: () => loadAudit(true) }, "Older entries");

  async function loadAudit(more) {
    const query = `/audit?limit=25${more && auditContinuation ? `&continuation=${encodeURIComponent(auditContinuation)}` : ""}`;
    const page = await api.get(query);
    auditEntries = more ? [...auditEntries, ...page.entries] : page.entries;
    auditContinuation = page.continuation;
    const kinds = [...new Set(auditEntries.map((e) => e.kind))].sort();
    const chosen = kindFilter.value;
    kindFilter.replaceChildren(h("option", { value: "" }, "All kinds"), ...kinds.map((k) => h("option", { value: k, selected: k === chosen }, k)));
    drawAuditTable();
  }

  function drawAuditTable() {
    const kind = kindFilter.value;
    const rows = auditEntries.filter((e) => !kind || e.kind === kind).map((e) => [
      when(e.at), e.kind, e.outcome,
      Object.entries(e.counts || {}).map(([k, v]) => `${k} ${v}`).join(", ") || "—",
      e.detail || "",
    ]);
    auditTable.replaceChildren(table("Audit entries, newest first", ["When", "Kind", "Outcome", "Counts", "Detail"], rows));
    olderButton.hidden = !auditContinuation;
  }

  sections.audit.replaceChildren(
    h("h2", { id: "audit-h" }, "Audit log"),
    h("div", { class: "row" }, h("div", {}, h("label", { for: "audit-kind" }, "Kind"), kindFilter)),
    auditTable,
    h("div", { class: "actions" }, olderButton),
  );

  async function draw() {
    const [, , backfilling, purging] = await Promise.all([drawConsent(), drawOptOuts(), drawIngestion(), drawPurges(), loadAudit(false)]);
    // While something is moving, look again in a few seconds (the page shows it arriving).
    if (backfilling || purging) refreshLater(async () => {
      const [stillBackfilling, stillPurging] = await Promise.all([drawIngestion(), drawPurges()]);
      await loadAudit(false);
      return stillBackfilling || stillPurging;
    });
  }

  try {
    await draw();
  } catch (error) {
    root.append(errorBox(error));
  }
}
