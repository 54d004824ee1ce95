// The Keys page's forms: a new key with every option of POST /admin/keys, a project's limits
// (POST /admin/projects/{name}), a new secret shown once, and a confirmation.

import { post } from "../api.js";
import { CopyButton, ErrorNote, Field, html, useAction } from "../ui.js";
import { useState } from "../vendor.js";

const PERIODS = [{ value: "month", label: "Month" }, { value: "day", label: "Day" }];

/** "a, b c" -> ["a", "b", "c"]; nothing -> null (no restriction). */
export function parseList(text) {
  const items = text.split(/[\s,]+/).map((item) => item.trim()).filter(Boolean);
  return items.length ? items : null;
}

/** A positive whole number, or null for an empty field; an Error names the field otherwise. */
export function parseLimit(text, label) {
  const trimmed = String(text ?? "").trim();
  if (!trimmed) return null;
  if (!/^[0-9]+$/.test(trimmed) || Number(trimmed) < 1) throw new Error(`${label} must be a whole number of at least 1.`);
  return Number(trimmed);
}

/** "team=search\nowner=ana" -> {team: "search", owner: "ana"}; nothing -> null. */
export function parseMetadata(text) {
  const entries = [];
  for (const line of text.split("\n").map((item) => item.trim()).filter(Boolean)) {
    const at = line.indexOf("=");
    if (at < 1) throw new Error(`Metadata: write each entry as key=value ("${line}").`);
    entries.push([line.slice(0, at).trim(), line.slice(at + 1).trim()]);
  }
  return entries.length ? Object.fromEntries(entries) : null;
}

/** A date input's day as the Unix second its key stops working: the end of that day, here. */
export function endOfDay(day) {
  if (!day) return null;
  const [year, month, date] = day.split("-").map(Number);
  return Math.floor(new Date(year, month - 1, date + 1).getTime() / 1000);
}

function Limits({ values, set }) {
  return html`<div class="form-grid">
    <${Field} label="Requests per minute" type="number" min="1" step="1" inputmode="numeric"
      value=${values.rpm} onInput=${set("rpm")} />
    <${Field} label="Tokens per minute" type="number" min="1" step="1" inputmode="numeric"
      value=${values.tpm} onInput=${set("tpm")} />
    <${Field} label="Max parallel requests" type="number" min="1" step="1" inputmode="numeric"
      value=${values.max_parallel} onInput=${set("max_parallel")} />
    <${Field} label="Budget (USD)" type="number" min="0" step="0.01" inputmode="decimal"
      value=${values.budget_usd} onInput=${set("budget_usd")} />
    <${Field} label="Budget period" as="select" options=${PERIODS} value=${values.budget_period}
      onInput=${set("budget_period")} />
    <${Field} label="Cache answers (seconds)" type="number" min="1" step="1" inputmode="numeric"
      value=${values.cache_ttl} onInput=${set("cache_ttl")}
      hint="The same request within this time gets the stored answer, free. Empty: no cache." />
  </div>`;
}

function limitsBody(values) {
  const budget = String(values.budget_usd ?? "").trim();
  return {
    rpm: parseLimit(values.rpm, "Requests per minute"),
    tpm: parseLimit(values.tpm, "Tokens per minute"),
    max_parallel: parseLimit(values.max_parallel, "Max parallel requests"),
    budget_usd: budget || null,
    budget_period: budget ? values.budget_period : null,
    cache_ttl: parseLimit(values.cache_ttl, "Cache answers (seconds)"),
    models: parseList(values.models),
  };
}

const NEW_KEY = {
  project: "", name: "", rpm: "", tpm: "", max_parallel: "", budget_usd: "", budget_period: "month",
  cache_ttl: "", models: "", expires: "", ip_allowlist: "", metadata: "",
};

/** The body of POST /admin/keys from the form (options left empty are left out). */
export function keyBody(values) {
  const body = {
    project: values.project.trim(),
    name: values.name.trim() || null,
    ...limitsBody(values),
    expires_at: endOfDay(values.expires),
    ip_allowlist: parseList(values.ip_allowlist),
    metadata: parseMetadata(values.metadata),
  };
  return Object.fromEntries(Object.entries(body).filter(([, value]) => value !== null));
}

