// Keys (master key only): every API key with its limits and status, created with every option,
// rotated or revoked; and the projects' own limits and budgets, editable.

import { del, get, post } from "../api.js";
import {
  Badge, Check, Dialog, ErrorNote, Field, formatNumber, formatTime, html, Loading, PageHeader, Table, useLoad,
} from "../ui.js";
import { useState } from "../vendor.js";
import { Confirm, CreateKeyForm, ProjectForm, SecretView } from "./keys_forms.js";

function keyStatus(key, now) {
  if (key.revoked_at) return "revoked";
  if (key.expires_at && key.expires_at * 1000 <= now) return "expired";
  return "active";
}

/** A scope's limits: "60 rpm · 10,000 tpm · 4 parallel · $5/month" (each unbroken). */
function Limits({ scope }) {
  const parts = [];
  if (scope.rpm) parts.push(`${formatNumber(scope.rpm)} rpm`);
  if (scope.tpm) parts.push(`${formatNumber(scope.tpm)} tpm`);
  if (scope.max_parallel) parts.push(`${formatNumber(scope.max_parallel)} parallel`);
  if (scope.budget_usd) parts.push(`$${scope.budget_usd}/${scope.budget_period || "month"}`);
  if (!parts.length) return html`<span class="muted">None</span>`;
  return parts.map((part, index) => html`${index ? " · " : ""}<span class="nowrap">${part}</span>`);
}

const formatModels = (models) => (models ? models.join(", ") : "Any");

/** A day, with the exact time on hover. */
function When({ seconds }) {
  const day = new Date(seconds * 1000).toLocaleDateString(undefined, { dateStyle: "medium" });
  return html`<time datetime=${new Date(seconds * 1000).toISOString()} title=${formatTime(seconds)}>${day}</time>`;
}

function formatDay(day) {
  if (!day) return "—";
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { timeZone: "UTC", dateStyle: "medium" });
}

/** Each key's last day with usage (UTC), from the usage report. */
async function lastUsedDays(session, signal) {
  const report = await get("/admin/usage", { session, query: { group_by: "key,day" }, signal });
  const last = new Map();
  for (const row of report.data) {
    if (row.key_id && (!last.has(row.key_id) || last.get(row.key_id) < row.day)) last.set(row.key_id, row.day);
  }
  return last;
}

async function loadAll(session, signal) {
  const [keys, projects, lastUsed] = await Promise.all([
    get("/admin/keys", { session, signal }),
    get("/admin/projects", { session, signal }),
    lastUsedDays(session, signal),
  ]);
  return { keys: keys.data, projects: projects.data, lastUsed };
}

function KeysTable({ keys, lastUsed, onRotate, onRevoke }) {
  const now = Date.now();
  const columns = [
    {
      label: "Key",
      className: "full",
      render: (key) => html`<strong>${key.name || "Unnamed"}</strong>
        <div class="mono">${key.id}</div><div class="muted mono">${key.hint}</div>`,
    },
    { label: "Project", render: (key) => key.project },
    {
      label: "Limits",
      render: (key) => html`<${Limits} scope=${key} />${key.ip_allowlist && html`<div class="muted">IPs: ${key.ip_allowlist.join(", ")}</div>`}`,
    },
    { label: "Models", render: (key) => formatModels(key.models), className: "models" },
    {
      label: "Expires",
      render: (key) => (key.expires_at ? html`<${When} seconds=${key.expires_at} />` : "Never"),
      className: "nowrap",
    },
    {
      // One column for both dates keeps the table within 1280 pixels.
      label: "Created, last used",
      render: (key) => html`<${When} seconds=${key.created_at} />
        <div class="muted">${lastUsed.has(key.id) ? `used ${formatDay(lastUsed.get(key.id))}` : "not used yet"}</div>`,
      className: "nowrap",
    },
    { label: "Status", render: (key) => html`<${Badge} status=${keyStatus(key, now)} />` },
    {
      label: "Actions",
      render: (key) => (key.revoked_at ? null : html`<div class="row-buttons">
        <button type="button" class="secondary small" onClick=${() => onRotate(key)}
          aria-label=${`Rotate ${key.name || key.id}`}>Rotate</button>
        <button type="button" class="danger small" onClick=${() => onRevoke(key)}
          aria-label=${`Revoke ${key.name || key.id}`}>Revoke</button>
      </div>`),
    },
  ];
  return html`<div class="dense cards-2">
    <${Table} caption="API keys" columns=${columns} rows=${keys} empty="No keys match." />
  </div>`;
}

