// The public verification page: anyone with the code can check a certificate (no sign-in).
import { api, ApiError } from "../api.js";
import { formatDate, h } from "../dom.js";

export async function verifyView(ctx, code) {
  let cert;
  try {
    cert = await api("GET", `/certificates/${encodeURIComponent(code)}`, { auth: false });
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) {
      ctx.render(h("h1", {}, "Certificate not found"),
        h("div", { class: "verdict unknown", "data-testid": "verdict" },
          h("p", {}, "No certificate has the code ", h("code", {}, code), "."),
          h("p", { class: "muted" }, err.message)));
      return;
    }
    throw err;
  }
  if (cert.status === "withdrawn") {
    // The holder deleted their account and chose to withdraw it: nothing about them is shown.
    ctx.render(h("h1", {}, "Withdrawn certificate"),
      h("div", { class: "verdict unknown", "data-testid": "verdict" },
        h("p", { class: "verdict-line" }, `This certificate was withdrawn by its holder on `
          + `${formatDate(cert.withdrawn_at)}.`),
        h("dl", { class: "facts" }, h("dt", {}, "Code"), h("dd", {}, h("code", {}, cert.code)))));
    return;
  }
  const valid = cert.status === "valid";
  ctx.render(
    h("h1", {}, valid ? "Valid certificate" : "Revoked certificate"),
    h("div", { class: `verdict ${valid ? "valid" : "revoked"}`, "data-testid": "verdict" },
      h("p", { class: "verdict-line" }, valid
        ? "This certificate is genuine and valid."
        : `This certificate was revoked on ${formatDate(cert.revoked_at)}. Reason: ${cert.revoked_reason}`),
      h("dl", { class: "facts" },
        h("dt", {}, "Awarded to"), h("dd", { "data-testid": "learner" }, cert.learner_name),
        h("dt", {}, "Course"), h("dd", {}, cert.course_title),
        h("dt", {}, "Instructor"), h("dd", {}, cert.instructor_name),
        h("dt", {}, "Completed on"), h("dd", {}, cert.completed_on),
        h("dt", {}, "Course version"), h("dd", {}, String(cert.course_version)),
        h("dt", {}, "Code"), h("dd", {}, h("code", {}, cert.code)))),
    h("p", { class: "muted small" }, "Checked just now against SmartCourse's records (", h("a", {
      href: cert.verify_url, rel: "noopener",
    }, "machine-readable record"), ")."),
  );
}
