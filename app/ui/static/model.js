// One model: metadata and evaluation, aliases, an embed-a-file box and export downloads.
import { api, download } from "./api.js";
import { compact, el, errorBox, replace, table } from "./dom.js";

const EXPORT_FORMATS = ["onnx", "torchscript", "safetensors"];
const SHOWN_VALUES = 8;
const MAX_LINES = 256; // the embed route's cap on inputs per request

// What the embed route wants for a file, by the model's modality.
const EMBED_BODIES = {
  image: (file) => ({ body: formWith(file) }),
  image_text: (file) => (file.type.startsWith("text/") ? textsOf(file) : { body: formWith(file) }),
  text: (file) => textsOf(file),
  tabular: async (file) => ({ json: { rows: (await lines(file)).map((line) => JSON.parse(line)) } }),
};

function formWith(file) {
  const form = new FormData();
  form.append("files", file);
  return form;
}

const lines = async (file) => (await file.text()).split("\n").filter((l) => l.trim()).slice(0, MAX_LINES);
const textsOf = async (file) => ({ json: { texts: await lines(file) } });

function embedBox(model) {
  const result = el("div", { id: "embed-result" });
  const submit = async (event) => {
    event.preventDefault();
    const file = new FormData(event.target).get("file");
    try {
      const request = await EMBED_BODIES[model.modality](file);
      const answer = await api(`/v1/models/${encodeURIComponent(model.id)}/embed`, { method: "POST", ...request });
      const first = answer.embeddings[0].slice(0, SHOWN_VALUES).map((v) => v.toFixed(4)).join(", ");
      replace(result, el("p", {}, `${answer.embeddings.length} vector(s) of dim ${answer.dim}; first values: [${first}, …]`));
    } catch (error) {
      replace(result, errorBox(error));
    }
  };
  const hint = { image: "an image", image_text: "an image, or a text file (one text a line)", text: "a text file, one text a line", tabular: "a JSONL file of rows" };
  return el(
    "section",
    {},
    el("h2", {}, "Embed a file"),
    el("form", { id: "embed", onsubmit: submit }, el("label", {}, `File: ${hint[model.modality] ?? "a file"}`, el("input", { name: "file", type: "file", required: true })), el("button", {}, "Embed")),
    result,
  );
}

function aliasBox(model, reload) {
  const status = el("div");
  const act = (work) => async (event) => {
    event.preventDefault();
    try {
      await work(event);
      reload();
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const setAlias = act(async (event) => {
    const alias = new FormData(event.target).get("alias");
    await api(`/v1/models/${encodeURIComponent(model.id)}/alias`, { method: "PUT", json: { alias } });
  });
  const remove = (alias) => act(() => api(`/v1/aliases/${encodeURIComponent(alias)}`, { method: "DELETE" }));
  return el(
    "section",
    { id: "model-aliases" },
    el("h2", {}, "Aliases"),
    model.aliases.length
      ? el("ul", {}, model.aliases.map((a) => el("li", {}, el("code", {}, a), " ", el("button", { type: "button", onclick: remove(a) }, "remove"))))
      : el("p", { class: "muted" }, "No aliases yet: an alias is a name that POST /v1/embeddings accepts for this model."),
    el("form", { id: "alias", onsubmit: setAlias }, el("label", {}, "New alias", el("input", { name: "alias", required: true })), el("button", {}, "Set")),
    status,
  );
}

function exportBox(model) {
  const status = el("div");
  const fetchExport = (format) => async () => {
    replace(status, `Exporting ${format}…`);
    try {
      await download(`/v1/models/${encodeURIComponent(model.id)}/export?format=${format}`, `${model.id}-${format}.zip`);
      replace(status, `Downloaded the ${format} export.`);
    } catch (error) {
      replace(status, errorBox(error));
    }
  };
  const buttons = EXPORT_FORMATS.map((f) => el("button", { type: "button", "data-format": f, onclick: fetchExport(f) }, f));
  return el("section", { id: "model-export" }, el("h2", {}, "Export"), el("div", { class: "buttons" }, buttons), status);
}

const shown = (value) => (typeof value === "number" ? String(Number(value.toPrecision(4))) : String(value));

// One row a metric, its random-init baseline beside it rather than on a row of its own.
function evaluationRows(evaluation) {
  const baselines = Object.keys(evaluation).filter((k) => k.endsWith("_random_init"));
  return Object.entries(evaluation)
    .filter(([k]) => !baselines.includes(k))
    .map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, shown(v)), el("td", {}, k + "_random_init" in evaluation ? shown(evaluation[k + "_random_init"]) : "")));
}

function metadata(model) {
  const rows = [
    ["Method", model.method],
    ["Backbone", model.backbone],
    ["Modality", model.modality],
    ["Dim", String(model.dim)],
    ["Job", el("a", { href: `#/jobs/${model.job_id}` }, model.job_id)],
    ["Created", new Date(model.created_at).toLocaleString()],
  ];
  return el(
    "section",
    { id: "model" },
    el("h1", {}, `Model `, el("code", {}, model.id)),
    el("table", { class: "fields" }, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v)))),
    el("h2", {}, "Evaluation"),
    compact(table(["Metric", "Value", "Random init"], evaluationRows(model.evaluation), "No evaluation reported.")),
  );
}

export function render(root, modelId) {
  const load = async () => {
    try {
      const model = await api(`/v1/models/${encodeURIComponent(modelId)}`);
      replace(root, metadata(model), embedBox(model), aliasBox(model, load), exportBox(model));
    } catch (error) {
      replace(root, errorBox(error));
    }
  };
  load();
}
