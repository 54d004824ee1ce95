// One thread: its facts, its messages in order (left) and its runs with their steps (right);
// stacked on a narrow screen. Refreshes while a run is active.

import { ApiError, get, listAll } from "../api.js";
import {
  CopyButton, ErrorNote, formatTime, html, Link, Loading, PageHeader, useInterval, useLoad,
} from "../ui.js";
import { useState } from "../vendor.js";
import { Transcript } from "./thread_messages.js";
import { FileName, MetadataList } from "./thread_parts.js";
import { ACTIVE_STATUSES, RunList } from "./thread_runs.js";

const REFRESH_MS = 1500;
const MAX_MESSAGES = 1000;
const MAX_RUNS = 200;

async function loadThread(threadId, signal) {
  const base = `/v1/threads/${encodeURIComponent(threadId)}`;
  let thread;
  try {
    thread = await get(base, { signal });
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return { missing: true };
    throw error;
  }
  const [messages, runs] = await Promise.all([
    listAll(`${base}/messages`, { query: { order: "asc" }, max: MAX_MESSAGES, signal }),
    listAll(`${base}/runs`, { query: { order: "desc" }, max: MAX_RUNS, signal }),
  ]);
  return { thread, messages, runs };
}

function Back() {
  return html`<p class="back"><${Link} href="/console/threads">← All threads<//></p>`;
}

function ToolResources({ resources }) {
  const fileIds = resources?.code_interpreter?.file_ids || [];
  const storeIds = resources?.file_search?.vector_store_ids || [];
  if (!fileIds.length && !storeIds.length) return html`<span class="muted">—</span>`;
  return html`<ul class="plain-list">
    ${fileIds.map((id) => html`<li>Code interpreter: <${FileName} fileId=${id} /></li>`)}
    ${storeIds.map((id) => html`<li>File search: vector store <code>${id}</code></li>`)}
  </ul>`;
}

function ThreadFacts({ thread }) {
  return html`<section class="card thread-facts" aria-label="Thread details">
    <dl class="facts">
      <dt>Id</dt><dd><code>${thread.id}</code> <${CopyButton} text=${thread.id} label="Copy id" /></dd>
      <dt>Created</dt><dd>${formatTime(thread.created_at)}</dd>
      <dt>Metadata</dt><dd><${MetadataList} metadata=${thread.metadata} /></dd>
      <dt>Tool resources</dt><dd><${ToolResources} resources=${thread.tool_resources} /></dd>
    </dl>
  </section>`;
}

export default function Page({ params }) {
  const { threadId } = params;
  const [tick, setTick] = useState(0);
  const load = useLoad((signal) => loadThread(threadId, signal), [threadId]);
  const data = load.data;
  const active = Boolean(data?.runs?.some((run) => ACTIVE_STATUSES.has(run.status)));
  useInterval(() => {
    setTick((value) => value + 1);
    load.reload();
  }, REFRESH_MS, active);

  if (!data) {
    return html`<${Back} /><${PageHeader} title="Thread" />
      ${load.error ? html`<${ErrorNote} error=${load.error} />` : html`<${Loading} label="Loading the thread…" />`}`;
  }
  if (data.missing) {
    return html`<${Back} /><${PageHeader} title="Thread" />
      <div class="note warn" role="status">
        <p>No thread <code>${threadId}</code> in this project.</p>
        <p>It may have been deleted, or belong to another project.</p>
      </div>`;
  }
  const { thread, messages, runs } = data;
  return html`<${Back} />
    <${PageHeader} title="Thread"
      description=${`${messages.length} message${messages.length === 1 ? "" : "s"}, ${runs.length} run${runs.length === 1 ? "" : "s"}${active ? " · a run is active, refreshing" : ""}`} />
    <${ErrorNote} error=${load.error} />
    <${ThreadFacts} thread=${thread} />
    <div class="thread-layout">
      <section class="thread-messages" aria-labelledby="messages-heading">
        <h2 id="messages-heading">Messages</h2>
        <${Transcript} messages=${messages} />
      </section>
      <section class="thread-runs" aria-labelledby="runs-heading">
        <h2 id="runs-heading">Runs</h2>
        <${RunList} threadId=${thread.id} runs=${runs} tick=${tick} />
      </section>
    </div>`;
}
