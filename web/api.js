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
// sessionStorage: survives reloads of this tab, gone when the tab closes, not shared across tabs.
// See docs/web.md ("Token storage") for the trade-off.
const TOKEN_KEY = "smartcourse.session";

export const session = {
  read() {
    try {
      const raw = sessionStorage.getItem(TOKEN_KEY);
      if (!raw) return null;
      const s = JSON.parse(raw);
      if (!s.token || (s.expiresAt && Date.now() >= s.expiresAt)) {
        sessionStorage.removeItem(TOKEN_KEY);
        return null;
      }
      return s;
    } catch {
      return null;
    }
  },
  get token() {
    const s = this.read();
    return s ? s.token : null;
  },
  get user() {
    const s = this.read();
    return s ? s.user : null;
  },
  save(token, expiresIn, user) {
    const expiresAt = expiresIn ? Date.now() + expiresIn * 1000 : null;
    sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token, expiresAt, user }));
  },
  clear() {
    sessionStorage.removeItem(TOKEN_KEY);
  },
};

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

/**
 * api("POST", "/courses", {body, auth, idempotencyKey}) -> parsed JSON (or null for 204).
 * Creating POSTs get an Idempotency-Key (pass the same one to retry the same submission safely).
 */
export async function api(method, path, options = {}) {
  const { body, auth = true, idempotencyKey, query } = options;
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
  const token = session.token;
  if (auth && token) headers.Authorization = `Bearer ${token}`;
  if (method === "POST") headers["Idempotency-Key"] = idempotencyKey || newKey();
  let resp;
  try {
    resp = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, "network", UNREACHABLE);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    const err = data && data.error ? data.error : {};
    const message = err.message || defaultMessage(resp.status);
    const e = new ApiError(resp.status, err.code || `http_${resp.status}`, message, err.details || [], data);
    if (resp.status === 401 && auth) {
      session.clear();
      for (const fn of listeners.unauthorized) fn(e);
    }
    throw e;
  }
  return data;
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
