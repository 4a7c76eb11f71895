// Your account (#/account): who you are signed in as, whether the email address is confirmed
// (with "Send the confirmation link again"), the phone number for text messages (PUT /me/phone,
// the texted code, POST /me/phone/verify, DELETE /me/phone), change the password, sign out
// everywhere, download your data (GET /me/export), delete the account (DELETE /me).
import { api, ApiError, session } from "../api.js";
import { formatDate, h } from "../dom.js";
import { actionButton, makeForm } from "../ui.js";

const ROLE_NAMES = { student: "Student", instructor: "Instructor", admin: "Administrator" };

function detailsList(user) {
  const row = (term, value, testid) => [h("dt", {}, term), h("dd", { "data-testid": testid }, value)];
  return h("dl", { class: "account-details" },
    row("Name", user.name, "account-name"),
    row("Email", user.email, "account-email"),
    row("Role", ROLE_NAMES[user.role] || user.role, "account-role"),
    user.created_at ? row("Member since", formatDate(user.created_at), "account-since") : null);
}

/** Whether the address is confirmed (email_verified_at) and, until it is, a button that emails a
 * new confirmation link (POST /me/email-verification). Confirming happens on the API's page the
 * email links to; this page shows the result the next time it is opened. */
function emailSection(ctx, user) {
  const heading = h("h2", { id: "account-confirmation" }, "Email address");
  if (user.email_verified_at) {
    return h("section", { class: "card narrow", "aria-labelledby": "account-confirmation" }, heading,
      h("p", { "data-testid": "account-email-status" }, "Confirmed on ",
        h("time", { datetime: user.email_verified_at }, formatDate(user.email_verified_at)), "."));
  }
  const resend = actionButton("Send the confirmation link again", async () => {
    const out = await api("POST", "/me/email-verification", { body: {} });
    if (!ctx.alive()) return;
    ctx.announce(out.message, "success");
  }, { busyLabel: "Sending…" });
  resend.setAttribute("aria-describedby", "account-confirmation-hint");
  return h("section", { class: "card narrow", "aria-labelledby": "account-confirmation" }, heading,
    h("p", { "data-testid": "account-email-status" }, "Not confirmed yet."),
    h("p", { id: "account-confirmation-hint" }, "When you registered we emailed a link to ",
      user.email, ". Open it to confirm that the address is yours (a link works for 7 days)."),
    h("div", { class: "actions" }, resend));
}

/** "+44 7700 900123" or "(0044) 7700-900.123" as typed -> what the API takes: "+", then digits
 * only (a leading 00 is the international prefix). Anything else is left for the API to name. */
export function normalisePhone(text) {
  const compact = String(text || "").replace(/[\s().-]/g, "");
  return compact.startsWith("00") ? `+${compact.slice(2)}` : compact;
}

/** The phone number for text messages: add or change it (a code is texted to it), enter the code,
 * send a new one, remove the number. Only a verified number receives texts, and only the types
 * turned on in the notification preferences. */
