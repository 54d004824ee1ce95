// Pieces of the vector store pages shared by the list and a store's page.

import { del } from "../api.js";
import { ConfirmDialog, html, useAction } from "../ui.js";

const PAGE = "/console/vector-stores";
export const POLL_MS = 1000;

export function storeHref(storeId) {
  return storeId ? `${PAGE}?store=${encodeURIComponent(storeId)}` : PAGE;
}

/** completed / in progress / failed / total, as one line. */
export function FileCounts({ counts }) {
  if (!counts) return "—";
  return html`<span class="file-counts">
    <span><strong>${counts.completed}</strong> completed</span>
    <span class=${counts.in_progress ? "busy" : ""}><strong>${counts.in_progress}</strong> in progress</span>
    <span class=${counts.failed ? "failed" : ""}><strong>${counts.failed}</strong> failed</span>
    <span><strong>${counts.total}</strong> total</span>
  </span>`;
}

/** Asks before deleting `store`; `onDeleted(store)` once the server did. */
export function DeleteStore({ store, onCancel, onDeleted }) {
  const action = useAction();
  const confirm = () => action.run(async () => {
    await del(`/v1/vector_stores/${encodeURIComponent(store.id)}`);
    onDeleted(store);
  });
  return html`<${ConfirmDialog} title="Delete vector store?" open=${Boolean(store)} onCancel=${onCancel}
    onConfirm=${confirm} pending=${action.pending} error=${action.error} confirmLabel="Delete vector store">
    <p>Delete <strong>${store?.name || store?.id}</strong> and its search index? The uploaded files themselves are kept.</p>
  <//>`;
}
