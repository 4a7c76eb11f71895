// Sign in, register, and ask for a password reset link (#/forgot-password).
import { api, session } from "../api.js";
import { h } from "../dom.js";
import { makeForm } from "../ui.js";

// What the sign-in form's Email held when "Forgot your password?" was followed: the reset form
// starts with it (kept in memory only, never in the address or in storage).
let typedEmail = "";

async function signIn(ctx, email, password) {
  const token = await api("POST", "/auth/login", { body: { email, password }, auth: false });
  session.save(token.access_token, token.expires_in, null);
  const me = await api("GET", "/me");
  session.save(token.access_token, token.expires_in, me.user);
  const next = sessionStorage.getItem("smartcourse.next");
  sessionStorage.removeItem("smartcourse.next");
  ctx.flash(`Signed in as ${me.user.name}.`, "success");
  const home = me.user.role === "student" ? "#/catalogue" : "#/teach";
  ctx.navigate(next && !next.startsWith("#/signin") && !next.startsWith("#/register") ? next : home);
}

export async function signInView(ctx) {
  const { form, fields } = makeForm({
    fields: [
      { name: "email", label: "Email", type: "email", required: true, autocomplete: "email" },
      { name: "password", label: "Password", type: "password", required: true, autocomplete: "current-password" },
    ],
    submitLabel: "Sign in",
    onSubmit: (v) => signIn(ctx, v.email, v.password),
  });
  ctx.render(
    h("h1", {}, "Sign in"),
    h("section", { class: "card narrow" }, form,
      h("p", {}, h("a", { href: "#/forgot-password", onclick: () => { typedEmail = fields.email.input.value; } },
        "Forgot your password?")),
      h("p", {}, "New here? ", h("a", { href: "#/register" }, "Create an account"), ".")),
  );
}

const RESET_LABEL = "Send the reset link";

/**
 * #/forgot-password: one Email field; POST /auth/password-reset (no sign-in). The API answers the
 * same for every address (whether or not an account has it), and so does this page: it shows the
 * API's message and nothing else. The reset itself happens on the API's page the email links to.
 */
export async function forgotPasswordView(ctx) {
  const { form, button } = makeForm({
    fields: [
      { name: "email", label: "Email", type: "email", required: true, autocomplete: "email", value: typedEmail,
        hint: "The address you signed in with." },
    ],
    submitLabel: RESET_LABEL,
    className: "reset-form",
    onSubmit: async (v) => {
      button.textContent = "Sending…"; // makeForm disables the button until this returns
      try {
        const out = await api("POST", "/auth/password-reset", { body: { email: v.email }, auth: false });
        if (!ctx.alive()) return;
        ctx.announce(out.message, "success");
      } finally {
        button.textContent = RESET_LABEL;
      }
    },
  });
  ctx.render(
    h("h1", {}, "Reset your password"),
    h("section", { class: "card narrow" },
      h("p", {}, "Enter your email address. If it belongs to an account, we email it a link to choose a new "
        + "password. The link works once, for 30 minutes."),
      form,
      h("p", {}, h("a", { href: "#/signin" }, "Back to sign in"))),
  );
}

export async function registerView(ctx) {
  const { form } = makeForm({
    fields: [
      { name: "name", label: "Your name", required: true, autocomplete: "name" },
      { name: "email", label: "Email", type: "email", required: true, autocomplete: "email" },
      { name: "password", label: "Password", type: "password", required: true, autocomplete: "new-password",
        hint: "At least 10 characters." },
      { name: "role", label: "I want to", type: "select", value: "student",
        options: [{ value: "student", label: "Learn (student)" }, { value: "instructor", label: "Teach (instructor)" }] },
    ],
    submitLabel: "Create account",
    onSubmit: async (v) => {
      await api("POST", "/auth/register", { body: v, auth: false });
      await signIn(ctx, v.email, v.password);
    },
  });
  ctx.render(
    h("h1", {}, "Create an account"),
    h("section", { class: "card narrow" }, form,
      h("p", {}, "Already registered? ", h("a", { href: "#/signin" }, "Sign in"), ".")),
  );
}