export function CreateKeyForm({ session, projects, onCreated, onCancel }) {
  const [values, setValues] = useState(NEW_KEY);
  const set = (name) => (value) => setValues({ ...values, [name]: value });
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const created = await post("/admin/keys", keyBody(values), { session });
      onCreated(created);
    });
  };
  return html`<form onSubmit=${submit} class="key-form">
    <div class="form-grid">
      <${Field} label="Project" value=${values.project} onInput=${set("project")} required
        list="key-form-projects" autocomplete="off" spellcheck="false"
        hint="An existing project, or a new name to create it." />
      <datalist id="key-form-projects">${projects.map((project) => html`<option value=${project.name} />`)}</datalist>
      <${Field} label="Name" value=${values.name} onInput=${set("name")} hint="Optional: who or what uses it." />
    </div>
    <fieldset>
      <legend>Limits</legend>
      <p class="hint">Empty: no limit of the key's own (the project's limits still apply).</p>
      <${Limits} values=${values} set=${set} />
    </fieldset>
    <fieldset>
      <legend>Access</legend>
      <div class="form-grid">
        <${Field} label="Models" value=${values.models} onInput=${set("models")} spellcheck="false"
          hint="Comma-separated. Empty: every model the project may use." />
        <${Field} label="IP allowlist" value=${values.ip_allowlist} onInput=${set("ip_allowlist")} spellcheck="false"
          hint="Comma-separated addresses or CIDR ranges. Empty: any address." />
        <${Field} label="Expires" type="date" value=${values.expires} onInput=${set("expires")}
          hint="The key stops working at the end of this day (your time zone). Empty: never." />
      </div>
    </fieldset>
    <${Field} label="Metadata" as="textarea" class="code" value=${values.metadata} onInput=${set("metadata")}
      spellcheck="false" placeholder="team=search" hint="One key=value per line (up to 16)." />
    <${ErrorNote} error=${action.error} />
    <div class="actions">
      <button type="submit" disabled=${action.pending}>Create key</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

function editable(project) {
  const text = (value) => (value === null || value === undefined ? "" : String(value));
  return {
    rpm: text(project.rpm),
    tpm: text(project.tpm),
    max_parallel: text(project.max_parallel),
    budget_usd: text(project.budget_usd),
    budget_period: project.budget_period || "month",
    cache_ttl: text(project.cache_ttl),
    models: (project.models || []).join(", "),
  };
}

export function ProjectForm({ session, project, onSaved, onCancel }) {
  const [values, setValues] = useState(() => editable(project));
  const set = (name) => (value) => setValues({ ...values, [name]: value });
  const action = useAction();
  const submit = (event) => {
    event.preventDefault();
    action.run(async () => {
      const path = `/admin/projects/${encodeURIComponent(project.name)}`;
      onSaved(await post(path, limitsBody(values), { session }));
    });
  };
  return html`<form onSubmit=${submit}>
    <p class="hint">Limits of the whole project, shared by its keys. Empty: no limit.</p>
    <${Limits} values=${values} set=${set} />
    <${Field} label="Models" value=${values.models} onInput=${set("models")} spellcheck="false"
      hint="Comma-separated. Empty: every model." />
    <${ErrorNote} error=${action.error} />
    <div class="actions">
      <button type="submit" disabled=${action.pending}>Save</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </form>`;
}

/** A key's secret, shown this once, with a copy button. */
export function SecretView({ created, onDone }) {
  return html`<div class="secret-view">
    <p class="note warn"><strong>Copy this key now: you won't see it again.</strong> Only its hash is stored; if it is lost, rotate the key.</p>
    <div class="secret-row">
      <${Field} label="Secret key" value=${created.key} readOnly class="code" spellcheck="false"
        onFocus=${(event) => event.currentTarget.select()} />
      <${CopyButton} text=${created.key} label="Copy key" />
    </div>
    <p class="muted">Key <code>${created.id}</code> of project <strong>${created.project}</strong>. Use it as the API key of an OpenAI SDK with the base URL <code>${location.origin}/v1</code>.</p>
    <div class="actions"><button type="button" onClick=${onDone}>Done</button></div>
  </div>`;
}

/** "Are you sure?" with the action's own words on its button. */
export function Confirm({ message, confirmLabel, danger = false, onConfirm, onCancel }) {
  const action = useAction();
  return html`<div>
    <p>${message}</p>
    <${ErrorNote} error=${action.error} />
    <div class="actions">
      <button type="button" class=${danger ? "danger" : ""} disabled=${action.pending}
        onClick=${() => action.run(onConfirm)}>${confirmLabel}</button>
      <button type="button" class="secondary" onClick=${onCancel}>Cancel</button>
    </div>
  </div>`;
}
