// Building elements from data without innerHTML: every server value becomes a text node or an attribute.
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name in node && typeof value !== "string") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined).map(asNode));
  return node;
}

const asNode = (child) => (child instanceof Node ? child : document.createTextNode(String(child)));

export function replace(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined).map(asNode));
}

export const errorBox = (error) => el("p", { class: "error", role: "alert" }, String(error.message || error));

export function progressBar(fraction, label) {
  return el("span", {}, el("progress", { max: 1, value: fraction }), " ", label ?? `${Math.round(fraction * 100)}%`);
}

/** A table with a heading row; `empty` is what its body says when there are no rows. */
export function table(headings, rows, empty = "None yet.") {
  const body = rows.length ? rows : [el("tr", {}, el("td", { colspan: headings.length, class: "muted" }, empty))];
  return el("table", {}, el("thead", {}, el("tr", {}, headings.map((h) => el("th", {}, h)))), el("tbody", {}, body));
}

/** A table as wide as its content rather than the page: a few short columns read better close together. */
export const compact = (tableNode) => (tableNode.classList.add("compact"), tableNode);

export const bytes = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : n >= 1e3 ? `${(n / 1e3).toFixed(1)} kB` : `${n} B`);

/** 45 s, 3 min 20 s, 2 h 5 min: an estimate reads better rounded to the two largest units. */
export function duration(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** Calls `tick` now and every `ms` until the returned stop function runs; a failing tick shows in `errors`. */
export function every(ms, tick, errors) {
  let timer = null;
  let stopped = false;
  const run = async () => {
    try {
      await tick();
      replace(errors);
    } catch (error) {
      replace(errors, errorBox(error));
    }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
