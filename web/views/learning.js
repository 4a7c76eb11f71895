// Learner helpers shared by the course and lesson pages: the caller's enrollment, progress text.
import { api } from "../api.js";
import { h, progressBar } from "../dom.js";

/** The caller's live (active or completed) enrollment in a course, or null. */
export async function findEnrollment(courseId) {
  for (const status of ["active", "completed"]) {
    let cursor = null;
    do {
      const page = await api("GET", "/me/enrollments", { query: { status, limit: 100, cursor } });
      const found = page.items.find((e) => e.course_id === courseId);
      if (found) return found;
      cursor = page.next_cursor;
    } while (cursor);
  }
  return null;
}

export function allLessons(course) {
  return course.modules.flatMap((m) => m.lessons.map((l) => ({ ...l, moduleTitle: m.title })));
}

/** How many remaining titles the summary names before it says "and K more". */
export const SUMMARY_TITLES = 3;

/** "2 of 5 lessons left: Orbit, Phases", "76 of 80 lessons left: Orbit, Phases, Tides and 73 more"
 * or "Course completed: all 5 lessons done." (the lesson list below shows every lesson's status). */
export function progressSummary(progress) {
  const basis = progress.lessons.some((l) => l.required) ? progress.lessons.filter((l) => l.required)
    : progress.lessons;
  const total = basis.length;
  const left = progress.remaining.length;
  const noun = total === 1 ? "lesson" : "lessons";
  if (progress.completed || left === 0) return `Course completed: all ${total} ${noun} done.`;
  // Name them all when "and 1 more" would be the only thing left out.
  const named = left <= SUMMARY_TITLES + 1 ? progress.remaining : progress.remaining.slice(0, SUMMARY_TITLES);
  const titles = named.map((r) => r.title).join(", ");
  const more = left - named.length;
  return `${left} of ${total} ${noun} left: ${titles}${more > 0 ? ` and ${more} more` : ""}`;
}

/** A progress block: the bar (role=progressbar), the percentage and what is left. */
export function progressBlock(progress) {
  const bar = progressBar(progress.percent, "Course progress");
  const summary = h("p", { class: "progress-text", "data-testid": "progress-text" }, progressSummary(progress));
  const pct = h("span", { class: "progress-pct" }, `${progress.percent}%`);
  const block = h("div", { class: "progress-block" }, h("div", { class: "progress-row" }, bar, pct), summary);
  block.update = (p) => {
    bar.setValue(p.percent);
    pct.textContent = `${p.percent}%`;
    summary.textContent = progressSummary(p);
  };
  return block;
}

export function lessonStatusLabel(status) {
  if (status === "completed") return "Done";
  if (status === "in_progress") return "In progress";
  return "Not started";
}
