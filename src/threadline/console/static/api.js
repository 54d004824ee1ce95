// Talking to the server: the signed-in keys, JSON requests with OpenAI's error shape, and
// server-sent events. Keys live in sessionStorage only (never a URL, a cookie or a log).

const STORE = "threadline.console.session";

/** The signed-in session: {role: "master"|"project", project, masterKey?, projectKey?}. */
export function loadSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE) || "null");
  } catch {
    return null;
  }
}

export function saveSession(session) {
  if (session) sessionStorage.setItem(STORE, JSON.stringify(session));
  else sessionStorage.removeItem(STORE);
}

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `Request failed with status ${status}`);
    this.status = status;
    this.type = error?.type || null;
    this.param = error?.param || null;
    this.code = error?.code || null;
  }
}

/** The key a path is sent with: /admin needs the master key; the API a project key (the
 * master key's console works in a project through a key it opened for it). */
function keyFor(path, session) {
  if (!session) return null;
  if (path.startsWith("/admin/")) return session.masterKey;
  return session.projectKey || session.masterKey;
}

function headersFor(path, session, extra = {}) {
  const headers = { "OpenAI-Beta": "assistants=v2", ...extra };
  const key = keyFor(path, session ?? loadSession());
  if (key) headers.Authorization = `Bearer ${key}`;
  return headers;
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    /* not JSON: the status says enough */
  }
  return new ApiError(response.status, body?.error);
}

/**
 * A request to the server. `body` is sent as JSON unless it is FormData; `query` is added to the
 * URL (undefined, null and "" values left out). Resolves to the parsed JSON (or null for 204).
 */
export async function request(method, path, { body, query, session, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== "") params.set(name, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const extra = body !== undefined && !(body instanceof FormData)
    ? { "Content-Type": "application/json" } : {};
  const response = await fetch(url, {
    method,
    headers: headersFor(path, session, extra),
    body: body === undefined || body instanceof FormData ? body : JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path, options) => request("GET", path, options);
export const post = (path, body, options) => request("POST", path, { ...options, body });
export const del = (path, options) => request("DELETE", path, options);

/** Every page of a cursor-paginated OpenAI list, up to `max` objects. */
export async function listAll(path, { query = {}, max = 500, signal } = {}) {
  const data = [];
  let after;
  for (;;) {
    const page = await get(path, { query: { limit: 100, ...query, after }, signal });
    data.push(...page.data);
    if (!page.has_more || data.length >= max || !page.data.length) return data;
    after = page.last_id || page.data[page.data.length - 1].id;
  }
}

/** A file's bytes as an object URL (file contents need the key, so no plain <img src>). */
export async function fileObjectUrl(fileId, signal) {
  const path = `/v1/files/${encodeURIComponent(fileId)}/content`;
  const response = await fetch(path, { headers: headersFor(path), signal });
  if (!response.ok) throw await failure(response);
  return URL.createObjectURL(await response.blob());
}

/**
 * POSTs `body` and reads the answer as server-sent events: `onEvent(name, data)` for each one
 * (data parsed as JSON when it is; the stream's final "[DONE]" is not passed on).
 */
export async function stream(path, body, onEvent, { signal } = {}) {
  const response = await fetch(path, {
    method: "POST",
    headers: headersFor(path, null, { "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify(body),
    signal,
  });
  if (!response.ok) throw await failure(response);
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      dispatch(frame, onEvent);
    }
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(frame, onEvent) {
  let name = "message";
  const lines = [];
  for (const line of frame.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) lines.push(line.slice(5).replace(/^ /, ""));
  }
  if (!lines.length) return;
  const text = lines.join("\n");
  if (text === "[DONE]") return;
  let data = text;
  try {
    data = JSON.parse(text);
  } catch {
    /* a plain text payload */
  }
  onEvent(name, data);
}
