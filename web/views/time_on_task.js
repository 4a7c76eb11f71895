// Time on task (docs/analytics.md): while a lesson is on screen, visible and focused, tell
// AnalyticsFunction once a minute. The server counts one minute per learner and minute, so several
// tabs (or a retry) count once; nothing is sent from a hidden or unfocused tab.
import { api } from "../api.js";

const MINUTE_MS = 60_000;
const TICK_MS = 5_000;
// Refusals in a row before giving up: just after enrolling, analytics may not know the enrolment yet
// (a few seconds), so a 403 is retried at the next minute; a lesson that is not the course's is 404.
const MAX_REFUSALS = 5;

/** Start the heartbeat of this lesson view; it stops by itself when the view is left (ctx.alive). */
export function startTimeOnTask(ctx, courseId, lessonId) {
  let last = 0;
  let refused = 0;
  let timer = null;
  const path = `/courses/${encodeURIComponent(courseId)}/lessons/${encodeURIComponent(lessonId)}/heartbeat`;
  const attentive = () => document.visibilityState === "visible" && document.hasFocus();
  const stop = () => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", tick);
    window.removeEventListener("focus", tick);
  };
  function tick() {
    if (!ctx.alive()) { stop(); return; }
    if (!attentive() || Date.now() - last < MINUTE_MS) return;
    last = Date.now();
    // an ended session is handled as for any request (api() renews the token once, then signs out)
    api("POST", path).then(() => { refused = 0; }).catch((err) => {
      if (err && err.status === 404) stop();
      else if (err && err.status === 403 && ++refused >= MAX_REFUSALS) stop();
    });
  }
  timer = setInterval(tick, TICK_MS);
  document.addEventListener("visibilitychange", tick);
  window.addEventListener("focus", tick);
  tick();
}
