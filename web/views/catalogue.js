// The catalogue: published courses (search, load more) and the caller's own enrollments.
import { api } from "../api.js";
import { h } from "../dom.js";
import { makeForm } from "../ui.js";

function excerpt(text, n = 180) {
  if (!text) return "";
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}

function courseCard(course, enrollment) {
  return h("li", { class: "card course-card" },
    h("h3", {}, h("a", { href: `#/courses/${course.id}` }, course.title)),
    course.description ? h("p", {}, excerpt(course.description)) : null,
    enrollment ? h("p", { class: "badge" }, enrollment.status === "completed" ? "Completed" : "Enrolled") : null);
}

export async function catalogueView(ctx) {
  const [mine, page] = await Promise.all([
    api("GET", "/me/enrollments", { query: { limit: 100 } }),
    api("GET", "/courses", { query: { status: "published", limit: 20 } }),
  ]);
  const live = mine.items.filter((e) => e.status !== "cancelled");
  const byCourse = new Map(live.map((e) => [e.course_id, e]));

  const list = h("ul", { class: "course-list", "aria-label": "Published courses" });
  const more = h("div", { class: "actions" });
  const empty = h("p", { class: "muted" }, "No published courses match.");
  let cursor = null;
  let query = "";

  function show(items, next, replace) {
    if (replace) list.replaceChildren();
    for (const c of items) list.append(courseCard(c, byCourse.get(c.id)));
    empty.hidden = list.children.length > 0;
    cursor = next;
    more.replaceChildren();
    if (cursor) {
      more.append(h("button", {
        type: "button", onclick: async (ev) => {
          ev.target.disabled = true;
          try {
            const p = await api("GET", "/courses", { query: { status: "published", limit: 20, cursor, q: query } });
            const firstNew = list.children.length;
            show(p.items, p.next_cursor, false);
            const link = list.children[firstNew] && list.children[firstNew].querySelector("a");
            if (link) link.focus();
          } finally {
            ev.target.disabled = false;
          }
        },
      }, "Load more courses"));
    }
  }

  const search = makeForm({
    fields: [{ name: "q", label: "Search courses by title", type: "search" }],
    submitLabel: "Search",
    className: "inline-form",
    onSubmit: async (v) => {
      query = v.q.trim();
      const p = await api("GET", "/courses", { query: { status: "published", limit: 20, q: query } });
      show(p.items, p.next_cursor, true);
      ctx.announce(`${p.items.length}${p.next_cursor ? "+" : ""} course${p.items.length === 1 ? "" : "s"} found.`);
    },
  });

  show(page.items, page.next_cursor, true);
  const myLearning = live.length
    ? h("section", { "aria-labelledby": "my-learning" },
      h("h2", { id: "my-learning" }, "My learning"),
      h("ul", { class: "plain-list" }, live.map((e) => h("li", {},
        h("a", { href: `#/courses/${e.course_id}` }, e.course_title || "Course"),
        " ", h("span", { class: "badge" }, e.status === "completed" ? "Completed" : "In progress")))))
    : null;
  ctx.render(
    h("h1", {}, "Course catalogue"),
    myLearning,
    h("section", { "aria-labelledby": "all-courses" },
      h("h2", { id: "all-courses" }, "All courses"), search.form, list, empty, more),
  );
}
