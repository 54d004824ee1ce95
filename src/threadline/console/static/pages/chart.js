// A stacked bar chart drawn as SVG: a pure function of its data (no state, no library).
// Colours come from the series classes .s1 … .s8 of console.css, so dark mode follows them.

import { html } from "../ui.js";

const MARGIN = { top: 14, right: 12, bottom: 46, left: 72 };
const LABEL_WIDTH = 52; // room one x-axis label needs, in pixels
const TICKS = 4;

/** A round step near `rough` (1, 2, 2.5 or 5 times a power of ten). */
export function niceStep(rough) {
  if (!(rough > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].find((factor) => factor * power >= rough);
  return step * power;
}

/** The y axis: its top value and ticks (0 included) for data peaking at `peak`. */
export function scale(peak) {
  const step = niceStep(peak / TICKS);
  const top = peak > 0 ? step * Math.ceil(peak / step) : step * TICKS;
  const ticks = [];
  for (let value = 0; value <= top + step / 2; value += step) ticks.push(value);
  return { top, ticks };
}

/** Each category's stack total. */
export function totals(categories, series) {
  return categories.map((_, index) => series.reduce((sum, one) => sum + (one.values[index] || 0), 0));
}

/** A bar's hover title: its category and total, then every series in it. */
function barTitle(category, index, series, total, format) {
  const parts = series
    .filter((one) => one.values[index] > 0)
    .map((one) => `${one.name}: ${format(one.values[index])}`);
  return [`${category.title} — total ${format(total)}`, ...parts].join("\n");
}

/** The series' swatches and names. */
export function Legend({ series }) {
  return html`<ul class="legend">
    ${series.map((one) => html`<li key=${one.name}><span class=${`swatch ${one.className}`} aria-hidden="true"></span>${one.name}</li>`)}
  </ul>`;
}

/**
 * The chart. `categories`: [{key, label (short, on the axis), title (long, on hover)}];
 * `series`: [{name, className ("s1"…"s8"), values (one per category)}]; `format` writes a
 * value in full, `axisFormat` short (ticks); `width`/`height` in pixels; `label`: the summary
 * read to screen readers (the chart is one image to them: the table beside it has the data).
 */
export function StackedBarChart({
  categories, series, format, axisFormat = format, yTitle, xTitle, width, height = 280, label,
}) {
  const plotWidth = Math.max(width - MARGIN.left - MARGIN.right, 10);
  const plotHeight = height - MARGIN.top - MARGIN.bottom;
  const stacks = totals(categories, series);
  const { top, ticks } = scale(Math.max(0, ...stacks));
  const band = plotWidth / Math.max(categories.length, 1);
  const barWidth = Math.max(band * 0.72, 1);
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;
  const every = Math.max(1, Math.ceil(LABEL_WIDTH / band));
  const bottom = MARGIN.top + plotHeight;

  const bars = categories.map((category, index) => {
    const left = MARGIN.left + index * band + (band - barWidth) / 2;
    let base = 0;
    const segments = series.map((one) => {
      const value = one.values[index] || 0;
      if (value <= 0) return null;
      const from = y(base);
      base += value;
      const to = y(base);
      return html`<rect key=${one.name} class=${one.className} x=${left} y=${to}
        width=${barWidth} height=${Math.max(from - to, 1)} />`;
    });
    return html`<g class="bar" key=${category.key}>
      <title>${barTitle(category, index, series, stacks[index], format)}</title>
      <rect class="hit" x=${MARGIN.left + index * band} y=${MARGIN.top} width=${band} height=${plotHeight} />
      ${segments}
    </g>`;
  });

  const yTicks = ticks.map((value) => html`<g key=${value}>
    <line class="gridline" x1=${MARGIN.left} x2=${MARGIN.left + plotWidth} y1=${y(value)} y2=${y(value)} />
    <text x=${MARGIN.left - 8} y=${y(value)} text-anchor="end" dominant-baseline="middle">${axisFormat(value)}</text>
  </g>`);

  const xLabels = categories.map((category, index) => (index % every === 0
    ? html`<text key=${category.key} x=${MARGIN.left + index * band + band / 2} y=${bottom + 16}
        text-anchor="middle">${category.label}</text>`
    : null));

  return html`<svg class="chart" role="img" aria-label=${label} width=${width} height=${height}
      viewBox=${`0 0 ${width} ${height}`}>
    ${yTicks}
    ${bars}
    <line class="axis" x1=${MARGIN.left} x2=${MARGIN.left + plotWidth} y1=${bottom} y2=${bottom} />
    ${xLabels}
    <text class="axis-title" x=${MARGIN.left + plotWidth / 2} y=${height - 6} text-anchor="middle">${xTitle}</text>
    <text class="axis-title" transform=${`translate(14 ${MARGIN.top + plotHeight / 2}) rotate(-90)`}
      text-anchor="middle">${yTitle}</text>
  </svg>`;
}
