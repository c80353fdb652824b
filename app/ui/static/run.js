// One embedding run: its data-quality report (duplicates, outliers, likely label errors) and its 2-D map.
import { api } from "./api.js";
import { compact, el, errorBox, replace, table } from "./dom.js";

const CONFIG = { displayModeBar: false, responsive: true };

const groupRows = (groups) => groups.slice(0, 20).map((g) => el("tr", {}, el("td", {}, String(g.length)), el("td", {}, g.join(", "))));

function qualityReport(report) {
  const suspects = report.label_disagreements;
  return el(
    "section",
    { id: "quality" },
    el("h2", {}, "Data quality"),
    el("p", {}, `${report.exact_duplicates.num_groups} groups of exact duplicates, `,
      `${report.near_duplicates.num_groups} groups of near duplicates (cosine >= ${report.near_duplicates.threshold}).`),
    table(["Items", "Near-duplicate group"], groupRows(report.near_duplicates.groups), "None found."),
    el("h3", {}, "Outliers (sparsest first)"),
    compact(table(["Item", "Density"], report.outliers.map((o) => el("tr", {}, el("td", {}, String(o.index)), el("td", {}, o.density.toFixed(3)))), "None found.")),
    el("h3", {}, "Likely label errors"),
    suspects === null
      ? el("p", { class: "muted" }, "The dataset has no labels.")
      : compact(table(["Item", "Label", "Neighbours say", "Agreement"], suspects.slice(0, 50).map((d) =>
          el("tr", {}, el("td", {}, String(d.index)), el("td", {}, d.label), el("td", {}, d.suggested), el("td", {}, d.agreement.toFixed(2)))), "None found.")),
  );
}

function drawMap(node, map) {
  const byLabel = new Map();
  for (const point of map.points) {
    const label = point.label ?? "unlabeled";
    if (!byLabel.has(label)) byLabel.set(label, { x: [], y: [], text: [] });
    const trace = byLabel.get(label);
    trace.x.push(point.x);
    trace.y.push(point.y);
    trace.text.push(`item ${point.index}`);
  }
  const traces = [...byLabel].map(([name, t]) => ({ ...t, name, type: "scatter", mode: "markers", marker: { size: 5 } }));
  const layout = { title: { text: `Map (${map.method})` }, margin: { l: 30, r: 10, t: 40, b: 30 }, height: 520 };
  window.Plotly.react(node, traces, layout, CONFIG);
}

export function render(root, runId) {
  const header = el("section", {}, el("h1", {}, `Embedding run ${runId}`));
  const report = el("div", {}, "Loading the report…");
  const map = el("div", { "data-chart": "map", class: "map" });
  replace(root, header, el("section", {}, map), report);
  api(`/v1/embedding-runs/${runId}`)
    .then((run) => {
      header.append(el("p", {}, `${run.status}: ${run.num_items} items, dim ${run.dim}, ${run.dtype}, model `,
        el("a", { href: `#/models/${run.model_id}` }, run.model_id)));
      if (run.status !== "succeeded") return replace(report, "The report and map are ready once the run has succeeded.");
      api(`/v1/embedding-runs/${runId}/quality`).then((r) => replace(report, qualityReport(r))).catch((e) => replace(report, errorBox(e)));
      api(`/v1/embedding-runs/${runId}/map`).then((m) => drawMap(map, m)).catch((e) => replace(map, errorBox(e)));
    })
    .catch((error) => replace(header, errorBox(error)));
}
