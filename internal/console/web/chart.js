// Charts of query results: what KQL's render operator asks for, or what
// the analyst picks for any result. Lines, areas and bars are drawn by
// uPlot (bars by its bars path builder, across for barchart); a pie is an
// SVG of our own, which uPlot does not draw. The arrow keys move through a
// drawn chart's points, read out under it.
import { uPlot } from './uplot.js';
import { el } from './dom.js';

export const kinds = ['timechart', 'linechart', 'areachart', 'columnchart', 'barchart', 'piechart'];
const numericTypes = new Set(['int', 'long', 'real', 'decimal']);
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const svgNS = 'http://www.w3.org/2000/svg';

export const isNumeric = (c) => numericTypes.has(c.type);

// pickColumns is the x column and the y columns a chart of kind draws from
// table when none are chosen: a datetime across for a time chart, else the
// first string column (or datetime), and every numeric column up.
export function pickColumns(table, kind) {
  const cols = table.columns;
  const find = (pred) => cols.findIndex(pred);
  let x = kind === 'timechart' ? find((c) => c.type === 'datetime') : -1;
  if (x < 0) x = find((c) => c.type === 'string');
  if (x < 0) x = find((c) => c.type === 'datetime');
  if (x < 0) x = Math.max(find((c) => !isNumeric(c)), 0);
  const ys = cols.map((_, i) => i).filter((i) => i !== x && isNumeric(cols[i]));
  return { x, ys: kind === 'piechart' ? ys.slice(0, 1) : ys };
}

// chart draws table into container as render asks ({visualization,
// properties}), and returns what it could not draw, or '' when it drew.
export function chart(container, table, render) {
  const kind = render.visualization;
  if (!kinds.includes(kind)) return `render ${kind} is not drawn; the result is shown as a table`;
  const { x, ys } = pickColumns(table, kind);
  return draw(container, table, { kind, x, ys, title: render.properties?.title });
}

// draw draws table's column x across and columns ys up as kind, into
// container, and returns what it could not draw, or ''.
export function draw(container, table, { kind, x, ys, title }) {
  container.replaceChildren();
  if (x < 0 || ys.length === 0) return `a ${kind} needs a column across and a numeric column`;
  if (kind === 'piechart') return pie(container, table, x, ys[0], title);
  const timed = table.columns[x].type === 'datetime';
  if (kind === 'timechart' && !timed) return 'a timechart needs a datetime column';
  let rows = table.rows.filter((r) => r[x] !== null && r[x] !== undefined);
  if (timed) rows = [...rows].sort((a, b) => Date.parse(a[x]) - Date.parse(b[x]));
  const bars = kind === 'columnchart' || kind === 'barchart';
  // Across: the times, or each row's place, its label read from the row.
  const labels = rows.map((r) => String(r[x]));
  const xs = timed ? rows.map((r) => Date.parse(r[x]) / 1000) : rows.map((_, i) => i);
  const data = [xs, ...ys.map((i) => rows.map((r) => (typeof r[i] === 'number' ? r[i] : null)))];
  const series = [{ label: table.columns[x].name, value: timed ? undefined : (u, v) => (v === null ? '' : labels[v] ?? '') },
    ...ys.map((i, n) => ({
      label: table.columns[i].name,
      stroke: palette[n % palette.length],
      fill: kind === 'areachart' || bars ? `${palette[n % palette.length]}${bars ? 'cc' : '33'}` : undefined,
      width: bars ? 1 : 2,
      // Each series' bar stands on the same place: narrower for each one more, so all show.
      paths: bars ? uPlot.paths.bars({ size: [0.7 * (1 - n / (ys.length + 1)), 80] }) : undefined,
      points: bars ? { show: false } : undefined,
    }))];
  // The box is hidden while empty: its width is its parent's, less its own padding and border.
  const width = Math.max(container.parentElement.clientWidth - 18, 300);
  const opts = { width, height: 320, series, scales: { x: { time: timed }, y: { range: (u, lo, hi) => [Math.min(0, lo ?? 0), hi > 0 ? hi * 1.05 : 1] } } };
  if (!timed) {
    opts.scales.x.range = () => [-0.5, Math.max(xs.length - 0.5, 0.5)];
    opts.axes = [{ splits: () => xs, values: (u, splits) => splits.map((v) => labels[v] ?? '') }, {}];
  }
  if (kind === 'barchart') {
    // Bars across: x runs down the left side, the values along the bottom.
    opts.scales.x.ori = 1;
    opts.scales.x.dir = -1;
    opts.scales.y.ori = 0;
    opts.axes = [{ ...(opts.axes?.[0] || {}), side: 3 }, { side: 2 }];
  }
  if (title) opts.title = title;
  const u = new uPlot(opts, data, container);
  readable(container, u, data, labels, timed, kind === 'barchart');
  return '';
}

