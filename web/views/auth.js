// Sign in and register.
import { api, session } from "../api.js";
import { h } from "../dom.js";
import { makeForm } from "../ui.js";

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
  const { form } = makeForm({
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
      h("p", {}, "New here? ", h("a", { href: "#/register" }, "Create an account"), ".")),
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
