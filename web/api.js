// The API client: configuration, the session (token in sessionStorage), JSON requests with the
// API's error shape, and presigned-POST uploads with progress.

let config = null;

/** Reads config.json next to index.html: {"apiBaseUrl": "...", "stage": "..."}. */
export async function loadConfig() {
  if (config) return config;
  let resp;
  try {
    resp = await fetch("config.json", { cache: "no-store" });
  } catch {
    throw new ApiError(0, "config_unreachable", "Cannot load the app's configuration (config.json).");
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, "config_missing",
      `Cannot load the app's configuration (config.json answered ${resp.status}).`);
  }
  const data = await resp.json();
  if (!data || typeof data.apiBaseUrl !== "string" || !data.apiBaseUrl) {
    throw new ApiError(0, "config_invalid", "The app's configuration (config.json) has no apiBaseUrl.");
  }
  config = { ...data, apiBaseUrl: data.apiBaseUrl.replace(/\/+$/, "") };
  return config;
}

export function apiBaseUrl() {
  return config ? config.apiBaseUrl : "";
}

/** An API failure: HTTP status (0 = the API could not be reached), code, message, field details. */
export class ApiError extends Error {
  constructor(status, code, message, details = [], body = null) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
    this.body = body;
  }
}

// --- the session ------------------------------------------------------------------------------
// The access token (15 min) and the signed-in user live in the tab's sessionStorage: they survive
// reloads of this tab, are gone when the tab closes and are not shared across tabs. The refresh
// token is never readable here: the API sets it as the HttpOnly cookie sc_refresh (SameSite=Strict,
// Path=/auth), and the browser sends it with the /auth calls made with credentials (below).
// See docs/web.md ("Token storage") for the trade-offs.
const TOKEN_KEY = "smartcourse.session";
// Renew the access token this long before it expires rather than send one about to be refused.
const RENEW_MARGIN_MS = 30_000;

export const session = {
  /** {token, expiresAt, user, cookie} or null. Kept after the access token expires: the refresh
   * cookie may still renew it (the user stays signed in until a renewal is refused). */
  read() {
    try {
      const raw = sessionStorage.getItem(TOKEN_KEY);
      if (!raw) return null;
      const s = JSON.parse(raw);
      return s && s.token ? s : null;
    } catch {
      return null;
    }
  },
  /** The access token while it is valid (null once expired: renew it first, see api()). */
  get token() {
    const s = this.read();
    return s && !(s.expiresAt && Date.now() >= s.expiresAt) ? s.token : null;
  },
  get user() {
    const s = this.read();
    return s ? s.user : null;
  },
  save(token, expiresIn, user) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token, expiresAt, user, cookie: cookieMode }));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

/** True when the stored access token is expired or about to be. */
function stale(s) {
  return Boolean(s && s.expiresAt && Date.now() >= s.expiresAt - RENEW_MARGIN_MS);
}

