// The Incidents page: a workspace's incident queue (#/incidents/WORKSPACE),
// filtered by status, severity, owner and time, with counts; and an
// incident's own page (#/incidents/WORKSPACE/ID) with its alerts, timeline,
// entities, tasks, comments and history, where it is assigned, triaged,
// classified and closed. WORKSPACE is the workspace's customerId.
//
// Every write carries the etag of the version it was made from (If-Match).
// When someone else wrote in between, the node answers 412 and the page
// shows their version beside the change it could not make, to re-apply or
// drop: nothing is overwritten or lost without the analyst's say.
import { ApiError, call } from './api.js';
import { el } from './dom.js';
import { workingIn } from './keystate.js';

const apiVersion = 'api-version=2024-09-01';
const severities = ['High', 'Medium', 'Low', 'Informational'];
const statuses = ['New', 'Active', 'Closed'];
// reasons are the classificationReasons the API takes with each
// classification; Undetermined takes none.
const reasons = {
  Undetermined: [],
  TruePositive: ['SuspiciousActivity'],
  BenignPositive: ['SuspiciousButExpected'],
  FalsePositive: ['IncorrectAlertLogic', 'InaccurateData'],
};
const periods = [
  ['', 'Any time'],
  ['3600000', 'Last hour'],
  ['86400000', 'Last 24 hours'],
  ['604800000', 'Last 7 days'],
  ['2592000000', 'Last 30 days'],
];

// queueRows bounds the incidents put into the queue's table at once, so
// that a workspace of many stays quick to filter; the counts and the
// summary count them all.
const queueRows = 500;

// filters outlive the page's rendering, so that coming back from an
// incident finds the queue as it was left.
const filters = { status: '', severity: '', owner: '', timeField: 'createdTimeUtc', period: '' };

// render shows the queue, or the incident sub names.
export function render(container, session, sub = '') {
  let parts;
  try {
    parts = sub.split('/').filter((p) => p !== '').map(decodeURIComponent);
  } catch {
    parts = [];
  }
  if (parts.length === 2) incidentPage(container, session, parts[0], parts[1]);
  else queuePage(container, session, parts[0] || '');
}

