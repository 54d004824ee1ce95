// One vector store: its counts, its files (live while any is being ingested), uploading files
// into it, removing them, and searching it (vector_store_search.js).

import { del, get, listAll, post } from "../api.js";
import {
  Badge,
  ConfirmDialog,
  describeError,
  ErrorNote,
  Field,
  formatBytes,
  formatNumber,
  formatTime,
  html,
  Link,
  Loading,
  navigate,
  PageHeader,
  Table,
  useAction,
  useInterval,
  useLoad,
} from "../ui.js";
import { useEffect, useRef, useState } from "../vendor.js";
import { DeleteStore, FileCounts, POLL_MS, storeHref } from "./vector_store_parts.js";
import { StoreSearch } from "./vector_store_search.js";

const storePath = (storeId) => `/v1/vector_stores/${encodeURIComponent(storeId)}`;

/** The uploaded name of each file id in `files`, each asked for once (GET /v1/files/{id}). */
function useFileNames(files) {
  const [names, setNames] = useState({});
  const asked = useRef(new Set());
  useEffect(() => {
    for (const file of files) {
      if (asked.current.has(file.id)) continue;
      asked.current.add(file.id);
      get(`/v1/files/${encodeURIComponent(file.id)}`).then(
        (found) => setNames((previous) => ({ ...previous, [file.id]: found.filename })),
        () => setNames((previous) => ({ ...previous, [file.id]: null })),
      );
    }
  }, [files]);
  return names;
}

function chunkingText(strategy) {
  if (!strategy) return "—";
  if (strategy.type === "static" && strategy.static) {
    const { max_chunk_size_tokens: size, chunk_overlap_tokens: overlap } = strategy.static;
    return `static: ${size} tokens, ${overlap} overlap`;
  }
  return strategy.type;
}

/** Uploads the picked files (purpose "assistants") and adds them to the store as one batch. */
function Upload({ storeId, onAdded }) {
  const action = useAction();
  const [count, setCount] = useState(0);
  const pick = (_value, event) => {
    const input = event.currentTarget;
    const picked = Array.from(input.files || []);
    if (!picked.length) return;
    setCount(picked.length);
    action.run(async () => {
      try {
        const uploaded = await Promise.all(picked.map((file) => {
          const form = new FormData();
          form.append("purpose", "assistants");
          form.append("file", file, file.name);
          return post("/v1/files", form);
        }));
        await post(`${storePath(storeId)}/file_batches`, { file_ids: uploaded.map((file) => file.id) });
        onAdded();
      } catch (error) {
        throw describeError(error);
      } finally {
        input.value = ""; // the same file can be picked again
      }
    });
  };
  return html`<div class="upload">
    <${Field} label="Upload files" type="file" multiple onInput=${pick} disabled=${action.pending}
      hint="Text, Markdown, PDF, Word, code… Each file is chunked and embedded; search works once it is completed." />
    ${action.pending && html`<p class="loading" role="status">Uploading ${count} ${count === 1 ? "file" : "files"}…</p>`}
    <${ErrorNote} error=${action.error} />
  </div>`;
}

function RemoveFile({ storeId, file, name, onCancel, onRemoved }) {
  const action = useAction();
  const confirm = () => action.run(async () => {
    await del(`${storePath(storeId)}/files/${encodeURIComponent(file.id)}`);
    onRemoved();
  });
  return html`<${ConfirmDialog} title="Remove file from store?" open=${Boolean(file)} onCancel=${onCancel}
    onConfirm=${confirm} pending=${action.pending} error=${action.error} confirmLabel="Remove file">
    <p>Remove <strong>${name || file?.id}</strong> from this store? Its chunks leave the index; the file itself is kept.</p>
  <//>`;
}

/** How far a file in progress got: a bar and "412 of 1,800 chunks" (the store file's
 * `progress`, null until the server has parsed and chunked it). */
function IngestProgress({ file, name }) {
  const progress = file.progress;
  if (!progress) return html`<span class="ingest-progress muted">Waiting to be chunked…</span>`;
  const label = `${formatNumber(progress.chunks_done)} of ${formatNumber(progress.chunks_total)} chunks`;
  return html`<span class="ingest-progress">
    <progress max=${Math.max(progress.chunks_total, 1)} value=${progress.chunks_done}
      aria-label=${`Ingesting ${name || file.id}`} aria-valuetext=${label}></progress>
    <span class="ingest-count">${label}</span>
  </span>`;
}

