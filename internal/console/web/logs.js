// The Logs page: pick a workspace and a time range, write KQL in an editor
// that highlights it, run it, and read the result as a table. A refusal is
// shown with its line and column, and the caret is put there.
import { ApiError, call } from './api.js';
import { kqlEditor, placeCaret } from './kqleditor.js';
import { chart } from './chart.js';
import { workingIn } from './keystate.js';
import { el } from './dom.js';

// renderedRows bounds the rows put into the page at once; the result's
// size is always said.
const renderedRows = 1000;

const timespans = [
  ['PT1H', 'Last hour'],
  ['P1D', 'Last 24 hours'],
  ['P7D', 'Last 7 days'],
  ['P30D', 'Last 30 days'],
  ['', 'Set in the query'],
];

// render builds the page into container for the signed-in session.
export function render(container, session) {
  const workspace = el('select', { id: 'workspace' });
  const timespan = el('select', { id: 'timespan' });
  for (const [value, label] of timespans) timespan.append(el('option', { value }, label));
  const { box: editorBox, view: editor } = kqlEditor('kql-editor', {
    doc: 'search *\n| take 100',
    label: 'Query (KQL)',
    keys: [{ key: 'Mod-Enter', run: () => { execute(); return true; } }],
  });
  const run = el('button', { id: 'run-query', type: 'button', disabled: true }, 'Run');
  const status = el('p', { id: 'query-status', class: 'status', role: 'status' });
  const error = el('p', { id: 'query-error', class: 'error', role: 'alert', hidden: true });
  const results = el('div', { id: 'results', class: 'results' });
  const chartBox = el('div', { id: 'chart', class: 'chart', role: 'img', 'aria-label': 'Chart of the result' });

  container.replaceChildren(
    el('div', { class: 'toolbar' },
      el('label', { htmlFor: 'workspace' }, 'Workspace'), workspace,
      el('label', { htmlFor: 'timespan' }, 'Time range'), timespan,
      run),
    el('span', { class: 'query-label', 'aria-hidden': 'true' }, 'Query (KQL) — Ctrl+Enter runs it'),
    editorBox, error, status, chartBox, results);
  // running cancels the query under way, if any.
  let running = null;

  async function execute() {
    if (!workspace.value || running) return;
    error.hidden = true;
    results.replaceChildren();
    chartBox.replaceChildren();
    const controller = new AbortController();
    running = controller;
    run.textContent = 'Cancel';
    const started = performance.now();
    const tick = setInterval(() => {
      status.textContent = `Running… ${((performance.now() - started) / 1000).toFixed(0)} s`;
    }, 1000);
    status.textContent = 'Running…';
    try {
      const body = { query: editor.state.doc.toString() };
      if (timespan.value) body.timespan = timespan.value;
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

  function showResult(res, seconds) {
    const table = (res.tables || [])[0] || { columns: [], rows: [] };
    const n = table.rows.length;
    let text = `${n.toLocaleString('en')} ${n === 1 ? 'row' : 'rows'} in ${seconds} s`;
    if (n > renderedRows) text += ` (showing the first ${renderedRows.toLocaleString('en')})`;
    status.textContent = text;
    if (res.error) {
      // A partial answer: the node cut the result at one of its limits.
      error.textContent = res.error.details?.[0]?.message || res.error.message;
      error.hidden = false;
    }
    if (res.render) {
      const why = chart(chartBox, table, res.render);
      if (why) status.textContent += ` — ${why}`;
    }
    const exportButton = el('button', { id: 'export-csv', type: 'button', class: 'secondary' }, 'Export CSV');
    exportButton.addEventListener('click', () => download('query-result.csv', toCSV(table)));
    results.replaceChildren(el('div', { class: 'results-bar' }, exportButton), grid(table));
  }

  function showError(e) {
    const message = e instanceof ApiError ? e.message : `The query could not be sent: ${e.message}`;
    const at = /at (\d+):(\d+)/.exec(message);
    error.textContent = at ? `Line ${at[1]}, column ${at[2]}: ${message}` : message;
    error.hidden = false;
    if (at) placeCaret(editor, Number(at[1]), Number(at[2]));
  }

  // The button runs the query, and while it runs, cancels it.
  run.addEventListener('click', () => (running ? running.abort() : execute()));
  // The key banner follows the workspace chosen.
  workspace.addEventListener('change', () => workingIn(workspace.selectedOptions[0]?.dataset.resourceId));
  loadWorkspaces(session, workspace, run, status);
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

// grid is the table of a result: a header per column (its name, its type
// as a tooltip; a click sorts by it, again the other way), and a row per
// row. A dynamic value (an object or array) is shown in one line and
// expands to its indented JSON.
function grid(table) {
  let rows = table.rows;
  let sortedBy = -1;
  let descending = false;
  const body = el('tbody');
  const headers = table.columns.map((c, i) => {
    const button = el('button', { type: 'button', class: 'sort' }, c.name);
    button.addEventListener('click', () => sortBy(i));
    return el('th', { scope: 'col', title: c.type }, button);
  });

  function fill() {
    body.replaceChildren(...rows.slice(0, renderedRows).map((row) => el('tr', {}, ...row.map(cell))));
  }

  function sortBy(i) {
    descending = sortedBy === i ? !descending : false;
    sortedBy = i;
    const sign = descending ? -1 : 1;
    rows = [...table.rows].sort((a, b) => sign * compare(a[i], b[i]));
    headers.forEach((th, j) => {
      if (j === i) th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    });
    fill();
  }

  fill();
  return el('table', { class: 'grid' }, el('thead', {}, el('tr', {}, ...headers)), body);
}

// compare orders two cells of one column: nulls first, then numbers by
// value, the rest by their text (ISO times sort as text).
function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = typeof a === 'object' ? JSON.stringify(a) : String(a);
  const y = typeof b === 'object' ? JSON.stringify(b) : String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function cell(v) {
  if (v === null || v === undefined) return el('td', { class: 'null' });
  if (typeof v !== 'object') return el('td', {}, String(v));
  return el('td', { class: 'dynamic' },
    el('details', {}, el('summary', {}, JSON.stringify(v)), el('pre', {}, JSON.stringify(v, null, 2))));
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
