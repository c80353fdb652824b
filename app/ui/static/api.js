// Talking to the /v1 API with the signed-in key. The key lives in sessionStorage (this tab, this session)
// and is sent only in the Authorization header, never in a URL.
const KEY_ITEM = "selfsup.apiKey";

export const signedInKey = () => sessionStorage.getItem(KEY_ITEM);
export const signIn = (key) => sessionStorage.setItem(KEY_ITEM, key);
export const signOut = () => sessionStorage.removeItem(KEY_ITEM);

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorMessage(response) {
  try {
    const body = await response.json();
    const detail = body.detail ?? body.error?.message ?? body;
    return typeof detail === "string" ? detail : JSON.stringify(detail);
  } catch {
    return response.statusText;
  }
}

/** fetch() with the key; JSON bodies as `json`, others (FormData) as `body`; the Response itself when `raw`. */
export async function api(path, { method = "GET", json, body, raw = false, signal } = {}) {
  const headers = { Authorization: `Bearer ${signedInKey()}` };
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const response = await fetch(path, { method, headers, body, signal });
  if (!response.ok) throw new ApiError(response.status, await errorMessage(response));
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

/** A blob: URL of what the path answers, fetched with the key (img src cannot carry a header). */
export async function blobUrl(path) {
  const response = await api(path, { raw: true });
  return URL.createObjectURL(await response.blob());
}

/** Saves what the path answers under its Content-Disposition name (or `fallback`). */
export async function download(path, fallback) {
  const response = await api(path, { raw: true });
  const disposition = response.headers.get("Content-Disposition") || "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] || fallback;
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: name });
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
