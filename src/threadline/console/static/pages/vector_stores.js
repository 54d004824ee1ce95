// The project's vector stores: the list, creating and deleting stores. The store picked is in the
// address's query (?store=vs_…) so a reload or the Back button keeps it; its page is
// vector_store_detail.js.

import { listAll, post } from "../api.js";
import {
  Badge,
  Check,
  describeError,
  Dialog,
  ErrorNote,
  Field,
  formatBytes,
  formatTime,
  html,
  Link,
  Loading,
  MetadataRows,
  metadataFromRows,
  navigate,
  PageHeader,
  Table,
  useAction,
  useInterval,
  useLoad,
} from "../ui.js";
import { useEffect, useState } from "../vendor.js";
import { StoreDetail } from "./vector_store_detail.js";
import { DeleteStore, FileCounts, POLL_MS, storeHref } from "./vector_store_parts.js";

/** The store named in the address, following Back and Forward and in-console links. */
function useSelectedStore() {
  const read = () => new URLSearchParams(location.search).get("store");
  const [storeId, setStoreId] = useState(read);
  useEffect(() => {
    const update = () => setStoreId(read());
    window.addEventListener("popstate", update);
    window.addEventListener("console:navigate", update);
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener("console:navigate", update);
    };
  }, []);
  return storeId;
}

function CreateStore({ onCreated, onCancel }) {
  const [name, setName] = useState("");
  const [metadata, setMetadata] = useState([]);
  const [expires, setExpires] = useState(false);
  const [days, setDays] = useState("7");
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const pairs = metadataFromRows(metadata);
      if (pairs.error) throw new Error(pairs.error);
      const body = { name: name.trim() || undefined };
      if (Object.keys(pairs.metadata).length) body.metadata = pairs.metadata;
      if (expires) {
        const count = Number(days);
        if (!Number.isInteger(count) || count < 1 || count > 365) throw new Error("Expire after 1 to 365 days.");
        body.expires_after = { anchor: "last_active_at", days: count };
      }
      try {
        onCreated(await post("/v1/vector_stores", body));
      } catch (error) {
        throw describeError(error);
      }
    });
  };
  return html`<form class="stack-form" onSubmit=${submit} novalidate>
    <${Field} label="Name" value=${name} onInput=${setName} maxlength="256" autofocus />
    <${MetadataRows} rows=${metadata} onChange=${setMetadata} />
    <fieldset>
      <legend>Expiry</legend>
      <${Check} label="Expire when unused" checked=${expires} onChange=${setExpires} />
      ${expires && html`<${Field} label="Days after its last use" type="number" min="1" max="365" step="1"
        value=${days} onInput=${setDays} hint="1 to 365. An expired store can no longer be searched." />`}
    </fieldset>
    <div class="form-footer">
      <${ErrorNote} error=${action.error} />
      <div class="form-actions">
        <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
        <button type="submit" disabled=${action.pending}>Create vector store</button>
      </div>
    </div>
  </form>`;
}

function StoreList() {
  const list = useLoad((signal) => listAll("/v1/vector_stores", { signal }));
  const [creating, setCreating] = useState(false);
  const [deleting, setDeleting] = useState(null);
  const stores = list.data || [];
  useInterval(list.reload, POLL_MS, stores.some((store) => store.file_counts?.in_progress > 0));

  const columns = [
    {
      label: "Name",
      render: (row) => html`<${Link} href=${storeHref(row.id)}>${row.name || "Untitled store"}<//>`,
    },
    { label: "ID", className: "id", render: (row) => row.id },
    { label: "Files", render: (row) => html`<${FileCounts} counts=${row.file_counts} />` },
    { label: "Usage", className: "num nowrap", render: (row) => formatBytes(row.usage_bytes) },
    { label: "Status", render: (row) => html`<${Badge} status=${row.status} />` },
    { label: "Created", render: (row) => formatTime(row.created_at) },
    {
      label: "Actions",
      className: "row-actions",
      render: (row) => html`<div class="row-buttons">
        <button type="button" class="danger" aria-label=${`Delete ${row.name || row.id}`} onClick=${() => setDeleting(row)}>Delete</button>
      </div>`,
    },
  ];

  return html`<section>
    <${PageHeader} title="Vector stores" description="Files chunked and indexed for file_search. Open a store to add files and search it.">
      <button type="button" onClick=${() => setCreating(true)}>New vector store</button>
    <//>
    <${ErrorNote} error=${list.error} />
    ${list.loading && !list.data
      ? html`<${Loading} />`
      : html`<${Table} caption="Vector stores" columns=${columns} rows=${stores}
          empty="No vector stores yet. Create one with New vector store." />`}
    <${Dialog} title="New vector store" open=${creating} onClose=${() => setCreating(false)}>
      <${CreateStore} onCancel=${() => setCreating(false)} onCreated=${(store) => navigate(storeHref(store.id))} />
    <//>
    <${DeleteStore} key=${deleting?.id} store=${deleting} onCancel=${() => setDeleting(null)}
      onDeleted=${(store) => {
        list.setData(stores.filter((item) => item.id !== store.id));
        setDeleting(null);
      }} />
  </section>`;
}

export default function Page() {
  const storeId = useSelectedStore();
  if (storeId) return html`<${StoreDetail} key=${storeId} storeId=${storeId} />`;
  return html`<${StoreList} />`;
}
