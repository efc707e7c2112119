// The relationship card (role Insights.Read): a contact's health as a gauge with its grade and trend, the KPI
// tiles, the 52-week timeline, the last and next interaction; who knows whom with strength and band; and
// "Get introduced" with the draft, to copy or open in the mail client. Excluded people never reach the page:
// the API leaves them out.

import { ApiError } from "./api.js";
import { errorBox, h, svg, when } from "./dom.js";

let chart = null;

function gauge(health) {
  // A half circle: the arc's length follows the score (0-100).
  const score = Math.max(0, Math.min(100, health.score));
  const angle = Math.PI * (1 - score / 100);
  const x = 60 + 50 * Math.cos(angle);
  const y = 60 - 50 * Math.sin(angle);
  const label = `Health ${score} of 100, ${health.grade}, ${health.trend}`;
  return h(
    "div",
    { class: "gauge" },
    svg("svg", { viewBox: "0 0 120 66", role: "img", "aria-label": label },
      svg("path", { d: "M10 60 A50 50 0 0 1 110 60", fill: "none", stroke: "#c9d1db", "stroke-width": 10 }),
      svg("path", { d: `M10 60 A50 50 0 0 1 ${x.toFixed(2)} ${y.toFixed(2)}`, fill: "none", stroke: "#0b5cad", "stroke-width": 10 })),
    h("div", {},
      h("div", { class: "score", "data-testid": "health-score" }, String(score)),
      h("div", {}, `${health.grade} · ${health.trend}`),
      health.components ? h("div", { class: "muted" },
        `activity ${health.components.activity} · recency ${health.components.recency} · reciprocity ${health.components.reciprocity}`) : null),
  );
}

function tiles(r) {
  const tile = (label, value) => h("div", { class: "tile" }, h("dt", {}, label), h("dd", {}, value));
  const percent = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 100)}%`);
  const hours = (v) => (v === null || v === undefined ? "—" : `${v.toFixed(1)} h`);
  return h("dl", { class: "tiles" },
    tile("Emails sent", r.emailsSent), tile("Emails received", r.emailsReceived),
    tile("Meetings", r.meetingsSent + r.meetingsReceived),
    tile("We answer", percent(r.responseRateByUs)), tile("They answer", percent(r.responseRateByThem)),
    tile("Our reply time", hours(r.averageResponseHoursByUs)), tile("Their reply time", hours(r.averageResponseHoursByThem)),
    tile("Time with them", `${Math.round((r.timeSpentByTeamMinutes || 0) / 60)} h`));
}

function timeline(r) {
  const canvas = h("canvas", { role: "img", "aria-label": `Emails and meetings per week over the last ${r.timeline.length} weeks` });
  const box = h("div", { class: "chart-box" }, canvas);
  if (chart) chart.destroy();
  if (window.Chart) {
    chart = new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: r.timeline.map((w) => w.weekStart),
        datasets: [
          { label: "Emails", data: r.timeline.map((w) => w.emails), backgroundColor: "#0b5cad" },
          { label: "Meetings", data: r.timeline.map((w) => w.meetings), backgroundColor: "#8a4b00" },
        ],
      },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: { x: { stacked: true }, y: { stacked: true } } },
    });
  }
  return box;
}

function moment(label, m) {
  return h("p", {}, h("strong", {}, `${label}: `), m ? `${when(m.at)} (${m.kind}${m.direction ? `, ${m.direction}` : ""})` : "none");
}

export function cardPage(api, root) {
  const input = h("input", { id: "contact", name: "contact", type: "email", required: true, autocomplete: "off", size: 34 });
  const result = h("div", { "aria-live": "polite" });
  root.replaceChildren(
    h("h1", {}, "Relationship card"),
    h("form", { class: "row", onsubmit: (event) => { event.preventDefault(); show(input.value.trim()); } },
      h("div", {}, h("label", { for: "contact" }, "Contact's email address"), input),
      h("button", { type: "submit" }, "Show")),
    result,
  );

  async function show(contact) {
    result.replaceChildren(h("p", { class: "muted" }, "Looking…"));
    const [relationship, who] = await Promise.allSettled([
      api.post("/relationships/lookup", { contact }),
      api.post("/who-knows-whom/lookup", { contact }),
    ]);
    const parts = [];
    if (relationship.status === "fulfilled") {
      const r = relationship.value;
      parts.push(h("section", { class: "panel", "aria-labelledby": "health-h" },
        h("h2", { id: "health-h" }, `Health of the relationship with ${r.contact}`),
        gauge(r.health),
        r.accuracy === "partial" ? h("p", { class: "notice" }, "Partial: some mailboxes are still being read or resolved.") : null,
        tiles(r),
        moment("Last interaction", r.lastInteraction),
        moment("Next meeting", r.nextInteraction),
        h("h3", {}, "Timeline"),
        timeline(r)));
    } else {
      parts.push(h("section", { class: "panel" }, h("h2", {}, "Relationship analytics"), reason(relationship.reason)));
    }
    if (who.status === "fulfilled") {
      parts.push(colleagues(contact, who.value));
    } else {
      parts.push(h("section", { class: "panel" }, h("h2", {}, "Who knows whom"), reason(who.reason)));
    }
    result.replaceChildren(...parts);
  }

  function reason(error) {
    if (error instanceof ApiError && error.status === 404) return h("p", { class: "notice" }, error.message);
    return errorBox(error);
  }

  function colleagues(contact, answer) {
    const draft = h("div", { "aria-live": "polite" });
    const items = answer.colleagues.map((c) => h("li", { "data-user-id": c.userId },
      h("strong", {}, c.displayName), ` — strength ${c.strength} (${c.band}), last ${when(c.lastInteraction)} `,
      h("button", { type: "button", class: "secondary", "aria-label": `Get introduced by ${c.displayName}`,
        onclick: () => introduce(contact, c, draft) }, "Get introduced")));
    return h("section", { class: "panel", "aria-labelledby": "who-h" },
      h("h2", { id: "who-h" }, `Who knows ${contact} best`),
      items.length ? h("ol", { class: "colleagues", "data-testid": "colleagues" }, items) : h("p", { class: "muted" }, "Nobody included knows this contact."),
      draft);
  }

  async function introduce(contact, colleague, box) {
    try {
      const answer = await api.post("/who-knows-whom/introductions", { contact, colleagueUserId: colleague.userId });
      const d = answer.draft;
      const text = h("textarea", { id: "draft-body", class: "draft", readonly: true }, d.body);
      const mailto = `mailto:${encodeURIComponent(d.to)}?subject=${encodeURIComponent(d.subject)}&body=${encodeURIComponent(d.body)}`;
      const copied = h("span", { role: "status" });
      box.replaceChildren(
        h("h3", {}, `Draft to ${colleague.displayName}`),
        h("p", {}, h("strong", {}, "To: "), d.to),
        h("p", {}, h("strong", {}, "Subject: "), d.subject),
        h("label", { for: "draft-body" }, "Message"),
        text,
        h("div", { class: "actions" },
          h("button", { type: "button", class: "secondary", onclick: async () => {
            await navigator.clipboard.writeText(`Subject: ${d.subject}\n\n${d.body}`).then(() => { copied.textContent = "Copied."; }, () => { copied.textContent = "Copy failed: select the text instead."; });
          } }, "Copy"),
          h("a", { class: "button", href: mailto }, "Open in mail"),
          copied));
    } catch (error) {
      box.replaceChildren(errorBox(error));
    }
  }
}
