// Reading GET /v1/jobs/{id}/events (text/event-stream) with fetch(), since EventSource cannot send the key.
import { api } from "./api.js";

function parseEvent(block) {
  let type = "message";
  const data = [];
  for (const line of block.split("\n")) {
    if (line.startsWith(":")) continue; // keep-alive comment
    if (line.startsWith("event:")) type = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
  }
  return data.length ? { type, data: JSON.parse(data.join("\n")) } : null;
}

/** Calls handlers[type](data) for each event until the server closes the stream or `signal` aborts.
 * Throws ApiError (404 where the server has no event stream) before the first event. */
export async function readEvents(path, handlers, signal) {
  const response = await api(path, { raw: true, signal });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer = (buffer + value).replaceAll("\r\n", "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, cut));
      buffer = buffer.slice(cut + 2);
      if (event) handlers[event.type]?.(event.data);
    }
  }
}
