// "Ask the course assistant": the answer, and each citation as a link to the lesson (and the
// place in its material) it came from.
import { api } from "../api.js";
import { h } from "../dom.js";
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
  const answers = h("div", { class: "answers", "aria-live": "polite" });
  const { form, fields } = makeForm({
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
      ctx.announce(answer.refused ? "The assistant could not answer from the course materials."
        : `Answer received with ${answer.citations.length} source${answer.citations.length === 1 ? "" : "s"}.`);
    },
  });
  return h("section", { class: "assistant", "aria-labelledby": "assistant-heading" },
    h("h2", { id: "assistant-heading" }, "Ask the course assistant"),
    h("p", { class: "muted" }, "Answers come only from this course's materials, with their sources."),
    form, answers);
}
