// Shared pieces of every page: the data hook, form fields, tables, messages and formatting.
// Pages import from here rather than writing their own.

import { fileObjectUrl } from "./api.js";
import { html, useCallback, useEffect, useRef, useState } from "./vendor.js";

export { html };

/** Navigates inside the console without reloading the page. */
export function navigate(path, { replace = false } = {}) {
  // The page already shown is not pushed again: Back would seem to do nothing.
  if (replace || path === location.pathname + location.search) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  window.dispatchEvent(new Event("console:navigate"));
}

/** An <a> that navigates in place (a modified click still opens a new tab). */
export function Link({ href, children, ...rest }) {
  const onClick = (event) => {
    if (event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return html`<a href=${href} onClick=${onClick} ...${rest}>${children}</a>`;
}

/**
 * Loads data with `load(signal)` when `deps` change: {data, error, loading, reload, setData}.
 * A newer load aborts the older one, so a slow answer never overwrites a newer one.
 */
export function useLoad(load, deps = []) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const controller = useRef(null);
  const reload = useCallback(async () => {
    controller.current?.abort();
    const current = new AbortController();
    controller.current = current;
    setState((previous) => ({ ...previous, loading: true }));
    try {
      const data = await load(current.signal);
      if (!current.signal.aborted) setState({ data, error: null, loading: false });
    } catch (error) {
      if (!current.signal.aborted) setState((previous) => ({ ...previous, error, loading: false }));
    }
  }, deps);
  useEffect(() => {
    reload();
    return () => controller.current?.abort();
  }, [reload]);
  const setData = (data) => setState((previous) => ({ ...previous, data }));
  return { ...state, reload, setData };
}

/** A file's bytes as a blob: URL, fetched with the key (an <img src> cannot send it) and freed
 * when the component goes away: {url, failed}. */
export function useFileObjectUrl(fileId) {
  const [url, setUrl] = useState(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const controller = new AbortController();
    let made = null;
    fileObjectUrl(fileId, controller.signal).then(
      (objectUrl) => {
        made = objectUrl;
        setUrl(objectUrl);
      },
      () => !controller.signal.aborted && setFailed(true),
    );
    return () => {
      controller.abort();
      if (made) URL.revokeObjectURL(made);
    };
  }, [fileId]);
  return { url, failed };
}

