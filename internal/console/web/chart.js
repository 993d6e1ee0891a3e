// Charts of query results, drawn by uPlot: what KQL's render operator asks
// for. A time chart puts the result's first datetime column across and a
// line for each numeric column.
import { uPlot } from './uplot.js';

const lineKinds = new Set(['timechart', 'linechart', 'areachart']);
const numericTypes = new Set(['int', 'long', 'real', 'decimal']);
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

// chart draws table into container as render asks ({visualization,
// properties}), and returns what it could not draw, or '' when it drew.
export function chart(container, table, render) {
  const kind = render.visualization;
  if (!lineKinds.has(kind)) return `render ${kind} is not drawn yet; the result is shown as a table`;
  const x = table.columns.findIndex((c) => c.type === 'datetime');
  const ys = table.columns.map((c, i) => i).filter((i) => i !== x && numericTypes.has(table.columns[i].type));
  if (x < 0 || ys.length === 0) return `render ${kind} needs a datetime column and a numeric one`;

  const rows = table.rows.filter((r) => r[x] !== null).sort((a, b) => Date.parse(a[x]) - Date.parse(b[x]));
  const data = [rows.map((r) => Date.parse(r[x]) / 1000), ...ys.map((i) => rows.map((r) => r[i]))];
  const series = [{ label: table.columns[x].name }, ...ys.map((i, n) => ({
    label: table.columns[i].name,
    stroke: palette[n % palette.length],
    fill: kind === 'areachart' ? `${palette[n % palette.length]}33` : undefined,
    width: 2,
  }))];
  const title = render.properties?.title;
  // The box is hidden while empty: its width is its parent's, less its own padding and border.
  const width = Math.max(container.parentElement.clientWidth - 18, 300);
  const opts = { width, height: 320, series, scales: { x: { time: true } } };
  if (title) opts.title = title;
  container.replaceChildren();
  new uPlot(opts, data, container);
  return '';
}
