// The playground's shared pieces: the transcript (its entries and how they render), the composer,
// the run's status line and the form that answers function calls by hand. Both API modes
// (playground_assistants.js, playground_responses.js) fold their stream events into these.

import { Badge, ErrorNote, Field, formatNumber, html, useFileObjectUrl } from "../ui.js";
import { useEffect, useMemo, useRef, useState } from "../vendor.js";

/**
 * Transcript entries, in the order they appeared:
 *  - {id, kind: "user", text, files: [{id?, name}], failed?}
 *  - {id, kind: "assistant", parts: [{type: "text", text} | {type: "image", fileId}], streaming}
 *  - {id, kind: "tool", tool: "function"|"code_interpreter"|"file_search"|…, callId, name, arguments,
 *     output, code, outputs: [{type: "logs", logs} | {type: "image", fileId?, url?}], results,
 *     streaming}
 */
export function useTranscript() {
  const [entries, setEntries] = useState([]);
  const transcript = useMemo(() => ({
    add: (entry) => setEntries((list) => [...list, entry]),
    /** Changes the entry `id` with `change(entry)`; `make()` creates it when it is not there yet
     * (a delta can arrive for an entry whose "created" event this page never saw). */
    change: (id, make, change) => setEntries((list) => {
      const at = list.findIndex((entry) => entry.id === id);
      if (at < 0) return make ? [...list, change(make())] : list;
      const next = list.slice();
      next[at] = change(list[at]);
      return next;
    }),
    /** The stream ended: nothing is being written any more. */
    settle: () => setEntries((list) => list.map((entry) => (entry.streaming ? { ...entry, streaming: false } : entry))),
    clear: () => setEntries([]),
  }), []);
  return [entries, transcript];
}

export const assistantEntry = (id) => ({ id, kind: "assistant", parts: [], streaming: true });

export const toolEntry = (id, tool) => ({
  id, kind: "tool", tool, callId: null, name: "", arguments: "", output: null, code: "", outputs: [], results: null, streaming: true,
});

/** The assistant entry with `delta` added to its text part `index`. */
export function appendText(entry, index, delta) {
  const parts = entry.parts.slice();
  const previous = parts[index];
  parts[index] = { type: "text", text: (previous?.type === "text" ? previous.text : "") + delta };
  return { ...entry, parts };
}

/** Keeps the transcript scrolled to its end while it grows, unless the reader scrolled up (a
 * message of the reader's own follows again). */
function useFollow(containerRef, lastEntry) {
  const following = useRef(true);
  useEffect(() => {
    const container = containerRef.current;
    if (!container) return undefined;
    const onScroll = () => {
      following.current = container.scrollHeight - container.scrollTop - container.clientHeight < 48;
    };
    // An image grows the transcript when it loads, after its render: follow it too.
    const onLoad = () => {
      if (following.current) container.scrollTop = container.scrollHeight;
    };
    container.addEventListener("scroll", onScroll, { passive: true });
    container.addEventListener("load", onLoad, true);
    return () => {
      container.removeEventListener("scroll", onScroll);
      container.removeEventListener("load", onLoad, true);
    };
  }, []);
  useEffect(() => {
    if (lastEntry?.kind === "user") following.current = true;
  }, [lastEntry]);
  // After every render: a token, a tool output or the outputs form may have made it taller.
  useEffect(() => {
    const container = containerRef.current;
    if (container && following.current) container.scrollTop = container.scrollHeight;
  });
}

/** A file's image, fetched with the key (an <img src> cannot send it). */
export function FileImage({ fileId, alt }) {
  const { url, failed } = useFileObjectUrl(fileId);
  if (failed) return html`<p class="muted">Image ${fileId} could not be loaded.</p>`;
  if (!url) return html`<p class="muted">Loading image…</p>`;
  return html`<img src=${url} alt=${alt} />`;
}

function UserMessage({ entry }) {
  return html`<article class="message user" aria-label="You">
    <div class="role">You</div>
    <div class="text">${entry.text}</div>
    ${entry.files.length > 0 && html`<ul class="attachments" aria-label="Attachments">
      ${entry.files.map((file) => html`<li class="attachment" title=${file.id || ""}>${file.name}</li>`)}
    </ul>`}
    ${entry.failed && html`<p class="hint">Not sent.</p>`}
  </article>`;
}

function AssistantMessage({ entry, label }) {
  const waiting = entry.streaming && !entry.parts.length;
  return html`<article class=${`message assistant${entry.streaming ? " streaming" : ""}`} aria-label=${label}>
    <div class="role">${label}</div>
    ${waiting && html`<div class="text muted">…</div>`}
    ${entry.parts.map((part) => (part?.type === "image"
      ? html`<${FileImage} fileId=${part.fileId} alt="An image from the assistant" />`
      : html`<div class="text">${part?.text}</div>`))}
  </article>`;
}

const TOOL_NAMES = { code_interpreter: "Code interpreter", file_search: "File search", web_search: "Web search" };

