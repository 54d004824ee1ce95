// The playground's Responses mode: a model, optional instructions and function tools; each
// message is a streamed, stored response chained to the last one with previous_response_id.
// Function calls are answered by hand with function_call_output items.

import { get, stream } from "../api.js";
import { Field, html, Loading, useLoad } from "../ui.js";
import { useState } from "../vendor.js";
import {
  appendText, assistantEntry, Composer, FunctionCallsForm, RunError, RunStatus, toolEntry,
  Transcript, useStreamTask, useTranscript,
} from "./playground_chat.js";

const TERMINAL = new Set(["completed", "failed", "incomplete", "cancelled"]);
const STATUS_LABELS = {
  queued: "The response is queued.",
  in_progress: "The model is answering…",
  completed: "The response completed.",
  failed: "The response failed.",
  incomplete: "The response ended before the answer was complete.",
  cancelled: "The response was cancelled.",
};
const TOOL_ITEMS = { function_call: "function", code_interpreter_call: "code_interpreter", file_search_call: "file_search", web_search_call: "web_search" };
const FUNCTIONS_EXAMPLE = `[{"type": "function", "name": "lookup",
  "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}]`;

/** The "Functions" box as tools: an array of {type: "function", name, parameters}, or an error. */
export function parseFunctions(text) {
  if (!text.trim()) return [];
  let tools;
  try {
    tools = JSON.parse(text);
  } catch (error) {
    throw new Error(`Functions is not valid JSON: ${error.message}`);
  }
  if (!Array.isArray(tools)) throw new Error("Functions must be a JSON array of function tools.");
  tools.forEach((tool, index) => {
    if (!tool || tool.type !== "function" || typeof tool.name !== "string" || !tool.name) {
      throw new Error(`Functions[${index}] needs "type": "function" and a "name".`);
    }
  });
  return tools;
}

/** A transcript entry for an output item, or null for items it does not show (reasoning). */
function entryOf(item) {
  if (item.type === "message") {
    const parts = (item.content || []).map((part) => ({ type: "text", text: part.text ?? part.refusal ?? "" }));
    return { ...assistantEntry(item.id), parts, streaming: item.status === "in_progress" };
  }
  const tool = TOOL_ITEMS[item.type];
  if (!tool) return null;
  return {
    ...toolEntry(item.id, tool),
    name: item.name || "",
    arguments: item.arguments || "",
    code: item.code || "",
    outputs: (item.outputs || []).map((output) => (output.type === "logs" ? output : { type: "image", url: output.url })),
    results: item.results ?? null,
    callId: item.call_id,
    streaming: item.status === "in_progress" || item.status === "searching" || item.status === "interpreting",
  };
}

