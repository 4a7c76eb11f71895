// The interactive API reference: renders the API's own /openapi.json (every operation of every
// function behind the gateway, with each constraint its validation enforces) and sends requests
// from the page ("Try it"), with the signed-in user's token when there is one. No third-party
// script: the page is served with the app and its CSP (script-src 'self').
import { loadConfig, session } from "./api.js";
import { h, append, clear } from "./dom.js";

const METHODS = ["get", "post", "put", "patch", "delete"];

/** The schema a $ref names ("#/components/schemas/X"), else the schema itself. */
function resolve(doc, schema) {
  let s = schema || {};
  for (let i = 0; i < 10 && s.$ref; i += 1) {
    const name = s.$ref.split("/").pop();
    s = (doc.components && doc.components.schemas && doc.components.schemas[name]) || {};
  }
  return s;
}

/** One line for a schema: its type and every constraint ("string, 1-200 chars, format email"). */
export function describe(doc, schema) {
  const s = resolve(doc, schema);
  if (s.anyOf) return s.anyOf.map((x) => describe(doc, x)).join(" | ");
  if (s.enum) return `one of ${s.enum.map((v) => JSON.stringify(v)).join(", ")}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  const parts = [s.type || (s.properties ? "object" : "any")];
  if (s.type === "array" && s.items) parts[0] = `array of ${describe(doc, s.items)}`;
  if (s.format) parts.push(`format ${s.format}`);
  if (s.minLength !== undefined || s.maxLength !== undefined) {
    parts.push(`${s.minLength ?? 0}-${s.maxLength ?? "∞"} chars`);
  }
  if (s.minimum !== undefined) parts.push(`>= ${s.minimum}`);
  if (s.maximum !== undefined) parts.push(`<= ${s.maximum}`);
  if (s.exclusiveMinimum !== undefined) parts.push(`> ${s.exclusiveMinimum}`);
  if (s.exclusiveMaximum !== undefined) parts.push(`< ${s.exclusiveMaximum}`);
  if (s.minItems !== undefined || s.maxItems !== undefined) {
    parts.push(`${s.minItems ?? 0}-${s.maxItems ?? "∞"} items`);
  }
  if (s.pattern) parts.push(`pattern ${s.pattern}`);
  if (s.default !== undefined) parts.push(`default ${JSON.stringify(s.default)}`);
  return parts.join(", ");
}

function fieldsTable(doc, schema) {
  const s = resolve(doc, schema);
  const required = new Set(s.required || []);
  const rows = Object.entries(s.properties || {}).map(([name, prop]) => h("tr", {},
    h("td", {}, h("code", {}, name)), h("td", {}, required.has(name) ? "required" : "optional"),
    h("td", {}, describe(doc, prop)), h("td", {}, resolve(doc, prop).description || prop.description || "")));
  if (!rows.length) return h("p", { class: "muted" }, describe(doc, schema));
  const extra = s.additionalProperties === false ? h("p", { class: "muted" }, "Other fields are refused (400).") : null;
  return [h("table", { class: "reference-table" },
    h("thead", {}, h("tr", {}, h("th", {}, "field"), h("th", {}, ""), h("th", {}, "type and limits"),
      h("th", {}, "description"))), h("tbody", {}, rows)), extra];
}

function example(doc, schema, depth = 0) {
  const s = resolve(doc, schema);
  if (depth > 4) return null;
  if (s.default !== undefined) return s.default;
  if (s.enum) return s.enum[0];
  if (s.anyOf) return example(doc, s.anyOf.find((x) => x.type !== "null") || s.anyOf[0], depth + 1);
  if (s.type === "object" || s.properties) {
    const out = {};
    for (const name of s.required || []) out[name] = example(doc, s.properties[name], depth + 1);
    return out;
  }
  if (s.type === "array") return [];
  if (s.type === "integer" || s.type === "number") return s.minimum ?? 1;
  if (s.type === "boolean") return true;
  if (s.format === "uuid") return "00000000-0000-0000-0000-000000000000";
  if (s.format === "email") return "someone@example.com";
  return "x".repeat(Math.max(s.minLength || 1, 1));
}

function tryIt(doc, base, path, method, op) {
  const params = op.parameters || [];
  const inputs = new Map();
  const controls = params.map((p) => {
    const id = `p-${method}-${path}-${p.in}-${p.name}`.replace(/[^A-Za-z0-9-]/g, "_");
    const input = h("input", { id, name: p.name, placeholder: describe(doc, p.schema) });
    inputs.set(p, input);
    return h("div", { class: "field" }, h("label", { for: id }, `${p.name} (${p.in}${p.required ? ", required" : ""})`),
      input);
  });
  const bodyMedia = mediaType(op.requestBody);
  const bodySchema = bodyMedia && op.requestBody.content[bodyMedia].schema;
  const form = bodyMedia === "application/x-www-form-urlencoded";
  const bodyId = `b-${method}-${path}`.replace(/[^A-Za-z0-9-]/g, "_");
  const body = bodySchema ? h("textarea", { id: bodyId, rows: "6", class: "code",
    value: form ? new URLSearchParams(example(doc, bodySchema)).toString()
      : JSON.stringify(example(doc, bodySchema), null, 2) }) : null;
  const out = h("pre", { class: "reference-response", "aria-live": "polite" });
  const send = async (event) => {
    event.preventDefault();
    let url = base + path;
    const query = new URLSearchParams();
    const headers = { accept: "application/json" };
    for (const [p, input] of inputs) {
      const v = input.value.trim();
      if (!v) continue;
      if (p.in === "path") url = url.replace(`{${p.name}}`, encodeURIComponent(v));
      else if (p.in === "query") query.set(p.name, v);
      else if (p.in === "header") headers[p.name] = v;
    }
    if ([...query].length) url += `?${query}`;
    if (op.security && session.token) headers.authorization = `Bearer ${session.token}`;
    const init = { method: method.toUpperCase(), headers };
    if (body) { headers["content-type"] = bodyMedia; init.body = body.value; }
    out.textContent = "…";
    try {
      const resp = await fetch(url, init);
      const text = await resp.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON: as it came */ }
      const cid = resp.headers.get("x-correlation-id");
      out.textContent = `${resp.status} ${resp.statusText}${cid ? `  X-Correlation-Id: ${cid}` : ""}\n${shown}`;
    } catch (err) {
      out.textContent = `The API could not be reached: ${err.message}`;
    }
  };
  const signedIn = op.security ? (session.token ? "sent with your session's token"
    : "needs a token: sign in to the app first (same tab)") : "no token needed";
  return h("form", { class: "reference-try", onsubmit: send },
    controls, body ? h("div", { class: "field" }, h("label", { for: bodyId }, form ? "Form body" : "JSON body"), body)
      : null,
    h("p", { class: "muted" }, signedIn), h("button", { type: "submit", class: "primary" }, "Send"), out);
}

/** The media type of a request body or response (its first; the API declares one), or null. */
function mediaType(part) {
  return part && part.content ? Object.keys(part.content)[0] || null : null;
}

function operation(doc, base, path, method, op) {
  const params = (op.parameters || []).map((p) => h("li", {}, h("code", {}, p.name), ` (${p.in}${p.required ? ", required" : ""}): `,
    describe(doc, p.schema), p.description ? ` — ${p.description}` : ""));
  const responses = Object.entries(op.responses || {}).map(([status, r]) => h("li", {}, h("code", {}, status), ` ${r.description || ""}`,
    r.headers && r.headers["Retry-After"] ? " (Retry-After)" : ""));
  const bodyMedia = mediaType(op.requestBody);
  const bodySchema = bodyMedia && op.requestBody.content[bodyMedia].schema;
  const okStatus = Object.keys(op.responses || {}).find((s) => s.startsWith("2"));
  const okMedia = okStatus && mediaType(op.responses[okStatus]);
  const okSchema = okMedia === "application/json" ? op.responses[okStatus].content[okMedia].schema : null;
  return h("details", { class: "card reference-op", id: op.operationId },
    h("summary", {}, h("span", { class: `badge method-${method}` }, method.toUpperCase()), " ", h("code", {}, path),
      " — ", op.summary || "", op.security ? "" : h("span", { class: "muted" }, " (public)")),
    params.length ? [h("h3", {}, "Parameters"), h("ul", {}, params)] : null,
    bodySchema ? [h("h3", {}, `Request body (${bodyMedia})`), fieldsTable(doc, bodySchema)] : null,
    okSchema ? [h("h3", {}, `Response ${okStatus}`), fieldsTable(doc, okSchema)]
      : okMedia ? [h("h3", {}, `Response ${okStatus}`), h("p", {}, `A ${okMedia} page.`)] : null,
    h("h3", {}, "Statuses"), h("ul", {}, responses),
    h("h3", {}, "Try it"), tryIt(doc, base, path, method, op));
}

export function render(main, doc, base) {
  const byTag = new Map();
  for (const [path, ops] of Object.entries(doc.paths || {})) {
    for (const method of METHODS) {
      if (!ops[method]) continue;
      const tag = (ops[method].tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, ops[method]]);
    }
  }
  const count = [...byTag.values()].reduce((n, ops) => n + ops.length, 0);
  clear(main);
  append(main, [
    h("h1", {}, doc.info ? doc.info.title : "API reference"),
    h("p", {}, `${count} operations from `, h("code", {}, `${base}/openapi.json`), ` (OpenAPI ${doc.openapi}). `,
      doc.info && doc.info.description ? doc.info.description : ""),
    h("nav", { "aria-label": "Areas", class: "reference-tags" },
      [...byTag.keys()].sort().map((tag) => h("a", { href: `#tag-${tag}` }, tag))),
    [...byTag.keys()].sort().map((tag) => h("section", { id: `tag-${tag}` }, h("h2", {}, tag),
      byTag.get(tag).map(([path, method, op]) => operation(doc, base, path, method, op)))),
  ]);
}

async function main() {
  const el = document.getElementById("main");
  try {
    const { apiBaseUrl } = await loadConfig();
    const resp = await fetch(`${apiBaseUrl}/openapi.json`, { headers: { accept: "application/json" } });
    if (!resp.ok) throw new Error(`/openapi.json answered ${resp.status}`);
    render(el, await resp.json(), apiBaseUrl);
  } catch (err) {
    const status = document.getElementById("reference-status");
    if (status) status.textContent = `The API reference could not be loaded: ${err.message}`;
  }
}

if (typeof document !== "undefined" && document.getElementById("main")) main();
