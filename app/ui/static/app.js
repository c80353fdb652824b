// The dashboard shell: sign-in, navigation and a hash router; each page is one module with render(root, id).
import { api, signIn, signOut, signedInKey } from "./api.js";
import { el, errorBox, replace } from "./dom.js";
import * as datasets from "./datasets.js";
import * as jobs from "./jobs.js";
import * as job from "./job.js";
import * as models from "./models.js";
import * as model from "./model.js";
import * as keys from "./keys.js";
import * as runs from "./runs.js";
import * as run from "./run.js";

const ROUTES = [
  [/^#\/datasets$/, datasets],
  [/^#\/jobs$/, jobs],
  [/^#\/jobs\/([\w-]+)$/, job],
  [/^#\/models$/, models],
  [/^#\/models\/([\w.-]+)$/, model],
  [/^#\/runs$/, runs],
  [/^#\/runs\/([\w-]+)$/, run],
  [/^#\/keys$/, keys],
];

const root = document.getElementById("page");
let leave = () => {};

function signInPage() {
  const input = el("input", { type: "password", name: "key", autocomplete: "off", required: true, size: 48 });
  const status = el("div");
  const submit = async (event) => {
    event.preventDefault();
    signIn(input.value.trim());
    try {
      await api("/v1/datasets?limit=1"); // any read answers 401 for a wrong key
      show();
    } catch (error) {
      signOut();
      replace(status, errorBox(error));
    }
  };
  return el(
    "section",
    {},
    el("h1", {}, "Sign in"),
    el("form", { id: "sign-in", onsubmit: submit }, el("label", {}, "API key", input), el("button", {}, "Sign in")),
    el("p", { class: "muted" }, "The key is kept in this tab's session storage only."),
    status,
  );
}

function show() {
  leave();
  leave = () => {};
  const signedIn = Boolean(signedInKey());
  document.getElementById("nav").hidden = !signedIn;
  if (!signedIn) return replace(root, signInPage());
  if (!location.hash || location.hash === "#/") {
    location.hash = "#/datasets"; // renders through the hashchange listener
    return;
  }
  const route = ROUTES.find(([pattern]) => pattern.test(location.hash));
  if (!route) return replace(root, el("p", {}, "No such page."));
  const [pattern, page] = route;
  replace(root);
  leave = page.render(root, pattern.exec(location.hash)[1]) || (() => {});
}

document.getElementById("sign-out").addEventListener("click", () => {
  signOut();
  location.hash = "";
  show();
});
window.addEventListener("hashchange", show);
show();
