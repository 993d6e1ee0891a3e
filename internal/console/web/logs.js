// The Logs page: pick a workspace and a time range (a preset, or from and
// to), write KQL in an editor that highlights it and completes the
// workspace's tables, columns and functions, run it, and read the result in
// a grid (a tab per table when it has several) and as a chart. A refusal is
// shown with its line and column, and the caret is put there. The queries
// run are kept, per workspace, in this page's memory only, for the session.
import { ApiError, call } from './api.js';
import { kqlEditor, placeCaret } from './kqleditor.js';
import { kqlCompletion } from './kqlcomplete.js';
import { chart, draw, isNumeric, kinds, pickColumns } from './chart.js';
import { grid } from './grid.js';
import { workingIn } from './keystate.js';
import { el } from './dom.js';

const timespans = [
  ['PT1H', 'Last hour'],
  ['P1D', 'Last 24 hours'],
  ['P7D', 'Last 7 days'],
  ['P30D', 'Last 30 days'],
  ['', 'Set in the query'],
  ['custom', 'Custom range…'],
];

// historySize is how many queries the history keeps per workspace.
const historySize = 20;

// queryHistory holds the queries run, newest first, by workspace, for the
// session that ran them: never written to storage, gone with the page or
// the next sign-in.
let queryHistory = new Map();
let historySession = null;

