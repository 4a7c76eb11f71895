// Notifications: the bell in the navigation (the unread count), the inbox (#/notifications) and the
// preferences (#/settings/notifications: how often each type reaches each channel, the time zone,
// quiet hours).
import { api, ApiError, loadConfig, session } from "../api.js";
import { append, h, uid } from "../dom.js";
import { actionButton, errorMessage, field } from "../ui.js";

// --- the bell -----------------------------------------------------------------------------------

const SVG_NS = "http://www.w3.org/2000/svg";
const BELL_PATH = "M12 22a2 2 0 0 0 2-2h-4a2 2 0 0 0 2 2zm6-6v-5c0-3.07-1.64-5.64-4.5-6.32V4a1.5 1.5 0 0 0-3 0v.68"
  + "C7.63 5.36 6 7.92 6 11v5l-2 2v1h16v-1l-2-2z";
const BELL_REFRESH_MS = 30_000;

// The last count we know, for the session (token) it belongs to: a new nav shows it at once.
let known = { token: null, count: 0 };
// Every count written bumps countVersion, every count request latestRequest: only the answer to
// the latest request, with no newer count written meanwhile, is shown.
let countVersion = 0;
let latestRequest = 0;

function bellIcon() {
  const svg = document.createElementNS(SVG_NS, "svg");
  for (const [k, v] of Object.entries({ viewBox: "0 0 24 24", width: "20", height: "20", "aria-hidden": "true",
    focusable: "false", class: "bell-icon" })) svg.setAttribute(k, v);
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", BELL_PATH);
  path.setAttribute("fill", "currentColor");
  svg.append(path);
  return svg;
}

function paintBell(link, count) {
  link.setAttribute("aria-label", count > 0 ? `Notifications, ${count} unread` : "Notifications");
  const badge = link.querySelector(".bell-count");
  badge.textContent = count > 99 ? "99+" : String(count);
  badge.hidden = count <= 0;
}

/** The bell for the navigation: a link to the inbox named "Notifications, 3 unread". */
export function notificationBell({ current = false } = {}) {
  const link = h("a", { href: "#/notifications", id: "nav-bell", class: "bell", "aria-current": current ? "page" : null },
    bellIcon(), h("span", { class: "bell-count", "data-testid": "unread-count", "aria-hidden": "true" }));
  paintBell(link, known.token && known.token === session.token ? known.count : 0);
  return link;
}

/** Sets the unread count the bell shows (the inbox calls it after marking notifications read). */
export function setUnreadCount(count) {
  if (!Number.isInteger(count) || count < 0) return;
  countVersion += 1;
  known = { token: session.token, count };
  const link = document.getElementById("nav-bell");
  if (link) paintBell(link, count);
}

/**
 * Asks the API for the unread count (GET /me/notifications?limit=1) and repaints the bell. It never
 * throws and never signs anyone out: a plain fetch rather than api(), whose 401 handling would send
 * the user to sign-in from a background refresh. A failing count simply leaves the bell as it was.
 */
export async function refreshUnreadCount() {
  const token = session.token;
  if (!token) return;
  latestRequest += 1;
  const request = latestRequest;
  const version = countVersion;
  try {
    const cfg = await loadConfig();
    const resp = await fetch(`${cfg.apiBaseUrl}/me/notifications?limit=1`, {
      headers: { Accept: "application/json", Authorization: `Bearer ${token}` },
    });
    if (!resp.ok) return;
    const data = await resp.json();
    if (request !== latestRequest || version !== countVersion || session.token !== token || !data) return;
    setUnreadCount(data.unread_count);
  } catch {
    // The badge only: errors are swallowed (the next navigation or refresh tries again).
  }
}

/** Refreshes the count every 30 s while the tab is visible, and as soon as it becomes visible again. */
export function watchUnreadCount() {
  const refreshIfVisible = () => {
    if (document.visibilityState === "visible" && session.token) refreshUnreadCount();
  };
  setInterval(refreshIfVisible, BELL_REFRESH_MS);
  document.addEventListener("visibilitychange", refreshIfVisible);
}

// --- the inbox ----------------------------------------------------------------------------------

const PAGE_SIZE = 20;

/**
 * Where a notification may lead: an in-app route ("#/certificates"; also a full URL of this very
 * app, reduced to its hash) or a web page (https; http for local stacks). Anything else
 * (javascript:, data:, garbage) gives no link at all.
 */
