// Threads: the project's threads and conversations, newest first, searchable by id or metadata
// (GET /console/api/threads: the OpenAI API lists no threads). Each links to its thread page.

import { get } from "../api.js";
import {
  Badge, ErrorNote, Field, formatTime, html, Link, Loading, PageHeader, Table, useAction, useLoad,
} from "../ui.js";
import { useEffect, useState } from "../vendor.js";
import { MetadataList } from "./thread_parts.js";

const PAGE_SIZE = 20;
const TYPING_PAUSE_MS = 300; // search once typing pauses

function listThreads(query, after, signal) {
  return get("/console/api/threads", { query: { limit: PAGE_SIZE, q: query, after }, signal });
}

/** The search box: searches as typing pauses, or at once on Enter. */
function SearchForm({ onSearch }) {
  const [text, setText] = useState("");
  useEffect(() => {
    const timer = setTimeout(() => onSearch(text.trim()), TYPING_PAUSE_MS);
    return () => clearTimeout(timer);
  }, [text]);
  const submit = (event) => {
    event.preventDefault();
    onSearch(text.trim());
  };
  return html`<form class="thread-search" role="search" onSubmit=${submit}>
    <${Field} label="Search threads" type="search" value=${text} onInput=${setText}
      placeholder="thread_… or a metadata value" autocomplete="off" spellcheck="false"
      hint="An id (or its beginning), or text in a metadata key or value." />
  </form>`;
}

const COLUMNS = [
  {
    label: "Thread",
    className: "id",
    render: (thread) => html`<${Link} href=${`/console/threads/${encodeURIComponent(thread.id)}`}>${thread.id}<//>`,
  },
  { label: "Created", render: (thread) => formatTime(thread.created_at) },
  { label: "Metadata", render: (thread) => html`<${MetadataList} metadata=${thread.metadata} />` },
  {
    label: "Last run",
    render: ({ last_run: run }) => (run
      ? html`<span class="last-run"><${Badge} status=${run.status} /> <span class="muted">${run.model} · ${formatTime(run.created_at)}</span></span>`
      : html`<span class="muted">No runs</span>`),
  },
];

export default function Page({ session }) {
  const [query, setQuery] = useState("");
  const list = useLoad((signal) => listThreads(query, undefined, signal), [query]);
  const more = useAction();
  const page = list.data;

  const loadMore = () => more.run(async () => {
    const next = await listThreads(query, page.last_id);
    list.setData({ ...next, data: [...page.data, ...next.data], first_id: page.first_id });
  });

  let body;
  if (!page && list.error) body = html`<${ErrorNote} error=${list.error} />`;
  else if (!page) body = html`<${Loading} label="Loading threads…" />`;
  else {
    const empty = query
      ? `No thread matches “${query}”.`
      : "No threads yet. Threads and conversations made through the API appear here.";
    body = html`
      <${ErrorNote} error=${list.error} />
      <${Table} caption="Threads, newest first" columns=${COLUMNS} rows=${page.data} empty=${empty} />
      <${ErrorNote} error=${more.error} />
      ${page.has_more && html`<div class="load-more">
        <button type="button" class="secondary" onClick=${loadMore} disabled=${more.pending}>
          ${more.pending ? "Loading…" : "Load more"}
        </button>
      </div>`}`;
  }
  return html`
    <${PageHeader} title="Threads"
      description=${`Threads and conversations of project ${session.project}, newest first.`} />
    <${SearchForm} onSearch=${setQuery} />
    <div aria-busy=${list.loading ? "true" : "false"}>${body}</div>`;
}