// workspaces are the tenant's workspaces the caller may see, by name.
async function workspaces(session) {
  const res = await call('GET', `/subscriptions/${encodeURIComponent(session.tenantId)}/providers/Microsoft.OperationalInsights/workspaces?api-version=2023-07-01`);
  const list = (res.value || []).filter((w) => w.properties?.customerId);
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

function incidentsPath(ws) {
  return `${ws.id}/providers/Microsoft.SecurityInsights/incidents`;
}

function queueHash(customerId) {
  return `#/incidents/${encodeURIComponent(customerId)}`;
}

function incidentHash(customerId, name) {
  return `${queueHash(customerId)}/${encodeURIComponent(name)}`;
}

// describe says what went wrong in words for the page; a refusal by role
// says so first, as the API's message names the role needed.
function describe(e) {
  if (!(e instanceof ApiError)) return `The node could not be reached: ${e.message}`;
  if (e.status === 403) return `The node refused this (${e.code}): ${e.message}`;
  return e.message;
}

function fmtTime(iso) {
  if (!iso || iso.startsWith('0001-')) return '—';
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function ownerName(o) {
  return (o && (o.assignedTo || o.userPrincipalName || o.email || o.objectId)) || '';
}

// who names an actor of the history or an author: the signed-in
// application as "you".
function who(session, id) {
  if (!id) return '—';
  if (id === session.principal.objectId) return `${session.principal.displayName} (you)`;
  return id;
}

function selectOf(id, options, value) {
  const s = el('select', { id });
  for (const [v, label] of options) s.append(el('option', { value: v }, label));
  s.value = value;
  return s;
}

function labelled(text, control) {
  return el('label', { htmlFor: control.id }, text);
}

function badge(kind, value) {
  return el('span', { class: `badge ${kind}-${value.toLowerCase()}` }, value);
}

// ---- The queue ----

async function queuePage(container, session, customerId) {
  const picker = el('select', { id: 'incident-workspace' });
  const status = selectOf('incident-filter-status', [['', 'Any'], ['open', 'Open (New or Active)'], ...statuses.map((s) => [s, s])], filters.status);
  const severity = selectOf('incident-filter-severity', [['', 'Any'], ...severities.map((s) => [s, s])], filters.severity);
  const owner = el('select', { id: 'incident-filter-owner' });
  const timeField = selectOf('incident-filter-timefield', [['createdTimeUtc', 'Created'], ['lastModifiedTimeUtc', 'Last modified']], filters.timeField);
  const period = selectOf('incident-filter-period', periods, filters.period);
  period.setAttribute('aria-label', 'Time range');
  const refresh = el('button', { id: 'incident-refresh', type: 'button', class: 'secondary' }, 'Refresh');
  const create = el('button', { id: 'new-incident', type: 'button', class: 'secondary', 'aria-expanded': 'false' }, 'New incident');
  const createForm = newIncidentForm(() => ws);
  const counts = el('div', { id: 'incident-counts', class: 'counts' });
  const summary = el('p', { id: 'incident-summary', class: 'status', role: 'status' });
  const error = el('p', { id: 'incidents-error', class: 'error', role: 'alert', hidden: true });
  const table = el('div', { class: 'results' });
  container.replaceChildren(
    el('div', { class: 'toolbar' }, labelled('Workspace', picker), picker, refresh, create),
    createForm,
    el('div', { class: 'toolbar filters', role: 'group', 'aria-label': 'Filters' },
      labelled('Status', status), status,
      labelled('Severity', severity), severity,
      labelled('Owner', owner), owner,
      labelled('Time', timeField), timeField, period),
    counts, error, summary, table);

  let list = [];
  let ws = null;

  const apply = () => {
    Object.assign(filters, { status: status.value, severity: severity.value, owner: owner.value, timeField: timeField.value, period: period.value });
    showCounts(counts, list, session, filters, (dim, value) => {
      (dim === 'status' ? status : severity).value = value;
      apply();
    });
    const matching = list.filter((i) => matches(i, session, filters));
    let text = `${matching.length} of ${list.length} ${list.length === 1 ? 'incident' : 'incidents'} ${matching.length === 1 ? 'matches' : 'match'}, newest first.`;
    if (matching.length > queueRows) text += ` The list holds the newest ${queueRows.toLocaleString('en')}: narrow the filters to see the others.`;
    summary.textContent = text;
    table.replaceChildren(matching.length ? queueTable(matching.slice(0, queueRows), ws, session) : el('p', { class: 'empty' }, 'No incident matches these filters.'));
  };
  for (const s of [status, severity, owner, timeField, period]) s.addEventListener('change', apply);

  async function load() {
    error.hidden = true;
    summary.textContent = 'Loading…';
    try {
      const res = await call('GET', `${incidentsPath(ws)}?${apiVersion}`);
      list = (res.value || []).sort(newestFirst);
    } catch (e) {
      list = [];
      summary.textContent = '';
      error.textContent = describe(e);
      error.hidden = false;
    }
    fillOwners(owner, list, session);
    apply();
  }
  refresh.addEventListener('click', load);
  create.addEventListener('click', () => {
    createForm.hidden = !createForm.hidden;
    create.setAttribute('aria-expanded', String(!createForm.hidden));
    if (!createForm.hidden) createForm.querySelector('input').focus();
  });
  picker.addEventListener('change', () => { location.hash = queueHash(picker.value); });

  let all;
  try {
    all = await workspaces(session);
  } catch (e) {
    if (!picker.isConnected) return;
    error.textContent = `The workspaces could not be listed: ${describe(e)}`;
    error.hidden = false;
    return;
  }
  // The analyst may have gone to another page meanwhile.
  if (!picker.isConnected) return;
  if (all.length === 0) {
    summary.textContent = 'There is no workspace yet: create one with `sealwatch workspace create`.';
    return;
  }
  for (const w of all) picker.append(el('option', { value: w.properties.customerId }, w.name));
  ws = all.find((w) => w.properties.customerId === customerId) || all[0];
  workingIn(ws.id); // the key banner follows the workspace
  picker.value = ws.properties.customerId;
  if (ws.properties.customerId !== customerId) history.replaceState(null, '', queueHash(ws.properties.customerId));
  await load();
}

// newIncidentForm makes an incident by hand in the workspace ws() names,
// and opens it.
function newIncidentForm(ws) {
  const title = el('input', { id: 'new-incident-title', maxLength: 256, autocomplete: 'off' });
  const severity = selectOf('new-incident-severity', severities.map((s) => [s, s]), 'Medium');
  const description = el('textarea', { id: 'new-incident-description', rows: 3 });
  const submit = el('button', { id: 'create-incident', type: 'submit' }, 'Create');
  const error = el('p', { id: 'new-incident-error', class: 'error', role: 'alert', hidden: true });
  const form = el('form', { class: 'panel new-incident', hidden: true, 'aria-label': 'New incident', novalidate: true },
    labelled('Title', title), title, labelled('Severity', severity), severity,
    labelled('Description', description), description, submit, error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.hidden = true;
    if (!title.value.trim()) {
      error.textContent = 'Give the incident a title.';
      error.hidden = false;
      title.focus();
      return;
    }
    const id = crypto.randomUUID();
    submit.disabled = true;
    try {
      await call('PUT', `${incidentsPath(ws())}/${id}?${apiVersion}`,
        { properties: { title: title.value.trim(), severity: severity.value, description: description.value, status: 'New' } });
      location.hash = incidentHash(ws().properties.customerId, id);
    } catch (err) {
      error.textContent = describe(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

// newestFirst orders by creation, then number. Times are compared as
// times: their text's fractions of a second vary in length.
function newestFirst(a, b) {
  const t = Date.parse(b.properties.createdTimeUtc) - Date.parse(a.properties.createdTimeUtc);
  return t || b.properties.incidentNumber - a.properties.incidentNumber;
}

// matches says whether incident i passes filters f, leaving out the
// dimension skip (for the counts of that dimension).
function matches(i, session, f, skip) {
  const p = i.properties;
  if (skip !== 'status') {
    if (f.status === 'open' ? p.status === 'Closed' : f.status && p.status !== f.status) return false;
  }
  if (skip !== 'severity' && f.severity && p.severity !== f.severity) return false;
  if (f.owner === 'me' && p.owner?.objectId !== session.principal.objectId) return false;
  if (f.owner === 'none' && ownerName(p.owner) !== '') return false;
  if (f.owner.startsWith('name:') && ownerName(p.owner) !== f.owner.slice(5)) return false;
  if (f.period && Date.now() - Date.parse(p[f.timeField]) > Number(f.period)) return false;
  return true;
}

function fillOwners(select, list, session) {
  const names = [...new Set(list.map((i) => ownerName(i.properties.owner)).filter((n) => n !== ''))].sort();
  select.replaceChildren(
    el('option', { value: '' }, 'Anyone'),
    el('option', { value: 'me' }, `Me (${session.principal.displayName})`),
    el('option', { value: 'none' }, 'Unassigned'),
    ...names.map((n) => el('option', { value: `name:${n}` }, n)));
  select.value = [...select.options].some((o) => o.value === filters.owner) ? filters.owner : '';
}

// showCounts writes, for each status and severity, how many incidents the
// other filters leave: a button that filters by it.
function showCounts(box, list, session, f, pick) {
  const group = (dim, values, label) => el('div', { class: 'count-group', role: 'group', 'aria-label': label },
    el('span', { class: 'count-label' }, label),
    ...values.map((v) => {
      const n = list.filter((i) => i.properties[dim] === v && matches(i, session, f, dim)).length;
      const b = el('button', { type: 'button', class: 'count', 'aria-pressed': String(f[dim] === v), 'data-count': `${dim}-${v}` },
        `${v} `, el('b', {}, String(n)));
      b.addEventListener('click', () => pick(dim, f[dim] === v ? '' : v));
      return b;
    }));
  box.replaceChildren(group('status', statuses, 'By status'), group('severity', severities, 'By severity'));
}

// queueTable lists incidents, each title a link to its page. Up and down
// arrows move between the rows, Home and End to the first and last; Enter
// opens the one focused.
function queueTable(list, ws, session) {
  const body = el('tbody', {}, ...list.map((i) => {
    const p = i.properties;
    return el('tr', {},
      el('td', { class: 'num' }, String(p.incidentNumber)),
      el('td', {}, el('a', { href: incidentHash(ws.properties.customerId, i.name) }, p.title)),
      el('td', {}, badge('severity', p.severity)),
      el('td', {}, badge('status', p.status)),
      el('td', {}, p.owner?.objectId === session.principal.objectId ? `${ownerName(p.owner)} (you)` : ownerName(p.owner) || '—'),
      el('td', { class: 'num' }, String(p.additionalData?.alertsCount ?? 0)),
      el('td', {}, fmtTime(p.createdTimeUtc)),
      el('td', {}, fmtTime(p.lastModifiedTimeUtc)));
  }));
  body.addEventListener('keydown', (e) => {
    const links = [...body.querySelectorAll('a')];
    const at = links.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[e.key];
    if (to === undefined || at < 0) return;
    e.preventDefault();
    links[Math.max(0, Math.min(to, links.length - 1))].focus();
  });
  const head = ['Number', 'Title', 'Severity', 'Status', 'Owner', 'Alerts', 'Created', 'Last modified'];
  return el('table', { class: 'grid incidents', id: 'incident-queue', 'aria-label': 'Incidents, newest first; arrow keys move between them' },
    el('thead', {}, el('tr', {}, ...head.map((h) => el('th', { scope: 'col' }, h)))), body);
}

// ---- An incident ----

// writable are the properties a PUT sets: the rest the node keeps itself.
function writable(p) {
  const out = {};
  for (const k of ['title', 'description', 'severity', 'status', 'classification', 'classificationReason',
    'classificationComment', 'owner', 'labels', 'firstActivityTimeUtc', 'lastActivityTimeUtc']) {
    if (p[k] !== undefined) out[k] = p[k];
  }
  return out;
}

function sameWritable(a, b) {
  return JSON.stringify(writable(a.properties)) === JSON.stringify(writable(b.properties));
}

const fieldNames = {
  severity: 'Severity', status: 'Status', owner: 'Owner', classification: 'Classification',
  classificationReason: 'Reason', classificationComment: 'Closing comment',
};

function shown(field, v) {
  if (field === 'owner') return ownerName(v) || 'unassigned';
  return v === '' || v === undefined ? '—' : String(v);
}

async function incidentPage(container, session, customerId, id) {
  const loading = el('p', { class: 'status', role: 'status' }, 'Loading the incident…');
  container.replaceChildren(loading);
  // gone says the analyst went to another page while this one loaded.
  const gone = () => !loading.isConnected;
  let ws;
  try {
    ws = (await workspaces(session)).find((w) => w.properties.customerId === customerId);
  } catch (e) {
    if (!gone()) container.replaceChildren(el('p', { class: 'error', role: 'alert' }, `The workspaces could not be listed: ${describe(e)}`));
    return;
  }
  if (gone()) return;
  if (!ws) {
    container.replaceChildren(el('p', { class: 'error', role: 'alert' },
      'This workspace does not exist or you may not see it: ', el('a', { href: '#/incidents' }, 'back to the incidents')));
    return;
  }
  workingIn(ws.id); // the key banner follows the incident's workspace
  const base = `${incidentsPath(ws)}/${encodeURIComponent(id)}`;
  const url = (tail = '') => `${base}${tail}?${apiVersion}`;

  // inc is the newest version of the incident the page knows; formBase the
  // one its forms were filled from, whose etag their writes send.
  let inc;
  try {
    inc = await call('GET', url());
  } catch (e) {
    if (!gone()) {
      container.replaceChildren(el('p', { class: 'error', role: 'alert' }, describe(e), ' ',
        el('a', { href: queueHash(customerId) }, 'Back to the queue')));
    }
    return;
  }
  if (gone()) return;
  let formBase = inc;

  const header = el('div', { class: 'incident-head' });
  const triage = el('form', { id: 'triage', class: 'panel', 'aria-labelledby': 'triage-title', novalidate: true });
  const closing = el('form', { id: 'close-form', class: 'panel', 'aria-labelledby': 'close-title', novalidate: true });
  const conflict = el('div', { id: 'conflict', class: 'panel conflict', role: 'alert', hidden: true });
  const sections = {
    alerts: section('alerts', 'Alerts'),
    timeline: section('timeline', 'Timeline'),
    entities: section('entities', 'Entities'),
    tasks: section('tasks', 'Tasks'),
    comments: section('comments', 'Comments'),
    history: section('history', 'History'),
  };
  container.replaceChildren(
    el('p', {}, el('a', { href: queueHash(customerId), id: 'back-to-queue' }, `← Incidents of ${ws.name}`)),
    header,
    conflict,
    el('div', { class: 'incident-grid' },
      el('div', { class: 'incident-main' }, sections.alerts.box, sections.timeline.box, sections.entities.box, sections.comments.box, sections.history.box),
      el('div', { class: 'incident-side' }, triage, closing, sections.tasks.box)));

  // ---- Header ----
  function showHeader() {
    const p = inc.properties;
    const facts = [
      ['Owner', ownerName(p.owner) || 'unassigned'],
      ['Created', fmtTime(p.createdTimeUtc)],
      ['Last modified', fmtTime(p.lastModifiedTimeUtc)],
      ['Activity', `${fmtTime(p.firstActivityTimeUtc)} – ${fmtTime(p.lastActivityTimeUtc)}`],
      ['Alerts', String(p.additionalData?.alertsCount ?? 0)],
      ['Tactics', (p.additionalData?.tactics || []).join(', ') || '—'],
    ];
    if (p.status === 'Closed') {
      facts.push(['Classification', [p.classification, p.classificationReason].filter(Boolean).join(' — ')]);
      if (p.classificationComment) facts.push(['Closing comment', p.classificationComment]);
    }
    header.replaceChildren(
      el('h2', { id: 'incident-title' }, `#${p.incidentNumber} ${p.title}`),
      el('p', { class: 'badges' }, badge('severity', p.severity), ' ', badge('status', p.status)),
      el('dl', { class: 'facts', id: 'incident-facts' }, ...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
      p.description ? el('p', { class: 'description' }, p.description) : '');
    document.title = `#${p.incidentNumber} ${p.title} · Sealwatch`;
  }

  // ---- Triage: severity, status, owner ----
  const severity = selectOf('incident-severity', severities.map((s) => [s, s]), '');
  const status = selectOf('incident-status', statuses.map((s) => [s, s]), '');
  const owner = el('input', { id: 'incident-owner', autocomplete: 'off', spellcheck: false, placeholder: 'unassigned' });
  const assignMe = el('button', { id: 'assign-me', type: 'button', class: 'secondary' }, 'Assign to me');
  const save = el('button', { id: 'save-incident', type: 'submit' }, 'Save');
  const triageMsg = el('p', { id: 'triage-message', class: 'status', role: 'status' });
  const triageErr = el('p', { id: 'triage-error', class: 'error', role: 'alert', hidden: true });
  // ownerPicked is the owner object "Assign to me" chose, while the field
  // still shows its name.
  let ownerPicked = null;
  triage.append(
    el('h2', { id: 'triage-title' }, 'Triage'),
    labelled('Severity', severity), severity,
    labelled('Status', status), status,
    labelled('Owner', owner), el('div', { class: 'row' }, owner, assignMe),
    save, triageErr, triageMsg);
  owner.addEventListener('input', () => { ownerPicked = null; });
  assignMe.addEventListener('click', () => {
    ownerPicked = { objectId: session.principal.objectId, assignedTo: session.principal.displayName };
    owner.value = ownerPicked.assignedTo;
  });

  // ---- Classify and close ----
  const classification = selectOf('classification', [['', 'Choose…'], ...Object.keys(reasons).map((c) => [c, c])], '');
  const reason = el('select', { id: 'classification-reason' });
  const closingComment = el('textarea', { id: 'classification-comment', rows: 3, maxLength: 1000 });
  const closeButton = el('button', { id: 'close-incident', type: 'submit' }, 'Close incident');
  const closeErr = el('p', { id: 'close-error', class: 'error', role: 'alert', hidden: true });
  closing.append(
    el('h2', { id: 'close-title' }, 'Classify and close'),
    labelled('Classification', classification), classification,
    labelled('Reason', reason), reason,
    labelled('Comment', closingComment), closingComment,
    closeButton, closeErr);
  const fillReasons = () => {
    const rs = reasons[classification.value] || [];
    reason.replaceChildren(...(rs.length ? rs.map((r) => el('option', { value: r }, r)) : [el('option', { value: '' }, '—')]));
    reason.disabled = rs.length < 2;
  };
  classification.addEventListener('change', fillReasons);

  function fillForms() {
    const p = formBase.properties;
    severity.value = p.severity;
    status.value = p.status;
    owner.value = ownerName(p.owner);
    ownerPicked = null;
    closing.hidden = p.status === 'Closed';
    classification.value = '';
    closingComment.value = '';
    fillReasons();
  }

  // triageChange is what the triage form changes from formBase: only the
  // fields the analyst changed, so that re-applying it over another's
  // version keeps theirs.
  function triageChange() {
    const p = formBase.properties;
    const change = {};
    if (severity.value !== p.severity) change.severity = severity.value;
    if (status.value !== p.status) {
      change.status = status.value;
      // Reopening clears the classification, which only a closed incident has.
      if (p.status === 'Closed') Object.assign(change, { classification: '', classificationReason: '', classificationComment: '' });
    }
    const name = owner.value.trim();
    if (ownerPicked) {
      if (ownerPicked.objectId !== p.owner?.objectId) change.owner = ownerPicked;
    } else if (name !== ownerName(p.owner)) {
      change.owner = name ? { assignedTo: name } : {};
    }
    return change;
  }

  function dirty() {
    return Object.keys(triageChange()).length > 0 || classification.value !== '' || closingComment.value !== '';
  }

  // adopt takes a newer version of the incident the page has come to know
  // (after a comment of its own, say). The forms move to it when nothing in
  // them is unsaved, or when it differs from theirs only in what the
  // forms do not touch; otherwise they keep their version, so that their
  // next write is refused and shows the other writer's.
  function adopt(fresh) {
    inc = fresh;
    if (!dirty()) {
      if (!sameWritable(formBase, fresh)) loadHistory();
      formBase = fresh;
      fillForms();
    } else if (sameWritable(formBase, fresh)) {
      formBase = fresh;
    }
    showHeader();
  }

  async function write(change, errBox, done) {
    errBox.hidden = true;
    triageMsg.textContent = 'Saving…';
    const body = { properties: { ...writable(formBase.properties), ...change } };
    try {
      const saved = await call('PUT', url(), body, undefined, { 'If-Match': formBase.etag });
      inc = formBase = saved;
      fillForms();
      showHeader();
      conflict.hidden = true;
      triageMsg.textContent = done;
      loadHistory();
    } catch (e) {
      triageMsg.textContent = '';
      if (e instanceof ApiError && e.status === 412) await showConflict(change, errBox, done);
      else {
        errBox.textContent = describe(e);
        errBox.hidden = false;
      }
    }
  }

  // showConflict reads the version another wrote, and shows it beside the
  // change that was refused, with who changed what since; the analyst
  // re-applies the change over it or drops the change.
  async function showConflict(change, errBox, done) {
    let theirs;
    let trail = [];
    try {
      [theirs, trail] = await Promise.all([call('GET', url()), call('GET', url('/history')).then((r) => r.value || [], () => [])]);
    } catch (e) {
      errBox.textContent = `Someone else changed this incident, and it could not be read again: ${describe(e)}`;
      errBox.hidden = false;
      return;
    }
    const theirChanges = trail.slice(trailSeen);
    // The fields either side changed: the analyst's, and theirs.
    const differs = (f) => JSON.stringify(formBase.properties[f] ?? '') !== JSON.stringify(theirs.properties[f] ?? '');
    const rows = Object.keys(fieldNames).filter((f) => f in change || differs(f)).map((f) => el('tr', {},
      el('th', { scope: 'row' }, fieldNames[f]),
      el('td', {}, shown(f, formBase.properties[f])),
      el('td', { class: 'mine' }, f in change ? shown(f, change[f]) : '(unchanged)'),
      el('td', { class: 'theirs' }, shown(f, theirs.properties[f]))));
    const reapply = el('button', { id: 'conflict-reapply', type: 'button' }, 'Apply my change to their version');
    const reload = el('button', { id: 'conflict-reload', type: 'button', class: 'secondary' }, 'Drop my change and reload');
    conflict.replaceChildren(
      el('h2', {}, 'Someone else changed this incident'),
      el('p', {}, `Your change was not saved: the incident was changed after you opened it (last modified ${fmtTime(theirs.properties.lastModifiedTimeUtc)}). Here is their version beside yours.`),
      el('table', { class: 'grid', id: 'conflict-fields' },
        el('thead', {}, el('tr', {}, ...['Field', 'When you opened it', 'Your change', 'Now'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...rows)),
      theirChanges.length
        ? el('ul', { id: 'conflict-changes' }, ...theirChanges.map((h) => el('li', {},
          `${fmtTime(h.time)}, ${who(session, h.actor)}: ${h.action}${h.detail ? ` — ${h.detail}` : ''}`)))
        : el('p', {}, 'Their change is not one the history records (the title, the description or a comment, say).'),
      el('div', { class: 'row' }, reapply, reload));
    conflict.hidden = false;
    reapply.addEventListener('click', () => {
      formBase = theirs;
      write(change, errBox, done);
    });
    reload.addEventListener('click', () => {
      conflict.hidden = true;
      inc = formBase = theirs;
      fillForms();
      showHeader();
      loadHistory();
      triageMsg.textContent = 'Reloaded: your change was dropped.';
    });
    reapply.focus();
  }

  triage.addEventListener('submit', (e) => {
    e.preventDefault();
    triageErr.hidden = true;
    const change = triageChange();
    if (change.status === 'Closed') {
      triageErr.textContent = 'Close an incident with "Classify and close", which asks for its classification.';
      triageErr.hidden = false;
      return;
    }
    if (Object.keys(change).length === 0) {
      triageMsg.textContent = 'Nothing to save: nothing was changed.';
      return;
    }
    write(change, triageErr, 'Saved.');
  });
  closing.addEventListener('submit', (e) => {
    e.preventDefault();
    closeErr.hidden = true;
    if (!classification.value) {
      closeErr.textContent = 'Choose a classification: the node closes an incident only with one.';
      closeErr.hidden = false;
      classification.focus();
      return;
    }
    write({ status: 'Closed', classification: classification.value, classificationReason: reason.value,
      classificationComment: closingComment.value.trim() }, closeErr, 'Closed.');
  });

  // ---- Alerts, timeline, entities ----
  async function loadAlerts() {
    try {
      const alerts = (await call('GET', url('/alerts'))).value || [];
      sections.alerts.fill(alerts.length === 0 ? el('p', { class: 'empty' }, 'No alert: this incident was made by hand.')
        : el('table', { class: 'grid', id: 'incident-alerts' },
          el('thead', {}, el('tr', {}, ...['Alert', 'Severity', 'Generated', 'Tactics'].map((h) => el('th', { scope: 'col' }, h)))),
          el('tbody', {}, ...alerts.map((a) => el('tr', {},
            el('td', { title: a.properties.description || '' }, a.properties.alertDisplayName),
            el('td', {}, badge('severity', a.properties.severity)),
            el('td', {}, fmtTime(a.properties.timeGenerated)),
            el('td', {}, (a.properties.tactics || []).join(', ')))))));
      const events = alerts.map((a) => ({ time: a.properties.startTimeUtc, end: a.properties.endTimeUtc, what: a.properties.alertDisplayName }))
        .sort((x, y) => x.time.localeCompare(y.time));
      sections.timeline.fill(events.length === 0 ? el('p', { class: 'empty' }, 'No activity recorded: the incident has no alert.')
        : el('ol', { class: 'timeline', id: 'incident-timeline' }, ...events.map((ev) => el('li', {},
          el('time', { dateTime: ev.time }, fmtTime(ev.time)), ` – ${fmtTime(ev.end)}: ${ev.what}`))));
    } catch (e) {
      sections.alerts.failed(e);
      sections.timeline.failed(e);
    }
  }

  async function loadEntities() {
    try {
      const res = await call('GET', url('/entities'));
      const entities = res.entities || [];
      sections.entities.fill(entities.length === 0 ? el('p', { class: 'empty' }, 'No entity.')
        : el('ul', { class: 'entities', id: 'incident-entities' }, ...entities.map((en) => el('li', {},
          el('span', { class: 'entity-kind' }, en.kind), ' ', en.properties?.friendlyName || en.name))));
    } catch (e) {
      sections.entities.failed(e);
    }
  }

  // ---- Tasks ----
  const taskTitle = el('input', { id: 'task-title', maxLength: 150, autocomplete: 'off' });
  const taskAdd = el('button', { id: 'add-task', type: 'submit', class: 'secondary' }, 'Add task');
  const taskErr = el('p', { id: 'task-error', class: 'error', role: 'alert', hidden: true });
  const taskForm = el('form', { class: 'add', novalidate: true }, labelled('New task', taskTitle), el('div', { class: 'row' }, taskTitle, taskAdd), taskErr);
  const taskList = el('ul', { class: 'tasks', id: 'incident-tasks' });
  sections.tasks.fill(taskList, taskForm);

  async function loadTasks() {
    try {
      const tasks = (await call('GET', url('/tasks'))).value || [];
      taskList.replaceChildren(...tasks.map(taskItem));
      if (tasks.length === 0) taskList.append(el('li', { class: 'empty' }, 'No task yet.'));
      return tasks;
    } catch (e) {
      taskErr.textContent = describe(e);
      taskErr.hidden = false;
      return [];
    }
  }

  function taskItem(t) {
    const done = t.properties.status === 'Completed';
    const toggle = el('button', { type: 'button', class: 'secondary task-toggle' }, done ? 'Reopen' : 'Complete');
    toggle.setAttribute('aria-label', `${done ? 'Reopen' : 'Complete'} task: ${t.properties.title}`);
    toggle.addEventListener('click', () => putTask(t, done ? 'New' : 'Completed'));
    return el('li', { class: done ? 'done' : '', 'data-task': t.name },
      el('span', { class: 'task-title' }, t.properties.title), ' ', badge('status', t.properties.status), ' ', toggle);
  }

  // putTask writes task t with status, under the etag it was read with.
  // Another's change in between is shown, with the task as it is now, to
  // do again.
  async function putTask(t, to) {
    taskErr.hidden = true;
    const body = { properties: { title: t.properties.title, description: t.properties.description || '', status: to } };
    try {
      await call('PUT', url(`/tasks/${encodeURIComponent(t.name)}`), body, undefined, { 'If-Match': t.etag });
      await loadTasks();
    } catch (e) {
      if (e instanceof ApiError && e.status === 412) {
        const now = (await loadTasks()).find((x) => x.name === t.name);
        taskErr.textContent = now
          ? `Task "${t.properties.title}" was changed by ${who(session, now.properties.lastModifiedBy?.objectId || now.properties.lastModifiedBy?.name)} at ${fmtTime(now.properties.lastModifiedTimeUtc)}: it is now ${now.properties.status}. The list is reloaded; do it again if you still mean to.`
          : `Task "${t.properties.title}" changed since you read it; the list is reloaded.`;
      } else {
        taskErr.textContent = describe(e);
      }
      taskErr.hidden = false;
    }
  }

  taskForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    taskErr.hidden = true;
    const title = taskTitle.value.trim();
    if (!title) {
      taskErr.textContent = 'Give the task a title.';
      taskErr.hidden = false;
      return;
    }
    taskAdd.disabled = true;
    try {
      await call('PUT', url(`/tasks/${crypto.randomUUID()}`), { properties: { title, status: 'New' } });
      taskTitle.value = '';
      await loadTasks();
    } catch (err) {
      taskErr.textContent = describe(err);
      taskErr.hidden = false;
    } finally {
      taskAdd.disabled = false;
    }
  });

  // ---- Comments ----
  const commentText = el('textarea', { id: 'comment-text', rows: 3, maxLength: 30000 });
  const commentAdd = el('button', { id: 'add-comment', type: 'submit', class: 'secondary' }, 'Add comment');
  const commentErr = el('p', { id: 'comment-error', class: 'error', role: 'alert', hidden: true });
  const commentList = el('ol', { class: 'comments', id: 'incident-comments' });
  const commentForm = el('form', { class: 'add', novalidate: true }, labelled('New comment', commentText), commentText, commentAdd, commentErr);
  sections.comments.fill(commentList, commentForm);

  async function loadComments() {
    try {
      const comments = (await call('GET', url('/comments'))).value || [];
      commentList.replaceChildren(...comments.map((c) => el('li', {},
        el('p', { class: 'meta' }, `${who(session, c.properties.author?.objectId)}, ${fmtTime(c.properties.createdTimeUtc)}`),
        el('p', { class: 'message' }, c.properties.message))));
      if (comments.length === 0) commentList.append(el('li', { class: 'empty' }, 'No comment yet.'));
    } catch (e) {
      commentErr.textContent = describe(e);
      commentErr.hidden = false;
    }
  }

  commentForm.addEventListener('submit', async (e) => {
    e.preventDefault();
    commentErr.hidden = true;
    const message = commentText.value.trim();
    if (!message) {
      commentErr.textContent = 'Write the comment first.';
      commentErr.hidden = false;
      return;
    }
    commentAdd.disabled = true;
    try {
      await call('PUT', url(`/comments/${crypto.randomUUID()}`), { properties: { message } });
      commentText.value = '';
      await loadComments();
      // A comment counts on the incident, which gets a new etag.
      adopt(await call('GET', url()));
    } catch (err) {
      commentErr.textContent = describe(err);
      commentErr.hidden = false;
    } finally {
      commentAdd.disabled = false;
    }
  });

  // ---- History ----
  // trailSeen is how many entries of the history the page has shown: those
  // after them are news, such as another's change in a conflict.
  let trailSeen = 0;
  async function loadHistory() {
    try {
      const trail = (await call('GET', url('/history'))).value || [];
      trailSeen = trail.length;
      sections.history.fill(el('table', { class: 'grid', id: 'incident-history' },
        el('thead', {}, el('tr', {}, ...['When', 'Who', 'What', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, ...trail.slice().reverse().map((h) => el('tr', {},
          el('td', {}, fmtTime(h.time)), el('td', {}, who(session, h.actor)), el('td', {}, h.action), el('td', {}, h.detail || ''))))));
    } catch (e) {
      sections.history.failed(e);
    }
  }

  showHeader();
  fillForms();
  await Promise.all([loadAlerts(), loadEntities(), loadTasks(), loadComments(), loadHistory()]);
}

// section is a titled part of the incident's page, filled when its data
// comes.
function section(id, title) {
  const body = el('div', { class: 'section-body' }, el('p', { class: 'status' }, 'Loading…'));
  const box = el('section', { id: `section-${id}`, class: 'panel', 'aria-labelledby': `section-${id}-title` },
    el('h2', { id: `section-${id}-title` }, title), body);
  return {
    box,
    fill: (...children) => body.replaceChildren(...children),
    failed: (e) => body.replaceChildren(el('p', { class: 'error', role: 'alert' }, describe(e))),
  };
}
