// The project's assistants: every page of the list, and creating, editing and deleting them
// (the form is in assistant_form.js).

import { del, get, listAll } from "../api.js";
import {
  Badge,
  ConfirmDialog,
  Dialog,
  ErrorNote,
  formatTime,
  html,
  Loading,
  PageHeader,
  Table,
  useAction,
  useLoad,
} from "../ui.js";
import { useState } from "../vendor.js";
import { AssistantForm } from "./assistant_form.js";

function ToolBadges({ tools }) {
  if (!tools?.length) return html`<span class="muted">—</span>`;
  return html`<span class="badges">
    ${tools.map((tool, index) => (tool.type === "function"
      ? html`<span class="badge badge-function" key=${index}><code>${tool.function.name}()</code></span>`
      : html`<${Badge} key=${index} status=${tool.type} />`))}
  </span>`;
}

/** What the form's selects offer: the models and vector stores, loaded once for the page. */
function useChoices() {
  return useLoad(async (signal) => {
    const [models, stores] = await Promise.all([
      get("/v1/models", { signal }).then((page) => page.data),
      listAll("/v1/vector_stores", { signal }),
    ]);
    return { models, stores };
  });
}

function DeleteAssistant({ assistant, onCancel, onDeleted }) {
  const action = useAction();
  const confirm = () => action.run(async () => {
    await del(`/v1/assistants/${encodeURIComponent(assistant.id)}`);
    onDeleted(assistant);
  });
  return html`<${ConfirmDialog} title="Delete assistant?" open=${Boolean(assistant)} onCancel=${onCancel}
    onConfirm=${confirm} pending=${action.pending} error=${action.error} confirmLabel="Delete assistant">
    <p>Delete <strong>${assistant?.name || assistant?.id}</strong>? Its threads stay; runs can no longer use it.</p>
  <//>`;
}

export default function Page() {
  const list = useLoad((signal) => listAll("/v1/assistants", { signal }));
  const choices = useChoices();
  // The form's subject: null (closed), "new", or the assistant being edited.
  const [editing, setEditing] = useState(null);
  const [deleting, setDeleting] = useState(null);
  const assistants = list.data || [];

  const saved = (assistant) => {
    const others = assistants.filter((item) => item.id !== assistant.id);
    list.setData(editing === "new" ? [assistant, ...others] : assistants.map((item) => (item.id === assistant.id ? assistant : item)));
    setEditing(null);
  };
  const deleted = (assistant) => {
    list.setData(assistants.filter((item) => item.id !== assistant.id));
    setDeleting(null);
  };

  const columns = [
    { label: "Name", render: (row) => row.name || html`<span class="muted">Untitled</span>` },
    { label: "ID", className: "id", render: (row) => row.id },
    { label: "Model", className: "nowrap", render: (row) => html`<code>${row.model}</code>` },
    { label: "Tools", render: (row) => html`<${ToolBadges} tools=${row.tools} />` },
    { label: "Created", render: (row) => formatTime(row.created_at) },
    {
      label: "Actions",
      className: "row-actions",
      render: (row) => html`<div class="row-buttons">
        <button type="button" class="secondary" aria-label=${`Edit ${row.name || row.id}`} onClick=${() => setEditing(row)}>Edit</button>
        <button type="button" class="danger" aria-label=${`Delete ${row.name || row.id}`} onClick=${() => setDeleting(row)}>Delete</button>
      </div>`,
    },
  ];

  const title = editing === "new" ? "New assistant" : `Edit ${editing?.name || editing?.id || "assistant"}`;
  return html`<section class="assistants-page">
    <${PageHeader} title="Assistants" description="The assistants of this project: their model, instructions and tools.">
      <button type="button" onClick=${() => setEditing("new")}>New assistant</button>
    <//>
    <${ErrorNote} error=${list.error} />
    ${list.loading && !list.data
      ? html`<${Loading} />`
      : html`<${Table} caption="Assistants" columns=${columns} rows=${assistants}
          empty="No assistants yet. Create one with New assistant." />`}
    <${Dialog} title=${title} open=${editing !== null} onClose=${() => setEditing(null)}>
      <${ErrorNote} error=${choices.error} />
      <${AssistantForm} assistant=${editing === "new" ? null : editing}
        models=${choices.data?.models || []} stores=${choices.data?.stores || []}
        onSaved=${saved} onCancel=${() => setEditing(null)} />
    <//>
    <${DeleteAssistant} key=${deleting?.id} assistant=${deleting} onCancel=${() => setDeleting(null)} onDeleted=${deleted} />
  </section>`;
}
