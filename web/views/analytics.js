// Instructor dashboards (issue 18): a course's analytics (#/teach/courses/<id>/analytics: the
// overview figures, the lesson funnel as an accessible SVG chart with its data table, the learners
// roster with the API's sort and cursor paging, the at-risk list with each learner's reasons, the
// content gaps) and the platform overview for admins (#/admin/analytics). Numbers are formatted for
// the browser's locale; every API failure is shown in the status region and in its section.
import { api, ApiError } from "../api.js";
import { h, uid } from "../dom.js";
import { errorMessage } from "../ui.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const DEFAULT_PAGE_SIZE = 25;

// --- locale formatting ------------------------------------------------------------------------------

const integer = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
const percentOf1 = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
const percentOf100 = (n) => percentOf1.format(n / 100);

export const format = {
  int: (n) => integer.format(n),
  dec: (n) => decimal.format(n),
  /** A 0..1 rate as a percentage ("66.7%"). */
  rate: (r) => percentOf1.format(r),
  /** A 0..100 percent ("33%"). */
  pct: (n) => percentOf100(n),
  dateTime(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return iso ? String(iso) : "";
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  },
  date(iso) {
    const d = new Date(iso);
    if (!iso || Number.isNaN(d.getTime())) return iso ? String(iso) : "";
    return d.toLocaleDateString(undefined, { dateStyle: "medium" });
  },
};

function timeEl(iso, text) {
  return h("time", { datetime: iso }, text);
}

// --- shared pieces ----------------------------------------------------------------------------------

/** The page for a 403: who may see analytics, and the API's own reason. */
function notAllowed(ctx, err, who) {
  ctx.render(
    h("h1", {}, "Not allowed"),
    h("div", { class: "notice error", "data-testid": "not-allowed" },
      h("p", {}, who),
      h("p", { class: "muted" }, `The API said: ${errorMessage(err)}`)),
    h("p", {}, h("a", { href: "#/catalogue" }, "Back to the catalogue")));
  ctx.announce(errorMessage(err), "error");
}

/** A <dl> of figures: [{key, label, value (raw), text (formatted), hint}]. */
function figureList(figures) {
  return h("dl", { class: "figures" }, figures.map((f) => h("div", { class: "figure" },
    h("dt", {}, f.label),
    h("dd", { "data-figure": f.key, "data-value": f.value === null ? "" : String(f.value) }, f.text),
    f.hint ? h("p", { class: "figure-hint" }, f.hint) : null)));
}

function asOfLine(iso) {
  return h("p", { class: "muted as-of", "data-testid": "as-of" }, "Figures as of ",
    timeEl(iso, format.dateTime(iso)), ".");
}

/** A section with a heading that the "On this page" links move the focus to. */
function section(id, title, ...children) {
  const headingId = `${id}-heading`;
  return h("section", { id, class: "card analytics-section", "aria-labelledby": headingId },
    h("h2", { id: headingId, tabindex: "-1" }, title), ...children);
}

/** In-page links: routing is by hash, so they move the focus themselves instead of changing it. */
function jumpLinks(items) {
  return h("nav", { class: "jump-links", "aria-label": "On this page" },
    h("ul", {}, items.map(([id, label]) => h("li", {}, h("a", {
      href: `#${id}`,
      onclick: (ev) => {
        ev.preventDefault();
        const heading = document.getElementById(`${id}-heading`);
        if (heading) {
          heading.focus();
          heading.scrollIntoView({ block: "start" });
        }
      },
    }, label)))));
}

/** An error inside a section (the status region says it too), with a way to try again. */
function sectionError(err, what, retry) {
  return h("div", { class: "error-panel", "data-testid": "section-error", tabindex: "-1" },
    h("p", { class: "error-title" }, `Could not load ${what}.`),
    h("p", { class: "error-message" }, errorMessage(err)),
    retry ? h("p", {}, h("button", { type: "button", class: "small", onclick: retry }, "Try again")) : null);
}

