// The job page's plotly charts, drawn from its metrics history (MetricPoint objects) and final report.
const LAYOUT = { margin: { l: 50, r: 10, t: 30, b: 40 }, showlegend: true, legend: { orientation: "h" } };
const CONFIG = { displayModeBar: false, responsive: true };

const series = (points, key, x) => {
  const having = points.filter((p) => typeof p.values[key] === "number");
  return { x: having.map((p) => p[x]), y: having.map((p) => p.values[key]) };
};

// Each chart: its title, the x field of the points, and the metric keys it plots.
export const LINE_CHARTS = [
  { id: "loss", title: "Loss", x: "step", keys: ["loss"] },
  { id: "lr", title: "Learning rate", x: "step", keys: ["lr"] },
  { id: "throughput", title: "Samples / s", x: "step", keys: ["samples_per_second"] },
  { id: "rankme", title: "RankMe (effective rank)", x: "epoch", keys: ["rankme"] },
  { id: "geometry", title: "Alignment / uniformity", x: "epoch", keys: ["alignment", "uniformity"] },
];

export function drawLine(node, chart, points) {
  const traces = chart.keys.map((key) => ({ ...series(points, key, chart.x), name: key, mode: "lines+markers", type: "scatter" }));
  if (!traces.some((t) => t.x.length)) return false;
  const layout = { ...LAYOUT, title: { text: chart.title }, xaxis: { title: { text: chart.x } } };
  window.Plotly.react(node, traces, layout, CONFIG);
  return true;
}

/** kNN and linear-probe accuracy of the trained encoder next to the same network at random init and, where the
 * modality has one, its classical baseline (raw pixels, TF-IDF, standardized columns). */
export function drawProbes(node, report) {
  const probes = ["knn_top1", "linear_probe"].filter((k) => typeof report[k] === "number");
  if (!probes.length) return false;
  const bars = (suffix, name) => ({ type: "bar", name, x: probes, y: probes.map((k) => report[k + suffix] ?? null) });
  const traces = [bars("", "trained"), bars("_random_init", "random init")];
  if (report.baseline) traces.push(bars("_baseline", report.baseline));
  const title = report.baseline ? `Probe accuracy vs random init and ${report.baseline}` : "Probe accuracy vs random init";
  window.Plotly.react(node, traces, { ...LAYOUT, title: { text: title }, yaxis: { range: [0, 1] } }, CONFIG);
  return true;
}
