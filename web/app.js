// SmartCourse web app: hash router, the page shell (navigation, status region, focus) and the
// view context every screen gets. Screens live in views/*.js.
import { api, ApiError, ensureFreshSession, loadConfig, onUnauthorized, session, signOutSession } from "./api.js";
import { clear, h } from "./dom.js";
import { announce, clearAnnouncement, errorPanel } from "./ui.js";
import { accountView } from "./views/account.js";
import { adminAnalyticsView, courseAnalyticsView } from "./views/analytics.js";
import { forgotPasswordView, registerView, signInView } from "./views/auth.js";
import { catalogueView } from "./views/catalogue.js";
import { certificatesView } from "./views/certificates.js";
import { courseView } from "./views/course.js";
import { lessonView } from "./views/lesson.js";
import {
  notificationBell, notificationPreferencesView, notificationsView, refreshUnreadCount, watchUnreadCount,
} from "./views/notifications.js";
import { teachCourseView, teachHomeView } from "./views/teach.js";
import { verifyView } from "./views/verify.js";

// [pattern, view, {public: no sign-in needed}]
const ROUTES = [
  [/^\/signin$/, signInView, { public: true }],
  [/^\/register$/, registerView, { public: true }],
  [/^\/forgot-password$/, forgotPasswordView, { public: true }],
  [/^\/catalogue$/, catalogueView, {}],
  [/^\/courses\/([^/]+)$/, courseView, {}],
  [/^\/courses\/([^/]+)\/lessons\/([^/]+)$/, lessonView, {}],
  [/^\/certificates$/, certificatesView, {}],
  [/^\/notifications$/, notificationsView, {}],
  [/^\/settings\/notifications$/, notificationPreferencesView, {}],
  [/^\/account$/, accountView, {}],
  [/^\/verify\/([^/]+)$/, verifyView, { public: true }],
  [/^\/teach$/, teachHomeView, { teach: true }],
  [/^\/teach\/courses\/([^/]+)$/, teachCourseView, { teach: true }],
  // Not teach-gated: the API decides (its instructor and admins), anyone else sees "Not allowed".
  [/^\/teach\/courses\/([^/]+)\/analytics$/, courseAnalyticsView, {}],
  [/^\/admin\/analytics$/, adminAnalyticsView, {}],
];

let generation = 0;
let pendingFlash = null;

/** Shows a message after the next navigation (e.g. "Signed out"). */
export function flash(message, kind = "info") {
  pendingFlash = { message, kind };
}

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, qs] = raw.split("?");
  return { path, params: new URLSearchParams(qs || "") };
}

function canTeach(user) {
  return user && (user.role === "instructor" || user.role === "admin");
}

function renderNav() {
  const nav = clear(document.getElementById("nav"));
  const user = session.user;
  const { path } = parseHash();
  const link = (href, label) => h("a", {
    href, "aria-current": path === href.slice(1) || path.startsWith(`${href.slice(1)}/`) ? "page" : null,
  }, label);
  if (user) {
    nav.append(h("ul", {},
      h("li", {}, link("#/catalogue", "Catalogue")),
      h("li", {}, link("#/certificates", "My certificates")),
      canTeach(user) ? h("li", {}, link("#/teach", "Teach")) : null,
      h("li", {}, notificationBell({ current: path === "/notifications" })),
      h("li", { class: "nav-user" },
        h("a", { href: "#/account", class: "who", id: "nav-account", "aria-current": path === "/account" ? "page" : null },
          h("span", { class: "visually-hidden" }, "Your account: "), user.name),
        h("button", { type: "button", class: "link-button", id: "sign-out", onclick: signOut }, "Sign out"))));
    refreshUnreadCount(); // on every navigation (never throws: a failing count leaves the badge as it was)
  } else {
    nav.append(h("ul", {},
      h("li", {}, link("#/signin", "Sign in")),
      h("li", {}, link("#/register", "Register"))));
  }
}

async function signOut(ev) {
  const button = ev && ev.currentTarget;
  if (button) button.disabled = true;
  await signOutSession(); // ends the session on the API (and its cookie); never throws
  flash("You are signed out.", "success");
  navigate("#/signin");
}

