// The Analytics page's automation rules: listed in the order they run,
// moved up and down, switched on and off, created and edited — conditions
// and actions built for the usual cases, or written as the API takes them
// (JSON) — each write under the etag read.
import { call, reads } from './api.js';
import { el } from './dom.js';
import {
  confirmDelete, explain, field, ifMatch, messages, select, table, url,
} from './resource.js';

// The properties a Property condition tests, by what the rule runs on.
const conditionProperties = {
  Incidents: ['IncidentSeverity', 'IncidentStatus', 'IncidentTitle', 'IncidentDescription', 'IncidentOwner', 'IncidentLabel',
    'IncidentTactics', 'IncidentRelatedAnalyticRuleIds', 'AlertAnalyticRuleIds', 'IncidentProviderName', 'AlertProductNames'],
  Alerts: ['AlertAnalyticRuleIds', 'AlertProductNames'],
};
const operators = ['Equals', 'NotEquals', 'Contains', 'NotContains', 'StartsWith', 'NotStartsWith', 'EndsWith', 'NotEndsWith'];
// closings are the classifications an action may close with, and the
// reason each takes.
const closings = [
  ['Undetermined', ''], ['TruePositive', 'SuspiciousActivity'], ['BenignPositive', 'SuspiciousButExpected'],
  ['FalsePositive', 'IncorrectAlertLogic'], ['FalsePositive', 'InaccurateData'],
];

export function renderAutomation(box, ctx) {
  const msg = messages('automation');
  const list = el('div', { id: 'automation-list' });
  const formBox = el('div', { id: 'automation-form-box' });
  const create = el('button', { type: 'button', id: 'new-automation-rule' }, 'New automation rule');
  box.replaceChildren(el('div', { class: 'toolbar' }, create), ...msg.nodes, list, formBox);

  let rules = [];
  const read = reads();
  async function load() {
    const latest = read();
    let got;
    try {
      got = (await call('GET', url(ctx, 'automationRules'))).value;
    } catch (e) {
      if (latest()) msg.fail(explain(e, 'Reading the automation rules'));
      return;
    }
    if (!latest()) return;
    rules = got;
    list.replaceChildren(table('automation-rules', ['Order', 'Name', 'Runs on', 'Conditions', 'Actions', 'State', ''], rules, (r) => {
      const p = r.properties;
      const t = p.triggeringLogic;
      // Each button's name is its text, then the rule's.
      const button = (label, fn) => {
        const b = el('button', { type: 'button', class: 'secondary', 'aria-label': `${label}: ${p.displayName}` }, label);
        b.addEventListener('click', fn);
        return b;
      };
      const at = rules.indexOf(r);
      const up = button('Up', () => swap(at, at - 1));
      const down = button('Down', () => swap(at, at + 1));
      up.disabled = at === 0;
      down.disabled = at === rules.length - 1;
      const actions = el('span', { class: 'actions' }, up, down,
        button(t.isEnabled ? 'Disable' : 'Enable', () => write(r, { ...p, triggeringLogic: { ...t, isEnabled: !t.isEnabled } }, `${p.displayName} is ${t.isEnabled ? 'disabled' : 'enabled'}.`)),
        button('Edit', () => automationForm(formBox, ctx, r, saved)));
      actions.append(button('Delete', () => confirmDelete(actions, `Delete automation rule '${p.displayName}'?`, async () => {
        try {
          await call('DELETE', url(ctx, `automationRules/${encodeURIComponent(r.name)}`), undefined, undefined, ifMatch(r.etag));
          msg.say(`${p.displayName} is deleted.`);
        } catch (e) {
          msg.fail(explain(e, `Deleting ${p.displayName}`));
        }
        load();
      })));
      return [String(p.order), p.displayName, `${t.triggersOn}, ${t.triggersWhen}`,
        String((t.conditions || []).length), (p.actions || []).map((a) => a.actionType).join(', '),
        t.isEnabled ? 'Enabled' : 'Disabled', actions];
    }, (r) => ({ 'data-automation-rule': r.name })));
  }

  // write replaces rule r's properties with props under its etag.
  async function write(r, props, done) {
    try {
      await call('PUT', url(ctx, `automationRules/${encodeURIComponent(r.name)}`), { properties: props }, undefined, ifMatch(r.etag));
      msg.say(done);
    } catch (e) {
      msg.fail(explain(e, `Changing ${r.properties.displayName}`));
    }
    load();
  }

  // swap runs rule i where rule j ran: they exchange orders. Rules of one
  // order run by ID, so there one of them moves to the next order out.
  async function swap(i, j) {
    const [a, b] = [rules[i], rules[j]];
    const o = b.properties.order;
    const earlier = j < i;
    let orders = new Map([[a, o], [b, a.properties.order]]);
    if (a.properties.order === o) {
      const step = earlier ? -1 : 1;
      orders = o + step >= 1 && o + step <= 1000 ? new Map([[a, o + step]]) : new Map([[b, o - step]]);
    }
    try {
      for (const [r, order] of orders) {
        await call('PUT', url(ctx, `automationRules/${encodeURIComponent(r.name)}`), { properties: { ...r.properties, order } }, undefined, ifMatch(r.etag));
      }
      msg.say(`${a.properties.displayName} now runs ${earlier ? 'before' : 'after'} ${b.properties.displayName}.`);
    } catch (e) {
      msg.fail(explain(e, 'Changing the order'));
    }
    load();
  }

  function saved(r) {
    formBox.replaceChildren();
    msg.say(`${r.properties.displayName} is saved.`);
    load();
  }

  create.addEventListener('click', () => automationForm(formBox, ctx, null, saved,
    rules.reduce((m, r) => Math.max(m, r.properties.order), 0) + 1));
  load();
}

