// The usage report shaped for the chart and the table: day ranges in UTC (the report's days),
// bars of a day, a week or a month, and one series per value of the split. Pure functions.

const DAY_MS = 86_400_000;
const MAX_SERIES = 8; // the colours of console.css (.s1 … .s8)
const OTHERS = Symbol("others");

// Split name -> the report's group and the column of its rows.
export const SPLITS = {
  model: { label: "Model", group: "model", column: "model" },
  key: { label: "Key", group: "key", column: "key_id" },
  meter: { label: "Meter", group: "meter", column: "meter" },
  project: { label: "Project", group: "project", column: "project" },
};

export const METRICS = {
  tokens: { label: "Tokens", of: (row) => row.input_tokens + row.output_tokens },
  cost: { label: "Cost", of: (row) => Number(row.cost_usd) },
};

/** Today as YYYY-MM-DD in UTC. */
export function today() {
  return new Date().toISOString().slice(0, 10);
}

export function addDays(day, count) {
  return new Date(Date.parse(`${day}T00:00:00Z`) + count * DAY_MS).toISOString().slice(0, 10);
}

/** The last `count` days, today included. */
export function lastDays(count) {
  const until = today();
  return { since: addDays(until, -(count - 1)), until };
}

export function daysIn(since, until) {
  return Math.round((Date.parse(until) - Date.parse(since)) / DAY_MS) + 1;
}

/** A bar per day up to three months, per week up to two years, else per month. */
export function barUnit(since, until) {
  const days = daysIn(since, until);
  if (days <= 92) return "day";
  return days <= 731 ? "week" : "month";
}

function bucketOf(day, unit) {
  if (unit === "month") return day.slice(0, 7);
  if (unit === "week") {
    const weekday = (new Date(`${day}T00:00:00Z`).getUTCDay() + 6) % 7; // Monday = 0
    return addDays(day, -weekday);
  }
  return day;
}

function shortDate(day, options) {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { timeZone: "UTC", ...options });
}

/** The bars between two days: [{key, label (short), title (long)}]. */
export function categoriesBetween(since, until, unit) {
  const categories = [];
  const seen = new Set();
  for (let day = since; day <= until; day = addDays(day, 1)) {
    const key = bucketOf(day, unit);
    if (seen.has(key)) continue;
    seen.add(key);
    if (unit === "month") {
      const first = `${key}-01`;
      categories.push({ key, label: shortDate(first, { month: "short", year: "2-digit" }), title: shortDate(first, { month: "long", year: "numeric" }) });
    } else {
      const label = shortDate(key, { month: "short", day: "numeric" });
      categories.push({ key, label, title: unit === "week" ? `Week of ${key}` : key });
    }
  }
  return categories;
}

/** The split's values, most used first (tokens, then cost): each keeps its colour across
 * metrics. */
export function rankSeries(rows, split) {
  const column = SPLITS[split].column;
  const sums = new Map();
  for (const row of rows) {
    const id = row[column] ?? null;
    const sum = sums.get(id) || { tokens: 0, cost: 0 };
    sum.tokens += METRICS.tokens.of(row);
    sum.cost += METRICS.cost.of(row);
    sums.set(id, sum);
  }
  return [...sums.entries()]
    .sort(([, a], [, b]) => b.tokens - a.tokens || b.cost - a.cost)
    .map(([id]) => id);
}

/**
 * What the chart draws: {unit, categories, series: [{id, name, className, values}]}. Days
 * without usage are zeros; past eight values of the split, the least used share one series.
 */
export function chartData(rows, { since, until, split, metric, nameOf }) {
  const unit = barUnit(since, until);
  const categories = categoriesBetween(since, until, unit);
  const position = new Map(categories.map((category, index) => [category.key, index]));
  const ranked = rankSeries(rows, split);
  const crowded = ranked.length > MAX_SERIES;
  const kept = crowded ? ranked.slice(0, MAX_SERIES - 1) : ranked;
  const series = kept.map((id, index) => ({ id, name: nameOf(id), className: `s${index + 1}` }));
  if (crowded) series.push({ id: OTHERS, name: `${ranked.length - kept.length} others`, className: `s${MAX_SERIES}` });
  for (const one of series) one.values = categories.map(() => 0);
  const seriesOf = new Map(series.map((one) => [one.id, one]));
  const column = SPLITS[split].column;
  for (const row of rows) {
    const at = position.get(bucketOf(row.day, unit));
    if (at === undefined) continue;
    const one = seriesOf.get(row[column] ?? null) || seriesOf.get(OTHERS);
    one.values[at] += METRICS[metric].of(row);
  }
  return { unit, categories, series };
}

/** The chart in one sentence, for screen readers. */
export function chartSummary({ unit, categories, series }, { metric, split, since, until, format }) {
  const stacks = categories.map((_, index) => series.reduce((sum, one) => sum + one.values[index], 0));
  const total = stacks.reduce((sum, value) => sum + value, 0);
  const what = `${METRICS[metric].label} per ${unit} from ${since} to ${until}, by ${SPLITS[split].label.toLowerCase()}`;
  if (!total) return `${what}: no usage.`;
  const peak = stacks.indexOf(Math.max(...stacks));
  const names = series.map((one) => one.name).join(", ");
  return `${what}: ${format(total)} in total across ${series.length} series (${names}); highest ${format(stacks[peak])} on ${categories[peak].title}.`;
}

/** The report's rows for the table: by day, then the chart's order of series. */
export function tableRows(rows, split) {
  const rank = new Map(rankSeries(rows, split).map((id, index) => [id, index]));
  const column = SPLITS[split].column;
  return [...rows].sort((a, b) => (a.day < b.day ? -1 : a.day > b.day ? 1 : 0)
    || rank.get(a[column] ?? null) - rank.get(b[column] ?? null));
}
