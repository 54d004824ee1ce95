// The playground's Assistants mode: one thread, a streamed run per message, function calls
// answered by hand. Run events (thread.run.*, thread.run.step.*, thread.message.*) are folded
// into the shared transcript as they arrive.

import { listAll, post, stream } from "../api.js";
import { Empty, Field, html, Link, Loading, useLoad } from "../ui.js";
import { useState } from "../vendor.js";
import {
  appendText, assistantEntry, Composer, FunctionCallsForm, RunError, RunStatus, toolEntry,
  Transcript, useStreamTask, useTranscript,
} from "./playground_chat.js";
import { AttachFiles } from "./playground_files.js";

const FILE_TOOLS = ["code_interpreter", "file_search"];
const ACTIVE = new Set(["queued", "in_progress", "requires_action", "cancelling"]);
const RUN_LABELS = {
  queued: "The run is queued.",
  in_progress: "The assistant is answering…",
  requires_action: "The run waits for your function outputs.",
  cancelling: "Cancelling the run…",
  cancelled: "The run was cancelled.",
  failed: "The run failed.",
  completed: "The run completed.",
  incomplete: "The run ended before the answer was complete.",
  expired: "The run expired.",
};

/** A code interpreter's outputs with `delta`'s added (logs may arrive in pieces, by index). */
function mergeOutputs(outputs, delta) {
  const next = outputs.slice();
  for (const [position, output] of (delta || []).entries()) {
    const at = output.index ?? position;
    const image = output.type === "image" ? { type: "image", fileId: output.image?.file_id } : null;
    if (image) next[at] = image;
    else if (output.type === "logs") next[at] = { type: "logs", logs: (next[at]?.logs || "") + (output.logs || "") };
  }
  return next;
}

/** A tool entry with a step delta's tool call added (`whole`: the call is complete, not a delta). */
function mergeToolCall(entry, call, whole) {
  const next = { ...entry, tool: call.type || entry.tool, callId: call.id || entry.callId };
  if (call.function) {
    next.name = call.function.name || entry.name;
    next.arguments = whole ? call.function.arguments || "" : entry.arguments + (call.function.arguments || "");
    next.output = call.function.output ?? entry.output;
  }
  if (call.code_interpreter) {
    next.code = whole ? call.code_interpreter.input || "" : entry.code + (call.code_interpreter.input || "");
    next.outputs = mergeOutputs(whole ? [] : entry.outputs, call.code_interpreter.outputs);
  }
  if (call.file_search?.results) next.results = call.file_search.results;
  return next;
}

/** A message's content as transcript parts. */
function partsOf(content) {
  return (content || []).map((part) => (part.type === "image_file"
    ? { type: "image", fileId: part.image_file.file_id }
    : { type: "text", text: part.text?.value ?? "" }));
}

