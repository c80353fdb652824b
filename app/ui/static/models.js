// Models: the tenant's registered encoders.
import { api } from "./api.js";
import { el, errorBox, replace, table } from "./dom.js";

function modelRow(model) {
  return el(
    "tr",
    { "data-model": model.id },
    el("td", {}, el("a", { href: `#/models/${model.id}` }, model.id)),
    el("td", {}, model.aliases.join(", ")),
    el("td", {}, `${model.method} / ${model.backbone}`),
    el("td", {}, model.modality),
    el("td", {}, String(model.dim)),
    el("td", {}, new Date(model.created_at).toLocaleString()),
  );
}

export function render(root) {
  const list = el("section", { id: "models" }, "Loading…");
  replace(root, list);
  api("/v1/models?limit=50")
    .then((page) =>
      replace(list, el("h1", {}, `Models (${page.total})`), table(
        ["Model", "Aliases", "Method / backbone", "Modality", "Dim", "Created"],
        page.items.map(modelRow),
        "No models yet: a job that succeeds registers one.",
      )),
    )
    .catch((error) => replace(list, errorBox(error)));
}
