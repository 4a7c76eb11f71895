// Tiny DOM helpers. Every piece of API text goes through text nodes (never innerHTML), so data
// from the API can never become markup.

/**
 * h("button", {class: "primary", onclick: fn, disabled: true}, "Save")
 * Children: strings/numbers become text nodes; null/undefined/false are skipped; arrays are flattened.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "class") {
      el.className = value;
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key === "value") {
      el.value = value;
    } else if (key === "checked") {
      el.checked = Boolean(value);
    } else if (value === true) {
      el.setAttribute(key, "");
    } else {
      el.setAttribute(key, String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A progress bar that assistive technology reads: role=progressbar with aria-valuenow. */
export function progressBar(percent, label) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  const fill = h("div", { class: "progress-fill" });
  fill.style.width = `${value}%`;
  const bar = h("div", {
    class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
    "aria-valuenow": String(value), "aria-label": label,
  }, fill);
  bar.setValue = (v) => {
    const n = Math.max(0, Math.min(100, Math.round(v)));
    bar.setAttribute("aria-valuenow", String(n));
    fill.style.width = `${n}%`;
  };
  return bar;
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}