// --- the funnel chart ---------------------------------------------------------------------------------

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== null && c !== undefined) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function shorten(text, max) {
  return text.length > max ? `${text.slice(0, max - 1).trimEnd()}…` : text;
}

/**
 * The funnel as a horizontal bar chart: per lesson, how many learners started it (light bar) and
 * completed it (dark bar over it), on a scale of the enrolled learners. role=img with <title> and
 * <desc> (every number in words); the table below it has the same data and more.
 */
export function funnelChart(items, enrolled) {
  // A narrow drawing (360 units) keeps the text readable on a phone; the page caps its width.
  const W = 360;
  const ROW = 68;
  const top = 4;
  const max = Math.max(1, enrolled || 0, ...items.map((x) => x.started));
  const titleId = uid("funnel-title");
  const descId = uid("funnel-desc");
  const rows = items.map((x, i) => {
    const y = top + i * ROW;
    const started = (x.started / max) * W;
    const completed = (x.completed / max) * W;
    const numbers = `${format.int(x.started)} started · ${format.int(x.completed)} completed`;
    return svg("g", { class: "funnel-row" },
      svg("text", { x: 0, y: y + 15, class: "funnel-label" }, shorten(`${i + 1}. ${x.title}`, 44)),
      svg("rect", { x: 0, y: y + 21, width: W, height: 20, rx: 3, class: "bar-track" }),
      svg("rect", { x: 0, y: y + 21, width: started.toFixed(1), height: 20, rx: 3, class: "bar-started" }),
      svg("rect", { x: 0, y: y + 21, width: completed.toFixed(1), height: 20, rx: 3, class: "bar-completed" }),
      svg("text", { x: 0, y: y + 57, class: "funnel-numbers" }, numbers));
  });
  const desc = items.map((x, i) => `Lesson ${i + 1}, ${x.title}: ${format.int(x.started)} started, `
    + `${format.int(x.completed)} completed.`).join(" ");
  return svg("svg", {
    class: "funnel-chart", role: "img", "aria-labelledby": `${titleId} ${descId}`, "data-testid": "funnel-chart",
    viewBox: `0 0 ${W} ${top + items.length * ROW}`, preserveAspectRatio: "xMinYMin meet", focusable: "false",
  },
  svg("title", { id: titleId }, `Lesson funnel: learners who started and completed each lesson, out of ${format.int(max)}`),
  svg("desc", { id: descId }, desc),
  rows);
}

function funnelTable(items) {
  const dash = "—";
  return h("table", { class: "data-table funnel-table", "data-testid": "funnel-table" },
    h("caption", {}, "The funnel's data, lesson by lesson"),
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, "Lesson"), h("th", { scope: "col" }, "Started"), h("th", { scope: "col" }, "Completed"),
      h("th", { scope: "col" }, "Drop-off"), h("th", { scope: "col" }, "Median minutes"))),
    h("tbody", {}, items.map((x, i) => h("tr", { "data-lesson-id": x.lesson_id },
      h("th", { scope: "row", "data-label": "Lesson" }, `${i + 1}. ${x.title}`),
      h("td", { "data-label": "Started" }, format.int(x.started)),
      h("td", { "data-label": "Completed" }, format.int(x.completed)),
      h("td", { "data-label": "Drop-off" }, x.drop_off_rate === null ? dash : format.rate(x.drop_off_rate)),
      h("td", { "data-label": "Median minutes" }, x.median_minutes === null ? dash : format.dec(x.median_minutes))))));
}

// --- the course dashboard ---------------------------------------------------------------------------

const SORTS = [
  ["-enrolled_at", "Newest enrolments first"],
  ["enrolled_at", "Oldest enrolments first"],
  ["-last_active_at", "Most recently active first"],
  ["last_active_at", "Least recently active first"],
  ["-percent", "Most progress first"],
  ["percent", "Least progress first"],
];

const RULES = { inactive: "Inactive", behind_pace: "Behind pace" };

function pageSize(params) {
  const n = Number.parseInt(params.get("limit") || "", 10);
  return Number.isInteger(n) && n >= 1 && n <= 200 ? n : DEFAULT_PAGE_SIZE;
}

