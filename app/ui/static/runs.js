// Embedding runs: every run of the tenant with status and progress (refreshed every two seconds), and a form
// that embeds a dataset with a model.
import { api } from "./api.js";
import { el, errorBox, every, progressBar, replace, table } from "./dom.js";

function runRow(run) {
  const p = run.progress;
  const fraction = p.items_total ? p.items_done / p.items_total : 0;
  return el(
    "tr",
    { "data-run": run.id },
    el("td", {}, el("a", { href: `#/runs/${run.id}` }, run.id)),
    el("td", {}, el("a", { href: `#/models/${run.model_id}` }, run.model_id)),
    el("td", {}, el("code", {}, run.dataset_id || "")),
    el("td", { class: "status nowrap" }, run.status),
    el("td", {}, progressBar(fraction, `${p.items_done}/${p.items_total} items`)),
  );
}

const options = (items, label) => items.map((item) => el("option", { value: item.id }, label(item)));

async function startForm(status) {
  const [models, datasets] = await Promise.all([api("/v1/models?limit=200"), api("/v1/datasets?limit=200")]);
  const model = el("select", { name: "model" }, options(models.items, (m) => `${m.id} (${m.modality}, ${m.method})`));
  const dataset = el(
    "select",
    { name: "dataset" },
    options(datasets.items.filter((d) => d.status === "ready"), (d) => `${d.name} (${d.modality}, ${d.num_items} items)`),
  );
  const submit = async (event) => {
    event.preventDefault();
    try {
      const run = await api(`/v1/models/${model.value}/embedding-runs`, { method: "POST", json: { dataset_id: dataset.value } });
      replace(status, `Started ${run.id}.`);
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const form = el("form", { id: "start-run", onsubmit: submit }, el("label", {}, "Model", model), el("label", {}, "Dataset", dataset), el("button", {}, "Embed"));
  return [el("h2", {}, "Embed a dataset"), form];
}

export function render(root) {
  const list = el("section", { id: "runs" });
  const status = el("div");
  const errors = el("div");
  const form = el("div");
  replace(root, errors, el("section", {}, form, status), list);
  startForm(status).then((node) => replace(form, node)).catch((error) => replace(form, errorBox(error)));
  return every(
    2000,
    async () => {
      const page = await api("/v1/embedding-runs?limit=50");
      replace(list, el("h1", {}, `Embedding runs (${page.total})`), table(
        ["Run", "Model", "Dataset", "Status", "Progress"],
        page.items.map(runRow),
        "No embedding runs yet.",
      ));
    },
    errors,
  );
}
