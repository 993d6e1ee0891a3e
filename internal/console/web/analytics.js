// The Analytics page: a workspace's analytics rules with their health (the
// runs the scheduler records in SentinelHealth), a form that creates and
// edits a rule with its query checked as it is typed, rule files imported
// as `sealwatch rule import` reads them; and the workspace's watchlists and
// automation rules. Every write sends the etag it read, and a conflict is
// shown, never overwritten.
import { ApiError, call, reads } from './api.js';
import { kqlEditor, placeCaret } from './kqleditor.js';
import { el } from './dom.js';
import { workingIn } from './keystate.js';
import { renderWatchlists } from './watchlists.js';
import { renderAutomation } from './automation.js';
import {
  apiVersion, confirmDelete, explain, field, ifMatch, messages, select, table, url,
} from './resource.js';

// maxImportBytes is the most POST .../alertRules/import takes (its whole
// body, so a file's JSON escapes count too).
const maxImportBytes = 8 << 20;

// sections are the page's parts, one shown at a time.
const sections = [
  ['rules', 'Analytics rules'],
  ['watchlists', 'Watchlists'],
  ['automation', 'Automation rules'],
];

export function render(container, session) {
  const picker = el('select', { id: 'analytics-workspace' });
  const switcher = el('div', { class: 'toolbar', role: 'group', 'aria-label': 'Part of the page' });
  const body = el('div', { id: 'analytics-body' });
  const status = el('p', { id: 'analytics-status', class: 'status', role: 'status' });
  container.replaceChildren(el('div', { class: 'analytics' },
    el('div', { class: 'toolbar' }, el('label', { htmlFor: 'analytics-workspace' }, 'Workspace'), picker),
    switcher, status, body));

  let workspaces = [];
  let current = 'rules';
  const buttons = sections.map(([name, label]) => {
    const b = el('button', { type: 'button', class: 'secondary', id: `show-${name}`, 'aria-pressed': String(name === current) }, label);
    b.addEventListener('click', () => {
      current = name;
      for (const x of buttons) x.setAttribute('aria-pressed', String(x === b));
      show();
    });
    return b;
  });
  switcher.append(...buttons);

  function show() {
    const ws = workspaces[Number(picker.value)];
    if (!ws) return;
    workingIn(ws.id); // the key banner follows the workspace
    const ctx = { ws, base: `${ws.id}/providers/Microsoft.SecurityInsights` };
    if (current === 'rules') renderRules(body, ctx);
    else if (current === 'watchlists') renderWatchlists(body, ctx);
    else renderAutomation(body, ctx);
  }
  picker.addEventListener('change', show);

  (async () => {
    try {
      workspaces = await listWorkspaces(session);
    } catch (e) {
      status.textContent = `The workspaces could not be listed: ${e.message}`;
      return;
    }
    // The analyst may have gone to another page meanwhile, whose workspace
    // the key banner follows: show nothing, tell the banner nothing.
    if (!picker.isConnected) return;
    if (workspaces.length === 0) {
      status.textContent = 'There is no workspace yet: create one with `sealwatch workspace create`.';
      return;
    }
    workspaces.forEach((w, i) => picker.append(el('option', { value: String(i) }, w.name)));
    show();
  })();
}

// listWorkspaces are the tenant's workspaces, by name: their resource IDs
// (for the management API) and customer IDs (for the query API).
async function listWorkspaces(session) {
  const res = await call('GET', `/subscriptions/${encodeURIComponent(session.tenantId)}/providers/Microsoft.OperationalInsights/workspaces?${apiVersion}`);
  const list = (res.value || []).filter((w) => w.properties?.customerId)
    .map((w) => ({ name: w.name, id: w.id, customerId: w.properties.customerId }));
  return list.sort((a, b) => a.name.localeCompare(b.name));
}

// --- Analytics rules -------------------------------------------------------

