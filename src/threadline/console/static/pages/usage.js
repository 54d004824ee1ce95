// Usage: tokens, requests and cost over a range of days (UTC), split by model, key, meter or
// project, as stat cards, a stacked bar chart and the same figures as a table.

import {
  ErrorNote, Field, formatNumber, html, Loading, PageHeader, Table, useLoad,
} from "../ui.js";
import { useState } from "../vendor.js";
import { Legend, StackedBarChart } from "./chart.js";
import {
  formatCompact, formatCost, getReport, useKeyNames, useProjectFilter, useProjectNames, useWidth,
} from "./reports.js";
import {
  chartData, chartSummary, daysIn, lastDays, METRICS, SPLITS, tableRows,
} from "./usage_data.js";

const QUICK_RANGES = [7, 30, 90];

function Stat({ label, value }) {
  return html`<div class="stat"><div class="label">${label}</div><div class="value">${value}</div></div>`;
}

function Totals({ report }) {
  return html`<div class="stats">
    <${Stat} label="Requests" value=${formatNumber(report.requests)} />
    <${Stat} label="Input tokens" value=${formatNumber(report.input_tokens)} />
    <${Stat} label="Output tokens" value=${formatNumber(report.output_tokens)} />
    <${Stat} label="Cost (USD)" value=${formatCost(report.cost_usd)} />
  </div>`;
}

/** Two or more buttons of which one is on (aria-pressed), in a labelled group. */
function Toggle({ label, options, value, onChange }) {
  return html`<div class="toggle" role="group" aria-label=${label}>
    ${options.map(([key, text]) => html`<button type="button" key=${key} class="secondary"
      aria-pressed=${value === key ? "true" : "false"} onClick=${() => onChange(key)}>${text}</button>`)}
  </div>`;
}

function RangeFilters({ range, setRange, split, setSplit, master, project, setProject, projects }) {
  const days = range.since && range.until ? daysIn(range.since, range.until) : 0;
  const current = range.until === lastDays(1).until ? days : 0;
  const splits = Object.entries(SPLITS)
    .filter(([name]) => name !== "project" || master)
    .map(([name, { label }]) => ({ value: name, label }));
  return html`<section class="card usage-filters" aria-label="Range and split">
    <div class="row">
      <${Field} label="From" type="date" value=${range.since} max=${range.until}
        onInput=${(since) => setRange({ ...range, since })} />
      <${Field} label="To" type="date" value=${range.until} min=${range.since}
        onInput=${(until) => setRange({ ...range, until })} />
      <div class="field quick-range">
        <span class="field-label" aria-hidden="true">Last</span>
        <${Toggle} label="Last" value=${current}
          options=${QUICK_RANGES.map((count) => [count, `${count} days`])}
          onChange=${(count) => setRange(lastDays(count))} />
      </div>
      <${Field} label="Split by" as="select" options=${splits} value=${split} onInput=${setSplit} />
      ${master && html`<${Field} label="Project" as="select" value=${project} onInput=${setProject}
        options=${[{ value: "", label: "All projects" }, ...projects]} />`}
    </div>
  </section>`;
}

function UsageChart({ report, range, split, metric, setMetric, nameOf }) {
  const [wrap, width] = useWidth(720);
  const data = chartData(report.data, { ...range, split, metric, nameOf });
  const format = metric === "cost" ? formatCost : (value) => `${formatNumber(value)} tokens`;
  const axisFormat = metric === "cost" ? (value) => (value ? `$${formatCompact(value)}` : "$0") : formatCompact;
  const label = chartSummary(data, { metric, split, ...range, format });
  return html`<section class="card" aria-labelledby="usage-chart-title">
    <div class="chart-head">
      <h2 id="usage-chart-title">${METRICS[metric].label} per ${data.unit}</h2>
      <${Toggle} label="Chart shows" value=${metric} onChange=${setMetric}
        options=${Object.entries(METRICS).map(([name, { label: text }]) => [name, text])} />
    </div>
    ${data.series.length ? html`<${Legend} series=${data.series} />` : html`<p class="muted">No usage in this range.</p>`}
    <div class="chart-wrap" ref=${wrap}>
      <${StackedBarChart} categories=${data.categories} series=${data.series} width=${width}
        format=${format} axisFormat=${axisFormat} label=${label}
        yTitle=${metric === "cost" ? "Cost (USD)" : "Tokens"} xTitle=${`${data.unit[0].toUpperCase()}${data.unit.slice(1)} (UTC)`} />
    </div>
  </section>`;
}

function UsageTable({ report, split, nameOf }) {
  const column = SPLITS[split].column;
  const columns = [
    { label: "Day", render: (row) => row.day, className: "nowrap" },
    { label: SPLITS[split].label, render: (row) => nameOf(row[column] ?? null), className: "wrap-anywhere" },
    { label: "Requests", render: (row) => formatNumber(row.requests), className: "num" },
    { label: "Input tokens", render: (row) => formatNumber(row.input_tokens), className: "num" },
    { label: "Output tokens", render: (row) => formatNumber(row.output_tokens), className: "num" },
    { label: "Cost (USD)", render: (row) => formatCost(row.cost_usd), className: "num" },
  ];
  const rows = tableRows(report.data, split);
  return html`<h2>By day and ${SPLITS[split].label.toLowerCase()}</h2>
    <div class="cards-2">
      <${Table} caption=${`Usage by day and ${SPLITS[split].label.toLowerCase()}`} columns=${columns}
        rows=${rows} rowKey=${(row) => `${row.day} ${row[column]}`} empty="No usage in this range." />
    </div>`;
}

export default function Page({ session }) {
  const master = session.role === "master";
  const [range, setRange] = useState(() => lastDays(30));
  const [split, setSplit] = useState("model");
  const [metric, setMetric] = useState("tokens");
  const [project, setProject] = useProjectFilter(session);
  const projects = useProjectNames(session);
  const keyNames = useKeyNames(session);
  const valid = Boolean(range.since && range.until && range.since <= range.until);
  const report = useLoad(
    (signal) => (valid
      ? getReport("/console/api/usage", session, {
        since: range.since, until: range.until, project, group_by: `day,${SPLITS[split].group}`,
      }, signal)
      : Promise.resolve(null)),
    [range.since, range.until, split, project, valid],
  );
  const nameOf = (id) => {
    if (id === null) return "(none)";
    const keyName = split === "key" && keyNames.get(id);
    return keyName ? `${keyName} (${id})` : id;
  };
  // The report answers for the split it was asked: draw it only once it matches.
  const shown = report.data && report.data.group_by.includes(SPLITS[split].group) ? report.data : null;
  return html`
    <${PageHeader} title="Usage"
      description=${master ? "Tokens, requests and cost of every project, per day (UTC)." : `Tokens, requests and cost of project ${session.project}, per day (UTC).`} />
    <${RangeFilters} range=${range} setRange=${setRange} split=${split} setSplit=${setSplit}
      master=${master} project=${project} setProject=${setProject} projects=${projects} />
    ${!valid && html`<p class="note error" role="alert">Pick a “From” day on or before the “To” day.</p>`}
    <${ErrorNote} error=${report.error} />
    ${valid && !shown && !report.error && html`<${Loading} />`}
    ${valid && shown && html`
      <${Totals} report=${shown} />
      <${UsageChart} report=${shown} range=${range} split=${split} metric=${metric}
        setMetric=${setMetric} nameOf=${nameOf} />
      <${UsageTable} report=${shown} split=${split} nameOf=${nameOf} />`}
  `;
}