/** "5 questions from 3 learners · last asked Dec 6, 2026 · covered by version 2 (Dec 7, 2026)" */
function gapFacts(g) {
  const parts = [`${format.int(g.questions)} ${g.questions === 1 ? "question" : "questions"}`
    + (Number.isInteger(g.learners) ? ` from ${format.int(g.learners)} learners` : "")];
  if (g.last_asked_at) parts.push(`last asked ${format.date(g.last_asked_at)}`);
  if (g.status === "covered") {
    parts.push(g.covered_version ? `covered by version ${format.int(g.covered_version)}`
      + (g.covered_at ? ` (${format.date(g.covered_at)})` : "") : "covered by a newer version");
  } else {
    parts.push("not answered by the course material yet");
  }
  return parts.join(" · ");
}

export async function courseAnalyticsView(ctx, courseId) {
  const base = `/courses/${encodeURIComponent(courseId)}`;
  let overview;
  try {
    overview = await api("GET", `${base}/analytics/overview`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      notAllowed(ctx, err, "A course's analytics are for its instructor and administrators only.");
      return;
    }
    if (err instanceof ApiError && err.status !== 401) ctx.announce(errorMessage(err), "error");
    throw err; // the router's error page (404: "Not found")
  }
  if (!ctx.alive()) return;
  const course = await api("GET", base).catch(() => null);
  if (!ctx.alive()) return;
  const title = course ? course.title : "Course";
  const isAdmin = ctx.user && ctx.user.role === "admin";
  const problems = new Map(); // section -> message, for one combined status message

  let problemsShown = false;
  function reportProblems() {
    if (!ctx.alive()) return;
    if (!problems.size) {
      // A section loaded again after "Try again": the status region no longer reports its failure.
      if (problemsShown) ctx.announce("Every section of the dashboard is loaded.", "success");
      problemsShown = false;
      return;
    }
    problemsShown = true;
    ctx.announce([...problems].map(([what, msg]) => `${what}: ${msg}`).join(" "), "error");
  }

  // --- overview ---
  const overviewBody = h("div", {});
  function paintOverview() {
    const o = overview;
    overviewBody.replaceChildren(...[
      o.enrolled === 0 ? h("p", { class: "notice", "data-testid": "no-learners" },
        "No learners are enrolled in this course yet. The figures fill in as learners enrol and progress.") : null,
      figureList([
        { key: "enrolled", label: "Enrolled", value: o.enrolled, text: format.int(o.enrolled) },
        { key: "active_7d", label: "Active in the last 7 days", value: o.active_7d, text: format.int(o.active_7d) },
        { key: "completed", label: "Completed", value: o.completed, text: format.int(o.completed) },
        { key: "completion_rate", label: "Completion rate", value: o.completion_rate, text: format.rate(o.completion_rate) },
        { key: "median_days_to_complete", label: "Median days to complete", value: o.median_days_to_complete,
          text: o.median_days_to_complete === null ? "—" : format.dec(o.median_days_to_complete),
          hint: o.median_days_to_complete === null ? "No completions yet." : null },
      ]),
      asOfLine(o.as_of)].filter(Boolean));
  }
  paintOverview();

  // --- funnel ---
  const funnelBody = h("div", {}, h("p", { class: "muted" }, "Loading the funnel…"));
  async function loadFunnel() {
    try {
      const { items } = await api("GET", `${base}/analytics/lessons`);
      if (!ctx.alive()) return;
      problems.delete("Lesson funnel");
      if (!items.length) {
        funnelBody.replaceChildren(h("p", { class: "muted", "data-testid": "funnel-empty" },
          "No published lessons yet: the funnel appears once a version of the course is published."));
        return;
      }
      funnelBody.replaceChildren(
        h("p", { class: "muted" }, "Learners who started each lesson (light) and completed it (dark), in course order."),
        h("div", { class: "chart-wrap" }, funnelChart(items, overview.enrolled)),
        h("ul", { class: "legend", "aria-hidden": "true" },
          h("li", {}, h("span", { class: "swatch swatch-started" }), "Started"),
          h("li", {}, h("span", { class: "swatch swatch-completed" }), "Completed")),
        funnelTable(items));
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.status === 401)) return;
      problems.set("Lesson funnel", errorMessage(err));
      funnelBody.replaceChildren(sectionError(err, "the lesson funnel", () => loadFunnel().then(reportProblems)));
    }
  }

  // --- learners (roster) ---
  const limit = pageSize(ctx.params);
  let sort = "-enrolled_at";
  let cursors = [null]; // cursors[i] opens page i+1
  let pageIndex = 0;
  const rosterBody = h("div", {});
  const sortSelect = h("select", { id: uid("sort"), name: "sort" },
    SORTS.map(([value, label]) => h("option", { value, selected: value === sort }, label)));
  const sortForm = h("form", { class: "roster-sort", "aria-label": "Sort the learners",
    onsubmit: (ev) => {
      ev.preventDefault();
      sort = sortSelect.value;
      cursors = [null];
      pageIndex = 0;
      loadLearners({ focus: true }).then(reportProblems);
    } },
  h("label", { for: sortSelect.id }, "Order"), sortSelect, h("button", { type: "submit", class: "small" }, "Sort"));
  async function loadLearners({ focus = false } = {}) {
    rosterBody.setAttribute("aria-busy", "true");
    try {
      const page = await api("GET", `${base}/analytics/learners`,
        { query: { sort, limit, cursor: cursors[pageIndex] } });
      if (!ctx.alive()) return;
      problems.delete("Learners");
      cursors[pageIndex + 1] = page.next_cursor;
      paintLearners(page, focus);
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.status === 401)) return;
      problems.set("Learners", errorMessage(err));
      const panel = sectionError(err, "the learners", () => loadLearners({ focus: true }).then(reportProblems));
      rosterBody.replaceChildren(panel);
      if (focus) panel.focus(); // the button pressed is gone with the table
    } finally {
      rosterBody.removeAttribute("aria-busy");
    }
  }
  function paintLearners(page, focus) {
    if (!page.items.length && pageIndex === 0) {
      rosterBody.replaceChildren(h("p", { class: "muted", "data-testid": "roster-empty" },
        "No learners yet: learners appear here once they enrol."));
      return;
    }
    const first = pageIndex * limit + 1;
    const last = pageIndex * limit + page.items.length;
    const table = h("table", { class: "data-table roster", tabindex: "-1", "data-testid": "roster" },
      h("caption", {}, `Learners ${format.int(first)}–${format.int(last)} of ${format.int(overview.enrolled)}, `
        + `${SORTS.find(([v]) => v === sort)[1].toLowerCase()}`),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Learner"), h("th", { scope: "col" }, "Enrolled"),
        h("th", { scope: "col" }, "Progress"), h("th", { scope: "col" }, "Completed"),
        h("th", { scope: "col" }, "Last active"))),
      h("tbody", {}, page.items.map((r) => h("tr", { "data-learner-id": r.learner_id },
        h("th", { scope: "row", "data-label": "Learner" }, r.name === null ? h("em", {}, "Deleted account") : r.name),
        h("td", { "data-label": "Enrolled" }, timeEl(r.enrolled_at, format.date(r.enrolled_at))),
        h("td", { "data-label": "Progress" }, format.pct(r.percent)),
        h("td", { "data-label": "Completed" }, r.completed_at ? timeEl(r.completed_at, format.date(r.completed_at)) : "—"),
        h("td", { "data-label": "Last active" }, timeEl(r.last_active_at, format.dateTime(r.last_active_at)))))));
    const prev = h("button", { type: "button", class: "small", disabled: pageIndex === 0,
      onclick: () => { pageIndex -= 1; loadLearners({ focus: true }).then(reportProblems); } }, "Previous page");
    const next = h("button", { type: "button", class: "small", disabled: !page.next_cursor,
      onclick: () => { pageIndex += 1; loadLearners({ focus: true }).then(reportProblems); } }, "Next page");
    rosterBody.replaceChildren(h("div", { class: "table-scroll" }, table),
      h("div", { class: "pager roster-pager" }, prev,
        h("span", { class: "muted", "data-testid": "roster-page" }, `Page ${format.int(pageIndex + 1)}`), next));
    if (focus) table.focus();
  }

  // --- at risk ---
  const riskBody = h("div", {}, h("p", { class: "muted" }, "Loading the learners at risk…"));
  // The API pages the list (most inactive first): "Show more learners at risk" appends the next page.
  let riskList = null;
  async function loadRisk(cursor = null) {
    try {
      const query = cursor ? `?cursor=${encodeURIComponent(cursor)}` : "";
      const { items, next_cursor: nextCursor } = await api("GET", `${base}/analytics/at-risk${query}`);
      if (!ctx.alive()) return;
      problems.delete("At risk");
      if (!items.length && !cursor) {
        riskBody.replaceChildren(h("p", { class: "muted", "data-testid": "at-risk-empty" },
          "Nobody is at risk right now."));
        return;
      }
      const entries = items.map((x) => h("li", { class: "risk", "data-learner-id": x.learner_id },
          h("h3", {}, x.name === null ? "Deleted account" : x.name),
          h("p", { class: "muted risk-facts" }, `${format.pct(x.percent)} done · `,
            x.days_inactive === 0 ? "active today" : `inactive for ${format.int(x.days_inactive)} `
              + `${x.days_inactive === 1 ? "day" : "days"}`),
          h("ul", { class: "reasons", "aria-label": `Why ${x.name === null ? "this learner" : x.name} is at risk` },
            x.reasons.map((r) => h("li", { "data-rule": r.rule },
              h("strong", {}, `${RULES[r.rule] || r.rule}: `), r.detail)))));
      if (!cursor || !riskList) {
        riskList = h("ul", { class: "plain-list at-risk", "data-testid": "at-risk" }, entries);
        riskBody.replaceChildren(riskList);
      } else {
        riskList.append(...entries);
        if (entries.length) entries[0].querySelector("h3").setAttribute("tabindex", "-1");
        if (entries.length) entries[0].querySelector("h3").focus();
      }
      if (nextCursor) {
        const more = h("button", { type: "button", "data-testid": "at-risk-more",
          onclick: () => { more.remove(); loadRisk(nextCursor).then(reportProblems); } },
          "Show more learners at risk");
        riskBody.append(more);
      }
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.status === 401)) return;
      problems.set("At risk", errorMessage(err));
      riskBody.replaceChildren(sectionError(err, "the learners at risk", () => loadRisk().then(reportProblems)));
    }
  }

  // --- content gaps ---
  const gapsBody = h("div", {}, h("p", { class: "muted" }, "Loading the content gaps…"));
  async function loadGaps() {
    try {
      const { items } = await api("GET", `${base}/analytics/content-gaps`);
      if (!ctx.alive()) return;
      problems.delete("Content gaps");
      if (!items.length) {
        gapsBody.replaceChildren(h("p", { class: "muted", "data-testid": "gaps-empty" },
          "No content gaps: no question has been left unanswered for three or more learners."));
        return;
      }
      gapsBody.replaceChildren(h("ul", { class: "plain-list gaps", "data-testid": "gaps" }, items.map((g) => h("li", {
        class: `gap ${g.status === "covered" ? "covered" : "open"}`, "data-gap-id": g.id },
      h("h3", {}, g.label, " ",
        h("span", { class: `status-pill gap-${g.status === "covered" ? "covered" : "open"}` },
          g.status === "covered" ? "Covered" : "Open")),
      h("p", { class: "muted gap-facts" }, gapFacts(g)),
      (g.examples || []).length ? h("div", {}, h("p", { class: "gap-sub" }, "Examples"),
        h("ul", { class: "examples" }, g.examples.map((q) => h("li", {}, h("q", {}, q))))) : null,
      (g.nearest_lessons || []).length ? h("p", {}, "Nearest lessons: ", g.nearest_lessons.map((l, i) => [
        i ? ", " : "", h("a", { href: `#/courses/${encodeURIComponent(courseId)}/lessons/${encodeURIComponent(l.lesson_id)}` },
          l.title)])) : null))));
    } catch (err) {
      if (!ctx.alive() || (err instanceof ApiError && err.status === 401)) return;
      if (err instanceof ApiError && err.status === 404) {
        problems.delete("Content gaps");
        gapsBody.replaceChildren(h("p", { class: "notice", "data-testid": "gaps-unavailable" },
          "Content gaps are not available yet: this server does not report them."));
        return;
      }
      problems.set("Content gaps", errorMessage(err));
      gapsBody.replaceChildren(sectionError(err, "the content gaps", () => loadGaps().then(reportProblems)));
    }
  }

  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/teach" }, "Teach"), " › ",
      h("a", { href: `#/teach/courses/${encodeURIComponent(courseId)}` }, title)),
    h("h1", {}, `Analytics: ${title}`),
    isAdmin ? h("p", {}, h("a", { href: "#/admin/analytics" }, "Platform analytics (all courses)")) : null,
    jumpLinks([["analytics-overview", "Overview"], ["analytics-funnel", "Lesson funnel"],
      ["analytics-learners", "Learners"], ["analytics-at-risk", "At risk"], ["analytics-gaps", "Content gaps"]]),
    section("analytics-overview", "Overview", overviewBody),
    section("analytics-funnel", "Lesson funnel", funnelBody),
    section("analytics-learners", "Learners", sortForm, rosterBody),
    section("analytics-at-risk", "At risk",
      h("p", { class: "muted" }, "Learners who started and have not completed, flagged when inactive for 7 days or "
        + "more or behind the course's median pace. Each flag says why."), riskBody),
    section("analytics-gaps", "Content gaps",
      h("p", { class: "muted" }, "Questions the assistant could not answer well, grouped by meaning and ranked by "
        + "how many learners asked (shown from three learners, never who asked)."), gapsBody),
  );
  await Promise.all([loadFunnel(), loadLearners(), loadRisk(), loadGaps()]);
  if (ctx.alive()) reportProblems();
}

