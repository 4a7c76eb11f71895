// Instructor screens: my courses + create one; the course editor (modules, lessons, materials
// with upload progress and indexing status, publish).
import { api, ApiError, uploadToPresigned } from "../api.js";
import { formatBytes, h, progressBar } from "../dom.js";
import { actionButton, errorMessage, errorPanel, makeForm } from "../ui.js";

export async function teachHomeView(ctx) {
  const page = await api("GET", "/courses", { query: { instructor_id: ctx.user.id, limit: 100 } });
  const { form } = makeForm({
    fields: [
      { name: "title", label: "Course title", required: true },
      { name: "description", label: "Description", type: "textarea", rows: 3 },
    ],
    submitLabel: "Create course",
    onSubmit: async (v) => {
      const course = await api("POST", "/courses", { body: { title: v.title, description: v.description } });
      ctx.flash(`Course "${course.title}" created. Add modules, lessons and materials, then publish.`, "success");
      ctx.navigate(`#/teach/courses/${course.id}`);
    },
  });
  ctx.render(
    h("h1", {}, "Teach"),
    h("section", { "aria-labelledby": "my-courses" },
      h("h2", { id: "my-courses" }, "My courses"),
      page.items.length
        ? h("ul", { class: "plain-list" }, page.items.map((c) => h("li", { class: "card" },
          h("a", { href: `#/teach/courses/${c.id}` }, c.title), " ",
          h("span", { class: `badge ${c.status}` }, c.status === "published"
            ? `published (version ${c.published_version})` : c.status), " ",
          h("a", { href: `#/teach/courses/${c.id}/analytics`, class: "small" }, "Analytics",
            h("span", { class: "visually-hidden" }, ` of ${c.title}`)))))
        : h("p", { class: "muted" }, "You have no courses yet.")),
    ctx.user.role === "admin" ? h("p", {}, h("a", { href: "#/admin/analytics" }, "Platform analytics (all courses)")) : null,
    h("section", { class: "card", "aria-labelledby": "new-course" },
      h("h2", { id: "new-course" }, "Create a course"), form),
  );
}

const TYPES_BY_EXTENSION = {
  pdf: "application/pdf", md: "text/markdown", markdown: "text/markdown", html: "text/html", htm: "text/html",
  txt: "text/plain", vtt: "text/vtt", srt: "application/x-subrip",
  docx: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  pptx: "application/vnd.openxmlformats-officedocument.presentationml.presentation",
};
const ACCEPT = Object.keys(TYPES_BY_EXTENSION).map((e) => `.${e}`).join(",");

function contentTypeOf(file) {
  const ext = (file.name.split(".").pop() || "").toLowerCase();
  return TYPES_BY_EXTENSION[ext] || file.type || "application/octet-stream";
}

const ACTIVE = new Set(["pending_upload", "uploaded", "processing"]);

function assetStatusText(a) {
  switch (a.status) {
    case "pending_upload": return "waiting for the file";
    case "uploaded": return "uploaded, queued for processing";
    case "processing": return "processing";
    case "ready": return "ready";
    case "failed": return `failed: ${a.error || "no reason given"}`;
    case "deleted": return "deleted";
    default: return a.status;
  }
}

function publishProblems(err, course) {
  const names = new Map();
  for (const m of course.modules) {
    names.set(`modules.${m.id}`, `Module "${m.title}"`);
    for (const l of m.lessons) names.set(`lessons.${l.id}`, `Lesson "${l.title}"`);
  }
  if (!(err instanceof ApiError)) return err;
  const details = err.details.map((d) => ({ field: names.get(d.field) || d.field, problem: d.problem }));
  return new ApiError(err.status, err.code, err.message, details);
}

