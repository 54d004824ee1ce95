// Logs: the request log, newest first, with filters; "Load older" pages back with `before`, and
// a request's every field (and its bodies, when they are logged) opens in a dialog.

import {
  Dialog, Empty, ErrorNote, Field, formatNumber, html, Json, Loading, PageHeader, useAction, useLoad,
} from "../ui.js";
import { useState } from "../vendor.js";
import {
  formatCost, getReport, shortId, useKeyNames, useProjectFilter, useProjectNames,
} from "./reports.js";

const PAGE = 50;
const STATUSES = [
  { value: "", label: "Any" },
  { value: "2xx", label: "2xx (success)" },
  { value: "4xx", label: "4xx (client errors)" },
  { value: "5xx", label: "5xx (server errors)" },
  ...["200", "400", "401", "403", "404", "409", "413", "429", "499", "500", "502", "503", "504"]
    .map((code) => ({ value: code, label: code })),
];
const NO_FILTERS = { status: "", path: "", key: "", model: "", since: "", until: "" };

/** A datetime-local value (the browser's time zone) as Unix milliseconds. */
function toMs(local) {
  if (!local) return undefined;
  const ms = new Date(local).getTime();
  return Number.isNaN(ms) ? undefined : ms;
}

function queryOf(filters, project) {
  return {
    status: filters.status,
    path: filters.path.trim(),
    key: filters.key.trim(),
    model: filters.model.trim(),
    since: toMs(filters.since),
    until: toMs(filters.until),
    project,
    limit: PAGE,
  };
}

