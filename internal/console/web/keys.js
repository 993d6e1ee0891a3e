// The Keys page, for the key owner: each cluster's key state with its last
// check, which key version wraps what (and which can be disabled), a
// vault's audit log with its chain verified, and the five steps that put a
// workspace under a customer-managed key, each with its check
// (cmksetup.js). Everything comes from the management API, as the CLI
// reads it.
import { call, reads } from './api.js';
import { el } from './dom.js';
import * as keystate from './keystate.js';
import { setup } from './cmksetup.js';
import { disableCommand, keyText, versionText } from './keysource.js';

const mgmtVersion = 'api-version=2023-07-01';
const auditRecordsShown = 100;

// render builds the page into container for the signed-in session.
export function render(container, session) {
  if (!session.principal.roles.includes('Owner')) {
    container.replaceChildren(el('p', { class: 'status' },
      'Keys, vaults and clusters are read through the management API, which only an Owner may call: sign in as an application with the Owner role. The banner above every page still says when the key of a workspace you work in is not Accessible.'));
    return;
  }
  const states = el('div', { id: 'key-states' }, el('p', { class: 'status' }, 'Loading the clusters…'));
  const usage = el('div', { id: 'key-usage' });
  const auditVault = el('select', { id: 'audit-vault' });
  const auditChain = el('p', { id: 'audit-chain', class: 'status', role: 'status' });
  // It scrolls: a keyboard must reach it to scroll it.
  const auditRecords = el('div', { id: 'audit-records', class: 'results', tabindex: '0', role: 'region', 'aria-label': 'Audit records' });
  const setupBox = section('Set up a customer-managed key', 'keys-setup');

  container.replaceChildren(
    section('Key state', 'keys-state',
      el('p', { class: 'hint' }, 'The node checks each cluster\'s key every 30 seconds (every 10 while it fails) by unwrapping its account keys.'),
      states),
    section('Key usage', 'keys-usage', usage),
    section('Vault audit log', 'keys-audit',
      el('div', { class: 'toolbar' }, el('label', { htmlFor: 'audit-vault' }, 'Vault'), auditVault),
      auditChain, auditRecords),
    setupBox,
  );

  // A box shows only the answer of its latest read: a poll's, or the vault
  // chosen before, never replaces a newer one.
  const usageRead = reads();
  const auditRead = reads();
  let clusters = [];
  let loaded = false;
  const guide = setup(setupBox, session, () => keystate.refresh(), (list) => {
    // After every read of the vaults (at first, and after a set-up step
    // that may have written records), the audit log is read again too.
    fillSelect(auditVault, list, '(no vault yet)');
    showAudit(auditVault.value, auditChain, auditRecords, auditRead());
  });

  const unsubscribe = keystate.subscribe((list) => {
    if (!states.isConnected) {
      unsubscribe();
      return;
    }
    clusters = [...list].sort((a, b) => a.name.localeCompare(b.name));
    showStates(states, clusters);
    if (!loaded) return;
    showUsage(usage, clusters, usageRead());
    guide.update(clusters);
  });

  (async () => {
    try {
      await guide.load();
    } catch (e) {
      auditChain.textContent = `The vaults and workspaces could not be listed: ${e.message}`;
      return;
    }
    loaded = true;
    showUsage(usage, clusters, usageRead());
    guide.update(clusters);
  })();

  auditVault.addEventListener('change', () => showAudit(auditVault.value, auditChain, auditRecords, auditRead()));
}

function section(title, id, ...children) {
  return el('section', { class: 'keys-section', 'aria-labelledby': id }, el('h2', { id }, title), ...children);
}

// fillSelect puts items in select as options (value: the resource ID),
// keeping the choice made; with none, one option says so.
function fillSelect(select, items, none) {
  const chosen = select.value;
  select.replaceChildren(...items.map((x) => el('option', { value: x.id }, x.name)));
  if (items.length === 0) select.append(el('option', { value: '' }, none));
  if (items.some((x) => x.id === chosen)) select.value = chosen;
}

// when is an ISO time as "2026-12-06 17:03:12 UTC (12 s ago)".
function when(iso) {
  if (!iso) return '—';
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const ago = Math.max(0, Math.round((Date.now() - t.getTime()) / 1000));
  const rel = ago < 120 ? `${ago} s ago` : ago < 7200 ? `${Math.round(ago / 60)} min ago` : `${Math.round(ago / 3600)} h ago`;
  return `${t.toISOString().replace('T', ' ').slice(0, 19)} UTC (${rel})`;
}

function showStates(box, clusters) {
  if (clusters.length === 0) {
    box.replaceChildren(el('p', { class: 'status' }, 'There is no cluster yet: the set-up below starts with one.'));
    return;
  }
  const rows = clusters.map((c) => {
    const p = c.properties;
    const state = p.keyState || (p.keyVaultProperties ? 'Not checked yet' : 'No key');
    return el('tr', { 'data-cluster': c.name },
      el('th', { scope: 'row' }, c.name),
      el('td', {}, p.keyVaultProperties ? keyText(p.keyVaultProperties) : 'none: its workspaces use the platform key'),
      el('td', {}, el('span', { class: `key-state ${p.keyState ? p.keyState.toLowerCase() : 'none'}` }, state)),
      el('td', { class: 'checked' }, when(p.lastKeyCheckDate)),
      el('td', { class: 'check-error' }, p.keyCheckError || ''),
      el('td', {}, (p.associatedWorkspaces || []).map((w) => w.workspaceName).join(', ') || 'none'));
  });
  box.replaceChildren(table(['Cluster', 'Key', 'State', 'Last checked', 'Error of the last check', 'Workspaces'], rows));
}

