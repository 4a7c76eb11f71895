// "Ask the course assistant": the answer, and each citation as a link to the lesson (and the
// place in its material) it came from; the assistant's state (GET /courses/{id}/assistant/status)
// while the published material is being prepared.
import { api } from "../api.js";
import { h, uid } from "../dom.js";
import { describeLocation, makeForm } from "../ui.js";

export function citationHref(courseId, citation) {
  if (!citation.lesson_id) return null;
  const where = describeLocation(citation.location);
  const qs = new URLSearchParams();
  if (where) qs.set("at", where);
  qs.set("source", citation.title || "");
  const page = citation.location && Number.isInteger(citation.location.page) ? citation.location.page : null;
  if (page) qs.set("page", String(page)); // the material link then opens the PDF at that page
  return `#/courses/${courseId}/lessons/${citation.lesson_id}?${qs.toString()}`;
}

const STATUS_POLL_MS = 3000;

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * The sentence for an assistant status {state, live_version, latest_version, documents}: "" when
 * there is nothing to say (the course was never published).
 */
export function assistantStateText(status) {
  if (!status || typeof status !== "object") return "";
  const d = status.documents || {};
  const ready = d.ready || 0;
  const failed = d.failed || 0;
  const total = ready + (d.processing || 0) + failed;
  const unreadable = failed ? `, ${failed} could not be read` : "";
  if (status.state === "live") {
    return failed ? `Assistant: ready (${plural(failed, "document")} could not be read).` : "Assistant: ready.";
  }
  if (status.state === "indexing") {
    const count = total ? ` (${ready} of ${plural(total, "document")} ready${unreadable})` : "";
    return status.live_version
      ? `The new version of the course material is being prepared for the assistant${count}; `
        + "until it is ready, answers come from the previous version."
      : `Course material is being prepared for the assistant${count}. `
        + "You can ask as soon as it is ready: this page updates by itself.";
  }
  return "";
}

function feedbackButtons(ctx, courseId, answer) {
  const note = h("span", { class: "muted", role: "status" });
  const send = async (helpful) => {
    await api("POST", `/courses/${courseId}/assistant/conversations/${answer.conversation_id}/messages/`
      + `${answer.message_id}/feedback`, { body: { helpful } });
    note.textContent = "Thanks for the feedback.";
  };
  const mk = (label, helpful) => h("button", {
    type: "button", class: "small", onclick: async (ev) => {
      ev.target.disabled = true;
      try {
        await send(helpful);
      } catch (err) {
        note.textContent = `Feedback not saved: ${err.message}`;
      } finally {
        ev.target.disabled = false;
      }
    },
  }, label);
  return h("p", { class: "feedback" }, "Was this helpful? ", mk("Yes", true), " ", mk("No", false), " ", note);
}

function answerBlock(ctx, courseId, question, answer) {
  const citations = answer.citations || [];
  return h("article", { class: `answer card ${answer.refused ? "refused" : ""}`, "data-testid": "answer" },
    h("h3", { class: "question" }, question),
    h("p", { class: "answer-text" }, answer.answer),
    citations.length ? h("div", { class: "citations" },
      h("h4", {}, "Sources"),
      h("ol", {}, citations.map((c) => {
        const where = describeLocation(c.location);
        const label = `[${c.n}] ${c.title || "Course material"}${where ? ` — ${where}` : ""}`;
        const href = citationHref(courseId, c);
        return h("li", { class: "citation" },
          href ? h("a", { href }, label) : h("span", {}, label),
          c.snippet ? h("blockquote", {}, c.snippet) : null);
      }))) : null,
    answer.refused ? null : feedbackButtons(ctx, courseId, answer));
}

/** The assistant panel of a course (for enrolled learners, the instructor and admins). */
export function assistantPanel(ctx, courseId) {
  let conversationId = null;
  let watching = false;
  let wasPreparing = false;
  const answers = h("div", { class: "answers", "aria-live": "polite" });
  const stateLine = h("p", { id: uid("assistant-state"), class: "assistant-state", "data-testid": "assistant-state" });
  stateLine.hidden = true;
  const { form, fields, button } = makeForm({
    fields: [{ name: "question", label: "Your question", type: "textarea", rows: 3, required: true,
      maxlength: 1000 }],
    submitLabel: "Ask",
    onSubmit: async (v) => {
      const question = v.question.trim();
      ctx.announce("Asking the assistant…");
      const body = conversationId ? { question, conversation_id: conversationId } : { question };
      const answer = await api("POST", `/courses/${courseId}/assistant/ask`, { body });
      if (!ctx.alive()) return;
      conversationId = answer.conversation_id;
      answers.prepend(answerBlock(ctx, courseId, question, answer));
      fields.question.input.value = "";
      if (answer.reason === "indexing") {
        ctx.announce("The course material is still being prepared for the assistant.");
        watch(); // not awaited: the form re-enables its button first, the state then decides
        return;
      }
      ctx.announce(answer.refused ? "The assistant could not answer from the course materials."
        : `Answer received with ${answer.citations.length} source${answer.citations.length === 1 ? "" : "s"}.`);
    },
  });

  // Shows the state; true while the latest version is still being prepared (keep polling).
  function show(status) {
    const text = assistantStateText(status);
    stateLine.textContent = text;
    stateLine.hidden = !text;
    stateLine.dataset.state = status.state || "";
    // Nothing live yet: nothing to answer from. (A previous live version still answers.)
    const preparing = status.state === "indexing";
    button.disabled = preparing && !status.live_version;
    if (button.disabled) button.setAttribute("aria-describedby", stateLine.id);
    else button.removeAttribute("aria-describedby");
    if (wasPreparing && !preparing) ctx.announce("The course assistant is ready.", "success");
    wasPreparing = preparing;
    return preparing;
  }

  async function refresh() {
    const status = await api("GET", `/courses/${courseId}/assistant/status`);
    return ctx.alive() ? show(status) : false;
  }

  async function watch() {
    if (watching) return;
    watching = true;
    let again = false;
    try {
      again = await refresh();
    } catch {
      again = false; // no state to show: asking still works and says why it cannot answer
    }
    if (!again) {
      watching = false;
      return;
    }
    ctx.poll(async () => {
      const more = await refresh();
      watching = more;
      return more;
    }, STATUS_POLL_MS);
  }

  watch();
  return h("section", { class: "assistant", "aria-labelledby": "assistant-heading" },
    h("h2", { id: "assistant-heading" }, "Ask the course assistant"),
    h("p", { class: "muted" }, "Answers come only from this course's materials, with their sources."),
    stateLine, form, answers);
}
