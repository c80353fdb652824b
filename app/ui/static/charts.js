// The job page's plotly charts, drawn from its metrics history (MetricPoint objects) and final report. A chart
// with nothing to plot yet (or ever: probes need labels) is hidden rather than left as an empty frame.
// The title on the top line, the legend (charts of several traces) on a line of its own between it and the plot:
// below the plot it would sit on the x axis' title, beside the title it runs into a long one.
const LEGEND = { orientation: "h", x: 1, xanchor: "right", y: 1.0, yanchor: "bottom" };
const LAYOUT = { margin: { l: 50, r: 10, t: 40, b: 40 }, legend: LEGEND };
const WITH_LEGEND = { margin: { ...LAYOUT.margin, t: 64 } };
const CONFIG = { displayModeBar: false, responsive: true };

const series = (points, key, x) => {
  const having = points.filter((p) => typeof p.values[key] === "number");
  return { x: having.map((p) => p[x]), y: having.map((p) => p.values[key]) };
};

const titled = (text) => ({ text, x: 0.01, xanchor: "left", y: 0.98, yanchor: "top", yref: "container" });

// Each chart: its title, the x field of the points, and the metric keys it plots.
export const LINE_CHARTS = [
  { id: "loss", title: "Loss", x: "step", keys: ["loss"] },
  { id: "lr", title: "Learning rate", x: "step", keys: ["lr"] },
  { id: "throughput", title: "Samples / s", x: "step", keys: ["samples_per_second"] },
  { id: "rankme", title: "RankMe (effective rank)", x: "epoch", keys: ["rankme"] },
  { id: "geometry", title: "Alignment / uniformity", x: "epoch", keys: ["alignment", "uniformity"] },
];

function show(node, traces, layout) {
  node.hidden = !traces.length;
  const legend = traces.length > 1 ? WITH_LEGEND : {};
  if (traces.length) window.Plotly.react(node, traces, { ...LAYOUT, showlegend: traces.length > 1, ...legend, ...layout }, CONFIG);
  return traces.length > 0;
}

export function drawLine(node, chart, points) {
  const traces = chart.keys
    .map((key) => ({ ...series(points, key, chart.x), name: key, mode: "lines+markers", type: "scatter" }))
    .filter((t) => t.x.length);
  return show(node, traces, { title: titled(chart.title), xaxis: { title: { text: chart.x } } });
}

/** kNN and linear-probe accuracy of the trained encoder next to the same network at random init and, where the
 * modality has one, its classical baseline (raw pixels, TF-IDF, standardized columns). */
export function drawProbes(node, report) {
  const probes = ["knn_top1", "linear_probe"].filter((k) => typeof report[k] === "number");
  const bars = (suffix, name) => ({
    type: "bar",
    name,
    x: probes,
    y: probes.map((k) => report[k + suffix] ?? null),
    texttemplate: "%{y:.2f}",
    textposition: "inside",
  });
  const traces = probes.length ? [bars("", "trained"), bars("_random_init", "random init")] : [];
  if (probes.length && report.baseline) traces.push(bars("_baseline", report.baseline));
  const title = report.baseline ? `Probe accuracy vs random init and ${report.baseline}` : "Probe accuracy vs random init";
  return show(node, traces, { title: titled(title), yaxis: { range: [0, 1.05] } });
}