// render builds the page into container for the signed-in session.
export function render(container, session) {
  if (historySession !== session) {
    queryHistory = new Map();
    historySession = session;
  }
  const workspace = el('select', { id: 'workspace' });
  const timespan = el('select', { id: 'timespan' });
  for (const [value, label] of timespans) timespan.append(el('option', { value }, label));
  const from = el('input', { id: 'time-from', type: 'datetime-local', step: '1' });
  const to = el('input', { id: 'time-to', type: 'datetime-local', step: '1' });
  const custom = el('span', { class: 'custom-range', hidden: true },
    el('label', { htmlFor: 'time-from' }, 'From'), from, el('label', { htmlFor: 'time-to' }, 'To'), to);
  const pastQueries = el('select', { id: 'query-history', disabled: true });
  // metadata is what the editor completes from: the chosen workspace's.
  let metadata = null;
  const { box: editorBox, view: editor } = kqlEditor('kql-editor', {
    doc: 'search *\n| take 100',
    label: 'Query (KQL); completion offers the workspace\'s tables, columns and functions',
    keys: [{ key: 'Mod-Enter', run: () => { execute(); return true; } }],
    completion: kqlCompletion(() => metadata),
  });
  const run = el('button', { id: 'run-query', type: 'button', disabled: true }, 'Run');
  const status = el('p', { id: 'query-status', class: 'status', role: 'status' });
  const error = el('p', { id: 'query-error', class: 'error', role: 'alert', hidden: true });
  const results = el('div', { id: 'results', class: 'results' });
  const chartBox = el('div', { id: 'chart', class: 'chart', tabindex: '0', role: 'group', 'aria-label': 'Chart of the result: the arrow keys read its points' });
  chartBox.hidden = true;

  container.replaceChildren(
    el('div', { class: 'toolbar' },
      el('label', { htmlFor: 'workspace' }, 'Workspace'), workspace,
      el('label', { htmlFor: 'timespan' }, 'Time range'), timespan, custom,
      el('label', { htmlFor: 'query-history' }, 'History'), pastQueries,
      run),
    el('span', { class: 'query-label', 'aria-hidden': 'true' }, 'Query (KQL) — Ctrl+Space completes, Ctrl+Enter runs it'),
    editorBox, error, status, chartBox, results);
  // running cancels the query under way, if any.
  let running = null;

  timespan.addEventListener('change', () => {
    custom.hidden = timespan.value !== 'custom';
    if (!custom.hidden && !from.value) {
      // A start: the last day, in the browser's time zone as the inputs are.
      const local = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
      to.value = local(new Date());
      from.value = local(new Date(Date.now() - 86400000));
    }
  });

  // chosenTimespan is the timespan to send (an ISO 8601 duration or a
  // from/to interval in UTC), '' for none; it throws what is wrong with a
  // custom range.
  function chosenTimespan() {
    if (timespan.value !== 'custom') return timespan.value;
    const a = new Date(from.value);
    const b = new Date(to.value);
    if (!from.value || Number.isNaN(a.getTime())) throw new Error('Give the range\'s start (From).');
    if (!to.value || Number.isNaN(b.getTime())) throw new Error('Give the range\'s end (To).');
    if (a >= b) throw new Error('The range\'s start (From) must be before its end (To).');
    return `${a.toISOString()}/${b.toISOString()}`;
  }

  async function execute() {
    if (!workspace.value || running) return;
    error.hidden = true;
    let span;
    try {
      span = chosenTimespan();
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
      return;
    }
    results.replaceChildren();
    chartBox.replaceChildren();
    chartBox.hidden = true;
    const controller = new AbortController();
    running = controller;
    run.textContent = 'Cancel';
    const started = performance.now();
    const tick = setInterval(() => {
      status.textContent = `Running… ${((performance.now() - started) / 1000).toFixed(0)} s`;
    }, 1000);
    status.textContent = 'Running…';
    const query = editor.state.doc.toString();
    remember(workspace.value, query);
    try {
      const body = { query };
      if (span) body.timespan = span;
      const res = await call('POST', `/v1/workspaces/${encodeURIComponent(workspace.value)}/query`, body, controller.signal);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      showResult(res, seconds);
    } catch (e) {
      status.textContent = '';
      // A cancelled query: the node stops it when the request goes away.
      if (e.name === 'AbortError') status.textContent = 'Cancelled.';
      else showError(e);
    } finally {
      clearInterval(tick);
      running = null;
      run.textContent = 'Run';
    }
  }

  // remember puts query first in the workspace's history.
  function remember(ws, query) {
    const list = (queryHistory.get(ws) || []).filter((q) => q !== query);
    list.unshift(query);
    queryHistory.set(ws, list.slice(0, historySize));
    showHistory();
  }

  function showHistory() {
    const list = queryHistory.get(workspace.value) || [];
    pastQueries.replaceChildren(el('option', { value: '' }, list.length ? `${list.length} run in this session` : 'None yet'),
      ...list.map((q, i) => el('option', { value: String(i) }, q.replace(/\s+/g, ' ').slice(0, 80))));
    pastQueries.disabled = list.length === 0;
  }

  pastQueries.addEventListener('change', () => {
    const q = (queryHistory.get(workspace.value) || [])[Number(pastQueries.value)];
    if (pastQueries.value === '' || q === undefined) return;
    editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: q } });
    pastQueries.value = '';
    editor.focus();
  });

  function showResult(res, seconds) {
    const tables = res.tables?.length ? res.tables : [{ name: 'PrimaryResult', columns: [], rows: [] }];
    const n = tables.reduce((sum, t) => sum + t.rows.length, 0);
    let text = `${n.toLocaleString('en')} ${n === 1 ? 'row' : 'rows'} in ${seconds} s`;
    if (tables.length > 1) text += ` in ${tables.length} tables`;
    if (res.error) {
      // A partial answer: the node cut the result at its row cap or size limit.
      text += ' — cut at the node\'s limit, see below';
      error.textContent = res.error.details?.[0]?.message || res.error.message;
      error.hidden = false;
    }
    status.textContent = text;
    const panels = tables.map((t, i) => resultPanel(t, i, res.render && i === 0 ? res.render : null));
    if (tables.length === 1) {
      results.replaceChildren(panels[0]);
      return;
    }
    results.replaceChildren(tabs(tables, panels));
  }

  // resultPanel is one table's grid, with its export and chart controls;
  // render, when the query asked for a chart, draws it at once.
  function resultPanel(table, i, render) {
    const exportButton = el('button', { id: i ? `export-csv-${i}` : 'export-csv', type: 'button', class: 'secondary' }, 'Export CSV');
    exportButton.addEventListener('click', () => download(i ? `query-result-${i + 1}.csv` : 'query-result.csv', toCSV(table)));
    const controls = chartControls(table, i, render);
    const panel = el('div', { class: 'result-panel' },
      el('div', { class: 'results-bar' }, exportButton, controls.toggle), controls.form,
      grid(table, i ? `result-grid-${i}` : 'result-grid', `Result table ${table.name}, ${table.rows.length} rows`));
    if (render) {
      const why = chart(chartBox, table, render);
      chartBox.hidden = why !== '';
      if (why) status.textContent += ` — ${why}`;
      else controls.pick(render.visualization);
    }
    return panel;
  }

  // chartControls are the Chart button and the form it opens: a kind, the
  // column across and the one (or every numeric one) up; a change redraws.
  function chartControls(table, i, render) {
    const n = (s) => (i ? `${s}-${i}` : s);
    const kind = el('select', { id: n('chart-kind') }, ...kinds.map((k) => el('option', { value: k }, k)));
    const x = el('select', { id: n('chart-x') }, ...table.columns.map((c, j) => el('option', { value: String(j) }, c.name)));
    const y = el('select', { id: n('chart-y') }, el('option', { value: '*' }, 'Every numeric column (a pie: the first)'),
      ...table.columns.map((c, j) => (isNumeric(c) ? el('option', { value: String(j) }, c.name) : null)).filter(Boolean));
    const form = el('div', { class: 'toolbar chart-form', id: n('chart-form'), hidden: true },
      el('label', { htmlFor: kind.id }, 'Chart'), kind, el('label', { htmlFor: x.id }, 'Across'), x, el('label', { htmlFor: y.id }, 'Up'), y);
    const toggle = el('button', { id: n('chart-toggle'), type: 'button', class: 'secondary', 'aria-expanded': 'false', 'aria-controls': form.id }, 'Chart');
    function redraw() {
      const ys = y.value === '*' ? table.columns.map((_, j) => j).filter((j) => j !== Number(x.value) && isNumeric(table.columns[j])) : [Number(y.value)];
      const why = draw(chartBox, table, { kind: kind.value, x: Number(x.value), ys: kind.value === 'piechart' ? ys.slice(0, 1) : ys, title: render?.properties?.title });
      chartBox.hidden = why !== '';
      error.textContent = why;
      error.hidden = why === '';
    }
    // pick shows the form set to k and the columns a k chart would take.
    function pick(k) {
      kind.value = k;
      const p = pickColumns(table, k);
      x.value = String(p.x);
      y.value = '*';
      form.hidden = false;
      toggle.setAttribute('aria-expanded', 'true');
    }
    toggle.addEventListener('click', () => {
      if (!form.hidden) {
        form.hidden = true;
        chartBox.hidden = true;
        toggle.setAttribute('aria-expanded', 'false');
        return;
      }
      pick(render?.visualization && kinds.includes(render.visualization) ? render.visualization : 'columnchart');
      redraw();
    });
    for (const s of [kind, x, y]) s.addEventListener('change', redraw);
    return { toggle, form, pick };
  }

  function showError(e) {
    const message = e instanceof ApiError ? e.message : `The query could not be sent: ${e.message}`;
    const line = e.inner?.line;
    const column = e.inner?.column;
    error.textContent = line ? `Line ${line}, column ${column}: ${message}` : message;
    error.hidden = false;
    if (line) placeCaret(editor, line, column);
  }

  // The button runs the query, and while it runs, cancels it.
  run.addEventListener('click', () => (running ? running.abort() : execute()));
  // The key banner, the completion and the history follow the workspace chosen.
  workspace.addEventListener('change', () => {
    workingIn(workspace.selectedOptions[0]?.dataset.resourceId);
    showHistory();
    loadMetadata();
  });
  loadWorkspaces(session, workspace, run, status).then(() => {
    showHistory();
    loadMetadata();
  });

  // loadMetadata fetches what the chosen workspace's queries can name, for
  // completion; without it the editor completes nothing, and says why.
  async function loadMetadata() {
    metadata = null;
    const ws = workspace.value;
    if (!ws) return;
    try {
      const m = await call('GET', `/v1/workspaces/${encodeURIComponent(ws)}/metadata`);
      if (workspace.value === ws) metadata = m;
    } catch (e) {
      if (workspace.value === ws) status.textContent = `Completion is off: the workspace's tables could not be read: ${e.message}`;
    }
  }
}

