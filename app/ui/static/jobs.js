// Jobs: every job of the tenant with status, phase, progress and time left, refreshed every two seconds.
import { api } from "./api.js";
import { duration, el, every, progressBar, replace, table } from "./dom.js";

export function progressOf(job) {
  const p = job.progress;
  return progressBar(p.fraction, `epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.total_steps}`);
}

/** The phase (queued, training, evaluating, exporting, done) and, while training, the server's estimate. */
export function phaseOf(job) {
  return job.eta_seconds === null || job.eta_seconds === undefined
    ? job.phase
    : `${job.phase}, about ${duration(job.eta_seconds)} left`;
}

function jobRow(job) {
  return el(
    "tr",
    { "data-job": job.id },
    el("td", {}, el("a", { href: `#/jobs/${job.id}` }, job.name || job.id)),
    el("td", {}, job.method),
    el("td", {}, el("code", {}, job.dataset_id || "")),
    el("td", { class: "status nowrap" }, job.status),
    el("td", { class: "phase" }, phaseOf(job)),
    el("td", { class: "progress" }, progressOf(job)),
    el("td", {}, job.model_id ? el("a", { href: `#/models/${job.model_id}` }, job.model_id) : ""),
  );
}

export function render(root) {
  const list = el("section", { id: "jobs" });
  const errors = el("div");
  replace(root, errors, list);
  return every(
    2000,
    async () => {
      const page = await api("/v1/jobs?limit=50");
      replace(list, el("h1", {}, `Jobs (${page.total})`), table(
        ["Job", "Method", "Dataset", "Status", "Phase", "Progress", "Model"],
        page.items.map(jobRow),
        "No jobs yet: open a dataset on the Datasets page to start one.",
      ));
    },
    errors,
  );
}