const severities = ['High', 'Medium', 'Low', 'Informational'];
const tactics = ['Reconnaissance', 'ResourceDevelopment', 'InitialAccess', 'Execution', 'Persistence',
  'PrivilegeEscalation', 'DefenseEvasion', 'CredentialAccess', 'Discovery', 'LateralMovement', 'Collection',
  'Exfiltration', 'CommandAndControl', 'Impact', 'PreAttack', 'ImpairProcessControl', 'InhibitResponseFunction'];
const triggerOperators = ['GreaterThan', 'LessThan', 'Equal', 'NotEqual'];

// entityIdentifiers are the identifiers the API takes, per entity type (the
// types without a list take any the API accepts, typed in).
const entityIdentifiers = {
  Account: ['Name', 'FullName', 'NTDomain', 'DnsDomain', 'UPNSuffix', 'Sid', 'AadTenantId', 'AadUserId', 'PUID', 'IsDomainJoined', 'DisplayName', 'ObjectGuid'],
  Host: ['HostName', 'FullName', 'DnsDomain', 'NTDomain', 'NetBiosName', 'AzureID', 'OMSAgentID', 'OSFamily', 'OSVersion', 'IsDomainJoined'],
  IP: ['Address'],
  URL: ['Url'],
  DNS: ['DomainName'],
  FileHash: ['Algorithm', 'Value'],
  File: ['Name', 'Directory'],
  Process: ['ProcessId', 'CommandLine', 'ElevationToken', 'CreationTimeUtc'],
  CloudApplication: ['AppId', 'Name', 'InstanceName'],
  Malware: [], AzureResource: [], RegistryKey: [], RegistryValue: [], SecurityGroup: [],
  Mailbox: [], MailCluster: [], MailMessage: [], SubmissionMail: [],
};

// healthRuns are the health table's records of the rules' runs, with the
// figures the page shows, read with ExtendedProperties' fields as columns.
const healthRuns = `SentinelHealth
| where SentinelResourceType == "Analytics Rule"
| extend Rule = SentinelResourceName, Outcome = tostring(ExtendedProperties.Outcome),
    Alerts = toint(ExtendedProperties.AlertsGenerated), Error = tostring(ExtendedProperties.Error),
    WindowStart = todatetime(ExtendedProperties.QueryStartTimeUtc), WindowEnd = todatetime(ExtendedProperties.QueryEndTimeUtc),
    SkippedFrom = todatetime(ExtendedProperties.SkippedFrom), SkippedTo = todatetime(ExtendedProperties.SkippedTo)`;

// healthQuery sums the runs up per rule, whatever their number: for each
// kind of record (a run, a failed run, a pause — time in which nothing ran
// — or a note such as a rule disabled) the latest and how many, and the
// windows caught up after pauses.
const healthQuery = `${healthRuns}
| extend Kind = case(Status == "Failure", "failure", Outcome == "skipped" and isnotnull(SkippedFrom), "pause",
    Outcome == "skipped", "note", "run")
| summarize arg_max(TimeGenerated, Status, Outcome, Alerts, Error, Description, SkippedFrom, SkippedTo),
    Count = count(), CaughtUp = countif(Outcome == "caughtUp") by Rule, Kind`;

// rows are a query answer's first table as objects, by column name.
function rows(res) {
  const t = res.tables[0];
  return t.rows.map((row) => Object.fromEntries(t.columns.map((c, i) => [c.name, row[i]])));
}

function query(ctx, q) {
  return call('POST', `/v1/workspaces/${encodeURIComponent(ctx.ws.customerId)}/query`, { query: q, timespan: 'P7D' });
}

// healthByRule reads each rule's health of the last 7 days: for each kind
// of record, its latest and their count.
async function healthByRule(ctx) {
  const health = new Map();
  for (const r of rows(await query(ctx, healthQuery))) {
    if (!health.has(r.Rule)) health.set(r.Rule, {});
    health.get(r.Rule)[r.Kind] = r;
  }
  return health;
}

// runsOf reads a rule's last 50 records, newest first.
async function runsOf(ctx, id) {
  return rows(await query(ctx, `${healthRuns}
| where Rule == ${JSON.stringify(id)}
| sort by TimeGenerated desc
| take 50`));
}