function table(headers, rows) {
  return el('table', { class: 'grid' },
    el('thead', {}, el('tr', {}, ...headers.map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, ...rows));
}

// showUsage shows, for each cluster with a key, the key usage report: which
// version wraps which account keys of each store, and the versions that
// wrap none in either store, which can be disabled at once. latest says
// whether this read of box is still the latest begun.
async function showUsage(box, clusters, latest) {
  const keyed = clusters.filter((c) => c.properties.keyVaultProperties);
  if (keyed.length === 0) {
    box.replaceChildren(el('p', { class: 'status' }, 'No cluster has a key yet.'));
    return;
  }
  let reports;
  try {
    reports = await Promise.all(keyed.map((c) => call('GET', `${c.id}/keyUsage?${mgmtVersion}`)));
  } catch (e) {
    if (latest()) box.replaceChildren(el('p', { class: 'error' }, `The key usage could not be read: ${e.message}`));
    return;
  }
  if (!latest()) return;
  box.replaceChildren(...keyed.map((c, i) => {
    const rows = reports[i].value || [];
    const versions = new Map();
    for (const r of rows) versions.set(r.keyUri, (versions.get(r.keyUri) || false) || r.inUse);
    const idle = [...versions].filter(([, inUse]) => !inUse).map(([uri]) => uri);
    const verdict = idle.length === 0
      ? el('p', { class: 'status' }, 'Every version listed wraps account keys: none can be disabled yet. (A version not listed has never wrapped one of this cluster\'s.)')
      : el('div', { class: 'disable-safe' },
        el('p', {}, `${idle.length === 1 ? 'This version wraps' : 'These versions wrap'} nothing in either store and can be disabled at once:`),
        el('ul', {}, ...idle.map((uri) => el('li', {},
          el('code', {}, disableCommand(uri, c.properties.keyVaultProperties) || uri)))));
    return el('div', { class: 'usage', 'data-cluster': c.name },
      el('h3', {}, `Cluster ${c.name}`),
      table(['Store', 'Key version', 'Account keys it wraps', 'In use', 'Last wrap', 'Last unwrap'],
        rows.map((r) => el('tr', {},
          el('td', {}, r.resource),
          el('td', { title: r.keyUri }, versionText(r.keyUri)),
          el('td', {}, r.accountKeys.join(', ') || 'none'),
          el('td', { class: 'in-use' }, r.inUse ? 'yes' : 'no'),
          el('td', {}, when(r.lastWrap)),
          el('td', {}, when(r.lastUnwrap))))),
      verdict);
  }));
}

// showAudit shows the newest records of a vault's audit log, newest first,
// and whether the log's chain verifies, or where it breaks. latest says
// whether this read of box is still the latest begun.
async function showAudit(vaultId, chain, box, latest) {
  box.replaceChildren();
  chain.className = 'status';
  if (!vaultId) {
    chain.textContent = 'There is no vault yet.';
    return;
  }
  chain.textContent = 'Reading the audit log…';
  let res;
  try {
    res = await call('GET', `${vaultId}/auditRecords?${mgmtVersion}&top=${auditRecordsShown}`);
  } catch (e) {
    if (latest()) chain.textContent = `The audit log could not be read: ${e.message}`;
    return;
  }
  if (!latest()) return;
  const records = [...(res.value || [])].reverse();
  if (res.chainVerified) {
    chain.className = 'status chain-verified';
    chain.textContent = `Chain verified: every record of the audit log is as it was written, in order. Showing this vault's newest ${records.length === 1 ? 'record' : `${records.length} records`}.`;
  } else {
    chain.className = 'error chain-broken';
    chain.textContent = `Chain broken at record ${res.chainBrokenAt ?? '?'}: ${res.chainError || 'the node did not say where'}. A record was edited, removed, reordered or forged there.`;
  }
  const rows = records.map((r) => el('tr', { class: r.seq === res.chainBrokenAt ? 'broken' : '' },
    el('td', {}, String(r.seq)),
    el('td', {}, when(r.time)),
    el('td', {}, r.operation),
    el('td', {}, [r.keyName, r.keyVersion].filter(Boolean).join(' / ')),
    el('td', { title: r.callerAppId ? `application ${r.callerAppId}` : '' }, r.callerObjectId || '(no token)'),
    el('td', {}, `${r.httpStatus}${r.errorCode ? ` ${r.errorCode}` : ''}`),
    el('td', {}, r.clientIp || '')));
  box.replaceChildren(table(['Seq', 'Time', 'Operation', 'Key / version', 'Caller (object ID)', 'Answer', 'Client'], rows));
}