/** JSON text pretty-printed when it parses (arguments stream in as fragments until then). */
function prettyJson(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function ToolCall({ entry }) {
  const title = entry.tool === "function" ? `Function ${entry.name || "…"}` : TOOL_NAMES[entry.tool] || entry.tool;
  return html`<section class="tool-call" aria-label=${title}>
    <div class="tool-title"><strong>${title}</strong>${entry.streaming && html` <span class="muted">running…</span>`}</div>
    ${entry.tool === "function" && html`
      <div class="tool-label">Arguments</div>
      <pre>${prettyJson(entry.arguments) || " "}</pre>
      ${entry.output !== null && entry.output !== undefined && html`
        <div class="tool-label">Output</div><pre>${entry.output}</pre>`}`}
    ${entry.code && html`<div class="tool-label">Code</div><pre class="code">${entry.code}</pre>`}
    ${entry.outputs.map((output) => {
      if (output.type === "logs") return html`<div class="tool-label">Logs</div><pre>${output.logs}</pre>`;
      if (output.fileId) return html`<${FileImage} fileId=${output.fileId} alt="An image the code made" />`;
      if (output.url) return html`<a href=${output.url}>Image output</a>`;
      return null;
    })}
    ${entry.tool === "file_search" && Array.isArray(entry.results) && html`
      <div class="tool-label">${entry.results.length} result${entry.results.length === 1 ? "" : "s"}</div>
      ${entry.results.length > 0 && html`<ul class="search-results">
        ${entry.results.map((result) => html`<li>${result.file_name || result.filename || result.file_id}
          <span class="muted"> · score ${Number(result.score).toFixed(2)}</span></li>`)}
      </ul>`}`}
  </section>`;
}

/** The conversation: entries, then `children` (the function outputs form), scrolled to its end. */
export function Transcript({ entries, assistantLabel = "Assistant", empty, children }) {
  const container = useRef(null);
  useFollow(container, entries[entries.length - 1]);
  return html`<div class="transcript" ref=${container} tabindex="0" role="region" aria-label="Conversation">
    ${!entries.length && html`<p class="empty transcript-empty">${empty}</p>`}
    ${entries.map((entry) => {
      if (entry.kind === "user") return html`<${UserMessage} key=${entry.id} entry=${entry} />`;
      if (entry.kind === "tool") return html`<${ToolCall} key=${entry.id} entry=${entry} />`;
      return html`<${AssistantMessage} key=${entry.id} entry=${entry} label=${assistantLabel} />`;
    })}
    ${children}
  </div>`;
}

/** The message box and its buttons. Enter sends, Shift+Enter starts a new line. */
export function Composer({ value, onInput, onSend, onStop, busy, stoppable, blocked, placeholder, children }) {
  const canSend = !busy && !blocked && value.trim() !== "";
  const submit = (event) => {
    event.preventDefault();
    if (canSend) onSend();
  };
  const onKeyDown = (event) => {
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
    event.preventDefault();
    if (canSend) onSend();
  };
  return html`<form class="composer" onSubmit=${submit}>
    <${Field} label="Message" as="textarea" rows="2" value=${value} onInput=${onInput} onKeyDown=${onKeyDown}
      placeholder=${placeholder} hint="Enter sends · Shift+Enter adds a line" />
    <div class="composer-actions">
      ${children && html`<div class="composer-extras">${children}</div>`}
      ${stoppable && html`<button type="button" class="secondary" onClick=${onStop}>Stop</button>`}
      <button type="submit" disabled=${!canSend}>Send</button>
    </div>
  </form>`;
}

/** The run's (or response's) status: announced politely, with its usage when it is done. */
export function RunStatus({ status, label, usage, detail }) {
  return html`<div class="run-status">
    <p role="status" aria-live="polite" class="run-status-text">
      ${status && html`<${Badge} status=${status} /> `}${label}
    </p>
    ${usage && html`<p class="muted run-usage">
      ${formatNumber(usage.total)} tokens (${formatNumber(usage.input)} in, ${formatNumber(usage.output)} out)
    </p>`}
    ${detail}
  </div>`;
}

/** An error of the run (its last_error) or of a request, shown as an alert. */
export function RunError({ error }) {
  return html`<${ErrorNote} error=${error} />`;
}

/**
 * The function calls a run waits for, each with a box for its output, typed by hand.
 * `calls`: [{callId, name, arguments}]; `onSubmit(outputs)` gets [{callId, output}].
 */
export function FunctionCallsForm({ calls, onSubmit, busy }) {
  const [outputs, setOutputs] = useState(() => calls.map(() => ""));
  const names = calls.map((call) => call.name);
  const labelOf = (call) => (names.indexOf(call.name) === names.lastIndexOf(call.name)
    ? `Output of ${call.name}` : `Output of ${call.name} (${call.callId})`);
  const submit = (event) => {
    event.preventDefault();
    onSubmit(calls.map((call, index) => ({ callId: call.callId, output: outputs[index] })));
  };
  return html`<form class="function-calls card" onSubmit=${submit} aria-labelledby="function-calls-title">
    <h2 id="function-calls-title">${calls.length === 1 ? "A function call needs its output" : `${calls.length} function calls need their outputs`}</h2>
    <p class="muted">Answer as your code would: the run goes on with what you type.</p>
    ${calls.map((call, index) => html`<div class="function-call" key=${call.callId}>
      <div class="tool-title"><strong>${call.name}</strong> <span class="muted mono">${call.callId}</span></div>
      <pre class="json">${prettyJson(call.arguments)}</pre>
      <${Field} label=${labelOf(call)} as="textarea" rows="2" class="code" value=${outputs[index]}
        onInput=${(text) => setOutputs((list) => list.map((old, at) => (at === index ? text : old)))} />
    </div>`)}
    <button type="submit" disabled=${busy}>Submit outputs</button>
  </form>`;
}

/** Keeps the abort controller, the pending flag and the error of one streaming request at a time. */
export function useStreamTask() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const controller = useRef(null);
  useEffect(() => () => controller.current?.abort(), []);
  const start = async (task) => {
    const current = new AbortController();
    controller.current = current;
    setBusy(true);
    setError(null);
    try {
      await task(current.signal);
    } catch (caught) {
      if (!current.signal.aborted) setError(caught);
    } finally {
      if (controller.current === current) controller.current = null;
      setBusy(false);
    }
  };
  const abort = () => controller.current?.abort();
  return { busy, error, setError, start, abort };
}
