// Jobs: every job of the tenant with status and progress, refreshed every two seconds.
import { api } from "./api.js";
import { el, every, progressBar, replace, table } from "./dom.js";

export function progressOf(job) {
  const p = job.progress;
  const phase = job.phase ? `${job.phase}, ` : "";
  const eta = job.eta_seconds ? `, about ${Math.ceil(job.eta_seconds)} s left` : "";
  return progressBar(p.fraction, `${phase}epoch ${p.epoch}/${p.epochs}, step ${p.step}/${p.total_steps}${eta}`);
}

function jobRow(job) {
  return el(
    "tr",
    { "data-job": job.id },
    el("td", {}, el("a", { href: `#/jobs/${job.id}` }, job.name || job.id)),
    el("td", {}, job.method),
    el("td", {}, el("code", {}, job.dataset_id || "")),
    el("td", { class: "status" }, job.status),
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
        ["Job", "Method", "Dataset", "Status", "Progress", "Model"],
        page.items.map(jobRow),
      ));
    },
    errors,
  );
}