// readable lets the arrow keys move the chart's cursor from point to
// point (Home, End to the ends), each read out in the chart's status line.
function readable(container, u, data, labels, timed, across) {
  const readout = el('p', { class: 'chart-readout', role: 'status' });
  container.append(readout);
  let idx = -1;
  container.onkeydown = (e) => {
    const n = data[0].length;
    const next = { ArrowRight: idx + 1, ArrowDown: idx + 1, ArrowLeft: idx - 1, ArrowUp: idx - 1, Home: 0, End: n - 1 }[e.key];
    if (next === undefined || n === 0) return;
    e.preventDefault();
    idx = Math.max(0, Math.min(n - 1, next));
    const along = u.valToPos(data[0][idx], 'x');
    const up = u.valToPos(data[1][idx] ?? 0, 'y');
    u.setCursor(across ? { left: up, top: along } : { left: along, top: up });
    const at = timed ? new Date(data[0][idx] * 1000).toISOString() : labels[idx];
    readout.textContent = `${at}: ${u.series.slice(1).map((s, i) => `${s.label} ${data[i + 1][idx] ?? 'none'}`).join(', ')}`;
  };
}

// pie draws column y of table's rows as the slices of a circle, named by
// column x, with a legend that says each slice's value and share.
function pie(container, table, x, y, title) {
  const rows = table.rows.filter((r) => typeof r[y] === 'number' && r[y] > 0);
  const total = rows.reduce((s, r) => s + r[y], 0);
  if (total === 0) return 'a piechart needs positive values';
  const r = 140;
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `${-r} ${-r} ${2 * r} ${2 * r}`);
  svg.setAttribute('width', String(2 * r));
  svg.setAttribute('height', String(2 * r));
  svg.setAttribute('aria-hidden', 'true');
  const legend = el('ul', { class: 'pie-legend' });
  let angle = -Math.PI / 2;
  rows.forEach((row, i) => {
    const share = row[y] / total;
    const end = angle + share * 2 * Math.PI;
    const color = palette[i % palette.length];
    const shape = document.createElementNS(svgNS, share >= 1 ? 'circle' : 'path');
    if (share >= 1) {
      shape.setAttribute('r', String(r));
    } else {
      const at = (a) => `${(r * Math.cos(a)).toFixed(2)} ${(r * Math.sin(a)).toFixed(2)}`;
      shape.setAttribute('d', `M0 0 L${at(angle)} A${r} ${r} 0 ${share > 0.5 ? 1 : 0} 1 ${at(end)} Z`);
    }
    shape.setAttribute('fill', color);
    shape.setAttribute('class', 'slice');
    svg.append(shape);
    const swatch = el('span', { class: 'swatch', 'aria-hidden': 'true' });
    swatch.style.background = color;
    legend.append(el('li', {}, swatch, `${row[x] ?? '(none)'}: ${row[y]} (${(share * 100).toFixed(1)}%)`));
    angle = end;
  });
  container.append(...(title ? [el('p', { class: 'chart-title' }, title)] : []), el('div', { class: 'pie' }, svg, legend));
  container.onkeydown = null;
  return '';
}