export function formatWhen(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A time on a table row: the day and the second ("Dec 7, 12:34:46"). */
function formatShortWhen(ms) {
  return new Date(ms).toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function formatLatency(ms) {
  if (ms === null || ms === undefined) return "—";
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function formatTokens(line) {
  if (line.input_tokens === null && line.output_tokens === null) return "—";
  return `${formatNumber(line.input_tokens ?? 0)} in · ${formatNumber(line.output_tokens ?? 0)} out`;
}

export function StatusBadge({ status }) {
  const family = `${String(status)[0]}xx`;
  return html`<span class=${`badge status-${family}`}>${status}</span>`;
}

function Filters({ master, projects, applied, onApply }) {
  const [draft, setDraft] = useState(applied);
  const set = (name) => (value) => setDraft({ ...draft, [name]: value });
  const submit = (event) => {
    event.preventDefault();
    onApply(draft);
  };
  const reset = () => {
    const cleared = { ...NO_FILTERS, project: draft.project };
    setDraft(cleared);
    onApply(cleared);
  };
  return html`<form class="card log-filters" onSubmit=${submit} aria-label="Log filters">
    <div class="filter-grid">
      <${Field} label="Status" as="select" options=${STATUSES} value=${draft.status} onInput=${set("status")} />
      <${Field} label="Path" value=${draft.path} onInput=${set("path")} placeholder="/v1/responses" spellcheck="false" />
      <${Field} label="Key ID" value=${draft.key} onInput=${set("key")} placeholder="key_…" spellcheck="false" />
      <${Field} label="Model" value=${draft.model} onInput=${set("model")} spellcheck="false" placeholder="gpt-4o" />
      <div class="span-2"><${Field} label="Since" type="datetime-local" value=${draft.since} onInput=${set("since")} /></div>
      <div class="span-2"><${Field} label="Until" type="datetime-local" value=${draft.until} onInput=${set("until")} /></div>
      ${master && html`<${Field} label="Project" as="select" value=${draft.project} onInput=${set("project")}
        options=${[{ value: "", label: "All projects" }, ...projects]} />`}
    </div>
    <div class="actions">
      <button type="submit">Apply filters</button>
      <button type="button" class="secondary" onClick=${reset}>Reset</button>
    </div>
  </form>`;
}

function Body({ title, text }) {
  if (text === null || text === undefined || text === "") return null;
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    return html`<h3>${title}</h3><pre class="json" tabindex="0" aria-label=${title}>${text}</pre>`;
  }
  return html`<h3>${title}</h3><${Json} value=${parsed} label=${title} />`;
}

function Detail({ line, keyNames }) {
  const keyName = keyNames.get(line.key_id);
  const fields = [
    ["Request ID", html`<code>${line.id}</code>`],
    ["Time", formatWhen(line.created_at)],
    ["Method", line.method],
    ["Path", html`<code>${line.path}</code>`],
    ["Status", html`<${StatusBadge} status=${line.status} />`],
    ["Error code", line.error_code || "—"],
    ["Response cache", line.cache || "—"],
    ["Project", line.project || "—"],
    ["Key", line.key_id ? html`${keyName && `${keyName} `}<code>${line.key_id}</code>` : "—"],
    ["Model", line.model || "—"],
    ["Input tokens", formatNumber(line.input_tokens)],
    ["Output tokens", formatNumber(line.output_tokens)],
    ["Latency", formatLatency(line.latency_ms)],
    ["Cost (USD)", line.cost_usd === null ? "—" : formatCost(line.cost_usd)],
  ];
  const logged = line.request_body || line.response_body;
  return html`<div>
    <dl class="details">
      ${fields.map(([name, value]) => html`<div key=${name}><dt>${name}</dt><dd>${value}</dd></div>`)}
    </dl>
    ${logged
      ? html`<${Body} title="Request body" text=${line.request_body} /><${Body} title="Response body" text=${line.response_body} />`
      : html`<p class="muted">Bodies are not logged for this request (the server logs them with THREADLINE_REQUEST_LOG_BODIES=true).</p>`}
  </div>`;
}

function LogTable({ lines, master, keyNames, onOpen }) {
  const open = (line) => (event) => {
    if (event.target.closest("button")) return; // the Details button opens it itself
    onOpen(line);
  };
  // The master key knows key names; otherwise the id, cut short (the detail has it whole).
  const keyCell = (id) => (id ? html`<span title=${id}>${keyNames.get(id) || shortId(id)}</span>` : "—");
  return html`<div class="table-wrap dense cards-2" tabindex="0" role="region" aria-label="Request log">
    <table class="log-table">
      <caption class="visually-hidden">Request log, newest first</caption>
      <thead><tr>
        <th scope="col">Time</th><th scope="col">Method</th><th scope="col">Path</th>
        <th scope="col">Status</th>${master && html`<th scope="col">Project</th>`}<th scope="col">Model</th>
        <th scope="col">Key</th><th scope="col" class="num">Latency</th><th scope="col" class="num">Tokens</th>
        <th scope="col" class="num">Cost</th><th scope="col"><span class="visually-hidden">Details</span></th>
      </tr></thead>
      <tbody>
        ${lines.map((line) => html`<tr key=${line.id} class="clickable" onClick=${open(line)}>
          <td data-label="Time" class="nowrap"><time datetime=${new Date(line.created_at).toISOString()}
            title=${formatWhen(line.created_at)}>${formatShortWhen(line.created_at)}</time></td>
          <td data-label="Method">${line.method}</td>
          <td data-label="Path" class="path full"><code>${line.path}</code></td>
          <td data-label="Status"><${StatusBadge} status=${line.status} /></td>
          ${master && html`<td data-label="Project">${line.project || "—"}</td>`}
          <td data-label="Model" class="nowrap">${line.model || "—"}</td>
          <td data-label="Key" class="id">${keyCell(line.key_id)}</td>
          <td data-label="Latency" class="num">${formatLatency(line.latency_ms)}</td>
          <td data-label="Tokens" class="num nowrap">${formatTokens(line)}</td>
          <td data-label="Cost" class="num">${line.cost_usd === null ? "—" : formatCost(line.cost_usd)}</td>
          <td data-label="" class="row-action">
            <button type="button" class="secondary small" onClick=${() => onOpen(line)}
              aria-label=${`Details of ${line.method} ${line.path} at ${formatWhen(line.created_at)}`}>Details</button>
          </td>
        </tr>`)}
      </tbody>
    </table>
  </div>`;
}

export default function Page({ session }) {
  const master = session.role === "master";
  const [project, setProject] = useProjectFilter(session);
  const [filters, setFilters] = useState(NO_FILTERS);
  const [opened, setOpened] = useState(null);
  const projects = useProjectNames(session);
  const keyNames = useKeyNames(session);
  const query = queryOf(filters, project);
  const log = useLoad((signal) => getReport("/console/api/logs", session, query, signal), [JSON.stringify(query)]);
  const older = useAction();
  const loadOlder = () => older.run(async () => {
    const page = await getReport("/console/api/logs", session, { ...query, before: log.data.last_id });
    log.setData({ ...page, data: [...log.data.data, ...page.data] });
  });
  const apply = (next) => {
    setProject(next.project ?? "");
    setFilters({ ...NO_FILTERS, ...next });
  };
  const lines = log.data?.data || [];
  return html`
    <${PageHeader} title="Logs"
      description=${master ? "Every request to the server, newest first." : `Requests of project ${session.project}, newest first.`}>
      <button type="button" class="secondary" onClick=${log.reload} disabled=${log.loading}>Refresh</button>
    <//>
    <${Filters} master=${master} projects=${projects} applied=${{ ...filters, project }} onApply=${apply}
      key=${project} />
    <${ErrorNote} error=${log.error} />
    ${log.loading && !log.data && html`<${Loading} />`}
    ${log.data && (lines.length
      ? html`<${LogTable} lines=${lines} master=${master} keyNames=${keyNames} onOpen=${setOpened} />`
      : html`<${Empty}>No requests match these filters.<//>`)}
    <${ErrorNote} error=${older.error} />
    ${log.data?.has_more && html`<p class="load-more">
      <button type="button" class="secondary" onClick=${loadOlder} disabled=${older.pending}>
        ${older.pending ? "Loading…" : "Load older"}
      </button>
    </p>`}
    <${Dialog} title=${opened ? `${opened.method} ${opened.path}` : "Request"} open=${Boolean(opened)}
      onClose=${() => setOpened(null)}>
      ${opened && html`<${Detail} line=${opened} keyNames=${keyNames} />`}
    <//>
  `;
}