const listeners = { unauthorized: [] };
/** Called when an authenticated request answers 401 (the app sends the user back to sign-in). */
export function onUnauthorized(fn) {
  listeners.unauthorized.push(fn);
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

const UNREACHABLE = "Cannot reach the API. Check your connection and try again.";

// --- the refresh cookie -------------------------------------------------------------------------
// The calls that set, send or clear the sc_refresh cookie go with credentials ("include"): the app
// and the API are different origins (of one site, for the cookie to be usable at all).
const COOKIE_PATHS = new Set(["/auth/login", "/auth/refresh", "/auth/logout", "/auth/logout-all", "/me/password"]);
// Whether the API accepts credentialed requests from this page. A deployment that allows any
// origin ("*") refuses them (CORS): sign-in then falls back to a plain request, and this tab
// renews nothing (the user signs in again when the access token expires).
let cookieMode = true;

async function fetchWithCookie(url, init) {
  if (cookieMode) {
    try {
      return await fetch(url, { ...init, credentials: "include" });
    } catch {
      // A network failure, or CORS refusing credentials: a plain request tells them apart.
    }
  }
  const resp = await fetch(url, { ...init, credentials: "same-origin" }); // throws when unreachable
  cookieMode = false;
  return resp;
}

async function readJson(resp) {
  const text = await resp.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/**
 * POST /auth/refresh with the cookie (body {}): a new access token for this tab (the API rotates
 * the cookie too). -> "ok" | "refused" (no or spent cookie: the session is over) | "unreachable".
 */
async function renew() {
  const cfg = await loadConfig();
  let resp;
  try {
    resp = await fetch(`${cfg.apiBaseUrl}/auth/refresh`, {
      method: "POST", credentials: "include", body: "{}",
      headers: { Accept: "application/json", "Content-Type": "application/json" },
    });
  } catch {
    return "unreachable";
  }
  const data = await readJson(resp);
  if (!resp.ok || !data || !data.access_token) return resp.status === 401 ? "refused" : "unreachable";
  const before = session.read();
  cookieMode = true;
  session.save(data.access_token, data.expires_in, before ? before.user : null);
  return "ok";
}

// One refresh at a time. A refresh token is single use: a second refresh with the same cookie
// would look like a stolen token and end the session. Within this tab concurrent callers share
// the promise in flight; across tabs (one cookie jar) the Web Locks API queues them, so the next
// tab's refresh sends the cookie the previous one received.
let refreshing = null;

/** Renews the access token through the refresh cookie (single flight). -> "ok" | "refused" | "unreachable" */
export function refreshSession() {
  if (!refreshing) {
    const run = navigator.locks && navigator.locks.request
      ? navigator.locks.request("smartcourse.refresh", renew)
      : renew();
    refreshing = run.catch(() => "unreachable").finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/**
 * Before a page that needs the user: renews the access token when it is expired or about to be
 * (a reload after 15 minutes away). -> false when this tab has a session the API no longer
 * renews (the caller sends the user to sign-in), true otherwise (a network failure is left to
 * the page's own requests to report).
 */
export async function ensureFreshSession() {
  const s = session.read();
  if (!s || !stale(s) || s.cookie === false) return true;
  const outcome = await refreshSession();
  if (outcome === "refused") {
    session.clear();
    return false;
  }
  return true;
}

function endSession(err) {
  session.clear();
  for (const fn of listeners.unauthorized) fn(err);
}

/**
 * api("POST", "/courses", {body, auth, idempotencyKey}) -> parsed JSON (or null for 204).
 * Creating POSTs get an Idempotency-Key (pass the same one to retry the same submission safely).
 * An authenticated call renews an expired (or nearly expired) access token first, and a 401 is
 * retried once after a refresh; only when that fails is the session cleared and the
 * unauthorized listeners called (unless `notify: false`).
 */
export async function api(method, path, options = {}) {
  const { body, auth = true, idempotencyKey, query, notify = true } = options;
  const cfg = await loadConfig();
  let url = cfg.apiBaseUrl + path;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, v);
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method === "POST") headers["Idempotency-Key"] = idempotencyKey || newKey();
  const init = { method, body: body === undefined ? undefined : JSON.stringify(body) };
  const withCookie = COOKIE_PATHS.has(path);
  const send = async (token) => {
    const h = { ...headers };
    if (auth && token) h.Authorization = `Bearer ${token}`;
    try {
      return await (withCookie ? fetchWithCookie(url, { ...init, headers: h }) : fetch(url, { ...init, headers: h }));
    } catch {
      throw new ApiError(0, "network", UNREACHABLE);
    }
  };

  let s = auth ? session.read() : null;
  const renewable = Boolean(s && s.cookie !== false);
  let tried = false; // at most one refresh per request
  if (renewable && stale(s)) {
    tried = true;
    await refreshSession(); // refused or unreachable: the request below says what happens next
    s = session.read() || s;
  }
  const sent = s ? s.token : null;
  let resp = await send(sent);
  if (resp.status === 401 && s) {
    const now = session.read();
    if (now && now.token !== sent) {
      resp = await send(now.token); // another request renewed the token meanwhile
    } else if (renewable && !tried && (await refreshSession()) === "ok" && session.read()) {
      resp = await send(session.read().token); // once, with the renewed token
    }
  }

  const data = await readJson(resp);
  if (data && typeof data === "object" && "refresh_token" in data) {
    delete data.refresh_token; // the cookie carries it; no script needs it (never stored)
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const message = err.message || defaultMessage(resp.status);
    const e = new ApiError(resp.status, err.code || `http_${resp.status}`, message, err.details || [], data);
    if (resp.status === 401 && auth) {
      if (notify) endSession(e);
      else session.clear();
    }
    throw e;
  }
  return data;
}

/**
 * Signs this tab out: POST /auth/logout ends this session on the API and clears the cookie, then
 * the session is forgotten here. Never throws: an unreachable API or an already ended session
 * still signs this tab out.
 */
export async function signOutSession() {
  if (session.read()) {
    try {
      await api("POST", "/auth/logout", { body: {}, notify: false });
    } catch {
      // signed out here whatever the API said
    }
  }
  session.clear();
}

function defaultMessage(status) {
  if (status === 401) return "Please sign in.";
  if (status === 403) return "You are not allowed to do this.";
  if (status === 404) return "Not found.";
  if (status === 429) return "Too many requests: wait a moment and try again.";
  if (status >= 500) return `The API failed (HTTP ${status}). Try again in a moment.`;
  return `The request failed (HTTP ${status}).`;
}

/**
 * Uploads a file with the presigned form the API handed out (S3 POST policy), reporting progress
 * through onProgress(fraction 0..1). XMLHttpRequest, because fetch has no upload progress.
 */
export function uploadToPresigned(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let method = upload.method || "POST";
    let payload;
    if (method === "POST") {
      payload = new FormData();
      for (const [k, v] of Object.entries(upload.fields || {})) payload.append(k, v);
      payload.append("file", file);
    } else {
      payload = file;
    }
    xhr.open(method, upload.url);
    if (method !== "POST") {
      for (const [k, v] of Object.entries(upload.headers || {})) xhr.setRequestHeader(k, v);
    }
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) onProgress(ev.loaded / ev.total);
    };
    xhr.onload = () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve();
      } else {
        const reason = /<Message>([^<]*)<\/Message>/.exec(xhr.responseText || "");
        reject(new ApiError(xhr.status, "upload_failed",
          `The upload was refused by storage (HTTP ${xhr.status}${reason ? `: ${reason[1]}` : ""}).`));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "network", "Cannot reach the file storage to upload. Try again."));
    xhr.send(payload);
  });
}