export async function teachCourseView(ctx, courseId) {
  let course = await api("GET", `/courses/${encodeURIComponent(courseId)}`);
  let assets = (await api("GET", `/courses/${course.id}/assets`)).items;
  const justUploaded = new Set();
  let polling = false;

  // --- header and publish -------------------------------------------------------------------
  const statusLine = h("p", { class: "course-status", "data-testid": "course-status" });
  const learnerLink = h("a", { href: `#/courses/${course.id}` }, "View as a learner");
  function paintStatus() {
    statusLine.textContent = course.status === "published"
      ? `Published (version ${course.published_version}). Changes below are a draft until you publish again.`
      : course.status === "archived" ? "Archived." : "Draft: not visible to learners until you publish.";
    learnerLink.hidden = !course.published_version;
  }
  const publishResult = h("div", {});
  const publishBtn = actionButton("Publish", async () => {
    publishResult.replaceChildren();
    try {
      const res = await api("POST", `/courses/${course.id}/publish`, { body: {} });
      course = { ...course, ...res.course };
      paintStatus();
      ctx.announce(`Published version ${res.version}. Learners can enrol now.`, "success");
    } catch (err) {
      publishResult.replaceChildren(errorPanel(publishProblems(err, course)));
      publishResult.querySelector("[role=alert]").setAttribute("tabindex", "-1");
      publishResult.querySelector("[role=alert]").focus();
    }
  }, { className: "primary", busyLabel: "Publishing…" });

  // --- materials (assets) -------------------------------------------------------------------
  const assetList = h("ul", { class: "plain-list assets", "aria-label": "Materials" });
  const uploads = h("div", { class: "uploads" });
  function statusText(a) {
    // Uploaded in this page but not yet seen by processing: say so rather than "waiting for the file".
    return a.status === "pending_upload" && justUploaded.has(a.id) ? "uploaded, waiting for processing"
      : assetStatusText(a);
  }
  function paintAssets() {
    const visible = assets.filter((a) => a.status !== "deleted");
    assetList.replaceChildren(...visible.map((a) => h("li", { class: `asset ${a.status}`, "data-asset-id": a.id },
      h("span", { class: "asset-name" }, a.filename),
      h("span", { class: "muted" }, ` ${formatBytes(a.size_bytes)} `),
      h("span", { class: `status-pill ${a.status}`, "data-testid": "asset-status" }, statusText(a)))));
    if (!visible.length) assetList.append(h("li", { class: "muted" }, "No materials uploaded yet."));
    for (const sel of document.querySelectorAll("select[data-asset-select]")) fillAssetOptions(sel);
  }
  function fillAssetOptions(select) {
    const current = select.value;
    const usable = assets.filter((a) => a.status !== "deleted");
    select.replaceChildren(h("option", { value: "" }, usable.length ? "Choose a material…" : "Upload a material first"),
      ...usable.map((a) => h("option", { value: a.id }, `${a.filename} (${assetStatusText(a)})`)));
    select.value = usable.some((a) => a.id === current) ? current : "";
  }
  async function refreshAssets() {
    const before = new Map(assets.map((a) => [a.id, a.status]));
    assets = (await api("GET", `/courses/${course.id}/assets`)).items;
    if (!ctx.alive()) return false;
    paintAssets();
    for (const a of assets) {
      const was = before.get(a.id);
      if (was && was !== a.status && (a.status === "ready" || a.status === "failed")) {
        ctx.announce(`${a.filename}: ${assetStatusText(a)}`, a.status === "failed" ? "error" : "success");
      }
    }
    return assets.some((a) => (a.status === "pending_upload" ? justUploaded.has(a.id) : ACTIVE.has(a.status)));
  }
  function startPolling() {
    if (polling) return;
    polling = true;
    ctx.poll(async () => {
      const again = await refreshAssets();
      if (!again) polling = false;
      return again;
    }, 1500);
  }

  const upload = makeForm({
    fields: [{ name: "file", label: "File to upload", type: "file", accept: ACCEPT, required: true,
      hint: "PDF, Markdown, HTML, plain text, WebVTT, SRT, DOCX or PPTX." }],
    submitLabel: "Upload",
    fieldAliases: { filename: "file", content_type: "file", size: "file" },
    onSubmit: async (v, { fields }) => {
      const file = v.file;
      if (!file) throw new ApiError(400, "no_file", "Choose a file to upload.", [{ field: "file", problem: "choose a file" }]);
      const created = await api("POST", `/courses/${course.id}/assets`,
        { body: { filename: file.name, content_type: contentTypeOf(file), size: file.size } });
      assets = [created.asset, ...assets];
      paintAssets();
      const bar = progressBar(0, `Upload of ${file.name}`);
      const label = h("span", { class: "upload-text", "data-testid": "upload-text" }, `${file.name}: uploading 0%`);
      const row = h("div", { class: "upload-row" }, label, bar);
      uploads.prepend(row);
      fields.file.input.value = "";
      ctx.announce(`Uploading ${file.name}…`);
      try {
        await uploadToPresigned(created.upload, file, (fraction) => {
          bar.setValue(fraction * 100);
          label.textContent = `${file.name}: uploading ${Math.round(fraction * 100)}%`;
        });
      } catch (err) {
        label.textContent = `${file.name}: upload failed. ${errorMessage(err)}`;
        row.classList.add("failed");
        throw err;
      }
      justUploaded.add(created.asset.id);
      label.textContent = `${file.name}: uploaded (100%)`;
      ctx.announce(`${file.name} uploaded. Processing it for the assistant…`, "success");
      await refreshAssets();
      startPolling();
    },
  });

  // --- modules and lessons --------------------------------------------------------------------
  const structure = h("div", { class: "structure" });
  const openForms = new Set(); // modules whose "add a lesson" form stays open across repaints
  async function reloadCourse() {
    course = await api("GET", `/courses/${course.id}`);
    paintStructure();
  }
  function lessonForm(module) {
    const f = makeForm({
      fields: [
        { name: "title", label: "Lesson title", required: true },
        { name: "kind", label: "Kind", type: "select", value: "text", options: [
          { value: "text", label: "Text" }, { value: "document", label: "Document (uploaded material)" },
          { value: "video", label: "Video (uploaded material)" }] },
        { name: "body", label: "Lesson text", type: "textarea", rows: 4 },
        { name: "asset_id", label: "Material", type: "select", options: [], hidden: true },
        { name: "required", label: "Required for completion", type: "checkbox", value: true },
      ],
      submitLabel: "Add lesson",
      className: "lesson-form",
      onSubmit: async (v) => {
        const text = v.kind === "text";
        const body = { title: v.title, kind: v.kind, required: v.required,
          body: text ? v.body : null, asset_id: text ? null : (v.asset_id || null) };
        const lesson = await api("POST", `/courses/${course.id}/modules/${module.id}/lessons`, { body });
        openForms.add(module.id);
        await reloadCourse();
        ctx.announce(`Lesson "${lesson.title}" added to "${module.title}".`, "success");
        const again = structure.querySelector(`[data-module-id="${module.id}"] .lesson-form input[name=title]`);
        if (again) again.focus();
      },
    });
    const select = f.fields.asset_id.input;
    select.dataset.assetSelect = "1";
    fillAssetOptions(select);
    const kind = f.fields.kind.input;
    kind.addEventListener("change", () => {
      const text = kind.value === "text";
      f.fields.body.wrap.hidden = !text;
      f.fields.asset_id.wrap.hidden = text;
    });
    return f.form;
  }
  function paintStructure() {
    structure.replaceChildren(...course.modules.map((m) => h("div", { class: "module card", "data-module-id": m.id },
      h("h3", {}, m.title),
      m.lessons.length ? h("ol", { class: "lesson-list" }, m.lessons.map((l) => {
        const asset = l.asset_id ? assets.find((a) => a.id === l.asset_id) : null;
        return h("li", { class: "lesson-item" }, h("span", {}, l.title), h("span", { class: "tag" }, l.kind),
          asset ? h("span", { class: "muted" }, ` (${asset.filename})`) : null,
          l.required ? null : h("span", { class: "tag" }, "optional"),
          actionButton("Remove", async () => {
            await api("DELETE", `/courses/${course.id}/modules/${m.id}/lessons/${l.id}`);
            await reloadCourse();
            ctx.announce(`Lesson "${l.title}" removed.`);
            const heading = structure.querySelector(`[data-module-id="${m.id}"] h3`);
            if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
          }, { className: "small link-button danger", ariaLabel: `Remove lesson ${l.title}` }));
      })) : h("p", { class: "muted" }, "No lessons yet."),
      h("details", {
        class: "add-lesson", open: m.lessons.length === 0 || openForms.has(m.id),
        ontoggle: (ev) => (ev.target.open ? openForms.add(m.id) : openForms.delete(m.id)),
      }, h("summary", {}, `Add a lesson to ${m.title}`), lessonForm(m)))));
    if (!course.modules.length) structure.append(h("p", { class: "muted" }, "No modules yet: add one below."));
  }
  const moduleForm = makeForm({
    fields: [{ name: "title", label: "Module title", required: true }],
    submitLabel: "Add module",
    onSubmit: async (v, { fields }) => {
      const module = await api("POST", `/courses/${course.id}/modules`, { body: { title: v.title } });
      fields.title.input.value = "";
      await reloadCourse();
      ctx.announce(`Module "${module.title}" added.`, "success");
      const input = structure.querySelector(`[data-module-id="${module.id}"] .lesson-form input[name=title]`);
      if (input) input.focus();
    },
  });

  paintStatus();
  paintAssets();
  paintStructure();
  ctx.render(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/teach" }, "Teach")),
    h("h1", {}, course.title),
    statusLine, h("p", { class: "course-links" }, learnerLink, " ",
      h("a", { href: `#/teach/courses/${course.id}/analytics` }, "Analytics")),
    h("section", { class: "card", "aria-labelledby": "materials-heading" },
      h("h2", { id: "materials-heading" }, "Materials"),
      h("p", { class: "muted" }, "Uploaded files are processed for the course assistant; lessons of kind document or video present them."),
      upload.form, uploads, assetList),
    h("section", { "aria-labelledby": "structure-heading" },
      h("h2", { id: "structure-heading" }, "Modules and lessons"), structure,
      h("div", { class: "card" }, h("h3", {}, "Add a module"), moduleForm.form)),
    h("section", { class: "card", "aria-labelledby": "publish-heading" },
      h("h2", { id: "publish-heading" }, "Publish"),
      h("p", {}, "Publishing makes the current modules and lessons a new version that learners enrol in."),
      publishBtn, publishResult),
  );
  if (assets.some((a) => a.status === "uploaded" || a.status === "processing")) startPolling();
}
