// Shared view pieces: forms whose errors come from the API, error panels, the status region.
import { ApiError } from "./api.js";
import { h, uid } from "./dom.js";

/** Writes a message into the aria-live status region (visible too). kind: info | success | error */
export function announce(message, kind = "info") {
  const region = document.getElementById("status");
  if (!region) return;
  region.textContent = "";
  region.className = `status status-${kind}`;
  // A fresh text node after clearing makes screen readers read repeated messages again.
  window.requestAnimationFrame(() => {
    region.textContent = message;
    region.hidden = !message;
  });
}

export function clearAnnouncement() {
  const region = document.getElementById("status");
  if (region) {
    region.textContent = "";
    region.hidden = true;
  }
}

/** A human sentence for any error (ApiError or not). */
export function errorMessage(err) {
  if (err instanceof ApiError) return err.message;
  return `Something went wrong in the app: ${err && err.message ? err.message : err}`;
}

/** An error panel: the API's message plus each field problem. */
export function errorPanel(err, { title } = {}) {
  const details = err instanceof ApiError ? err.details : [];
  return h("div", { class: "error-panel", role: "alert" },
    title ? h("p", { class: "error-title" }, title) : null,
    h("p", { class: "error-message" }, errorMessage(err)),
    details.length ? h("ul", { class: "error-details" },
      details.map((d) => h("li", {}, d.field ? `${d.field}: ${d.problem}` : d.problem))) : null);
}

/**
 * A labelled field. spec: {name, label, type, required, autocomplete, value, options, rows, hint,
 * accept, min, max}. type "select" takes options [{value, label}], "textarea" a multi-line box,
 * "checkbox" a check box.
 */
export function field(spec) {
  const id = uid(`f-${spec.name}`);
  const errId = `${id}-error`;
  const hintId = spec.hint ? `${id}-hint` : null;
  const common = {
    id, name: spec.name, required: spec.required || false, autocomplete: spec.autocomplete || null,
    "aria-describedby": [hintId, errId].filter(Boolean).join(" "),
  };
  let input;
  if (spec.type === "select") {
    input = h("select", common, (spec.options || []).map((o) =>
      h("option", { value: o.value, selected: o.value === spec.value }, o.label)));
  } else if (spec.type === "textarea") {
    input = h("textarea", { ...common, rows: spec.rows || 5, maxlength: spec.maxlength || null });
    if (spec.value) input.value = spec.value;
  } else {
    input = h("input", {
      ...common, type: spec.type || "text", value: spec.type === "file" ? null : spec.value ?? null,
      checked: spec.type === "checkbox" ? spec.value : null, accept: spec.accept || null,
      min: spec.min ?? null, max: spec.max ?? null, minlength: spec.minlength ?? null,
    });
  }
  const error = h("p", { id: errId, class: "field-error" });
  error.hidden = true;
  const hint = spec.hint ? h("p", { id: hintId, class: "hint" }, spec.hint) : null;
  const wrap = spec.type === "checkbox"
    ? h("div", { class: "field field-check" }, input, h("label", { for: id }, spec.label), hint, error)
    : h("div", { class: "field" }, h("label", { for: id }, spec.label), hint, input, error);
  wrap.dataset.field = spec.name;
  if (spec.hidden) wrap.hidden = true;
  return { spec, wrap, input, error };
}

function readValue(f) {
  const { input, spec } = f;
  if (spec.type === "checkbox") return input.checked;
  if (spec.type === "file") return input.files && input.files[0] ? input.files[0] : null;
  if (spec.type === "number") return input.value === "" ? null : Number(input.value);
  return input.value;
}

/**
 * A form that submits to onSubmit(values) and shows what the API said: the message at the top
 * (role=alert) and each {field, problem} next to its field. Returns {form, fields, reset, showError}.
 */
