// Datasets: the list with ingest progress, an upload form, and one dataset's samples plus a job form.
import { api, blobUrl } from "./api.js";
import { bytes, el, errorBox, every, progressBar, replace, table } from "./dom.js";

const SAMPLE_IMAGES = 24;
const SAMPLE_RECORDS = 5;
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

function uploadForm(onUploaded) {
  const status = el("div");
  const submit = async (event) => {
    event.preventDefault();
    const form = event.target;
    const data = new FormData(form);
    if (!data.get("image_size")) data.delete("image_size");
    replace(status, "Uploading…");
    try {
      const dataset = await api("/v1/datasets", { method: "POST", body: data });
      replace(status, `Uploaded ${dataset.name}: ingesting.`);
      form.reset();
      onUploaded(dataset.id);
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const modality = el("select", { name: "modality" }, ["image", "text", "tabular", "image_text"].map((m) => el("option", {}, m)));
  return el(
    "section",
    {},
    el("h2", {}, "Upload a dataset"),
    el(
      "form",
      { id: "upload", onsubmit: submit },
      el("label", {}, "Name", el("input", { name: "name", required: true, maxlength: 200 })),
      el("label", {}, "Modality", modality),
      el("label", {}, "Image size (px)", el("input", { name: "image_size", type: "number", min: 8, max: 1024 })),
      el("label", {}, "File", el("input", { name: "file", type: "file", required: true })),
      el("button", {}, "Upload"),
    ),
    status,
  );
}

async function imageSamples(dataset) {
  const count = Math.min(SAMPLE_IMAGES, dataset.num_items);
  const indices = Array.from({ length: count }, (_, i) => i);
  const urls = await Promise.all(indices.map((i) => blobUrl(`/v1/datasets/${encodeURIComponent(dataset.id)}/items/${i}`)));
  return el("div", { class: "thumbs" }, urls.map((src, i) => el("img", { src, alt: `item ${i}` })));
}

async function recordSamples(dataset) {
  const count = Math.min(SAMPLE_RECORDS, dataset.num_items);
  const items = await Promise.all(
    Array.from({ length: count }, (_, i) => api(`/v1/datasets/${encodeURIComponent(dataset.id)}/items/${i}`)),
  );
  return el("div", {}, items.map((item) => el("pre", {}, JSON.stringify(item))));
}

async function samples(dataset) {
  if (dataset.status !== "ready") return el("p", { class: "muted" }, "Samples show once ingest is done.");
  return dataset.modality === "image" || dataset.modality === "image_text" ? imageSamples(dataset) : recordSamples(dataset);
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

async function detail(panel, datasetId) {
  const dataset = await api(`/v1/datasets/${encodeURIComponent(datasetId)}`);
  const details = Object.keys(dataset.details).length ? el("pre", {}, JSON.stringify(dataset.details)) : null;
  replace(
    panel,
    el("h2", {}, `${dataset.name} `, el("code", {}, dataset.id)),
    el("p", {}, `${dataset.modality}, ${dataset.num_items} items, ${bytes(dataset.size_bytes)}, `, ingestLabel(dataset)),
    details,
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
    ));
    const current = rows.find((d) => d.id === selected);
    if (current && shownStatus === "processing" && current.status !== "processing") await select(selected);
  };
  replace(root, errors, uploadForm(select), list, panel);
  return every(2000, refresh, errors);
}