function phoneSection(ctx, user) {
  let state = { phone: user.phone || null, verified: Boolean(user.phone_verified_at),
    verified_at: user.phone_verified_at || null, code_expires_at: null };
  const heading = h("h2", { id: "account-phone" }, "Phone number");
  const body = h("div", {});
  const section = h("section", { class: "card narrow", "aria-labelledby": "account-phone" }, heading, body);

  function draw(focus) {
    const status = h("p", { "data-testid": "account-phone-status", tabindex: "-1" });
    if (!state.phone) {
      status.append("No phone number.");
    } else if (state.verified) {
      status.append(state.phone, ": verified",
        state.verified_at ? [" on ", h("time", { datetime: state.verified_at }, formatDate(state.verified_at))] : "",
        ".");
    } else {
      status.append(state.phone, ": not verified yet.");
    }
    const hint = h("p", { class: "hint", id: "account-phone-hint" }, "Used only for the notifications you choose to "
      + "receive by text message (", h("a", { href: "#/settings/notifications" }, "notification preferences"),
    "). SmartCourse texts a 6-digit code to check that the number is yours.");

    const numberForm = makeForm({
      fields: [{ name: "phone", label: state.phone ? "New phone number" : "Phone number", type: "tel",
        required: true, autocomplete: "tel", hint: "In international format: + and the country code, e.g. "
          + "+44 7700 900123." }],
      submitLabel: "Send code",
      className: "phone-form",
      onSubmit: async (v) => {
        state = await api("PUT", "/me/phone", { body: { phone: normalisePhone(v.phone) } });
        if (!ctx.alive()) return;
        draw("code");
        ctx.announce(state.verified ? "This number is already verified."
          : `A code is on its way to ${state.phone}. It works for 10 minutes.`, "success");
      },
    });
    numberForm.fields.phone.input.setAttribute("inputmode", "tel");

    let codeForm = null;
    let resend = null;
    if (state.phone && !state.verified) {
      codeForm = makeForm({
        fields: [{ name: "code", label: "Code from the text message", required: true,
          autocomplete: "one-time-code", hint: "6 digits; 5 tries per code." }],
        submitLabel: "Verify",
        className: "phone-code-form",
        onSubmit: async (v) => {
          state = await api("POST", "/me/phone/verify", { body: { code: String(v.code).replace(/\s/g, "") } });
          if (!ctx.alive()) return;
          draw("status");
          ctx.announce("Your phone number is verified. Choose which notifications to receive by text message in "
            + "the notification preferences.", "success");
        },
      });
      const input = codeForm.fields.code.input;
      input.setAttribute("inputmode", "numeric");
      input.setAttribute("maxlength", "6");
      resend = actionButton("Send a new code", async () => {
        state = await api("PUT", "/me/phone", { body: { phone: state.phone } });
        if (!ctx.alive()) return;
        draw("code");
        ctx.announce(`A new code is on its way to ${state.phone}.`, "success");
      }, { busyLabel: "Sending…" });
    }
    const remove = state.phone ? actionButton("Remove the number", async () => {
      await api("DELETE", "/me/phone");
      if (!ctx.alive()) return;
      state = { phone: null, verified: false, verified_at: null, code_expires_at: null };
      draw("status");
      ctx.announce("Your phone number is removed: nothing more is texted to it.", "success");
    }, { busyLabel: "Removing…" }) : null;

    body.replaceChildren(status, hint,
      codeForm ? codeForm.form : null,
      codeForm ? h("div", { class: "actions" }, resend) : null,
      numberForm.form,
      remove ? h("div", { class: "actions" }, remove) : null);
    if (focus === "code" && codeForm) codeForm.fields.code.input.focus();
    else if (focus === "status") status.focus();
  }

  draw(null);
  return section;
}

