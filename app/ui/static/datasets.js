// Datasets: the list with ingest progress, an upload form, and one dataset's samples plus a job form.
import { api } from "./api.js";
import { bytes, el, errorBox, every, progressBar, replace, table } from "./dom.js";
import { samples } from "./samples.js";

const DEFAULT_METHOD = "simclr";
const DEFAULT_PARAMS = { backbone: "tiny_cnn", epochs: 2, batch_size: 32 };

function ingestLabel(dataset) {
  if (dataset.status !== "processing") return dataset.status === "failed" ? `failed: ${dataset.error}` : "ready";
  const p = dataset.progress || {};
  if (p.items_total) return progressBar(p.items_done / p.items_total, `${p.items_done} / ${p.items_total} items`);
  if (p.bytes_total) return progressBar(p.bytes_done / p.bytes_total, `${bytes(p.bytes_done)} / ${bytes(p.bytes_total)}`);
  return "processing";
}

function datasetRow(dataset, select) {
  const open = el("a", { href: "#/datasets", onclick: (e) => (e.preventDefault(), select(dataset.id)) }, dataset.name);
  return el(
    "tr",
    { "data-dataset": dataset.id },
    el("td", {}, open),
    el("td", {}, el("code", {}, dataset.id)),
    el("td", {}, dataset.modality),
    el("td", { class: "status" }, ingestLabel(dataset)),
    el("td", {}, String(dataset.num_items)),
    el("td", {}, bytes(dataset.size_bytes)),
    el("td", {}, dataset.labels ? `${dataset.labels.classes.length} classes` : "none"),
  );
}

async function withProgress(dataset) {
  return dataset.status === "processing" ? api(`/v1/datasets/${encodeURIComponent(dataset.id)}`) : dataset;
}

// Fields only some modalities take: shown, and sent, only for those (a disabled input is left out of the form).
const MODALITY_FIELDS = [
  { name: "image_size", label: "Image size (px)", modalities: ["image", "image_text"], attrs: { type: "number", min: 8, max: 1024 } },
  { name: "label_column", label: "Label column", modalities: ["tabular"], attrs: { maxlength: 200, size: 14 } },
];

function modalityFields(modality) {
  const fields = MODALITY_FIELDS.map((f) => ({ ...f, input: el("input", { name: f.name, ...f.attrs }) }));
  const labels = fields.map((f) => el("label", {}, f.label, f.input));
  const fit = () => fields.forEach((f, i) => {
    const used = f.modalities.includes(modality.value);
    labels[i].hidden = !used;
    f.input.disabled = !used;
  });
  modality.addEventListener("change", fit);
  fit();
  return { labels, fit };
}

function uploadForm(onUploaded) {
  const status = el("div");
  const modality = el("select", { name: "modality" }, ["image", "text", "tabular", "image_text"].map((m) => el("option", {}, m)));
  const optional = modalityFields(modality);
  const submit = async (event) => {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    for (const { name } of MODALITY_FIELDS) if (!data.get(name)) data.delete(name);
    replace(status, "Uploading…");
    try {
      const dataset = await api("/v1/datasets", { method: "POST", body: data });
      replace(status, `Uploaded ${dataset.name}; its ingest shows in the list below.`);
      form.reset();
      optional.fit();
      onUploaded(dataset.id);
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  return el(
    "section",
    {},
    el("h2", {}, "Upload a dataset"),
    el(
      "form",
      { id: "upload", onsubmit: submit },
      el("label", {}, "Name", el("input", { name: "name", required: true, maxlength: 200 })),
      el("label", {}, "Modality", modality),
      optional.labels,
      el("label", {}, "File", el("input", { name: "file", type: "file", required: true })),
      el("button", {}, "Upload"),
    ),
    status,
  );
}

async function jobForm(dataset) {
  const { items } = await api("/v1/methods");
  const methods = items.filter((m) => m.modalities.includes(dataset.modality));
  const status = el("div");
  const submit = async (event) => {
    event.preventDefault();
    const data = new FormData(event.target);
    try {
      const params = JSON.parse(data.get("params") || "{}");
      const body = { dataset_id: dataset.id, method: data.get("method"), params };
      const job = await api("/v1/jobs", { method: "POST", json: body });
      location.hash = `#/jobs/${job.id}`;
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const method = el("select", { name: "method" }, methods.map((m) =>
    el("option", { value: m.name, selected: m.name === DEFAULT_METHOD }, `${m.name} (${m.family})`),
  ));
  const params = el("textarea", { name: "params" }, JSON.stringify(dataset.modality === "image" ? DEFAULT_PARAMS : {}));
  return el(
    "form",
    { id: "start-job", onsubmit: submit },
    el("label", {}, "Method", method),
    el("label", {}, "Params (JSON)", params),
    el("button", {}, "Start job"),
    status,
  );
}

// What ingest found: counts as a small table, larger findings (a table's schema) folded away until opened.
function ingestDetails(details) {
  const entries = Object.entries(details);
  if (!entries.length) return null;
  const plain = entries.filter(([, v]) => typeof v !== "object" || v === null);
  const nested = entries.filter(([, v]) => typeof v === "object" && v !== null);
  return el(
    "div",
    { class: "ingest-details" },
    plain.length ? el("table", { class: "compact fields" }, plain.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, String(v))))) : null,
    nested.map(([k, v]) => el("details", {}, el("summary", {}, k), el("pre", {}, JSON.stringify(v, null, 1)))),
  );
}

function labelsText(labels) {
  if (!labels) return "no labels";
  const use = labels.usable_for_evaluation ? "used to evaluate encoders" : `not used: ${labels.note}`;
  return `${labels.num_labeled} labeled in ${labels.classes.length} classes (${labels.source}; ${use})`;
}

function summaryLine(dataset) {
  const size = dataset.image_size ? `${dataset.image_size}×${dataset.image_size} px, ` : "";
  return `${dataset.modality}, ${dataset.num_items} items, ${size}${bytes(dataset.size_bytes)}, ${labelsText(dataset.labels)}`;
}

async function detail(panel, datasetId) {
  const dataset = await api(`/v1/datasets/${encodeURIComponent(datasetId)}`);
  replace(
    panel,
    el("h2", {}, `${dataset.name} `, el("code", {}, dataset.id)),
    el("p", {}, `${summaryLine(dataset)}, `, ingestLabel(dataset)),
    ingestDetails(dataset.details),
    await samples(dataset),
    dataset.status === "ready" ? el("h2", {}, "Train an encoder") : null,
    dataset.status === "ready" ? await jobForm(dataset) : null,
  );
  return dataset.status;
}

export function render(root) {
  const list = el("section", { id: "datasets" });
  const panel = el("section", { id: "dataset-detail", hidden: true });
  const errors = el("div");
  let selected = null;
  let shownStatus = null;
  const select = async (id) => {
    selected = id;
    shownStatus = null;
    panel.hidden = false;
    try {
      shownStatus = await detail(panel, id);
    } catch (error) {
      replace(panel, errorBox(error));
    }
  };
  const refresh = async () => {
    const page = await api("/v1/datasets?limit=50");
    const rows = await Promise.all(page.items.map(withProgress));
    replace(list, el("h1", {}, `Datasets (${page.total})`), table(
      ["Name", "Id", "Modality", "Status", "Items", "Size", "Labels"],
      rows.map((d) => datasetRow(d, select)),
      "No datasets yet: upload one above.",
    ));
    const current = rows.find((d) => d.id === selected);
    if (current && shownStatus === "processing" && current.status !== "processing") await select(selected);
  };
  replace(root, errors, uploadForm(select), list, panel);
  return every(2000, refresh, errors);
}