/** The context a view renders with. Anything async checks ctx.alive() before touching the page. */
function makeContext(gen, params) {
  const main = document.getElementById("main");
  return {
    params,
    user: session.user,
    api,
    navigate,
    flash,
    announce,
    alive: () => gen === generation,
    /** Replaces the page and moves focus to its heading (the first h1). */
    render(...nodes) {
      if (gen !== generation) return;
      clear(main);
      main.append(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false));
      const heading = main.querySelector("h1");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        document.title = `${heading.textContent} · SmartCourse`;
        heading.focus();
      }
    },
    /**
     * Calls fn every `ms` while this view is on screen and fn returns true. Errors are shown in
     * the status region and polling continues (the next round may succeed).
     */
    poll(fn, ms = 2000) {
      const tick = async () => {
        if (gen !== generation) return;
        let again = true;
        try {
          again = await fn();
        } catch (err) {
          if (gen !== generation) return;
          announce(err.message || String(err), "error");
        }
        if (again && gen === generation) setTimeout(tick, ms);
      };
      setTimeout(tick, ms);
    },
  };
}

/** The session has ended (the API refused it): back to sign-in, then to where the user was. */
function sessionEnded() {
  // Several requests of one view may fail together: only the first one redirects (a second
  // redirect would render the sign-in form again under the user's typing).
  if (location.hash.startsWith("#/signin")) return;
  flash("Your session has ended. Please sign in again.", "error");
  sessionStorage.setItem("smartcourse.next", location.hash);
  navigate("#/signin");
}

async function route() {
  generation += 1;
  const gen = generation;
  const { path, params } = parseHash();
  const match = ROUTES.map(([re, view, opts]) => [re.exec(path), view, opts]).find(([m]) => m);
  // Back after the access token expired (a reload, a tab left alone): renew it through the
  // refresh cookie before drawing anything that uses it. Refused: the session is over (cleared);
  // a page that needs it goes to sign-in, a public one simply shows signed out.
  const fresh = await ensureFreshSession();
  if (gen !== generation) return;
  if (!fresh && !(match && match[2].public)) {
    sessionEnded();
    return;
  }
  renderNav();
  if (pendingFlash) {
    announce(pendingFlash.message, pendingFlash.kind);
    pendingFlash = null;
  } else {
    clearAnnouncement();
  }
  const user = session.user;
  if (path === "/" || path === "") {
    navigate(user ? (canTeach(user) ? "#/teach" : "#/catalogue") : "#/signin");
    return;
  }
  const ctx = makeContext(gen, params);
  if (!match) {
    ctx.render(h("h1", {}, "Page not found"),
      h("p", {}, "There is no page at this address. "), h("p", {}, h("a", { href: "#/catalogue" }, "Go to the catalogue")));
    return;
  }
  const [m, view, opts] = match;
  if (!opts.public && !user) {
    sessionStorage.setItem("smartcourse.next", location.hash);
    flash("Please sign in to continue.");
    navigate("#/signin");
    return;
  }
  if (opts.teach && !canTeach(user)) {
    ctx.render(h("h1", {}, "Instructors only"),
      h("p", {}, "Teaching tools need an instructor account. Register a new account with the instructor role."));
    return;
  }
  const args = m.slice(1).map(decodeURIComponent);
  try {
    await view(ctx, ...args);
  } catch (err) {
    if (!ctx.alive()) return;
    if (err instanceof ApiError && err.status === 401) return; // handled by onUnauthorized
    const title = err instanceof ApiError && err.status === 404 ? "Not found" : "Something went wrong";
    ctx.render(h("h1", {}, title), errorPanel(err),
      h("p", {}, h("button", { type: "button", onclick: () => route() }, "Try again"), " ",
        h("a", { href: "#/catalogue" }, "Back to the catalogue")));
  }
}

onUnauthorized(sessionEnded);

async function start() {
  document.getElementById("skip-link").addEventListener("click", (ev) => {
    ev.preventDefault();
    const heading = document.querySelector("#main h1");
    (heading || document.getElementById("main")).focus();
  });
  window.addEventListener("hashchange", route);
  try {
    await loadConfig();
  } catch (err) {
    const main = clear(document.getElementById("main"));
    main.append(h("h1", { tabindex: "-1" }, "SmartCourse is not configured"), errorPanel(err));
    return;
  }
  watchUnreadCount();
  await route();
}

start();