export async function accountView(ctx) {
  const me = await api("GET", "/me");
  if (!ctx.alive()) return;
  const user = me.user;
  const passwordHeading = h("h2", { id: "account-password", tabindex: "-1" }, "Change password");
  const everywhereHeading = h("h2", { id: "account-everywhere" }, "Sign out everywhere");

  const { form, fields } = makeForm({
    fields: [
      { name: "current_password", label: "Current password", type: "password", required: true,
        autocomplete: "current-password" },
      { name: "new_password", label: "New password", type: "password", required: true, autocomplete: "new-password",
        hint: "10 to 128 characters." },
    ],
    submitLabel: "Change password",
    className: "password-form",
    onSubmit: async (v) => {
      const pair = await api("POST", "/me/password",
        { body: { current_password: v.current_password, new_password: v.new_password } });
      // Every session of the account ended, this one included: the answer is a new session's
      // access token (its refresh token came as the cookie).
      session.save(pair.access_token, pair.expires_in, session.user || user);
      if (!ctx.alive()) return;
      fields.current_password.input.value = "";
      fields.new_password.input.value = "";
      ctx.announce("Your password is changed. Every other device and browser where you were signed in is "
        + "signed out.", "success");
      passwordHeading.focus();
    },
  });

  const everywhere = actionButton("Sign out everywhere", async () => {
    // A 401 (this session already ended) is handled by the app: back to sign-in.
    await api("POST", "/auth/logout-all", { body: {} });
    session.clear();
    ctx.flash("You are signed out everywhere: on this device and on every other one.", "success");
    ctx.navigate("#/signin");
  }, { busyLabel: "Signing out…" });
  everywhere.setAttribute("aria-describedby", "account-everywhere-hint");

  // Everything SmartCourse holds about you, as the JSON document the API answers, saved as a file.
  const download = actionButton("Download my data", async () => {
    const doc = await api("GET", "/me/export");
    if (!ctx.alive()) return;
    const blob = new Blob([JSON.stringify(doc, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: "smartcourse-export.json", hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
    ctx.announce("Your data is downloaded as smartcourse-export.json.", "success");
  }, { busyLabel: "Preparing…" });
  download.setAttribute("aria-describedby", "account-data-hint");

  // Delete the account: the password again, what happens to the certificates, and a confirmation.
  const deletion = makeForm({
    fields: [
      { name: "certificates", label: "Your certificates", type: "select", value: "keep", options: [
        { value: "keep", label: "Keep them verifiable, with my name on them" },
        { value: "withdraw", label: "Withdraw them (verification says \u201cwithdrawn by the holder\u201d)" }] },
      { name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" },
      { name: "confirm", label: "I understand that this cannot be undone", type: "checkbox", required: true },
    ],
    submitLabel: "Delete my account",
    className: "delete-account-form",
    onSubmit: async (v) => {
      if (!v.confirm) {
        throw new ApiError(0, "not_confirmed", "Tick the box to confirm that the account is to be deleted.",
          [{ field: "confirm", problem: "required" }]);
      }
      await api("DELETE", "/me", { body: { password: v.password, certificates: v.certificates } });
      session.clear();
      ctx.flash("Your account is deleted. Everything SmartCourse held about you is erased"
        + (v.certificates === "keep" ? ", except the name on the certificates you kept." : "."), "success");
      ctx.navigate("#/signin");
    },
  });

  ctx.render(
    h("h1", {}, "Your account"),
    h("section", { class: "card narrow", "aria-labelledby": "account-you" },
      h("h2", { id: "account-you" }, "Signed in as"),
      detailsList(user)),
    emailSection(ctx, user),
    phoneSection(ctx, user),
    h("section", { class: "card narrow", "aria-labelledby": "account-password" },
      passwordHeading,
      h("p", { class: "hint" }, "Changing the password signs you out on every other device and browser."),
      form),
    h("section", { class: "card narrow", "aria-labelledby": "account-everywhere" },
      everywhereHeading,
      h("p", { id: "account-everywhere-hint" }, "Ends every session of your account, this one included: "
        + "on a shared or lost device, this signs it out."),
      h("div", { class: "actions" }, everywhere)),
    h("section", { class: "card narrow", "aria-labelledby": "account-data" },
      h("h2", { id: "account-data" }, "Your data"),
      h("p", { id: "account-data-hint" }, "One JSON file with everything SmartCourse holds about you: your "
        + "account, sign-ins, enrolments and progress, certificates, questions to the assistant, notifications "
        + "and the security log of your account."),
      h("div", { class: "actions" }, download)),
    h("section", { class: "card narrow", "aria-labelledby": "account-delete" },
      h("h2", { id: "account-delete" }, "Delete your account"),
      h("p", {}, "Your profile, sign-ins, questions to the assistant, notifications and preferences are "
        + "erased in every part of SmartCourse; your enrolments stay only as anonymous numbers in course "
        + "statistics."),
      deletion.form),
  );
}