export default function ResponsesPlayground() {
  const models = useLoad((signal) => get("/v1/models", { signal }).then((list) => list.data.map((model) => model.id).sort()), []);
  const [model, setModel] = useState("");
  const [instructions, setInstructions] = useState("");
  const [functions, setFunctions] = useState("");
  const [message, setMessage] = useState("");
  const [response, setResponse] = useState(null);
  const [previousId, setPreviousId] = useState(null);
  const [stopped, setStopped] = useState(false);
  const [entries, transcript] = useTranscript();
  const task = useStreamTask();

  const chosenModel = model || models.data?.[0] || "";
  const calls = response?.status === "completed"
    ? response.output.filter((item) => item.type === "function_call").map((item) => ({ callId: item.call_id, name: item.name, arguments: item.arguments }))
    : [];

  const onEvent = (name, data) => {
    if (name === "response.output_item.added" || name === "response.output_item.done") {
      const entry = entryOf(data.item);
      if (entry) transcript.change(entry.id, () => entry, (old) => ({ ...old, ...entry, output: old.output ?? null }));
    } else if (name === "response.output_text.delta") {
      transcript.change(data.item_id, () => assistantEntry(data.item_id), (entry) => appendText(entry, data.content_index, data.delta));
    } else if (name === "response.function_call_arguments.delta") {
      transcript.change(data.item_id, () => toolEntry(data.item_id, "function"), (entry) => ({ ...entry, arguments: entry.arguments + data.delta }));
    } else if (name === "response.function_call_arguments.done") {
      transcript.change(data.item_id, null, (entry) => ({ ...entry, arguments: data.arguments }));
    } else if (name === "response.code_interpreter_call_code.delta") {
      transcript.change(data.item_id, () => toolEntry(data.item_id, "code_interpreter"), (entry) => ({ ...entry, code: entry.code + data.delta }));
    } else if (name.startsWith("response.") && data.response) {
      setResponse(data.response);
      // Only a stored answer can be built on; a failed one leaves the chain where it was.
      if (name === "response.completed" || name === "response.incomplete") setPreviousId(data.response.id);
    } else if (name === "error") {
      task.setError(new Error(data.message || data.error?.message || "The stream failed."));
    }
  };

  /** Streams one response with `input` (a user message, or function outputs). */
  const respond = (input) => {
    let tools;
    try {
      tools = parseFunctions(functions);
    } catch (error) {
      task.setError(error);
      return false;
    }
    setResponse(null);
    setStopped(false);
    const body = {
      model: chosenModel,
      input,
      instructions: instructions.trim() || undefined,
      tools: tools.length ? tools : undefined,
      previous_response_id: previousId || undefined,
      stream: true,
      store: true,
    };
    task.start(async (signal) => {
      try {
        await stream("/v1/responses", body, onEvent, { signal });
      } finally {
        transcript.settle();
      }
    });
    return true;
  };

  const send = () => {
    const text = message.trim();
    if (!respond(text)) return;
    transcript.add({ id: `local-${Date.now()}`, kind: "user", text, files: [] });
    setMessage("");
  };

  const submitOutputs = (outputs) => {
    for (const { callId, output } of outputs) {
      const entry = entries.find((item) => item.callId === callId);
      if (entry) transcript.change(entry.id, null, (old) => ({ ...old, output }));
    }
    respond(outputs.map(({ callId, output }) => ({ type: "function_call_output", call_id: callId, output })));
  };

  // A streamed response that is not in the background cannot be cancelled: stop reading it.
  const stop = () => {
    task.abort();
    setStopped(true);
  };

  const newConversation = () => {
    setPreviousId(null);
    setResponse(null);
    task.setError(null);
    transcript.clear();
  };

  if (models.loading && !models.data) return html`<${Loading} />`;
  if (models.error) return html`<${RunError} error=${models.error} />`;

  const status = response?.status;
  let statusLabel = "Pick a model and send a message.";
  if (stopped) statusLabel = "You stopped the answer; the next message follows the last complete one.";
  else if (status) statusLabel = STATUS_LABELS[status] || status;
  else if (task.busy) statusLabel = "Starting a response…";
  else if (task.error && !previousId && !entries.length) statusLabel = "Nothing was sent.";
  const usage = response?.usage && TERMINAL.has(status)
    ? { input: response.usage.input_tokens, output: response.usage.output_tokens, total: response.usage.total_tokens } : null;
  const responseError = response?.error ? new Error(`${response.error.message} (${response.error.code})`) : null;
  const incomplete = response?.incomplete_details?.reason;

  return html`<div class="playground">
    <section class="card playground-settings" aria-label="Settings">
      <${Field} label="Model" as="select" value=${chosenModel} options=${models.data} onInput=${setModel} disabled=${task.busy} />
      <${Field} label="Instructions" as="textarea" rows="3" value=${instructions} onInput=${setInstructions}
        placeholder="Optional: a system message for each response" />
      <${Field} label="Functions" as="textarea" rows="4" class="code" value=${functions} onInput=${setFunctions}
        placeholder=${FUNCTIONS_EXAMPLE} spellcheck="false"
        hint="Optional: a JSON array of function tools. You answer their calls by hand." />
      <div class="playground-thread">
        <h2>Conversation</h2>
        ${previousId
          ? html`<p class="muted">Chained on <span class="mono">${previousId}</span></p>`
          : html`<p class="muted">Your first message starts a new conversation.</p>`}
        <button type="button" class="secondary" onClick=${newConversation} disabled=${task.busy || !entries.length}>New conversation</button>
      </div>
    </section>
    <section class="playground-chat" aria-label="Chat">
      <${Transcript} entries=${entries} assistantLabel=${chosenModel || "Model"}
        empty="Messages and the model's answers appear here as they stream.">
        ${calls.length > 0 && !task.busy && html`<${FunctionCallsForm} key=${response.id}
          calls=${calls} onSubmit=${submitOutputs} busy=${task.busy} />`}
      <//>
      <${RunStatus} status=${stopped ? null : status} label=${statusLabel} usage=${usage} detail=${html`
        <${RunError} error=${responseError || task.error} />
        ${incomplete && html`<p class="note warn">The response ended early: ${incomplete}.</p>`}`} />
      <${Composer} value=${message} onInput=${setMessage} onSend=${send} onStop=${stop}
        busy=${task.busy} stoppable=${task.busy} blocked=${!chosenModel || calls.length > 0}
        placeholder=${`Message ${chosenModel || "the model"}…`} />
    </section>
  </div>`;
}