export default function AssistantsPlayground() {
  const assistants = useLoad((signal) => listAll("/v1/assistants", { signal }), []);
  const [assistantId, setAssistantId] = useState("");
  const [threadId, setThreadId] = useState(null);
  const [run, setRun] = useState(null);
  const [message, setMessage] = useState("");
  const [files, setFiles] = useState([]);
  const [uploading, setUploading] = useState(null);
  const [entries, transcript] = useTranscript();
  const task = useStreamTask();

  const list = assistants.data || [];
  const assistant = list.find((item) => item.id === assistantId) || list[0] || null;
  const fileTools = (assistant?.tools || []).filter((tool) => FILE_TOOLS.includes(tool.type)).map((tool) => ({ type: tool.type }));
  const requiresAction = run?.status === "requires_action";
  const calls = requiresAction
    ? run.required_action.submit_tool_outputs.tool_calls.map((call) => ({ callId: call.id, name: call.function.name, arguments: call.function.arguments }))
    : [];

  const onEvent = (name, data) => {
    if (name === "thread.message.created" || name === "thread.message.in_progress") {
      transcript.change(data.id, () => assistantEntry(data.id), (entry) => entry);
    } else if (name === "thread.message.delta") {
      transcript.change(data.id, () => assistantEntry(data.id), (entry) => (data.delta.content || []).reduce((next, part) => {
        if (part.type === "image_file") {
          const parts = next.parts.slice();
          parts[part.index] = { type: "image", fileId: part.image_file.file_id };
          return { ...next, parts };
        }
        return appendText(next, part.index, part.text?.value || "");
      }, entry));
    } else if (name === "thread.message.completed" || name === "thread.message.incomplete") {
      transcript.change(data.id, () => assistantEntry(data.id), (entry) => ({ ...entry, parts: partsOf(data.content), streaming: false }));
    } else if (name === "thread.run.step.delta") {
      for (const call of data.delta.step_details?.tool_calls || []) {
        const id = `${data.id}:${call.index}`;
        transcript.change(id, () => toolEntry(id, call.type), (entry) => mergeToolCall(entry, call, false));
      }
    } else if (name.startsWith("thread.run.step.") && data.step_details?.type === "tool_calls") {
      const done = name !== "thread.run.step.created" && name !== "thread.run.step.in_progress";
      data.step_details.tool_calls.forEach((call, index) => {
        const id = `${data.id}:${index}`;
        transcript.change(id, () => toolEntry(id, call.type), (entry) => ({ ...mergeToolCall(entry, call, true), streaming: !done }));
      });
    } else if (name.startsWith("thread.run.") && !name.startsWith("thread.run.step.")) {
      setRun(data);
    } else if (name === "error") {
      task.setError(new Error(data.message || data.error?.message || "The stream failed."));
    }
  };

  const streamRun = (path, body) => task.start(async (signal) => {
    try {
      await stream(path, body, onEvent, { signal });
    } finally {
      transcript.settle();
    }
  });

  const send = () => {
    const text = message.trim();
    const picked = files;
    const localId = `local-${Date.now()}`;
    transcript.add({ id: localId, kind: "user", text, files: picked.map((file) => ({ name: file.name })) });
    setMessage("");
    setFiles([]);
    setRun(null);
    task.start(async (signal) => {
      let created;
      try {
        const attachments = [];
        for (const file of picked) {
          setUploading(file.name);
          const form = new FormData();
          form.append("purpose", "assistants");
          form.append("file", file);
          const uploaded = await post("/v1/files", form, { signal });
          attachments.push({ file_id: uploaded.id, tools: fileTools });
        }
        setUploading(null);
        let thread = threadId;
        if (!thread) {
          thread = (await post("/v1/threads", {}, { signal })).id;
          setThreadId(thread);
        }
        created = await post(`/v1/threads/${thread}/messages`, { role: "user", content: text, attachments }, { signal });
        transcript.change(localId, null, (entry) => ({
          ...entry, id: created.id, files: entry.files.map((file, index) => ({ ...file, id: attachments[index]?.file_id })),
        }));
        await stream(`/v1/threads/${thread}/runs`, { assistant_id: assistant.id, stream: true }, onEvent, { signal });
      } catch (error) {
        if (!created) {
          // Nothing reached the thread: the message and its files go back to try again.
          transcript.change(localId, null, (entry) => ({ ...entry, failed: true }));
          setMessage(text);
          setFiles(picked);
        }
        throw error;
      } finally {
        setUploading(null);
        transcript.settle();
      }
    });
  };

  const submitOutputs = (outputs) => streamRun(`/v1/threads/${threadId}/runs/${run.id}/submit_tool_outputs`, {
    tool_outputs: outputs.map(({ callId, output }) => ({ tool_call_id: callId, output })),
    stream: true,
  });

  const stop = async () => {
    if (!run || !ACTIVE.has(run.status)) {
      task.abort(); // no run yet (uploads, the message): stop the requests instead
      return;
    }
    try {
      const cancelled = await post(`/v1/threads/${threadId}/runs/${run.id}/cancel`, {});
      if (!task.busy) setRun(cancelled); // while streaming, the stream reports the cancellation
    } catch (error) {
      task.setError(error);
    }
  };

  const newThread = () => {
    setThreadId(null);
    setRun(null);
    task.setError(null);
    transcript.clear();
  };

  if (assistants.loading && !assistants.data) return html`<${Loading} />`;
  if (assistants.error) return html`<${RunError} error=${assistants.error} />`;

  let statusLabel = "Pick an assistant and send a message.";
  if (uploading) statusLabel = `Uploading ${uploading}…`;
  else if (run) statusLabel = RUN_LABELS[run.status] || run.status;
  else if (task.busy) statusLabel = "Starting a run…";
  const usage = run?.usage && !ACTIVE.has(run.status)
    ? { input: run.usage.prompt_tokens, output: run.usage.completion_tokens, total: run.usage.total_tokens } : null;
  const runError = run?.last_error ? new Error(`${run.last_error.message} (${run.last_error.code})`) : null;
  const incomplete = run?.incomplete_details?.reason;

  return html`<div class="playground">
    <section class="card playground-settings" aria-label="Settings">
      ${list.length
        ? html`<${Field} label="Assistant" as="select" value=${assistant?.id}
            options=${list.map((item) => ({ value: item.id, label: item.name ? `${item.name} (${item.model})` : `${item.id} (${item.model})` }))}
            onInput=${setAssistantId} disabled=${task.busy}
            hint=${assistant && `Tools: ${assistant.tools.map((tool) => tool.type).join(", ") || "none"}`} />`
        : html`<${Empty}>No assistants yet. <${Link} href="/console/assistants">Create one<//> to try it here.<//>`}
      <div class="playground-thread">
        <h2>Thread</h2>
        ${threadId
          ? html`<p><${Link} href=${`/console/threads/${threadId}`}>Open thread <span class="mono thread-id">${threadId}</span><//></p>`
          : html`<p class="muted">Your first message starts a new thread.</p>`}
        <button type="button" class="secondary" onClick=${newThread} disabled=${task.busy || !threadId}>New thread</button>
      </div>
    </section>
    <section class="playground-chat" aria-label="Chat">
      <${Transcript} entries=${entries} assistantLabel=${assistant?.name || "Assistant"}
        empty="Messages and the assistant's answers appear here as they stream.">
        ${requiresAction && !task.busy && html`<${FunctionCallsForm} key=${run.id + calls.map((call) => call.callId).join()}
          calls=${calls} onSubmit=${submitOutputs} busy=${task.busy} />`}
      <//>
      <${RunStatus} status=${run?.status} label=${statusLabel} usage=${usage} detail=${html`
        <${RunError} error=${runError || task.error} />
        ${incomplete && html`<p class="note warn">The run ended early: ${incomplete}.</p>`}`} />
      <${Composer} value=${message} onInput=${setMessage} onSend=${send} onStop=${stop}
        busy=${task.busy} stoppable=${task.busy || requiresAction} blocked=${!assistant || requiresAction}
        placeholder=${assistant ? `Message ${assistant.name || "the assistant"}…` : "Create an assistant first"}>
        <${AttachFiles} files=${files} onChange=${setFiles} disabled=${task.busy || !fileTools.length}
          hint=${fileTools.length ? undefined : "Files need code_interpreter or file_search on the assistant."} />
      <//>
    </section>
  </div>`;
}