/** Calls `tick` every `ms` while `active` (for live statuses). */
export function useInterval(tick, ms, active = true) {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (!active) return undefined;
    const timer = setInterval(() => saved.current(), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
}

/** Runs an action, keeping its pending state and error for the form that started it. */
export function useAction() {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState(null);
  const run = async (action) => {
    setPending(true);
    setError(null);
    try {
      return await action();
    } catch (caught) {
      setError(caught);
      return undefined;
    } finally {
      setPending(false);
    }
  };
  return { pending, error, setError, run };
}

let fieldCount = 0;
function useFieldId(prefix) {
  const id = useRef(null);
  if (id.current === null) id.current = `${prefix}-${++fieldCount}`;
  return id.current;
}

/** A labelled control. `as`: "input" (default), "textarea" or "select" (with `options`:
 * [{value, label}] or strings). `hint` is tied to the control with aria-describedby. */
export function Field({ label, as = "input", options = [], hint, value, onInput, ...rest }) {
  const id = useFieldId("field");
  const hintId = hint ? `${id}-hint` : undefined;
  const handle = (event) => onInput?.(event.currentTarget.value, event);
  let control;
  if (as === "textarea") {
    control = html`<textarea id=${id} aria-describedby=${hintId} value=${value} onInput=${handle} ...${rest}></textarea>`;
  } else if (as === "select") {
    control = html`<select id=${id} aria-describedby=${hintId} value=${value} onChange=${handle} ...${rest}>
      ${options.map((option) => {
        const item = typeof option === "string" ? { value: option, label: option } : option;
        return html`<option value=${item.value}>${item.label}</option>`;
      })}
    </select>`;
  } else {
    control = html`<input id=${id} aria-describedby=${hintId} value=${value} onInput=${handle} ...${rest} />`;
  }
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${control}
    ${hint && html`<small id=${hintId} class="hint">${hint}</small>`}
  </div>`;
}

/** A labelled checkbox. */
export function Check({ label, checked, onChange, ...rest }) {
  const id = useFieldId("check");
  return html`<div class="check">
    <input type="checkbox" id=${id} checked=${checked}
      onChange=${(event) => onChange(event.currentTarget.checked)} ...${rest} />
    <label for=${id}>${label}</label>
  </div>`;
}

/** An error from the server (or any Error), announced to screen readers. */
export function ErrorNote({ error }) {
  if (!error) return null;
  const message = error.message || String(error);
  return html`<p class="note error" role="alert">${message}</p>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}

export function Loading({ label = "Loading…" }) {
  return html`<p class="loading" role="status">${label}</p>`;
}

/** The page's heading row: title, then actions on the right. */
export function PageHeader({ title, children, description }) {
  return html`<header class="page-header">
    <div>
      <h1>${title}</h1>
      ${description && html`<p class="muted">${description}</p>`}
    </div>
    <div class="actions">${children}</div>
  </header>`;
}

/** A table with a caption for screen readers; `columns`: [{label, render(row), className?}]. */
export function Table({ caption, columns, rows, rowKey = (row) => row.id, empty = "Nothing yet." }) {
  if (!rows?.length) return html`<${Empty}>${empty}<//>`;
  return html`<div class="table-wrap" tabindex="0" role="region" aria-label=${caption}>
    <table>
      <caption class="visually-hidden">${caption}</caption>
      <thead><tr>${columns.map((column) => html`<th scope="col" class=${column.className}>${column.label}</th>`)}</tr></thead>
      <tbody>
        ${rows.map((row) => html`<tr key=${rowKey(row)}>
          ${columns.map((column) => html`<td class=${column.className} data-label=${column.label}>${column.render(row)}</td>`)}
        </tr>`)}
      </tbody>
    </table>
  </div>`;
}

/** A status word as a coloured badge (completed, failed, in_progress, …). */
export function Badge({ status }) {
  return html`<span class=${`badge badge-${String(status).replace(/[^a-z_]/gi, "")}`}>${String(status).replaceAll("_", " ")}</span>`;
}

/** Copies `text` to the clipboard; says so for a moment. */
export function CopyButton({ text, label = "Copy" }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      // No clipboard permission (an insecure origin): select the text for the user instead.
      const area = document.createElement("textarea");
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    setCopied(true);
    setTimeout(() => setCopied(false), 1500);
  };
  return html`<button type="button" class="secondary" onClick=${copy}>
    ${copied ? "Copied" : label}<span class="visually-hidden" aria-live="polite">${copied ? " to the clipboard" : ""}</span>
  </button>`;
}

/** A modal dialog (the native <dialog>: focus trapping and Escape for free). */
export function Dialog({ title, open, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return html`<dialog ref=${ref} aria-label=${title} onClose=${onClose}>
    <header class="dialog-header">
      <h2>${title}</h2>
      <button type="button" class="icon" aria-label="Close" onClick=${onClose}>×</button>
    </header>
    ${open && children}
  </dialog>`;
}

/** JSON, pretty-printed, in a scrollable block. */
export function Json({ value, label = "JSON" }) {
  return html`<pre class="json" tabindex="0" aria-label=${label}>${JSON.stringify(value, null, 2)}</pre>`;
}

// Formatting

export function formatTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  return new Date(seconds * 1000).toLocaleString(undefined, {
    dateStyle: "medium",
    timeStyle: "short",
  });
}

export function formatNumber(value) {
  return value === null || value === undefined ? "—" : Number(value).toLocaleString();
}

export function formatUsd(value) {
  if (value === null || value === undefined) return "—";
  const digits = Math.abs(value) < 1 ? 4 : 2;
  return `$${Number(value).toFixed(digits)}`;
}