export function makeForm({ fields: specs, submitLabel, onSubmit, className, fieldAliases = {} }) {
  const fields = specs.map(field);
  const byName = Object.fromEntries(fields.map((f) => [f.spec.name, f]));
  const summary = h("div", { class: "form-error", role: "alert", tabindex: "-1" });
  summary.hidden = true;
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", { class: `form ${className || ""}`, novalidate: true },
    summary, fields.map((f) => f.wrap), h("div", { class: "actions" }, button));

  function clearErrors() {
    summary.hidden = true;
    summary.textContent = "";
    for (const f of fields) {
      f.error.hidden = true;
      f.error.textContent = "";
      f.input.removeAttribute("aria-invalid");
    }
  }

  function showError(err) {
    clearErrors();
    const details = err instanceof ApiError ? err.details : [];
    const unplaced = [];
    let firstInvalid = null;
    for (const d of details) {
      const name = fieldAliases[d.field] || d.field;
      const f = byName[name];
      if (f && !f.wrap.hidden) {
        f.error.textContent = f.error.textContent ? `${f.error.textContent}; ${d.problem}` : d.problem;
        f.error.hidden = false;
        f.input.setAttribute("aria-invalid", "true");
        firstInvalid = firstInvalid || f.input;
      } else {
        unplaced.push(d.field ? `${d.field}: ${d.problem}` : d.problem);
      }
    }
    summary.append(h("p", {}, errorMessage(err)));
    if (unplaced.length) summary.append(h("ul", {}, unplaced.map((u) => h("li", {}, u))));
    summary.hidden = false;
    (firstInvalid || summary).focus();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (button.disabled) return;
    clearErrors();
    const values = Object.fromEntries(fields.map((f) => [f.spec.name, readValue(f)]));
    button.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      await onSubmit(values, { form, fields: byName });
    } catch (err) {
      showError(err);
    } finally {
      button.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  return { form, fields: byName, showError, clearErrors, button };
}

/** Runs an action from a button: disables it while busy and reports failures in the status region. */
export function actionButton(label, action, { className = "", busyLabel, ariaLabel } = {}) {
  const btn = h("button", { type: "button", class: className, "aria-label": ariaLabel || null }, label);
  btn.addEventListener("click", async () => {
    if (btn.disabled) return;
    btn.disabled = true;
    const original = btn.textContent;
    if (busyLabel) btn.textContent = busyLabel;
    try {
      await action(btn);
    } catch (err) {
      announce(errorMessage(err), "error");
    } finally {
      if (btn.isConnected) {
        btn.disabled = false;
        if (busyLabel && btn.textContent === busyLabel) btn.textContent = original;
      }
    }
  });
  return btn;
}

/** "page 2", "slide 3 (Title)", "00:01:05-00:01:30", "Intro > Setup" from a citation location. */
export function describeLocation(loc) {
  if (!loc || typeof loc !== "object") return "";
  const parts = [];
  if (loc.page !== undefined && loc.page !== null) parts.push(`page ${loc.page}`);
  if (loc.slide !== undefined && loc.slide !== null) {
    parts.push(loc.title ? `slide ${loc.slide} (${loc.title})` : `slide ${loc.slide}`);
  }
  if (loc.start !== undefined && loc.start !== null) {
    parts.push(loc.end ? `${loc.start}–${loc.end}` : `at ${loc.start}`);
  } else if (loc.start_seconds !== undefined && loc.start_seconds !== null) {
    parts.push(`at ${clock(loc.start_seconds)}`);
  }
  if (Array.isArray(loc.heading_path) && loc.heading_path.length) parts.push(loc.heading_path.join(" › "));
  else if (typeof loc.heading === "string" && loc.heading) parts.push(loc.heading);
  if (!parts.length && loc.paragraph !== undefined && loc.paragraph !== null) parts.push(`paragraph ${loc.paragraph}`);
  if (!parts.length && loc.line !== undefined && loc.line !== null) parts.push(`line ${loc.line}`);
  return parts.join(", ");
}

function clock(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds)));
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return hh ? `${hh}:${two(mm)}:${two(ss)}` : `${mm}:${two(ss)}`;
}
