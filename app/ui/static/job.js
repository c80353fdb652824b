// One job: status, phase, progress and time left, its outcome in words (the summary sentence, or the error),
// curves from its metrics history and the collapse warning, kept live by the event stream or, where the server
// has none (404), by polling.
import { ApiError, api } from "./api.js";
import { drawLine, drawProbes, LINE_CHARTS } from "./charts.js";
import { el, errorBox, replace } from "./dom.js";
import { readEvents } from "./events.js";
import { phaseOf, progressOf } from "./jobs.js";

const POLL_MS = 1500;
const HISTORY_LIMIT = 2000; // the server's cap on a job's history
const TERMINAL = ["succeeded", "failed", "canceled"];

const pointKey = (p) => `${p.attempt}/${p.kind}/${p.epoch}/${p.step}/${p.created_at}`;

// The outcome in words, above the details: the summary sentence once succeeded, the reason once failed.
function outcome(job) {
  if (job.status === "succeeded" && job.summary) return el("p", { class: "outcome", id: "job-summary" }, job.summary);
  if (job.error) return el("p", { class: "error outcome", id: "job-error", role: "alert" }, `Failed: ${job.error}`);
  if (job.status === "canceled") return el("p", { class: "muted outcome" }, "Canceled.");
  return null;
}

// "epochs=12, lr=0.002, …": spaces between the parameters let a long list wrap between them, not inside one.
const paramsText = (params) => Object.entries(params).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(", ");

function details(job) {
  const rows = [
    ["Status", el("span", { id: "job-status" }, job.status)],
    ["Phase", el("span", { id: "job-phase" }, phaseOf(job))],
    ["Progress", el("span", { id: "job-progress" }, progressOf(job))],
    ["Method", job.method],
    ["Params", el("code", {}, paramsText(job.params))],
    ["Dataset", job.dataset_id || ""],
    ["Model", job.model_id ? el("a", { href: `#/models/${job.model_id}`, id: "job-model" }, job.model_id) : "not yet"],
    ["Attempts", String(job.attempts)],
  ];
  return el("table", { class: "fields" }, rows.map(([k, v]) => el("tr", {}, el("th", {}, k), el("td", {}, v))));
}

// A running job stops after the step in hand (its worker sees the flag), a queued one at once; either way the
// page shows it through the same stream that shows every other change.
function cancelControl(view) {
  const job = view.job;
  if (TERMINAL.includes(job.status)) return null;
  if (job.cancel_requested) return el("p", { class: "muted", id: "job-cancel" }, "Cancel requested: stopping after the step in hand.");
  const cancel = async () => {
    try {
      view.showJob(await api(`${view.path}/cancel`, { method: "POST" }));
    } catch (error) {
      replace(view.errors, errorBox(error));
    }
  };
  return el("p", { id: "job-cancel" }, el("button", { type: "button", onclick: cancel }, "Cancel job"));
}

function collapseWarning(job, points) {
  const reported = [job.metrics, ...points.map((p) => p.values)].reverse().find((v) => v && v.warning);
  return reported ? el("p", { class: "warning", id: "collapse-warning" }, `Collapse warning: ${reported.warning}`) : null;
}

class JobView {
  constructor(root, jobId) {
    this.jobId = jobId;
    this.points = new Map();
    this.job = null;
    this.head = el("section", { id: "job" });
    this.warning = el("div");
    this.errors = el("div");
    this.charts = Object.fromEntries(LINE_CHARTS.map((c) => [c.id, el("div", { class: "chart", "data-chart": c.id, hidden: true })]));
    this.probes = el("div", { class: "chart", "data-chart": "probes", hidden: true });
    this.waiting = el("p", { class: "muted" });
    const grid = el("div", { class: "charts" }, Object.values(this.charts), this.probes);
    replace(root, this.errors, this.head, this.warning, el("section", {}, this.waiting, grid));
  }

  get path() {
    return `/v1/jobs/${encodeURIComponent(this.jobId)}`;
  }

  showJob(job) {
    this.job = job;
    replace(this.head, el("h1", {}, `Job ${job.name || job.id}`), outcome(job), details(job), cancelControl(this));
    this.redraw();
  }

  addPoints(points) {
    for (const point of points) this.points.set(pointKey(point), point);
    if (points.length) this.redraw();
  }

  redraw() {
    const points = [...this.points.values()];
    const drawn = LINE_CHARTS.map((chart) => drawLine(this.charts[chart.id], chart, points));
    const final = points.filter((p) => p.kind === "final").at(-1);
    drawn.push(drawProbes(this.probes, final ? final.values : this.job?.metrics || {}));
    this.waiting.hidden = drawn.some(Boolean);
    const ended = TERMINAL.includes(this.job?.status);
    replace(this.waiting, ended ? "This job reported no metrics." : "The curves appear once training reports its first steps.");
    replace(this.warning, this.job ? collapseWarning(this.job, points) : null);
  }

  async loadHistory() {
    const history = await api(`${this.path}/metrics?limit=${HISTORY_LIMIT}&offset=0`);
    this.addPoints(history.points);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const finished = (view, signal) => signal.aborted || TERMINAL.includes(view.job.status);

async function poll(view, signal) {
  while (!finished(view, signal)) {
    await sleep(POLL_MS);
    view.showJob(await api(view.path, { signal }));
    const history = await api(`${view.path}/metrics?limit=${HISTORY_LIMIT}&offset=${view.points.size}`, { signal });
    view.addPoints(history.points);
  }
}

async function follow(view, signal) {
  view.showJob(await api(view.path, { signal }));
  await view.loadHistory();
  const handlers = { job: (j) => view.showJob(j), end: (j) => view.showJob(j), metric: (p) => view.addPoints([p]) };
  while (!finished(view, signal)) {
    try {
      await readEvents(`${view.path}/events`, handlers, signal);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return poll(view, signal);
      throw error;
    }
    await view.loadHistory(); // the stream ended (its lifetime, or the job's end): fill any gap, reconnect
    if (!finished(view, signal)) await sleep(POLL_MS);
  }
}

export function render(root, jobId) {
  const view = new JobView(root, jobId);
  const abort = new AbortController();
  follow(view, abort.signal).catch((error) => {
    if (!abort.signal.aborted) replace(view.errors, errorBox(error));
  });
  return () => abort.abort();
}
