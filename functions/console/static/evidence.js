// Evidence for an auditor (role Consent.Manage): the downloads (JSON, or a ZIP with CSV tables), and the same
// content as a printable page. Each download is recorded in the audit log by the service.

import { errorBox, h, short, table, when } from "./dom.js";

const OUTCOME_CLASS = { met: "met", "met-late": "overdue", missed: "overdue", pending: "pending" };

export function evidencePage(api, root) {
  const status = h("p", { role: "status", "aria-live": "polite" });
  const printable = h("div", { class: "printable" });
  const download = async (format) => {
    try {
      status.textContent = `Downloaded ${await api.download(`/evidence?format=${format}`)}.`;
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  };
  root.replaceChildren(
    h("h1", {}, "Evidence"),
    h("p", {}, "One download holds the consent and its history, the opt-outs, and every purge with its deadlines, steps, verification counts and whether each deadline was met. Each download is recorded in the audit log."),
    h("div", { class: "row no-print" },
      h("button", { type: "button", onclick: () => download("json") }, "Download JSON"),
      h("button", { type: "button", onclick: () => download("zip") }, "Download ZIP (JSON and CSV tables)"),
      h("button", { type: "button", class: "secondary", onclick: () => showPrintable() }, "Printable view")),
    status,
    printable,
  );

  async function showPrintable() {
    try {
      const response = await api.get("/evidence?format=json");
      render(response);
    } catch (error) {
      printable.replaceChildren(errorBox(error));
    }
  }

  function render(evidence) {
    const s = evidence.summary;
    const outcome = (value) => h("span", { class: OUTCOME_CLASS[value] }, value);
    printable.replaceChildren(
      h("h2", {}, `Tenant ${evidence.tenantId}`),
      h("p", {}, `Generated ${when(evidence.generatedAt)}: ${s.consentChanges} consent changes, ${s.purges} purges, `,
        h("strong", { "data-testid": "deadlines-missed" }, `${s.deadlinesMissed} deadlines missed`), `, ${s.deadlinesPending} pending.`),
      table("Consent history", ["When", "Change", "Feature", "Source", "Actor"], evidence.consentHistory.map((c) => [
        when(c.provenance.recordedAt), c.kind, c.feature || "both", c.provenance.source, c.provenance.actorId || "—"])),
      table("Opted-out groups", ["Group", "Source", "Since"], evidence.optOuts.groups.map((g) => [g.groupId, g.source, when(g.addedAt)])),
      table("Opted-out users", ["User", "Since", "Purge"], evidence.optOuts.users.map((u) => [u.userId, when(u.optedOutAt), short(u.purgeId)])),
      table("Purges", ["Purge", "Scope", "Reason", "Requested", "Live deadline", "Live", "Backup deadline", "Backups", "Verified"],
        evidence.purges.map((p) => [short(p.purge.id), p.purge.scope.kind, p.purge.reason, when(p.purge.requestedAt),
          when(p.purge.liveDeadline), outcome(p.liveDeadline), when(p.purge.backupDeadline), outcome(p.backupDeadline),
          when(p.purge.verifiedAt)])),
    );
  }
}
