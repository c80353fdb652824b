// A dataset's first look, one view per modality: a thumbnail grid for images (with captions for image-text
// pairs), a table of texts or of table rows otherwise. Items are spread over the whole dataset, not its head,
// which in a class-folder upload is all one class.
import { api, blobUrl } from "./api.js";
import { el, table } from "./dom.js";

const SAMPLE_IMAGES = 24;
const SAMPLE_RECORDS = 8;
const MAX_COLUMNS = 12; // a wide table's first columns; the full schema is in the details above

const itemPath = (dataset, index, part) =>
  `/v1/datasets/${encodeURIComponent(dataset.id)}/items/${index}${part ? `?part=${part}` : ""}`;

/** `count` indices spread evenly over the dataset. */
function spread(dataset, count) {
  const n = Math.min(count, dataset.num_items);
  return Array.from({ length: n }, (_, i) => Math.floor((i * dataset.num_items) / n));
}

async function thumbnail(dataset, index, withCaption) {
  const [src, caption] = await Promise.all([
    blobUrl(itemPath(dataset, index)),
    withCaption ? api(itemPath(dataset, index, "caption")) : null,
  ]);
  const text = caption?.captions?.[0] ?? `item ${index}`;
  return el("figure", {}, el("img", { src, alt: text, title: text }), withCaption ? el("figcaption", {}, text) : null);
}

async function thumbnails(dataset, withCaption) {
  const figures = await Promise.all(spread(dataset, SAMPLE_IMAGES).map((i) => thumbnail(dataset, i, withCaption)));
  return el("div", { class: withCaption ? "thumbs captioned" : "thumbs" }, figures);
}

async function texts(dataset) {
  const items = await Promise.all(spread(dataset, SAMPLE_RECORDS).map((i) => api(itemPath(dataset, i))));
  const rows = items.map((item) => el("tr", {}, el("td", {}, String(item.index)), el("td", {}, item.text), el("td", {}, item.label ?? "")));
  return el("div", { class: "records" }, table(["Item", "Text", "Label"], rows));
}

// Cells come back as stored (float32), so 5.1 arrives as 5.099999904632568: six digits are what was uploaded.
const shown = (value) => (typeof value === "number" ? String(Number(value.toPrecision(6))) : String(value));

async function tableRows(dataset) {
  const items = await Promise.all(spread(dataset, SAMPLE_RECORDS).map((i) => api(itemPath(dataset, i))));
  const columns = Object.keys(items[0]?.row ?? {}).slice(0, MAX_COLUMNS);
  const cell = (value) => el("td", {}, value === null || value === undefined ? "—" : shown(value));
  const rows = items.map((item) => el("tr", {}, cell(item.index), columns.map((c) => cell(item.row[c])), cell(item.label)));
  return el("div", { class: "records" }, table(["Item", ...columns, "Label"], rows));
}

const SAMPLE_VIEWS = {
  image: (dataset) => thumbnails(dataset, false),
  image_text: (dataset) => thumbnails(dataset, true),
  text: texts,
  tabular: tableRows,
};

export async function samples(dataset) {
  if (dataset.status !== "ready") return el("p", { class: "muted" }, "Samples show once ingest is done.");
  const view = SAMPLE_VIEWS[dataset.modality];
  return view ? view(dataset) : el("p", { class: "muted" }, `No preview for ${dataset.modality} datasets.`);
}
