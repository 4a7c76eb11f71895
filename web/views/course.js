// A course page: description, modules and lessons, enrol, progress, the assistant.
import { api } from "../api.js";
import { h } from "../dom.js";
import { actionButton } from "../ui.js";
import { assistantPanel } from "./assistant.js";
import { findEnrollment, lessonStatusLabel, progressBlock } from "./learning.js";

export async function courseView(ctx, courseId) {
  let [course, enrollment] = await Promise.all([
    api("GET", `/courses/${encodeURIComponent(courseId)}`),
    findEnrollment(courseId),
  ]);
  if (course.structure === "draft" && course.published_version) {
    // Editors get the draft by default: this page shows what learners see, the published version.
    course = await api("GET", `/courses/${course.id}`, { query: { version: course.published_version } });
  }
  const progress = enrollment ? await api("GET", `/enrollments/${enrollment.id}/progress`) : null;
  const statusById = new Map((progress ? progress.lessons : []).map((l) => [l.lesson_id, l.status]));
  const user = ctx.user;
  const isEditor = user && (user.role === "admin" || user.id === course.instructor_id);

  let learnerBox;
  if (enrollment) {
    const next = progress.remaining[0];
    learnerBox = h("section", { class: "card", "aria-labelledby": "progress-heading" },
      h("h2", { id: "progress-heading" }, "Your progress"),
      progressBlock(progress),
      next ? h("p", {}, h("a", { class: "button primary", href: `#/courses/${course.id}/lessons/${next.lesson_id}` },
        `Continue: ${next.title}`))
        : h("p", {}, "Well done! ", h("a", { href: "#/certificates" }, "See your certificate"), "."));
  } else if (course.status === "published" && !isEditor) {
    learnerBox = h("section", { class: "card" },
      h("p", {}, "Enrol to open the lessons, track your progress and ask the course assistant."),
      actionButton("Enrol in this course", async () => {
        await api("POST", `/courses/${course.id}/enrollments`, { body: {} });
        ctx.flash(`You are enrolled in ${course.title}.`, "success");
        ctx.navigate(`#/courses/${course.id}`);
      }, { className: "primary", busyLabel: "Enrolling…" }));
  } else if (isEditor) {
    learnerBox = h("section", { class: "card" },
      h("p", {}, "You teach this course. "), h("a", { href: `#/teach/courses/${course.id}` }, "Edit the course"));
  }

  const structure = h("section", { "aria-labelledby": "contents-heading" },
    h("h2", { id: "contents-heading" }, "Contents"),
    course.modules.length ? course.modules.map((m) => h("div", { class: "module" },
      h("h3", {}, m.title),
      h("ol", { class: "lesson-list" }, m.lessons.map((l) => {
        const st = statusById.get(l.id);
        return h("li", { class: `lesson-item ${st || ""}` },
          h("a", { href: `#/courses/${course.id}/lessons/${l.id}` }, l.title),
          h("span", { class: "tag" }, l.kind),
          l.required ? null : h("span", { class: "tag" }, "optional"),
          st ? h("span", { class: `status-pill ${st}` }, lessonStatusLabel(st)) : null);
      })))) : h("p", { class: "muted" }, "This course has no lessons yet."));

  const canAsk = enrollment || isEditor;
  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/catalogue" }, "Catalogue")),
    h("h1", {}, course.title),
    course.description ? h("p", { class: "lead" }, course.description) : null,
    course.status !== "published" ? h("p", { class: "badge" }, course.status) : null,
    learnerBox,
    structure,
    canAsk && course.published_version ? assistantPanel(ctx, course.id) : null,
  );
}