function ProjectsTable({ projects, onEdit }) {
  const columns = [
    { label: "Project", render: (project) => html`<strong>${project.name}</strong>`, className: "full" },
    { label: "Limits", render: (project) => html`<${Limits} scope=${project} />` },
    { label: "Models", render: (project) => formatModels(project.models), className: "wrap-anywhere" },
    { label: "Created", render: (project) => html`<${When} seconds=${project.created_at} />` },
    {
      label: "Actions",
      render: (project) => html`<button type="button" class="secondary small" onClick=${() => onEdit(project)}
        aria-label=${`Edit ${project.name}`}>Edit</button>`,
    },
  ];
  return html`<div class="dense cards-2">
    <${Table} caption="Projects" columns=${columns} rows=${projects} empty="No projects yet." />
  </div>`;
}

export default function Page({ session }) {
  const data = useLoad((signal) => loadAll(session, signal), []);
  const [project, setProject] = useState("");
  const [showInactive, setShowInactive] = useState(false);
  // One dialog at a time: {kind: "create"|"secret"|"rotate"|"revoke"|"project", …}.
  const [dialog, setDialog] = useState(null);
  const close = () => setDialog(null);
  // A dialog closing itself (Escape, or being replaced by the next one) closes only itself.
  const closed = (kind) => () => setDialog((current) => (current?.kind === kind ? null : current));

  const rotate = async (key) => {
    const created = await post(`/admin/keys/${encodeURIComponent(key.id)}/rotate`, undefined, { session });
    setDialog({ kind: "secret", title: "Key rotated", created });
    data.reload();
  };
  const revoke = async (key) => {
    await del(`/admin/keys/${encodeURIComponent(key.id)}`, { session });
    close();
    data.reload();
  };

  const now = Date.now();
  const keys = (data.data?.keys || [])
    .filter((key) => !project || key.project === project)
    .filter((key) => showInactive || keyStatus(key, now) === "active")
    .reverse(); // newest first
  const projects = data.data?.projects || [];
  const projectOptions = [{ value: "", label: "All projects" }, ...projects.map((item) => item.name)];
  const named = (key) => (key.name ? `“${key.name}” (${key.id})` : key.id);

  return html`
    <${PageHeader} title="Keys" description="API keys of every project, and the projects' own limits.">
      <button type="button" onClick=${() => setDialog({ kind: "create" })}>Create key</button>
    <//>
    <${ErrorNote} error=${data.error} />
    ${!data.data && data.loading && html`<${Loading} />`}
    ${data.data && html`
      <section>
        <h2 class="first">API keys</h2>
        <div class="row table-filters">
          <${Field} label="Keys of project" as="select" options=${projectOptions} value=${project} onInput=${setProject} />
          <${Check} label="Show revoked and expired keys" checked=${showInactive} onChange=${setShowInactive} />
        </div>
        <${KeysTable} keys=${keys} lastUsed=${data.data.lastUsed}
          onRotate=${(key) => setDialog({ kind: "rotate", key })}
          onRevoke=${(key) => setDialog({ kind: "revoke", key })} />
      </section>
      <section>
        <h2>Projects</h2>
        <p class="muted">A project's limits and budget are shared by all its keys, on top of each key's own.</p>
        <${ProjectsTable} projects=${projects} onEdit=${(item) => setDialog({ kind: "project", project: item })} />
      </section>
    `}
    <${Dialog} title="Create an API key" open=${dialog?.kind === "create"} onClose=${closed("create")}>
      <${CreateKeyForm} session=${session} projects=${projects} onCancel=${close}
        onCreated=${(created) => {
          setDialog({ kind: "secret", title: "Key created", created });
          data.reload();
        }} />
    <//>
    <${Dialog} title=${dialog?.title || "New key"} open=${dialog?.kind === "secret"} onClose=${closed("secret")}>
      ${dialog?.created && html`<${SecretView} created=${dialog.created} onDone=${close} />`}
    <//>
    <${Dialog} title="Rotate key" open=${dialog?.kind === "rotate"} onClose=${closed("rotate")}>
      ${dialog?.key && html`<${Confirm} confirmLabel="Rotate key" onCancel=${close}
        message=${`Rotate ${named(dialog.key)}? Its current secret stops working at once, and a new one is shown once.`}
        onConfirm=${() => rotate(dialog.key)} />`}
    <//>
    <${Dialog} title="Revoke key" open=${dialog?.kind === "revoke"} onClose=${closed("revoke")}>
      ${dialog?.key && html`<${Confirm} confirmLabel="Revoke key" danger onCancel=${close}
        message=${`Revoke ${named(dialog.key)}? Requests with it are refused at once; this cannot be undone.`}
        onConfirm=${() => revoke(dialog.key)} />`}
    <//>
    <${Dialog} title=${dialog?.project ? `Edit project ${dialog.project.name}` : "Edit project"} open=${dialog?.kind === "project"} onClose=${closed("project")}>
      ${dialog?.project && html`<${ProjectForm} session=${session} project=${dialog.project} onCancel=${close}
        onSaved=${() => {
          close();
          data.reload();
        }} />`}
    <//>
  `;
}