function FilesTable({ files, names, onRemove }) {
  const columns = [
    { label: "File", render: (row) => (names[row.id] ?? html`<span class="muted">${names[row.id] === null ? "deleted file" : "…"}</span>`) },
    { label: "ID", className: "id", render: (row) => row.id },
    {
      label: "Status",
      className: "status",
      render: (row) => html`<${Badge} status=${row.status} />${row.status === "in_progress" && html`<${IngestProgress} file=${row} name=${names[row.id]} />`}`,
    },
    { label: "Last error", render: (row) => (row.last_error ? html`<span class="error-text">${row.last_error.message}</span>` : "—") },
    { label: "Chunking", render: (row) => chunkingText(row.chunking_strategy) },
    { label: "Size", className: "num nowrap", render: (row) => formatBytes(row.usage_bytes) },
    {
      label: "Actions",
      className: "row-actions",
      render: (row) => html`<div class="row-buttons">
        <button type="button" class="danger" aria-label=${`Remove ${names[row.id] || row.id}`} onClick=${() => onRemove(row)}>Remove</button>
      </div>`,
    },
  ];
  return html`<${Table} caption="Files in this store" columns=${columns} rows=${files}
    empty="No files in this store yet. Upload some above." />`;
}

function Summary({ store }) {
  return html`<div class="stats store-stats">
    <div class="stat"><div class="value"><${Badge} status=${store.status} /></div><div class="label">Status</div></div>
    <div class="stat"><div class="value">${store.file_counts.completed}</div><div class="label">Completed</div></div>
    <div class="stat"><div class="value">${store.file_counts.in_progress}</div><div class="label">In progress</div></div>
    <div class="stat"><div class="value">${store.file_counts.failed}</div><div class="label">Failed</div></div>
    <div class="stat"><div class="value">${store.file_counts.total}</div><div class="label">Total files</div></div>
    <div class="stat"><div class="value">${formatBytes(store.usage_bytes)}</div><div class="label">Usage</div></div>
  </div>`;
}

export function StoreDetail({ storeId }) {
  const store = useLoad((signal) => get(storePath(storeId), { signal }), [storeId]);
  const files = useLoad((signal) => listAll(`${storePath(storeId)}/files`, { signal }), [storeId]);
  const names = useFileNames(files.data || []);
  const [removing, setRemoving] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const refresh = () => {
    store.reload();
    files.reload();
  };
  const ingesting = store.data?.file_counts?.in_progress > 0
    || (files.data || []).some((file) => file.status === "in_progress");
  useInterval(refresh, POLL_MS, ingesting);

  const data = store.data;
  const title = data ? data.name || "Untitled store" : "Vector store";
  return html`<section class="store-detail">
    <p class="back"><${Link} href=${storeHref(null)}>← All vector stores<//></p>
    <${PageHeader} title=${title} description=${data && html`<span class="mono">${data.id}</span> · created ${formatTime(data.created_at)}${data.expires_at ? ` · expires ${formatTime(data.expires_at)}` : ""}`}>
      ${data && html`<button type="button" class="danger" onClick=${() => setDeleting(data)}>Delete store</button>`}
    <//>
    <${ErrorNote} error=${store.error} />
    ${!data && !store.error && html`<${Loading} />`}
    ${data && html`
      <${Summary} store=${data} />
      <section aria-labelledby="store-files">
        <h2 id="store-files">Files ${ingesting && html`<span class="live" role="status">Ingesting… updating live</span>`}</h2>
        <${Upload} storeId=${storeId} onAdded=${refresh} />
        <${ErrorNote} error=${files.error} />
        ${files.data ? html`<${FilesTable} files=${files.data} names=${names} onRemove=${setRemoving} />` : html`<${Loading} />`}
      </section>
      <${StoreSearch} storeId=${storeId} />`}
    <${RemoveFile} key=${removing?.id} storeId=${storeId} file=${removing} name=${removing && names[removing.id]}
      onCancel=${() => setRemoving(null)} onRemoved=${() => {
        setRemoving(null);
        refresh();
      }} />
    <${DeleteStore} key=${deleting?.id} store=${deleting} onCancel=${() => setDeleting(null)}
      onDeleted=${() => navigate(storeHref(null))} />
  </section>`;
}