// automationForm edits rule (null: a new one, to run at order).
function automationForm(box, ctx, rule, onSaved, order = 1) {
  const p = rule ? rule.properties : {};
  const t = p.triggeringLogic || {};
  const name = el('input', { id: 'automation-name', value: p.displayName || '', required: true });
  const orderIn = el('input', { id: 'automation-order', type: 'number', min: 1, max: 1000, value: String(p.order ?? order) });
  const on = select('automation-triggers-on', ['Incidents', 'Alerts'], t.triggersOn || 'Incidents');
  const whenIn = select('automation-triggers-when', ['Created', 'Updated'], t.triggersWhen || 'Created');
  const enabled = el('input', { id: 'automation-enabled', type: 'checkbox', checked: t.isEnabled ?? true });
  const expires = el('input', { id: 'automation-expires', value: t.expirationTimeUtc || '', placeholder: '2026-12-31T23:59:59Z', spellcheck: false });
  const json = (v) => JSON.stringify(v, null, 2);
  const conditions = el('textarea', { id: 'automation-conditions', rows: 6, spellcheck: false, class: 'code', value: json(t.conditions || []) });
  const actions = el('textarea', { id: 'automation-actions', rows: 6, spellcheck: false, class: 'code', value: json(p.actions || []) });
  const msg = messages('automation-form');
  const save = el('button', { type: 'submit', id: 'automation-save' }, rule ? 'Save' : 'Create');
  const close = el('button', { type: 'button', class: 'secondary' }, 'Close');

  // A webhook's secret stays off the screen: the actions' JSON, which
  // shows, holds a placeholder in its place, and the secret replaces it
  // only in the body sent.
  const secrets = new Map(); // placeholder → secret

  // append adds entry to the JSON list in textarea, which stays what is
  // sent: the builders below write the API's shapes for the usual cases.
  const append = (textarea, entry) => {
    let list;
    try {
      list = JSON.parse(textarea.value || '[]');
    } catch (e) {
      msg.fail(`The list is not JSON, so nothing was added: ${e.message}`);
      return null;
    }
    list.push(typeof entry === 'function' ? entry(list) : entry);
    textarea.value = json(list);
    msg.say('');
    return list;
  };

  const property = el('select', { id: 'condition-property' });
  const fillProperties = () => property.replaceChildren(...conditionProperties[on.value].map((o) => el('option', { value: o }, o)));
  on.addEventListener('change', fillProperties);
  fillProperties();
  const operator = select('condition-operator', operators, 'Equals');
  const values = el('input', { id: 'condition-values', placeholder: 'High, Medium', spellcheck: false });
  const addCondition = el('button', { type: 'button', class: 'secondary', id: 'add-condition' }, 'Add condition');
  addCondition.addEventListener('click', () => {
    const vals = values.value.split(',').map((v) => v.trim()).filter(Boolean);
    if (!vals.length) {
      msg.fail('Give the condition at least one value.');
      return;
    }
    if (append(conditions, { conditionType: 'Property', conditionProperties: { propertyName: property.value, operator: operator.value, propertyValues: vals } })) values.value = '';
  });

  const actionType = select('action-type', ['ModifyProperties', 'AddIncidentTask', 'Webhook'], 'ModifyProperties');
  const severity = select('action-severity', ['', 'High', 'Medium', 'Low', 'Informational'], '');
  const status = select('action-status', ['', 'New', 'Active', 'Closed'], '');
  for (const s of [severity, status]) s.options[0].textContent = '(keep)';
  const closing = el('select', { id: 'action-closing' });
  closings.forEach(([c, r], i) => closing.append(el('option', { value: String(i) }, r ? `${c}: ${r}` : c)));
  const labels = el('input', { id: 'action-labels', placeholder: 'triage, brute-force', spellcheck: false });
  const taskTitle = el('input', { id: 'action-task-title' });
  const taskDescription = el('input', { id: 'action-task-description' });
  const hookURL = el('input', { id: 'action-webhook-url', type: 'url', placeholder: 'https://hooks.example.com/sealwatch', spellcheck: false });
  const hookSecret = el('input', { id: 'action-webhook-secret', type: 'password', autocomplete: 'off' });
  const closingField = field(closing, 'Close as');
  const byType = {
    ModifyProperties: el('div', { class: 'fields' }, field(severity, 'Set severity'), field(status, 'Set status'), closingField, field(labels, 'Add labels')),
    AddIncidentTask: el('div', { class: 'fields' }, field(taskTitle, 'Task title'), field(taskDescription, 'Task description')),
    Webhook: el('div', { class: 'fields' }, field(hookURL, 'Webhook URL'), field(hookSecret, 'Secret (16–512 characters)')),
  };
  const showType = () => {
    for (const [k, v] of Object.entries(byType)) v.hidden = k !== actionType.value;
    closingField.hidden = status.value !== 'Closed';
  };
  actionType.addEventListener('change', showType);
  status.addEventListener('change', showType);
  showType();
  const addAction = el('button', { type: 'button', class: 'secondary', id: 'add-action' }, 'Add action');
  addAction.addEventListener('click', () => {
    const config = actionConfiguration(actionType.value);
    if (config && append(actions, (list) => ({ order: list.reduce((m, a) => Math.max(m, a.order || 0), 0) + 1, actionType: actionType.value, actionConfiguration: config }))) {
      for (const i of [labels, taskTitle, taskDescription, hookURL, hookSecret]) i.value = '';
    }
  });
  // actionConfiguration is the builder's action of type as the API takes
  // it, or null (said why) when it would change nothing.
  function actionConfiguration(type) {
    if (type === 'AddIncidentTask') {
      return taskTitle.value.trim() ? { title: taskTitle.value.trim(), description: taskDescription.value } : (msg.fail('Give the task a title.'), null);
    }
    if (type === 'Webhook') {
      if (!hookSecret.value) return (msg.fail('Give the webhook its secret: the receiver checks the signature made with it.'), null);
      const placeholder = `(secret ${secrets.size + 1}: sent on save, never shown)`;
      secrets.set(placeholder, hookSecret.value);
      return { url: hookURL.value.trim(), secret: placeholder };
    }
    const c = {};
    if (severity.value) c.severity = severity.value;
    if (status.value) c.status = status.value;
    if (status.value === 'Closed') {
      const [classification, reason] = closings[Number(closing.value)];
      c.classification = classification;
      if (reason) c.classificationReason = reason;
    }
    const ls = labels.value.split(',').map((l) => l.trim()).filter(Boolean);
    if (ls.length) c.labels = ls.map((labelName) => ({ labelName }));
    if (Object.keys(c).length === 0) {
      msg.fail('Choose what the action changes: a severity, a status or labels.');
      return null;
    }
    return c;
  }

  const form = el('form', { id: 'automation-form', class: 'section', novalidate: true },
    el('h2', {}, rule ? `Edit ${p.displayName}` : 'New automation rule'),
    el('div', { class: 'fields' }, field(name, 'Name'), field(orderIn, 'Order (1–1000, lowest runs first)'),
      field(on, 'Runs on'), field(whenIn, 'When they are'), field(expires, 'Expires (optional, RFC 3339)')),
    el('h3', {}, 'Conditions (all must hold; none: always)'),
    el('fieldset', { class: 'entity' }, el('legend', {}, 'Add a condition'),
      el('div', { class: 'fields' }, field(property, 'Property'), field(operator, 'Operator'), field(values, 'Values (comma-separated)')), addCondition),
    field(conditions, 'Conditions as the API takes them (JSON)'),
    el('h3', {}, 'Actions (run in their order)'),
    el('fieldset', { class: 'entity' }, el('legend', {}, 'Add an action'),
      el('div', { class: 'fields' }, field(actionType, 'Type')), ...Object.values(byType), addAction),
    field(actions, 'Actions as the API takes them (JSON; a webhook\'s secret is never read back: give it again)'),
    el('div', { class: 'check' }, enabled, el('label', { htmlFor: 'automation-enabled' }, 'Enabled')),
    ...msg.nodes, el('div', { class: 'toolbar' }, save, close));

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    let conds;
    let acts;
    try {
      conds = JSON.parse(conditions.value);
      acts = JSON.parse(actions.value);
    } catch (e) {
      msg.fail(`The conditions and the actions must be JSON: ${e.message}`);
      return;
    }
    if (Array.isArray(acts)) {
      for (const a of acts) {
        const c = a?.actionConfiguration;
        if (c && secrets.has(c.secret)) c.secret = secrets.get(c.secret);
      }
    }
    const id = rule ? rule.name : crypto.randomUUID();
    const logic = { ...t, isEnabled: enabled.checked, triggersOn: on.value, triggersWhen: whenIn.value, conditions: conds };
    if (expires.value.trim()) logic.expirationTimeUtc = expires.value.trim();
    else delete logic.expirationTimeUtc;
    save.disabled = true;
    try {
      const saved = await call('PUT', url(ctx, `automationRules/${encodeURIComponent(id)}`), { properties: {
        ...p, displayName: name.value.trim(), order: Number(orderIn.value), triggeringLogic: logic, actions: acts,
      } }, undefined, ifMatch(rule?.etag));
      onSaved(saved);
    } catch (e) {
      msg.fail(explain(e, 'Saving the automation rule'));
    } finally {
      save.disabled = false;
    }
  });
  close.addEventListener('click', () => box.replaceChildren());
  box.replaceChildren(form);
  name.focus();
}
