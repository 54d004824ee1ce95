// Small pieces of the Threads pages: metadata, files by name, images of files, downloads.

import { fileObjectUrl, get } from "../api.js";
import { html, useFileObjectUrl } from "../ui.js";
import { useEffect, useState } from "../vendor.js";

/** Metadata as a list of key: value chips ("—" when there is none). */
export function MetadataList({ metadata }) {
  const entries = Object.entries(metadata || {});
  if (!entries.length) return html`<span class="muted">—</span>`;
  return html`<ul class="meta-chips">
    ${entries.map(([key, value]) => html`<li><span class="meta-key">${key}:</span> ${value}</li>`)}
  </ul>`;
}

// File objects by id, fetched once per page load: a thread names the same files many times.
const files = new Map();

function fileObject(fileId) {
  if (!files.has(fileId)) {
    files.set(fileId, get(`/v1/files/${encodeURIComponent(fileId)}`).catch(() => null));
  }
  return files.get(fileId);
}

/** The file object of `fileId`: undefined while loading, null when it is gone. */
export function useFile(fileId) {
  const [file, setFile] = useState(undefined);
  useEffect(() => {
    let current = true;
    setFile(undefined);
    fileObject(fileId).then((found) => current && setFile(found));
    return () => {
      current = false;
    };
  }, [fileId]);
  return file;
}

/** A file's name with its id (or that it was deleted). */
export function FileName({ fileId }) {
  const file = useFile(fileId);
  let name = html`<span class="muted">…</span>`;
  if (file) name = html`<span class="file-name">${file.filename}</span>`;
  if (file === null) name = html`<span class="muted">(deleted file)</span>`;
  return html`<span class="file-ref">${name} <code class="muted">${fileId}</code></span>`;
}

/** Downloads a file (its content needs the key, so no plain link). */
export function DownloadButton({ fileId }) {
  const file = useFile(fileId);
  const [error, setError] = useState(null);
  const download = async () => {
    setError(null);
    try {
      const url = await fileObjectUrl(fileId);
      const link = document.createElement("a");
      link.href = url;
      link.download = file?.filename || fileId;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (caught) {
      setError(caught);
    }
  };
  if (file === null) return null;
  return html`<button type="button" class="link" onClick=${download}
      aria-label=${`Download ${file?.filename || fileId}`}>Download</button>
    ${error && html`<span class="error-text" role="alert">${error.message}</span>`}`;
}

/** An image file, fetched with the key and shown from a blob: URL (freed when unmounted). */
export function ImageFile({ fileId, label = "Image" }) {
  const { url, failed } = useFileObjectUrl(fileId);
  if (failed) return html`<p class="muted">${label}: <code>${fileId}</code> could not be loaded.</p>`;
  if (!url) return html`<p class="muted">Loading ${label.toLowerCase()}…</p>`;
  return html`<figure class="image-part">
    <img src=${url} alt=${`${label} ${fileId}`} />
    <figcaption class="muted"><${FileName} fileId=${fileId} /></figcaption>
  </figure>`;
}

/** Tokens of a run or step: "10 in · 5 out · 15 total". */
export function formatUsage(usage) {
  if (!usage) return "—";
  const number = (value) => Number(value ?? 0).toLocaleString();
  return `${number(usage.prompt_tokens)} in · ${number(usage.completion_tokens)} out · ${number(usage.total_tokens)} total`;
}