export function formatBytes(bytes) {
  if (bytes === null || bytes === undefined) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/** Metadata as a "key=value, …" line, for tables. */
export function formatMetadata(metadata) {
  const entries = Object.entries(metadata || {});
  return entries.length ? entries.map(([key, value]) => `${key}=${value}`).join(", ") : "—";
}

// --- assistants & vector stores ---

/** An API error with the field it is about (`param`) named after its message. */
export function describeError(error) {
  if (!error?.param) return error;
  const described = new Error(`${error.message} Field: ${error.param}.`);
  described.param = error.param;
  return described;
}

/** JSON typed in a textarea: {value} when it parses (blank is `empty`), else {error}. */
export function parseJsonText(text, { empty = undefined, object = true } = {}) {
  if (!text.trim()) return { value: empty };
  let value;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { error: `Not valid JSON: ${error.message}` };
  }
  if (object && (value === null || typeof value !== "object" || Array.isArray(value))) {
    return { error: "Must be a JSON object, such as {\"type\": \"object\"}." };
  }
  return { value };
}

/**
 * A JSON textarea whose parse error replaces its hint (tied to it with aria-describedby) once the
 * field was left or `showError` is set (after a submit), so half-typed JSON is not shouted at.
 */
export function JsonField({ label, value, onInput, error, showError = false, hint, ...rest }) {
  const [left, setLeft] = useState(false);
  const visible = Boolean(error) && (left || showError);
  return html`<${Field} label=${label} as="textarea" class="code" spellcheck="false"
    value=${value} onInput=${onInput} onBlur=${() => setLeft(true)}
    aria-invalid=${visible ? "true" : undefined} hint=${visible ? error : hint} ...${rest} />`;
}

/** Metadata as editable key/value rows ({key, value} each), at most `max` pairs. */
export function MetadataRows({ rows, onChange, max = 16, legend = "Metadata" }) {
  const update = (index, change) => onChange(rows.map((row, at) => (at === index ? { ...row, ...change } : row)));
  const remove = (index) => onChange(rows.filter((_, at) => at !== index));
  const add = () => onChange([...rows, { key: "", value: "" }]);
  return html`<fieldset class="metadata-rows">
    <legend>${legend}</legend>
    ${rows.length === 0 && html`<p class="hint">No pairs. Up to ${max} keys (64 characters) with values (512 characters).</p>`}
    ${rows.map((row, index) => html`<div class="metadata-row" key=${index}>
      <input aria-label=${`Key ${index + 1}`} placeholder="key" maxlength="64" value=${row.key}
        onInput=${(event) => update(index, { key: event.currentTarget.value })} />
      <input aria-label=${`Value ${index + 1}`} placeholder="value" maxlength="512" value=${row.value}
        onInput=${(event) => update(index, { value: event.currentTarget.value })} />
      <button type="button" class="secondary" aria-label=${`Remove pair ${index + 1}`} onClick=${() => remove(index)}>Remove</button>
    </div>`)}
    <button type="button" class="secondary" onClick=${add} disabled=${rows.length >= max}>Add pair</button>
  </fieldset>`;
}

export function metadataRows(metadata) {
  return Object.entries(metadata || {}).map(([key, value]) => ({ key, value }));
}

/** The rows as a metadata object, or {error} (a blank or repeated key). Blank rows are dropped. */
export function metadataFromRows(rows) {
  const metadata = {};
  for (const { key, value } of rows) {
    if (!key.trim() && !value) continue;
    if (!key.trim()) return { error: "Every metadata value needs a key." };
    if (key in metadata) return { error: `The metadata key "${key}" appears twice.` };
    metadata[key] = value;
  }
  return { metadata };
}

/** A dialog asking to confirm a destructive action; its error stays inside it. */
export function ConfirmDialog({ title, open, onCancel, onConfirm, confirmLabel = "Delete", pending = false, error, children }) {
  return html`<${Dialog} title=${title} open=${open} onClose=${onCancel}>
    <div class="confirm">
      ${children}
      <${ErrorNote} error=${error} />
      <div class="form-actions">
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
        <button type="button" class="danger" onClick=${onConfirm} disabled=${pending}>${confirmLabel}</button>
      </div>
    </div>
  <//>`;
}
