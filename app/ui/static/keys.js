// Keys (admins): the tenant's keys, a form to create one (its secret shown once), and revoking.
import { api, signedInKey } from "./api.js";
import { el, errorBox, replace, table } from "./dom.js";

const SCOPES = ["read", "write", "admin"];

// Revoking the key this tab signed in with would lock the page out mid-action; that one is revoked elsewhere.
const inUse = (key) => !key.revoked_at && signedInKey()?.startsWith(key.prefix);

function keyRow(key, revoke) {
  const action = key.revoked_at
    ? "revoked"
    : inUse(key)
      ? el("span", { class: "muted" }, "signed in here")
      : el("button", { type: "button", onclick: () => revoke(key.id) }, "Revoke");
  return el(
    "tr",
    {},
    el("td", {}, key.name),
    el("td", {}, el("code", {}, `${key.prefix}…`)),
    el("td", {}, key.tenant),
    el("td", {}, key.scopes.join(", ")),
    el("td", {}, new Date(key.created_at).toLocaleString()),
    el("td", {}, action),
  );
}

export function render(root) {
  const list = el("section", { id: "keys" }, "Loading…");
  const status = el("div");
  const load = async () => {
    try {
      const page = await api("/v1/keys?limit=100");
      replace(list, el("h1", {}, `Keys (${page.total})`), table(["Name", "Prefix", "Tenant", "Scopes", "Created", ""], page.items.map((k) => keyRow(k, revoke))));
    } catch (error) {
      replace(list, error.status === 403 ? el("p", {}, "Keys are for admin keys only.") : errorBox(error));
    }
  };
  const revoke = async (id) => {
    try {
      await api(`/v1/keys/${encodeURIComponent(id)}`, { method: "DELETE" });
      await load();
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const create = async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      const key = await api("/v1/keys", { method: "POST", json: { name: data.get("name"), scopes: data.getAll("scopes") } });
      replace(status, el("p", { id: "new-key-secret" }, "New key (shown once): ", el("code", {}, key.key)));
      event.target.reset();
      await load();
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const scopes = SCOPES.map((s) => el("label", {}, s, el("input", { type: "checkbox", name: "scopes", value: s, defaultChecked: s !== "admin" })));
  const form = el("form", { id: "new-key", onsubmit: create }, el("label", {}, "Name", el("input", { name: "name", required: true })), scopes, el("button", {}, "Create key"));
  replace(root, list, el("section", {}, el("h2", {}, "Create a key"), form, status));
  load();
}
