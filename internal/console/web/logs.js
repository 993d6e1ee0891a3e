// The Logs page: pick a workspace and a time range, write KQL, run it, and
// read the result as a table. A refusal is shown with its line and column,
// and the caret is put there.
import { ApiError, call } from './api.js';

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

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// render builds the page into container for the signed-in session.
export function render(container, session) {
  const workspace = el('select', { id: 'workspace' });
  const timespan = el('select', { id: 'timespan' });
  for (const [value, label] of timespans) timespan.append(el('option', { value }, label));
  const query = el('textarea', { id: 'kql', rows: 8, spellcheck: false, autocomplete: 'off' });
  query.value = 'search *\n| take 100';
  const run = el('button', { id: 'run-query', type: 'button', disabled: true }, 'Run');
  const status = el('p', { id: 'query-status', class: 'status', role: 'status' });
  const error = el('p', { id: 'query-error', class: 'error', role: 'alert', hidden: true });
  const results = el('div', { id: 'results', class: 'results' });

  container.replaceChildren(
    el('div', { class: 'toolbar' },
      el('label', { htmlFor: 'workspace' }, 'Workspace'), workspace,
      el('label', { htmlFor: 'timespan' }, 'Time range'), timespan,
      run),
    el('label', { htmlFor: 'kql', class: 'query-label' }, 'Query (KQL) — Ctrl+Enter runs it'),
    query, error, status, results);

  async function execute() {
    if (!workspace.value) return;
    error.hidden = true;
    results.replaceChildren();
    status.textContent = 'Running…';
    run.disabled = true;
    const started = performance.now();
    try {
      const body = { query: query.value };
      if (timespan.value) body.timespan = timespan.value;
      const res = await call('POST', `/v1/workspaces/${encodeURIComponent(workspace.value)}/query`, body);
      const seconds = ((performance.now() - started) / 1000).toFixed(2);
      showResult(res, seconds);
    } catch (e) {
      status.textContent = '';
      showError(e);
    } finally {
      run.disabled = false;
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
    results.replaceChildren(grid(table));
  }

  function showError(e) {
    const message = e instanceof ApiError ? e.message : `The query could not be sent: ${e.message}`;
    const at = /at (\d+):(\d+)/.exec(message);
    error.textContent = at ? `Line ${at[1]}, column ${at[2]}: ${message}` : message;
    error.hidden = false;
    if (at) placeCaret(query, Number(at[1]), Number(at[2]));
  }

  run.addEventListener('click', execute);
  query.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && (ev.ctrlKey || ev.metaKey)) {
      ev.preventDefault();
      execute();
    }
  });
  loadWorkspaces(session, workspace, run, status);
}

async function loadWorkspaces(session, select, run, status) {
  try {
    const res = await call('GET', `/subscriptions/${encodeURIComponent(session.tenantId)}/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01`);
    const list = (res.value || []).filter((w) => w.properties?.customerId);
    list.sort((a, b) => a.name.localeCompare(b.name));
    for (const w of list) select.append(el('option', { value: w.properties.customerId }, w.name));
    if (list.length === 0) {
      status.textContent = 'There is no workspace yet: create one with `sealwatch workspace create`.';
      return;
    }
    run.disabled = false;
  } catch (e) {
    status.textContent = `The workspaces could not be listed: ${e.message}`;
  }
}

// placeCaret puts the caret at 1-based line and column of textarea.
function placeCaret(textarea, line, column) {
  const lines = textarea.value.split('\n');
  let offset = 0;
  for (let i = 0; i < line - 1 && i < lines.length; i++) offset += lines[i].length + 1;
  offset += Math.max(0, column - 1);
  textarea.focus();
  textarea.setSelectionRange(offset, offset);
}

// grid is the table of a result: a header per column (its name and type)
// and a row per row, values as text.
function grid(table) {
  const head = el('tr', {}, ...table.columns.map((c) => el('th', { scope: 'col', title: c.type }, c.name)));
  const body = el('tbody');
  for (const row of table.rows.slice(0, renderedRows)) {
    body.append(el('tr', {}, ...row.map((v) => el('td', {}, cellText(v)))));
  }
  return el('table', { class: 'grid' }, el('thead', {}, head), body);
}

function cellText(v) {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
