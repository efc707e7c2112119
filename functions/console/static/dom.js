// Building the page without innerHTML: every value from the API is text, never markup.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "class") element.className = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

export function table(caption, headers, rows) {
  return h(
    "div",
    // Focusable, so a table wider than a narrow window can be scrolled from the keyboard.
    { class: "table-wrap", tabindex: 0, role: "region", "aria-label": caption },
    h(
      "table",
      {},
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, rows.length ? rows.map((cells) => h("tr", {}, cells.map((cell) => h("td", {}, cell))))
        : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, "None"))),
    ),
  );
}

export function when(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

// "in 23 h" / "3 h overdue": time to a deadline, in the largest whole unit.
export function timeLeft(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  const hours = Math.abs(ms) / 3_600_000;
  const text = hours >= 48 ? `${Math.round(hours / 24)} days` : hours >= 1 ? `${Math.round(hours)} h` : `${Math.max(1, Math.round(hours * 60))} min`;
  return ms >= 0 ? { text: `in ${text}`, overdue: false } : { text: `${text} overdue`, overdue: true };
}

export function short(id) {
  return id ? `${id.slice(0, 8)}…` : "—";
}

export function errorBox(error) {
  return h("p", { class: "error", role: "alert" }, error.message || String(error));
}

const dialog = () => document.getElementById("confirm");

// A confirmation that says what will happen; resolves true when confirmed.
export function confirmAction(title, text, confirmLabel) {
  const box = dialog();
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = confirmLabel;
  box.returnValue = "";
  box.showModal();
  return new Promise((resolve) => {
    box.addEventListener("close", () => resolve(box.returnValue === "ok"), { once: true });
  });
}
