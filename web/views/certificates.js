// My certificates: each with its public verification link and a download link. Certificates are
// issued asynchronously after completion: completed enrollments without one show "being issued"
// and the page polls until it appears.
import { api } from "../api.js";
import { formatDate, h } from "../dom.js";
import { actionButton } from "../ui.js";

function certificateItem(cert) {
  const slot = h("span", {});
  const verifyHref = `#/verify/${encodeURIComponent(cert.code)}`;
  return h("li", { class: "card certificate", "data-code": cert.code },
    h("h2", {}, cert.course_title),
    h("p", {}, `Completed on ${cert.completed_on} · issued ${formatDate(cert.issued_at)}`),
    h("p", {}, "Code: ", h("code", {}, cert.code)),
    cert.status === "revoked"
      ? h("p", { class: "notice error" }, `Revoked on ${formatDate(cert.revoked_at)}: ${cert.revoked_reason}`)
      : null,
    h("p", { class: "cert-links" },
      h("a", { href: verifyHref }, "Public verification page"), " ",
      cert.status === "revoked" ? null : actionButton("Download PDF", async () => {
        const dl = await api("GET", `/certificates/${encodeURIComponent(cert.code)}/download`);
        slot.replaceChildren(h("a", { href: dl.url, target: "_blank", rel: "noopener" },
          "Open the PDF (link valid 5 minutes)"));
        slot.querySelector("a").focus();
      }, { busyLabel: "Preparing…" }), " ", slot),
    h("p", { class: "muted small" }, "Share this link: ",
      h("span", { class: "share" }, `${location.origin}${location.pathname}${verifyHref}`)));
}

async function load() {
  const [certs, done] = await Promise.all([
    api("GET", "/me/certificates"),
    api("GET", "/me/enrollments", { query: { status: "completed", limit: 100 } }),
  ]);
  const issued = new Set(certs.items.map((c) => c.enrollment_id));
  const pending = done.items.filter((e) => !issued.has(e.id));
  return { certs: certs.items, pending };
}

export async function certificatesView(ctx) {
  let state = await load();
  const list = h("ul", { class: "plain-list certificates" });
  const pendingBox = h("div", {});
  const empty = h("p", { class: "muted" }, "No certificates yet. Complete a course to earn one.");

  function paint() {
    list.replaceChildren(...state.certs.map(certificateItem));
    pendingBox.replaceChildren(...state.pending.map((e) => h("p", { class: "notice", "data-testid": "being-issued" },
      `Your certificate for ${e.course_title || "a completed course"} is being issued…`)));
    empty.hidden = state.certs.length > 0 || state.pending.length > 0;
  }
  paint();
  ctx.render(h("h1", {}, "My certificates"), pendingBox, empty, list);
  if (state.pending.length) {
    ctx.poll(async () => {
      const before = state.certs.length;
      state = await load();
      if (!ctx.alive()) return false;
      paint();
      if (state.certs.length > before) ctx.announce("Your certificate has been issued.", "success");
      return state.pending.length > 0;
    }, 2000);
  }
}