// --- the platform overview (admins) ---------------------------------------------------------------

export async function adminAnalyticsView(ctx) {
  let o;
  try {
    o = await api("GET", "/admin/analytics/overview");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) {
      notAllowed(ctx, err, "Platform analytics are for administrators only.");
      return;
    }
    if (err instanceof ApiError && err.status !== 401) ctx.announce(errorMessage(err), "error");
    throw err;
  }
  if (!ctx.alive()) return;
  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/teach" }, "Teach")),
    h("h1", {}, "Platform analytics"),
    section("platform-overview", "All courses",
      o.enrolled === 0 ? h("p", { class: "notice", "data-testid": "no-learners" }, "Nobody is enrolled in any course yet.") : null,
      figureList([
        { key: "courses", label: "Published courses", value: o.courses, text: format.int(o.courses) },
        { key: "learners", label: "People learning", value: o.learners, text: format.int(o.learners),
          hint: "With at least one live enrolment, each counted once." },
        { key: "enrolled", label: "Enrolments", value: o.enrolled, text: format.int(o.enrolled) },
        { key: "active_7d", label: "People active in the last 7 days", value: o.active_7d, text: format.int(o.active_7d) },
        { key: "completed", label: "Completions", value: o.completed, text: format.int(o.completed) },
        { key: "completion_rate", label: "Completion rate", value: o.completion_rate, text: format.rate(o.completion_rate) },
        { key: "median_days_to_complete", label: "Median days to complete", value: o.median_days_to_complete,
          text: o.median_days_to_complete === null ? "—" : format.dec(o.median_days_to_complete),
          hint: o.median_days_to_complete === null ? "No completions yet." : null },
        { key: "minutes_7d", label: "Minutes on task in the last 7 days", value: o.minutes_7d, text: format.int(o.minutes_7d) },
      ]),
      asOfLine(o.as_of)),
    h("p", { class: "muted" }, "A course's own dashboard is linked from its editor (Teach › the course › Analytics)."),
  );
}