// tabs shows one panel per result table, chosen by a tab (the arrow keys
// move between the tabs).
function tabs(tables, panels) {
  const list = el('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Result tables' });
  const buttons = tables.map((t, i) => {
    const b = el('button', { type: 'button', role: 'tab', id: `result-tab-${i}`, 'aria-controls': `result-panel-${i}`, 'aria-selected': String(i === 0), tabindex: i === 0 ? '0' : '-1' },
      `${t.name} (${t.rows.length.toLocaleString('en')})`);
    b.addEventListener('click', () => select(i));
    b.addEventListener('keydown', (e) => {
      const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tables.length - 1 }[e.key];
      if (next === undefined) return;
      e.preventDefault();
      select((next + tables.length) % tables.length);
      buttons[(next + tables.length) % tables.length].focus();
    });
    return b;
  });
  list.append(...buttons);
  const wrapped = panels.map((p, i) => el('div', { role: 'tabpanel', id: `result-panel-${i}`, 'aria-labelledby': `result-tab-${i}`, hidden: i !== 0 }, p));
  function select(i) {
    buttons.forEach((b, j) => {
      b.setAttribute('aria-selected', String(i === j));
      b.tabIndex = i === j ? 0 : -1;
      wrapped[j].hidden = i !== j;
    });
  }
  return el('div', { class: 'result-tabs' }, list, ...wrapped);
}

async function loadWorkspaces(session, select, run, status) {
  try {
    const res = await call('GET', `/subscriptions/${encodeURIComponent(session.tenantId)}/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01`);
    const list = (res.value || []).filter((w) => w.properties?.customerId);
    list.sort((a, b) => a.name.localeCompare(b.name));
    for (const w of list) select.append(el('option', { value: w.properties.customerId, 'data-resource-id': w.id }, w.name));
    if (list.length === 0) {
      status.textContent = 'There is no workspace yet: create one with `sealwatch workspace create`.';
      return;
    }
    workingIn(select.selectedOptions[0]?.dataset.resourceId);
    run.disabled = false;
  } catch (e) {
    status.textContent = `The workspaces could not be listed: ${e.message}`;
  }
}

// toCSV writes every row of table (not only those shown) as RFC 4180 CSV,
// a header of the column names first. A string that a spreadsheet would
// take for a formula (=, +, -, @ first) is written with a ' before it: log
// data is the attacker's text, and a formula in it would run when the file
// is opened.
function toCSV(table) {
  const field = (v, type) => {
    let s = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
    if (type === 'string' && /^[=+\-@\t\r]/.test(s)) s = `'${s}`;
    return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
  };
  const lines = [table.columns.map((c) => field(c.name, 'string')).join(',')];
  for (const row of table.rows) lines.push(row.map((v, i) => field(v, table.columns[i].type)).join(','));
  return lines.join('\r\n') + '\r\n';
}

function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const a = el('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