// when is a time of the health table as the page shows it.
function when(t) {
  return t ? new Date(t).toLocaleString('en-GB', { dateStyle: 'short', timeStyle: 'medium' }) : '';
}

function describeRun(r) {
  if (r.Outcome === 'skipped' && r.SkippedFrom) return `nothing ran ${when(r.SkippedFrom)} – ${when(r.SkippedTo)}: ${r.Description}`;
  if (r.Outcome === 'skipped') return r.Description;
  if (r.Status === 'Failure') return `failed: ${r.Error || r.Description}`;
  return `${r.Outcome}, ${r.Alerts ?? 0} ${r.Alerts === 1 ? 'alert' : 'alerts'}`;
}

function renderRules(box, ctx) {
  const msg = messages('rules');
  const list = el('div', { id: 'rules-list' });
  const editorBox = el('div', { id: 'rule-editor-box' });
  const report = el('div', { id: 'import-report' });
  const newRule = el('button', { type: 'button', id: 'new-rule' }, 'New rule');
  const refresh = el('button', { type: 'button', class: 'secondary', id: 'refresh-rules' }, 'Refresh');
  const file = el('input', { type: 'file', id: 'import-file', accept: '.json,.yaml,.yml' });
  box.replaceChildren(
    el('div', { class: 'toolbar' }, newRule, refresh,
      el('label', { htmlFor: 'import-file' }, 'Import a rule file (.yaml, .yml, .json)'), file),
    ...msg.nodes, report, list, editorBox);

  let rules = [];
  let health = new Map();

  const read = reads();
  async function load() {
    const latest = read();
    // The rules come from the management API, their health from the query
    // API: the one is shown without the other when only it is refused.
    const [ruleList, healthList] = await Promise.allSettled([call('GET', url(ctx, 'alertRules')), healthByRule(ctx)]);
    if (!latest()) return;
    if (ruleList.status === 'rejected') {
      msg.fail(explain(ruleList.reason, 'Reading the rules'));
      return;
    }
    rules = ruleList.value.value;
    health = healthList.status === 'fulfilled' ? healthList.value : new Map();
    const n = `${rules.length} ${rules.length === 1 ? 'rule' : 'rules'}`;
    if (healthList.status === 'fulfilled') msg.say(`${n}; health over the last 7 days.`);
    else msg.fail(`${n}; ${explain(healthList.reason, 'Reading their health')}`);
    list.replaceChildren(rulesTable());
  }

  function rulesTable() {
    return table('rules', ['Rule', 'Kind', 'Severity', 'State', 'Last run', 'Failures', 'Caught up', ''], rules, (r) => {
      const p = r.properties;
      const h = health.get(r.name) || {};
      // The latest run, failed or not; a pause is time in which nothing
      // ran (the node down, the key unavailable), the windows run after it
      // are caught up.
      const last = [h.run, h.failure].filter(Boolean).sort((a, b) => (a.TimeGenerated < b.TimeGenerated ? 1 : -1))[0];
      const caughtUp = (h.run?.CaughtUp ?? 0) + (h.failure?.CaughtUp ?? 0);
      const pauses = h.pause?.Count ?? 0;
      const open = el('button', { type: 'button', class: 'link' }, p.displayName);
      open.addEventListener('click', () => edit(r));
      const toggle = el('button', { type: 'button', class: 'secondary', 'aria-label': `${p.enabled ? 'Disable' : 'Enable'} ${p.displayName}` }, p.enabled ? 'Disable' : 'Enable');
      toggle.addEventListener('click', () => setEnabled(r, !p.enabled));
      const actions = el('span', { class: 'actions' }, toggle);
      const del = el('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${p.displayName}` }, 'Delete');
      del.addEventListener('click', () => confirmDelete(actions, `Delete rule '${p.displayName}'?`, () => remove(r)));
      actions.append(del);
      return [
        open, r.kind, p.severity, p.enabled ? 'Enabled' : 'Disabled',
        last ? `${when(last.TimeGenerated)} — ${describeRun(last)}` : 'no run yet',
        h.failure ? `${h.failure.Count}, last: ${h.failure.Error || h.failure.Description}` : '0',
        pauses || caughtUp ? `${caughtUp} ${caughtUp === 1 ? 'window' : 'windows'} after ${pauses} ${pauses === 1 ? 'pause' : 'pauses'}${h.pause ? ` (last: ${describeRun(h.pause)})` : ''}` : '—',
        actions,
      ];
    }, (r) => ({ 'data-rule': r.name }));
  }

  async function setEnabled(r, enabled) {
    try {
      await call('PUT', url(ctx, `alertRules/${encodeURIComponent(r.name)}`), { kind: r.kind, properties: { ...r.properties, enabled } }, undefined, ifMatch(r.etag));
      msg.say(`${r.properties.displayName} is ${enabled ? 'enabled' : 'disabled'}.`);
    } catch (e) {
      msg.fail(explain(e, `${enabled ? 'Enabling' : 'Disabling'} ${r.properties.displayName}`));
    }
    await load();
    // The rule's form, if open, shows it as it now is (and its new etag).
    const fresh = rules.find((x) => x.name === r.name);
    if (fresh && editorBox.querySelector('#rule-id')?.value === r.name) edit(fresh);
  }

  async function remove(r) {
    try {
      await call('DELETE', url(ctx, `alertRules/${encodeURIComponent(r.name)}`), undefined, undefined, ifMatch(r.etag));
      msg.say(`${r.properties.displayName} is deleted.`);
      if (editorBox.querySelector('#rule-id')?.value === r.name) editorBox.replaceChildren();
    } catch (e) {
      msg.fail(explain(e, `Deleting ${r.properties.displayName}`));
    }
    load();
  }

  function edit(rule) {
    const taken = (id) => rules.some((r) => r.name === id);
    ruleForm(editorBox, ctx, rule, taken, async (saved) => {
      await load();
      msg.say(`${saved.properties.displayName} is saved.`);
      edit(rules.find((r) => r.name === saved.name) || saved);
    });
  }

  async function importFile() {
    const f = file.files[0];
    if (!f) return;
    if (f.size > maxImportBytes) {
      // Refused before it is read: the node takes no more.
      msg.fail(`${f.name} is ${f.size.toLocaleString('en')} bytes; an import takes a rule file of at most 8 MiB: split it, or import it with sealwatch rule import.`);
      file.value = '';
      return;
    }
    try {
      const rep = await call('POST', url(ctx, 'alertRules/import'), { fileName: f.name, content: await f.text() });
      report.replaceChildren(el('section', { class: 'section' }, el('h2', {}, `Import of ${f.name}`), importReport(rep)));
      msg.say(`Imported ${rep.created + rep.updated} of ${rep.rules.length} rules from ${f.name}.`);
    } catch (e) {
      report.replaceChildren();
      msg.fail(explain(e, `Importing ${f.name}`));
    }
    file.value = '';
    load();
  }

  newRule.addEventListener('click', () => edit(null));
  refresh.addEventListener('click', load);
  file.addEventListener('change', importFile);
  load();
}

function importReport(rep) {
  return table('import-results', ['Rule', 'Result', 'Detail'], rep.rules, (r) => [
    `${r.displayName || r.rule || ''}${r.rule ? ` (${r.rule})` : ''}`, r.result,
    [r.error, ...(r.notes || [])].filter(Boolean).join(' — '),
  ]);
}

// ruleForm shows the form that edits rule (null: a new one), with its runs
// under it, in box; taken(id) says a new rule may not have that ID, and
// onSaved gets the rule as saved.
function ruleForm(box, ctx, rule, taken, onSaved) {
  const p = rule ? structuredClone(rule.properties) : {};
  const isNew = !rule;
  const id = el('input', { id: 'rule-id', value: rule ? rule.name : crypto.randomUUID(), readOnly: !isNew, spellcheck: false, required: true });
  const name = el('input', { id: 'rule-name', value: p.displayName || '', required: true });
  const description = el('textarea', { id: 'rule-description', rows: 2, value: p.description || '' });
  const kind = select('rule-kind', ['Scheduled', 'NRT'], rule ? rule.kind : 'Scheduled');
  const severity = select('rule-severity', severities, p.severity || 'Medium');
  const frequency = el('input', { id: 'rule-frequency', value: p.queryFrequency || 'PT5M', spellcheck: false });
  const period = el('input', { id: 'rule-period', value: p.queryPeriod || 'PT1H', spellcheck: false });
  const operator = select('rule-trigger-operator', triggerOperators, p.triggerOperator || 'GreaterThan');
  const threshold = el('input', { id: 'rule-trigger-threshold', type: 'number', min: 0, step: 1, value: String(p.triggerThreshold ?? 0) });
  const enabled = el('input', { id: 'rule-enabled', type: 'checkbox', checked: p.enabled ?? true });
  const schedule = el('div', { class: 'fields' },
    field(frequency, 'Runs every (ISO 8601, e.g. PT5M)'),
    field(period, 'Looks back over (e.g. PT1H)'),
    field(operator, 'Alert when the result count is'),
    field(threshold, 'Than'));
  const showSchedule = () => { schedule.hidden = kind.value !== 'Scheduled'; };
  kind.addEventListener('change', showSchedule);
  showSchedule();

  // The query: the Logs page's editor, checked by the node as it is typed.
  const check = el('p', { id: 'rule-query-status', class: 'status', role: 'status', 'aria-live': 'polite' });
  const columns = el('datalist', { id: 'rule-result-columns' });
  const { box: editorBox, view: editor } = kqlEditor('rule-query-editor', { doc: p.query || '', label: 'Rule query (KQL)', onChange: validateSoon });
  let timer = 0;
  let inFlight = null;
  function validateSoon() {
    clearTimeout(timer);
    timer = setTimeout(validate, 400);
  }
  async function validate() {
    inFlight?.abort();
    if (!check.isConnected) return; // the form was closed, or the page left, since the typing
    const query = editor.state.doc.toString();
    if (query.trim() === '') {
      check.replaceChildren('Write the rule\'s query.');
      return;
    }
    const controller = new AbortController();
    inFlight = controller;
    try {
      const v = await call('POST', `/v1/workspaces/${encodeURIComponent(ctx.ws.customerId)}/query/validate`, { query }, controller.signal);
      check.className = v.valid ? 'status' : 'error';
      if (v.valid) {
        columns.replaceChildren(...v.columns.map((c) => el('option', { value: c.name })));
        check.replaceChildren(`The query compiles; its result has ${v.columns.map((c) => `${c.name} (${c.type})`).join(', ')}.`);
      } else {
        const go = el('button', { type: 'button', class: 'link', id: 'rule-query-goto' }, `Line ${v.error.line}, column ${v.error.column}`);
        go.addEventListener('click', () => placeCaret(editor, v.error.line, v.error.column));
        check.replaceChildren(go, `: ${v.error.message}`);
      }
    } catch (e) {
      if (e.name !== 'AbortError') {
        check.className = 'error';
        check.replaceChildren(`The query could not be checked: ${e.message}`);
      }
    }
  }

  // Entity mappings, each a type and up to three identifier → column pairs.
  const mappings = el('div', { id: 'rule-entities' });
  const addEntity = el('button', { type: 'button', class: 'secondary', id: 'rule-add-entity' }, 'Add entity');
  function mappingBox(m) {
    const n = mappings.children.length + 1;
    const type = select(`rule-entity-${n}-type`, Object.keys(entityIdentifiers), m.entityType || 'Account');
    const pairs = el('div', { class: 'pairs' });
    const remove = el('button', { type: 'button', class: 'secondary', 'aria-label': `Remove entity ${n}` }, 'Remove');
    const addPair = el('button', { type: 'button', class: 'secondary', 'aria-label': `Add field to entity ${n}` }, 'Add field');
    const pair = (f) => {
      const k = pairs.children.length + 1;
      const ident = el('input', { id: `rule-entity-${n}-identifier-${k}`, value: f.identifier || '', spellcheck: false });
      const column = el('input', { id: `rule-entity-${n}-column-${k}`, value: f.columnName || '', spellcheck: false });
      // list is a read-only property: el would fail to assign it.
      ident.setAttribute('list', `rule-identifiers-${n}`);
      column.setAttribute('list', 'rule-result-columns');
      pairs.append(el('div', { class: 'pair', 'data-pair': '' },
        el('label', { htmlFor: ident.id }, 'Identifier'), ident, el('label', { htmlFor: column.id }, 'Column'), column));
      addPair.disabled = pairs.children.length >= 3;
    };
    const idents = el('datalist', { id: `rule-identifiers-${n}` });
    const fillIdents = () => idents.replaceChildren(...entityIdentifiers[type.value].map((i) => el('option', { value: i })));
    type.addEventListener('change', fillIdents);
    fillIdents();
    for (const f of (m.fieldMappings?.length ? m.fieldMappings : [{}])) pair(f);
    addPair.addEventListener('click', () => pair({}));
    const fs = el('fieldset', { class: 'entity', 'data-entity': '' },
      el('legend', {}, `Entity ${n}`), field(type, 'Type'), idents, pairs, addPair, remove);
    remove.addEventListener('click', () => { fs.remove(); addEntity.disabled = false; });
    mappings.append(fs);
    addEntity.disabled = mappings.children.length >= 10;
  }
  for (const m of p.entityMappings || []) mappingBox(m);
  addEntity.addEventListener('click', () => mappingBox({}));

  function entityMappings() {
    return [...mappings.querySelectorAll('[data-entity]')].map((fs) => ({
      entityType: fs.querySelector('select').value,
      fieldMappings: [...fs.querySelectorAll('[data-pair]')].map((d) => {
        const [identifier, columnName] = [...d.querySelectorAll('input')].map((i) => i.value.trim());
        return { identifier, columnName };
      }).filter((f) => f.identifier || f.columnName),
    }));
  }

  // Tactics, how results become alerts, and whether alerts make incidents
  // (the rest of incidentConfiguration, such as grouping, is kept).
  const tacticBoxes = tactics.map((tc) => el('input', { type: 'checkbox', id: `rule-tactic-${tc}`, value: tc, checked: (p.tactics || []).includes(tc) }));
  const tacticList = el('fieldset', { class: 'entity', id: 'rule-tactics' }, el('legend', {}, 'Tactics'),
    el('div', { class: 'fields' }, ...tacticBoxes.map((b) => el('span', { class: 'check' }, b, el('label', { htmlFor: b.id }, b.value)))));
  const grouping = select('rule-alert-grouping', ['SingleAlert', 'AlertPerResult'], p.eventGroupingSettings?.aggregationKind || 'SingleAlert');
  const incidents = el('input', { id: 'rule-create-incident', type: 'checkbox', checked: p.incidentConfiguration?.createIncident ?? true });

  const msg = messages('rule-form');
  const save = el('button', { type: 'submit', id: 'rule-save' }, isNew ? 'Create rule' : 'Save rule');
  const cancel = el('button', { type: 'button', class: 'secondary', id: 'rule-cancel' }, 'Close');
  const reload = el('button', { type: 'button', class: 'secondary', id: 'rule-reload', hidden: true }, 'Reload the rule');
  const form = el('form', { id: 'rule-form', class: 'section', novalidate: true },
    el('h2', {}, isNew ? 'New analytics rule' : `Edit ${p.displayName}`),
    el('div', { class: 'fields' },
      field(id, 'Rule ID'), field(name, 'Name'),
      field(kind, 'Kind'), field(severity, 'Severity')),
    field(description, 'Description'),
    el('span', { class: 'query-label', 'aria-hidden': 'true' }, 'Query (KQL), checked as you type'),
    editorBox, check, columns, schedule,
    el('h3', {}, 'Entity mappings'), mappings, addEntity,
    el('h3', {}, 'Alerts and incidents'), tacticList,
    el('div', { class: 'fields' }, field(grouping, 'Alerts: one per run, or one per result row')),
    el('div', { class: 'check' }, incidents, el('label', { htmlFor: 'rule-create-incident' }, 'Alerts create incidents')),
    el('div', { class: 'check' }, enabled, el('label', { htmlFor: 'rule-enabled' }, 'Enabled: the rule runs')),
    ...msg.nodes,
    el('div', { class: 'toolbar' }, save, reload, cancel));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const props = { ...p, displayName: name.value.trim(), description: description.value, severity: severity.value,
      enabled: enabled.checked, query: editor.state.doc.toString() };
    const ents = entityMappings();
    if (ents.length) props.entityMappings = ents;
    else delete props.entityMappings;
    if (!props.description) delete props.description;
    const chosen = tacticBoxes.filter((b) => b.checked).map((b) => b.value);
    if (chosen.length) props.tactics = chosen;
    else delete props.tactics;
    props.eventGroupingSettings = { ...p.eventGroupingSettings, aggregationKind: grouping.value };
    props.incidentConfiguration = { ...p.incidentConfiguration, createIncident: incidents.checked };
    for (const k of ['queryFrequency', 'queryPeriod', 'triggerOperator', 'triggerThreshold']) delete props[k];
    if (kind.value === 'Scheduled') {
      Object.assign(props, { queryFrequency: frequency.value.trim(), queryPeriod: period.value.trim(),
        triggerOperator: operator.value, triggerThreshold: Number(threshold.value) });
    }
    const path = url(ctx, `alertRules/${encodeURIComponent(id.value.trim())}`);
    save.disabled = true;
    try {
      if (isNew && taken(id.value.trim())) {
        msg.fail(`A rule with ID ${id.value.trim()} exists already: choose another ID, or open that rule to edit it.`);
        return;
      }
      const saved = await call('PUT', path, { kind: kind.value, properties: props }, undefined, ifMatch(rule?.etag));
      onSaved(saved);
    } catch (e) {
      msg.fail(explain(e, 'Saving the rule'));
      reload.hidden = !(e instanceof ApiError && e.status === 412);
    } finally {
      save.disabled = false;
    }
  });
  reload.addEventListener('click', async () => {
    try {
      const fresh = await call('GET', url(ctx, `alertRules/${encodeURIComponent(rule.name)}`));
      ruleForm(box, ctx, fresh, taken, onSaved);
    } catch (e) {
      msg.fail(explain(e, 'Reading the rule'));
    }
  });
  cancel.addEventListener('click', () => box.replaceChildren());

  const runList = rule ? el('section', { id: 'rule-runs', class: 'section' }, el('h2', {}, 'Runs (last 7 days, the latest 50)')) : '';
  if (rule) showRuns(runList, ctx, rule.name);
  box.replaceChildren(form, runList);
  name.focus();
  if (p.query) validate();
}

// showRuns reads rule id's runs into box.
async function showRuns(box, ctx, id) {
  let runs;
  try {
    runs = await runsOf(ctx, id);
  } catch (e) {
    box.append(el('p', { class: 'error', role: 'alert' }, explain(e, 'Reading the rule\'s runs')));
    return;
  }
  box.append(runs.length ? table('rule-runs-table', ['Time', 'Status', 'Outcome', 'Window', 'Alerts', 'Detail'], runs, (r) => [
    when(r.TimeGenerated), r.Status, r.Outcome,
    r.WindowStart ? `${when(r.WindowStart)} – ${when(r.WindowEnd)}` : r.SkippedFrom ? `${when(r.SkippedFrom)} – ${when(r.SkippedTo)}` : '',
    String(r.Alerts ?? ''), r.Error || (r.Status === 'Success' ? '' : r.Description),
  ]) : el('p', { class: 'status' }, 'No run recorded yet: a new rule runs as soon as it is saved; open it again to see.'));
}