function notificationTarget(link) {
  if (typeof link !== "string" || !link) return null;
  if (link.startsWith("#/")) return { href: link, inApp: true };
  let url;
  try {
    url = new URL(link);
  } catch {
    return null;
  }
  if (url.origin === location.origin && url.pathname === location.pathname && url.hash.startsWith("#/")) {
    return { href: url.hash, inApp: true };
  }
  if (url.protocol === "https:" || url.protocol === "http:") return { href: url.href, inApp: false };
  return null;
}

/** "just now", "5 minutes ago", "yesterday" for the last week; the local date and time before that. */
function whenText(date) {
  const seconds = (date.getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 45) return "just now";
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  if (abs < 7 * 86400) return rtf.format(Math.round(seconds / 86400), "day");
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function timeElement(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return h("span", {}, iso || "");
  return h("time", { datetime: iso, title: d.toLocaleString(undefined, { dateStyle: "full", timeStyle: "short" }) },
    whenText(d));
}

function unreadSentence(count) {
  if (count === 0) return "You have no unread notifications.";
  return `You have ${count} unread notification${count === 1 ? "" : "s"}.`;
}

export async function notificationsView(ctx) {
  let unreadOnly = ctx.params.get("unread") === "1";
  let cursor = null;
  let unreadCount = 0;
  let loadVersion = 0;
  const shown = []; // the notifications on screen, in order

  const fetchPage = (from) => api("GET", "/me/notifications",
    { query: { unread: unreadOnly ? "true" : undefined, limit: PAGE_SIZE, cursor: from } });
  const first = await fetchPage(null);

  const heading = h("h1", {}, "Notifications");
  const list = h("ul", { class: "plain-list notification-list", "aria-label": "Notifications, newest first" });
  const empty = h("p", { class: "muted empty-state" });
  const summary = h("p", { class: "inbox-summary", "data-testid": "unread-summary" });
  const more = h("div", { class: "actions" });

  /** Marks one notification read (once); the bell and the summary follow. Throws ApiError. */
  async function markRead(n) {
    if (n.read_at || n.marking) return;
    n.marking = true;
    try {
      const updated = await api("POST", `/me/notifications/${encodeURIComponent(n.id)}/read`);
      n.read_at = (updated && updated.read_at) || new Date().toISOString();
    } finally {
      n.marking = false;
    }
    unreadCount = Math.max(0, unreadCount - 1);
    setUnreadCount(unreadCount);
    if (ctx.alive()) paintSummary();
  }

  /** Activating a notification's link: mark it read, then go (in-app routes through the router). */
  async function follow(n, target) {
    try {
      await markRead(n);
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return; // the app sends the user to sign-in
      // Failing to mark it read must not stop the user from getting where they asked to go.
    }
    if (!ctx.alive()) return;
    if (target.inApp) ctx.navigate(target.href);
    else location.assign(target.href);
  }

  function item(n) {
    const target = notificationTarget(n.link);
    const unread = !n.read_at;
    const pillId = uid("unread");
    const li = h("li", {
      class: `notification ${unread ? "unread" : "read"}`, "data-id": n.id, "data-type": n.type || "",
      "data-state": unread ? "unread" : "read",
    });
    // Its link opened in another tab or window: once marked read, repaint this item in place.
    const repaint = () => {
      if (ctx.alive() && li.isConnected) li.replaceWith(item(n));
    };
    let title;
    if (target) {
      title = h("a", { href: target.href, class: "notification-title", "aria-describedby": unread ? pillId : null },
        n.title);
      title.addEventListener("click", (ev) => {
        if (ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) {
          // Opens in another tab or window: this page stays, so the request finishes on its own.
          markRead(n).then(repaint, () => {});
          return;
        }
        ev.preventDefault();
        follow(n, target);
      });
      title.addEventListener("auxclick", (ev) => {
        if (ev.button === 1) markRead(n).then(repaint, () => {});
      });
    } else {
      title = h("span", { class: "notification-title" }, n.title);
    }
    const markButton = unread ? actionButton("Mark as read", async () => {
      await markRead(n);
      if (!ctx.alive()) return;
      const fresh = item(n);
      li.replaceWith(fresh);
      fresh.querySelector(".notification-heading").focus();
      ctx.announce("Marked as read.", "success");
    }, { className: "small", busyLabel: "Marking…", ariaLabel: `Mark as read: ${n.title}` }) : null;
    append(li, [
      h("h2", { class: "notification-heading", tabindex: "-1" }, title,
        unread ? h("span", { class: "status-pill unread", id: pillId }, "Unread") : null),
      n.body ? h("p", { class: "notification-body" }, n.body) : null,
      h("p", { class: "notification-meta" }, timeElement(n.created_at),
        target && !target.inApp ? h("span", { class: "muted small" }, " · opens a web page") : null,
        markButton ? " " : null, markButton),
    ]);
    return li;
  }

  const markAll = actionButton("Mark all as read", async () => {
    const result = await api("POST", "/me/notifications/read-all");
    if (!ctx.alive()) return;
    unreadCount = result && Number.isInteger(result.unread_count) ? result.unread_count : 0;
    setUnreadCount(unreadCount);
    // What is on screen turns read in place (nothing disappears under the user, filter or not).
    const now = new Date().toISOString();
    for (const n of shown) if (!n.read_at) n.read_at = now;
    list.replaceChildren(...shown.map(item));
    paintSummary();
    const updated = result && Number.isInteger(result.updated) ? result.updated : null;
    ctx.announce(updated === null ? "All notifications marked as read."
      : `${updated} notification${updated === 1 ? "" : "s"} marked as read.`, "success");
    heading.focus(); // the button just hid itself
  }, { busyLabel: "Marking…" });

  function paintSummary() {
    summary.textContent = unreadSentence(unreadCount);
    markAll.hidden = unreadCount === 0;
  }

  /** Shows a page of notifications (replacing the list or appending); returns the first new index. */
  function show(page, replace) {
    if (replace) {
      shown.length = 0;
      list.replaceChildren();
    }
    const firstNew = shown.length;
    shown.push(...page.items);
    list.append(...page.items.map(item));
    if (Number.isInteger(page.unread_count)) {
      unreadCount = page.unread_count;
      setUnreadCount(unreadCount);
    }
    paintSummary();
    empty.textContent = unreadOnly ? "No unread notifications."
      : "You have no notifications yet. News about your courses and certificates will appear here.";
    empty.hidden = shown.length > 0;
    cursor = page.next_cursor || null;
    more.replaceChildren();
    if (cursor) {
      more.append(h("button", {
        type: "button", onclick: async (ev) => {
          const btn = ev.currentTarget;
          btn.disabled = true;
          const version = loadVersion;
          try {
            const next = await fetchPage(cursor);
            if (!ctx.alive() || version !== loadVersion) return;
            const at = show(next, false);
            const firstHeading = list.children[at] && list.children[at].querySelector(".notification-heading");
            if (firstHeading) firstHeading.focus();
          } catch (err) {
            if (ctx.alive()) ctx.announce(errorMessage(err), "error");
          } finally {
            btn.disabled = false;
          }
        },
      }, "Load more notifications"));
    }
    return firstNew;
  }

  const toggle = field({ name: "unread-only", label: "Show only unread", type: "checkbox", value: unreadOnly });
  toggle.input.addEventListener("change", async () => {
    unreadOnly = toggle.input.checked;
    // Keep the filter in the address (a reload keeps it) without a navigation (the focus stays here).
    history.replaceState(null, "", unreadOnly ? "#/notifications?unread=1" : "#/notifications");
    loadVersion += 1;
    const version = loadVersion;
    list.setAttribute("aria-busy", "true");
    try {
      const page = await fetchPage(null);
      if (!ctx.alive() || version !== loadVersion) return;
      show(page, true);
      ctx.announce(unreadOnly
        ? `Showing unread notifications only: ${page.items.length}${page.next_cursor ? "+" : ""}.`
        : "Showing all notifications.");
    } catch (err) {
      if (ctx.alive()) ctx.announce(errorMessage(err), "error");
    } finally {
      list.removeAttribute("aria-busy");
    }
  });

  show(first, true);
  ctx.render(
    heading,
    h("div", { class: "inbox-bar" }, summary,
      h("p", { class: "inbox-settings" }, h("a", { href: "#/settings/notifications" }, "Notification preferences"))),
    h("div", { class: "inbox-tools" }, toggle.wrap, markAll),
    empty,
    list,
    more,
  );
}

// --- preferences --------------------------------------------------------------------------------

const CADENCES = [
  { value: "immediately", label: "Immediately" },
  { value: "daily", label: "Daily digest" },
  { value: "weekly", label: "Weekly digest" },
  { value: "off", label: "Off" },
];
const CHANNELS = [["in_app", "In the app"], ["email", "Email"], ["sms", "Text message"]];
const DEFAULT_QUIET = { start: "22:00", end: "07:00" };
const UTC_ZONE = /^(Etc\/)?(UTC|UCT|GMT|GMT0|Greenwich|Universal|Zulu)$/;

function channelLabel(key) {
  const known = CHANNELS.find(([k]) => k === key);
  return known ? known[1] : key.replace(/_/g, " ");
}

function lockText(channel) {
  return channel.cadence === "off" ? "Always off" : "Always on";
}

// A text message goes at once or not at all (no SMS digests), and only to a verified number.
const SMS_CADENCES = ["immediately", "off"];
const NEEDS_PHONE = "Needs a verified phone number";

/** Why a channel's setting cannot be changed here ("" when it can). */
function channelNote(c, ch, prefs) {
  if (c.locked) return lockText(c);
  if (ch === "sms" && !prefs.phone_verified) return NEEDS_PHONE;
  return "";
}

function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

function supportedTimeZones() {
  try {
    return typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : null;
  } catch {
    return null;
  }
}

const hhmm = (t) => (typeof t === "string" ? t.slice(0, 5) : "");

function sameQuietHours(a, b) {
  if (!a || !b) return !a && !b;
  return hhmm(a.start) === hhmm(b.start) && hhmm(a.end) === hhmm(b.end);
}

// The API does not say whether its time zone was chosen or is its default (UTC). This browser
// remembers that the user saved their preferences: from then on a UTC from the server is theirs.
function savedKey(user) {
  return `smartcourse.notification-preferences-saved.${user && user.id}`;
}

function savedBefore(user) {
  try {
    return localStorage.getItem(savedKey(user)) === "1";
  } catch {
    return false;
  }
}

function rememberSaved(user) {
  try {
    localStorage.setItem(savedKey(user), "1");
  } catch {
    // storage refused (private mode): the time zone suggestion may simply show again
  }
}

function ensureOption(select, value) {
  if (select.tagName !== "SELECT" || [...select.options].some((o) => o.value === value)) return;
  select.append(h("option", { value }, String(value).replace(/_/g, " ")));
}

export async function notificationPreferencesView(ctx) {
  let saved = await api("GET", "/me/notification-preferences");
  const types = Array.isArray(saved.types) ? saved.types : [];
  const ordered = CHANNELS.map(([k]) => k);
  const extra = [...new Set(types.flatMap((t) => Object.keys(t.channels || {})))].filter((k) => !ordered.includes(k));
  const channels = [...ordered, ...extra].filter((ch) => types.some((t) => t.channels && t.channels[ch]));

  // Where a problem the API names goes: "timezone", "quiet_hours(.start|.end)", "types:<type>:<channel>".
  const slots = new Map();
  const selects = [];

  function cell(t, ch) {
    const c = t.channels && t.channels[ch];
    const label = channelLabel(ch);
    if (!c) {
      return h("td", { class: "absent", "data-channel": ch },
        h("span", { "aria-hidden": "true" }, "—"),
        h("span", { class: "visually-hidden" }, `${label}: not offered for this notification`));
    }
    const id = uid(`pref-${t.type}-${ch}`);
    const noteId = `${id}-note`;
    const errorId = `${id}-error`;
    const why = channelNote(c, ch, saved);
    const options = ch === "sms" ? CADENCES.filter((o) => SMS_CADENCES.includes(o.value)) : CADENCES;
    const select = h("select", {
      id, name: `${t.type}.${ch}`, "data-type": t.type, "data-channel": ch, disabled: Boolean(why),
      "aria-describedby": `${noteId} ${errorId}`,
    }, options.map((o) => h("option", { value: o.value, selected: o.value === c.cadence }, o.label)));
    ensureOption(select, c.cadence);
    select.value = c.cadence;
    // (empty when it can be changed: a hidden element the select's aria-describedby names is still read)
    const note = h("p", { id: noteId, class: "lock-note" }, why);
    note.hidden = !why;
    const error = h("p", { id: errorId, class: "field-error" });
    error.hidden = true;
    selects.push({ type: t.type, channel: ch, select, note });
    slots.set(`types:${t.type}:${ch}`, { input: select, error });
    // The column header names the channel on wide screens; on narrow ones this label shows instead.
    return h("td", { "data-channel": ch },
      h("label", { for: id, class: "cell-label" }, label,
        h("span", { class: "visually-hidden" }, ` for ${t.label || t.type}`)),
      select, note, error);
  }

  const anyLocked = types.some((t) => Object.values(t.channels || {}).some((c) => c && c.locked));
  const typesSection = h("section", { "aria-labelledby": "prefs-types" },
    h("h2", { id: "prefs-types" }, "Notifications by type"),
    types.length ? [
      h("p", { class: "hint" }, "Choose how often each kind of notification reaches you on each channel: "
        + "immediately, in a daily or weekly digest, or not at all."),
      h("table", { class: "prefs-table" },
        h("caption", { class: "visually-hidden" }, "Notification types (rows) and channels (columns)"),
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Notification"),
          channels.map((ch) => h("th", { scope: "col" }, channelLabel(ch))))),
        h("tbody", {}, types.map((t) => h("tr", { "data-type": t.type },
          h("th", { scope: "row" }, h("span", { class: "type-label" }, t.label || t.type),
            t.description ? h("span", { class: "type-description" }, t.description) : null),
          channels.map((ch) => cell(t, ch)))))),
      anyLocked ? h("p", { class: "hint" }, "“Always on”: SmartCourse must send these on that channel, so that "
        + "setting cannot be changed.") : null,
      channels.includes("sms") ? h("p", { class: "hint", "data-testid": "sms-hint" },
        saved.phone_verified ? "Text messages go to the verified phone number on your account page, "
          + "immediately or not at all."
          : ["Text messages need a verified phone number: add one on ", h("a", { href: "#/account" },
            "your account page"), ", then choose here what to receive by text."]) : null,
    ] : h("p", { class: "muted" }, "There are no notifications to set up yet."));

  // The time zone: a list when the browser can give one, else a text box.
  const zones = supportedTimeZones();
  const here = browserTimeZone();
  const serverZone = saved.timezone || "UTC";
  const suggest = UTC_ZONE.test(serverZone) && here && !UTC_ZONE.test(here) && !savedBefore(ctx.user);
  const zoneHint = "Used for quiet hours and for daily and weekly digests.";
  const tz = zones
    ? field({
      name: "timezone", label: "Time zone", type: "select", value: suggest ? here : serverZone, hint: zoneHint,
      options: [...new Set([...zones, serverZone, here || "UTC"])].sort()
        .map((z) => ({ value: z, label: z.replace(/_/g, " ") })),
    })
    : field({ name: "timezone", label: "Time zone", value: suggest ? here : serverZone, autocomplete: "off",
      hint: `A time zone name such as Europe/Paris. ${zoneHint}` });
  const suggestion = h("p", { class: "notice small", id: uid("tz-suggestion") },
    suggest ? `Set to this device's time zone (${here}): SmartCourse uses ${serverZone} until you save.` : "");
  suggestion.hidden = !suggest;
  tz.input.setAttribute("aria-describedby", `${tz.input.getAttribute("aria-describedby")} ${suggestion.id}`);
  tz.wrap.append(suggestion);
  slots.set("timezone", tz);

  // Quiet hours: none, or from-until (two time inputs).
  const qh = saved.quiet_hours;
  const quiet = field({ name: "quiet-hours", label: "Use quiet hours", type: "checkbox", value: Boolean(qh) });
  const start = field({ name: "quiet-start", label: "From", type: "time", value: hhmm((qh || DEFAULT_QUIET).start) });
  const end = field({ name: "quiet-end", label: "Until", type: "time", value: hhmm((qh || DEFAULT_QUIET).end) });
  const times = h("div", { class: "quiet-times" }, start.wrap, end.wrap);
  times.hidden = !qh;
  quiet.input.addEventListener("change", () => {
    times.hidden = !quiet.input.checked;
  });
  slots.set("quiet_hours", quiet);
  slots.set("quiet_hours.start", start);
  slots.set("quiet_hours.end", end);
  const whenSection = h("section", { "aria-labelledby": "prefs-when" },
    h("h2", { id: "prefs-when" }, "Time zone and quiet hours"),
    tz.wrap,
    h("fieldset", { class: "quiet-hours" }, h("legend", {}, "Quiet hours"),
      h("p", { class: "hint" }, "During quiet hours (in your time zone) notifications wait until the quiet hours end. "
        + "Leave “Use quiet hours” unticked for none."),
      quiet.wrap, times));

  const formError = h("div", { class: "form-error", role: "alert", tabindex: "-1" });
  formError.hidden = true;
  const saveButton = h("button", { type: "submit", class: "primary" }, "Save preferences");
  const form = h("form", { class: "form prefs-form", novalidate: true },
    formError, typesSection, whenSection, h("div", { class: "actions" }, saveButton));

  /** Only what differs from the last saved preferences (locked channels are never sent). */
  function changes() {
    const body = {};
    const zone = tz.input.value.trim();
    if (zone !== (saved.timezone || "UTC")) body.timezone = zone;
    const hours = quiet.input.checked ? { start: start.input.value, end: end.input.value } : null;
    if (!sameQuietHours(hours, saved.quiet_hours)) body.quiet_hours = hours;
    const changedTypes = [];
    for (const t of saved.types || []) {
      const changed = {};
      for (const s of selects) {
        const c = s.type === t.type && t.channels ? t.channels[s.channel] : null;
        if (c && !c.locked && !s.select.disabled && s.select.value !== c.cadence) {
          changed[s.channel] = { cadence: s.select.value };
        }
      }
      if (Object.keys(changed).length) changedTypes.push({ type: t.type, channels: changed });
    }
    if (changedTypes.length) body.types = changedTypes;
    return body;
  }

  /** Shows saved preferences in the controls (the PUT answers with all of them). */
  function fill(prefs) {
    const byType = new Map((prefs.types || []).map((t) => [t.type, t]));
    for (const s of selects) {
      const t = byType.get(s.type);
      const c = t && t.channels ? t.channels[s.channel] : null;
      if (!c) continue;
      ensureOption(s.select, c.cadence);
      s.select.value = c.cadence;
      const why = channelNote(c, s.channel, prefs);
      s.select.disabled = Boolean(why);
      s.note.textContent = why;
      s.note.hidden = !why;
    }
    if (prefs.timezone) {
      ensureOption(tz.input, prefs.timezone);
      tz.input.value = prefs.timezone;
    }
    suggestion.hidden = true;
    suggestion.textContent = "";
    quiet.input.checked = Boolean(prefs.quiet_hours);
    times.hidden = !prefs.quiet_hours;
    if (prefs.quiet_hours) {
      start.input.value = hhmm(prefs.quiet_hours.start);
      end.input.value = hhmm(prefs.quiet_hours.end);
    }
  }

  function clearErrors() {
    formError.hidden = true;
    formError.replaceChildren();
    for (const slot of slots.values()) {
      slot.error.hidden = true;
      slot.error.textContent = "";
      slot.input.removeAttribute("aria-invalid");
    }
  }

  /** The slot of a field the API names; "types.<i>…" counts in the types array that was sent. */
  function slotFor(name, body) {
    if (!name) return null;
    const path = name.replace(/^body\./, "");
    if (slots.has(path)) return slots.get(path);
    const m = /^types\.(\d+)(?:\.channels\.([A-Za-z0-9_]+))?/.exec(path);
    const sent = m && body.types ? body.types[Number(m[1])] : null;
    if (sent) return slots.get(`types:${sent.type}:${m[2] || Object.keys(sent.channels)[0]}`) || null;
    if (path.startsWith("quiet_hours")) return slots.get("quiet_hours");
    return null;
  }

  function showError(err, body) {
    const details = err instanceof ApiError ? err.details : [];
    const unplaced = [];
    let firstInvalid = null;
    for (const d of details) {
      const slot = slotFor(d.field, body);
      if (slot) {
        slot.error.textContent = slot.error.textContent ? `${slot.error.textContent}; ${d.problem}` : d.problem;
        slot.error.hidden = false;
        slot.input.setAttribute("aria-invalid", "true");
        if (!firstInvalid && !slot.input.disabled) firstInvalid = slot.input;
      } else {
        unplaced.push(d.field ? `${d.field}: ${d.problem}` : d.problem);
      }
    }
    append(formError, [h("p", {}, errorMessage(err)),
      unplaced.length ? h("ul", {}, unplaced.map((u) => h("li", {}, u))) : null]);
    formError.hidden = false;
    (firstInvalid || formError).focus();
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (saveButton.disabled) return;
    clearErrors();
    const body = changes();
    if (!Object.keys(body).length) {
      ctx.announce("Nothing to save: no preference has changed.");
      return;
    }
    saveButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    try {
      const result = await api("PUT", "/me/notification-preferences", { body });
      if (!ctx.alive()) return;
      rememberSaved(ctx.user);
      saved = result;
      fill(result);
      ctx.announce("Your notification preferences are saved.", "success");
    } catch (err) {
      if (ctx.alive()) showError(err, body);
    } finally {
      saveButton.disabled = false;
      form.removeAttribute("aria-busy");
    }
  });

  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/notifications" }, "Notifications")),
    h("h1", {}, "Notification preferences"),
    form,
  );
}
