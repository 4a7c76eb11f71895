// A lesson: its text or material, "Mark as done", the course progress bar and what is left.
import { api } from "../api.js";
import { h } from "../dom.js";
import { actionButton } from "../ui.js";
import { allLessons, findEnrollment, lessonStatusLabel, progressBlock, progressSummary } from "./learning.js";
import { startTimeOnTask } from "./time_on_task.js";

function bodyParagraphs(text) {
  return (text || "").split(/\n\s*\n/).map((p) => p.trim()).filter(Boolean).map((p) => h("p", {}, p));
}

function materialBlock(ctx, course, lesson) {
  if (!lesson.asset_id) return null;
  const slot = h("span", {});
  const get = actionButton(lesson.kind === "video" ? "Get the video" : "Get the document", async () => {
    const dl = await api("GET", `/courses/${course.id}/assets/${lesson.asset_id}/download`);
    const page = /^\d+$/.test(ctx.params.get("page") || "") ? ctx.params.get("page") : null;
    // PDF viewers honour #page=N: a citation's page opens where the answer came from.
    slot.replaceChildren(h("a", { href: page ? `${dl.url}#page=${page}` : dl.url, class: "button", target: "_blank",
      rel: "noopener" }, `Open the material${page ? ` at page ${page}` : ""} (link valid for a few minutes)`));
    slot.querySelector("a").focus();
  }, { busyLabel: "Preparing the link…" });
  return h("div", { class: "material card" },
    h("p", {}, lesson.kind === "video" ? "This lesson is a video." : "This lesson is a document."), get, " ", slot);
}

export async function lessonView(ctx, courseId, lessonId) {
  let [course, enrollment] = await Promise.all([
    api("GET", `/courses/${encodeURIComponent(courseId)}`),
    findEnrollment(courseId),
  ]);
  if (course.structure === "draft" && course.published_version) {
    course = await api("GET", `/courses/${course.id}`, { query: { version: course.published_version } });
  }
  const lessons = allLessons(course);
  const index = lessons.findIndex((l) => l.id === lessonId);
  if (index < 0) {
    ctx.render(h("h1", {}, "Lesson not found"),
      h("p", {}, "This lesson is not part of the version of the course you see. "),
      h("p", {}, h("a", { href: `#/courses/${course.id}` }, `Back to ${course.title}`)));
    return;
  }
  const lesson = lessons[index];
  let progress = enrollment ? await api("GET", `/enrollments/${enrollment.id}/progress`) : null;
  let mine = progress ? progress.lessons.find((l) => l.lesson_id === lesson.id) : null;

  const at = ctx.params.get("at");
  const source = ctx.params.get("source");
  const named = source && source !== lesson.title ? ` ("${source}")` : "";
  const citedNote = at || source ? h("p", { class: "notice", "data-testid": "cited-location" },
    `The assistant's answer cites this lesson${named}${at ? ` at ${at}` : ""}.`) : null;

  let progressArea = null;
  if (progress) {
    const block = progressBlock(progress);
    const state = h("p", { class: "lesson-state", "data-testid": "lesson-state" },
      `This lesson: ${lessonStatusLabel(mine ? mine.status : "not_started")}`);
    const done = actionButton("Mark as done", async (btn) => {
      await api("PUT", `/enrollments/${enrollment.id}/lessons/${lesson.id}/progress`, { body: { status: "completed" } });
      progress = await api("GET", `/enrollments/${enrollment.id}/progress`);
      if (!ctx.alive()) return;
      mine = progress.lessons.find((l) => l.lesson_id === lesson.id);
      block.update(progress);
      state.textContent = `This lesson: ${lessonStatusLabel("completed")}`;
      btn.remove();
      if (progress.completed) {
        completion.hidden = false;
        ctx.announce("Course completed! Your certificate is being issued.", "success");
        completion.querySelector("a").focus();
      } else {
        ctx.announce(`Lesson marked as done. ${progressSummary(progress)}`, "success");
        if (nextLink) nextLink.focus();
      }
    }, { className: "primary", busyLabel: "Saving…" });
    const completion = h("p", { class: "notice success" }, "Course completed! Your certificate is being issued: ",
      h("a", { href: "#/certificates" }, "see my certificates"), ".");
    completion.hidden = !progress.completed;
    const canMark = enrollment.status === "active" && (!mine || mine.status !== "completed");
    progressArea = h("section", { class: "card", "aria-labelledby": "lesson-progress" },
      h("h2", { id: "lesson-progress" }, "Progress"), block, h("div", { class: "lesson-actions" }, state,
        canMark ? done : null), completion);
    if (mine && mine.status === "not_started" && enrollment.status === "active") {
      // Opening a lesson marks it started (progress only moves forward; a failure here is harmless:
      // the lesson simply stays "not started").
      api("PUT", `/enrollments/${enrollment.id}/lessons/${lesson.id}/progress`,
        { body: { status: "in_progress", percent: 0 } }).then(() => {
        if (ctx.alive() && mine.status === "not_started") {
          mine = { ...mine, status: "in_progress" };
          state.textContent = `This lesson: ${lessonStatusLabel("in_progress")}`;
        }
      }).catch(() => {});
    }
  } else {
    progressArea = h("p", { class: "notice" }, "You are not enrolled: ",
      h("a", { href: `#/courses/${course.id}` }, "enrol on the course page"), " to track your progress.");
  }

  if (enrollment && enrollment.status !== "cancelled") startTimeOnTask(ctx, course.id, lesson.id);

  const prev = lessons[index - 1];
  const next = lessons[index + 1];
  const nextLink = next ? h("a", { href: `#/courses/${course.id}/lessons/${next.id}`, rel: "next" },
    `Next: ${next.title} →`) : null;
  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: `#/courses/${course.id}` }, course.title), " › ", lesson.moduleTitle),
    h("h1", {}, lesson.title),
    citedNote,
    h("article", { class: "lesson-body" }, lesson.kind === "text" ? bodyParagraphs(lesson.body) : null,
      materialBlock(ctx, course, lesson)),
    progressArea,
    h("nav", { class: "pager", "aria-label": "Lessons" },
      prev ? h("a", { href: `#/courses/${course.id}/lessons/${prev.id}`, rel: "prev" }, `← Previous: ${prev.title}`)
        : h("span", {}),
      nextLink || h("a", { href: `#/courses/${course.id}` }, "Back to the course")),
  );
}
