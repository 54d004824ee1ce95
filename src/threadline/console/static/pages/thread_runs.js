// A thread's runs, newest first, each with its facts and its steps: the messages it wrote and
// its tool calls (functions with their outputs, code with its logs and images, file search
// results with their content).

import { listAll } from "../api.js";
import { Badge, ErrorNote, formatTime, html, Loading, useLoad } from "../ui.js";
import { useState } from "../vendor.js";
import { FileName, formatUsage, ImageFile } from "./thread_parts.js";

export const ACTIVE_STATUSES = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
const FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content";

/** A JSON string pretty-printed when it parses, else as it is. */
function pretty(text) {
  if (typeof text !== "string") return JSON.stringify(text, null, 2);
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function Code({ label, children }) {
  return html`<div class="code-block">
    <p class="part-label">${label}</p>
    <pre tabindex="0" aria-label=${label}>${children}</pre>
  </div>`;
}

function FunctionCall({ call }) {
  const { name, arguments: args, output } = call.function;
  return html`<div class="tool-call">
    <p class="tool-title"><span class="tool-type">function</span> <code>${name}</code></p>
    <${Code} label="Arguments">${pretty(args)}<//>
    ${output === null || output === undefined
      ? html`<p class="muted">No output yet.</p>`
      : html`<${Code} label="Output">${pretty(output)}<//>`}
  </div>`;
}

function CodeInterpreterCall({ call }) {
  const { input, outputs = [] } = call.code_interpreter;
  return html`<div class="tool-call">
    <p class="tool-title"><span class="tool-type">code interpreter</span></p>
    <${Code} label="Input code">${input}<//>
    ${outputs.map((output) => (output.type === "logs"
      ? html`<${Code} label="Logs">${output.logs}<//>`
      : html`<${ImageFile} fileId=${output.image?.file_id} label="Output image" />`))}
  </div>`;
}

function FileSearchCall({ call }) {
  const results = call.file_search?.results || [];
  return html`<div class="tool-call">
    <p class="tool-title"><span class="tool-type">file search</span>
      <span class="muted">${results.length} result${results.length === 1 ? "" : "s"}</span></p>
    <ol class="search-results">
      ${results.map((result) => html`<li>
        <p><${FileName} fileId=${result.file_id} />
          <span class="score">score ${Number(result.score).toFixed(3)}</span></p>
        ${(result.content || []).map((part) => html`<blockquote>${part.text}</blockquote>`)}
      </li>`)}
    </ol>
  </div>`;
}

function ToolCall({ call }) {
  if (call.type === "function") return html`<${FunctionCall} call=${call} />`;
  if (call.type === "code_interpreter") return html`<${CodeInterpreterCall} call=${call} />`;
  if (call.type === "file_search") return html`<${FileSearchCall} call=${call} />`;
  return html`<div class="tool-call"><p class="tool-title">${call.type}</p></div>`;
}

function StepView({ step }) {
  const details = step.step_details;
  const title = details.type === "message_creation" ? "Message creation" : "Tool calls";
  return html`<li class="step">
    <p class="step-head">
      <strong>${title}</strong> <${Badge} status=${step.status} />
      <span class="muted">${formatTime(step.created_at)}${step.usage ? ` · ${formatUsage(step.usage)}` : ""}</span>
    </p>
    ${details.type === "message_creation"
      ? html`<p>Wrote <a href=${`#${details.message_creation.message_id}`}><code>${details.message_creation.message_id}</code></a></p>`
      : details.tool_calls.map((call) => html`<${ToolCall} key=${call.id} call=${call} />`)}
    ${step.last_error && html`<p class="note error">${step.last_error.code}: ${step.last_error.message}</p>`}
  </li>`;
}

function StepList({ threadId, run, tick }) {
  const active = ACTIVE_STATUSES.has(run.status);
  const path = `/v1/threads/${encodeURIComponent(threadId)}/runs/${encodeURIComponent(run.id)}/steps`;
  const steps = useLoad(
    (signal) => listAll(path, { query: { order: "asc", "include[]": FILE_SEARCH_CONTENT }, signal }),
    [run.id, run.status, active ? tick : 0],
  );
  if (!steps.data && steps.error) return html`<${ErrorNote} error=${steps.error} />`;
  if (!steps.data) return html`<${Loading} label="Loading steps…" />`;
  if (!steps.data.length) return html`<p class="muted">No steps.</p>`;
  return html`<ol class="steps">${steps.data.map((step) => html`<${StepView} key=${step.id} step=${step} />`)}</ol>`;
}

function PendingCalls({ run }) {
  const calls = run.required_action?.submit_tool_outputs?.tool_calls || [];
  if (!calls.length) return null;
  const names = calls.map((call, index) => html`${index ? ", " : ""}<code>${call.function.name}</code>`);
  return html`<p class="note warn">Waiting for the outputs of ${names} (submit_tool_outputs).</p>`;
}

function RunCard({ threadId, run, open: initiallyOpen, tick }) {
  const [open, setOpen] = useState(initiallyOpen);
  const headingId = `run-${run.id}`;
  return html`<article class="card run" aria-labelledby=${headingId}>
    <header class="run-head">
      <h3 id=${headingId}><${Badge} status=${run.status} /> <span>${run.model}</span></h3>
      <span class="muted">${formatTime(run.created_at)}</span>
    </header>
    <dl class="facts">
      <dt>Run</dt><dd><code>${run.id}</code></dd>
      <dt>Assistant</dt><dd><code>${run.assistant_id}</code></dd>
      <dt>Tokens</dt><dd>${formatUsage(run.usage)}</dd>
      ${run.completed_at && html`<dt>Completed</dt><dd>${formatTime(run.completed_at)}</dd>`}
    </dl>
    <${PendingCalls} run=${run} />
    ${run.last_error && html`<p class="note error">${run.last_error.code}: ${run.last_error.message}</p>`}
    ${run.incomplete_details && html`<p class="note warn">Incomplete: ${String(run.incomplete_details.reason).replaceAll("_", " ")}</p>`}
    <details open=${open} onToggle=${(event) => setOpen(event.currentTarget.open)}>
      <summary>Steps</summary>
      ${open && html`<${StepList} threadId=${threadId} run=${run} tick=${tick} />`}
    </details>
  </article>`;
}

/** The runs, newest first; the newest shows its steps at once, the others when opened. */
export function RunList({ threadId, runs, tick }) {
  if (!runs.length) return html`<p class="empty">No runs yet.</p>`;
  return html`<div class="runs">
    ${runs.map((run, index) => html`<${RunCard} key=${run.id} threadId=${threadId} run=${run} open=${index === 0} tick=${tick} />`)}
  </div>`;
}
