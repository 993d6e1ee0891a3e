// The Keys page, for the key owner: each cluster's key state with its last
// check, which key version wraps what (and which can be disabled), a
// vault's audit log with its chain verified, and the five steps that put a
// workspace under a customer-managed key, each with its check. Everything
// comes from the management API, as the CLI reads it.
import { call } from './api.js';
import { el } from './dom.js';
import * as keystate from './keystate.js';

const mgmtVersion = 'api-version=2023-07-01';
const auditRecordsShown = 100;

// render builds the page into container for the signed-in session.
export function render(container, session) {
  const states = el('div', { id: 'key-states' }, el('p', { class: 'status' }, 'Loading the clusters…'));
  const usage = el('div', { id: 'key-usage' });
  const auditVault = el('select', { id: 'audit-vault' });
  const auditChain = el('p', { id: 'audit-chain', class: 'status', role: 'status' });
  const auditRecords = el('div', { id: 'audit-records', class: 'results' });
  const setupCluster = el('select', { id: 'setup-cluster' });
  const setupVault = el('select', { id: 'setup-vault' });
  const setupWorkspace = el('select', { id: 'setup-workspace' });
  const steps = el('ol', { id: 'cmk-steps', class: 'cmk-steps' });

  container.replaceChildren(
    section('Key state', 'keys-state',
      el('p', { class: 'hint' }, 'The node checks each cluster\'s key every 30 seconds (every 10 while it fails) by unwrapping its account keys.'),
      states),
    section('Key usage', 'keys-usage', usage),
    section('Vault audit log', 'keys-audit',
      el('div', { class: 'toolbar' }, el('label', { htmlFor: 'audit-vault' }, 'Vault'), auditVault),
      auditChain, auditRecords),
    section('Set up a customer-managed key', 'keys-setup',
      el('p', { class: 'hint' }, 'Five steps put a workspace under your key; each is checked here through the API. Run the command shown for a step that is not done, then look again.'),
      el('div', { class: 'toolbar' },
        el('label', { htmlFor: 'setup-cluster' }, 'Cluster'), setupCluster,
        el('label', { htmlFor: 'setup-vault' }, 'Vault'), setupVault,
        el('label', { htmlFor: 'setup-workspace' }, 'Workspace'), setupWorkspace),
      steps),
  );

  if (!session.principal.roles.includes('Owner')) {
    states.replaceChildren(el('p', { class: 'status' },
      'Keys, vaults and clusters are read through the management API, which only an Owner may call: sign in as an application with the Owner role.'));
    return;
  }

  let clusters = [];
  let vaults = [];
  let workspaces = [];
  const sub = encodeURIComponent(session.tenantId);

  function refreshSetup() {
    fillSelect(setupCluster, clusters, (c) => c.name, '(no cluster yet)');
    fillSelect(setupWorkspace, workspaces, (w) => w.name, '(no workspace yet)');
    const cluster = clusters.find((c) => c.id === setupCluster.value);
    // The vault of a cluster's key is the one to look at.
    const keyVault = cluster && vaultOfKey(vaults, cluster);
    fillSelect(setupVault, vaults, (v) => v.name, '(no vault yet)');
    if (keyVault) setupVault.value = keyVault.id;
    showSteps(steps, {
      cluster,
      vault: vaults.find((v) => v.id === setupVault.value),
      workspace: workspaces.find((w) => w.id === setupWorkspace.value),
    });
  }

  const unsubscribe = keystate.subscribe((list) => {
    if (!states.isConnected) {
      unsubscribe();
      return;
    }
    clusters = [...list].sort((a, b) => a.name.localeCompare(b.name));
    showStates(states, clusters);
    showUsage(usage, clusters, vaults);
    refreshSetup();
  });
  keystate.refresh();

  (async () => {
    try {
      const [v, w] = await Promise.all([
        call('GET', `/subscriptions/${sub}/providers/Microsoft.KeyVault/vaults?${mgmtVersion}`),
        call('GET', `/subscriptions/${sub}/providers/Microsoft.OperationalInsights/workspaces?${mgmtVersion}`),
      ]);
      vaults = (v.value || []).sort((a, b) => a.name.localeCompare(b.name));
      workspaces = (w.value || []).sort((a, b) => a.name.localeCompare(b.name));
    } catch (e) {
      auditChain.textContent = `The vaults and workspaces could not be listed: ${e.message}`;
      return;
    }
    fillSelect(auditVault, vaults, (x) => x.name, '(no vault yet)');
    showUsage(usage, clusters, vaults);
    refreshSetup();
    showAudit(auditVault.value, auditChain, auditRecords);
  })();

  auditVault.addEventListener('change', () => showAudit(auditVault.value, auditChain, auditRecords));
  for (const s of [setupCluster, setupVault, setupWorkspace]) s.addEventListener('change', refreshSetup);
}

function section(title, id, ...children) {
  return el('section', { class: 'keys-section', 'aria-labelledby': id }, el('h2', { id }, title), ...children);
}

// fillSelect puts items in select as options (value: the resource ID),
// keeping the choice made; with none, one disabled option says so.
function fillSelect(select, items, label, none) {
  const chosen = select.value;
  select.replaceChildren(...items.map((x) => el('option', { value: x.id }, label(x))));
  if (items.length === 0) select.append(el('option', { value: '', disabled: true }, none));
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

function lastSegment(uri) {
  return uri.replace(/\/+$/, '').split('/').pop();
}

// resourceGroup is the group a resource ID names.
function resourceGroup(id) {
  const m = /\/resourceGroups\/([^/]+)\//i.exec(id);
  return m ? m[1] : 'RG';
}

// vaultOfKey is the listed vault that holds a cluster's key.
function vaultOfKey(vaults, cluster) {
  const uri = cluster.properties.keyVaultProperties?.keyVaultUri;
  if (!uri) return undefined;
  const host = (u) => { try { return new URL(u).host.toLowerCase(); } catch { return ''; } };
  return vaults.find((v) => host(v.properties.vaultUri) === host(uri));
}

function keyText(kv) {
  return `${kv.keyName} in ${kv.keyVaultUri}${kv.keyVersion ? `, version ${kv.keyVersion}` : ', following its latest version'}`;
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
// wrap none in either store, which can be disabled at once.
async function showUsage(box, clusters, vaults) {
  const keyed = clusters.filter((c) => c.properties.keyVaultProperties);
  if (keyed.length === 0) {
    box.replaceChildren(el('p', { class: 'status' }, 'No cluster has a key yet.'));
    return;
  }
  let reports;
  try {
    reports = await Promise.all(keyed.map((c) => call('GET', `${c.id}/keyUsage?${mgmtVersion}`)));
  } catch (e) {
    box.replaceChildren(el('p', { class: 'error' }, `The key usage could not be read: ${e.message}`));
    return;
  }
  box.replaceChildren(...keyed.map((c, i) => {
    const rows = reports[i].value || [];
    const versions = new Map();
    for (const r of rows) versions.set(r.keyUri, (versions.get(r.keyUri) || false) || r.inUse);
    const idle = [...versions].filter(([, inUse]) => !inUse).map(([uri]) => uri);
    const kv = c.properties.keyVaultProperties;
    const vault = vaultOfKey(vaults, c);
    const vaultName = vault ? vault.name : new URL(kv.keyVaultUri).hostname.split('.')[0];
    const verdict = idle.length === 0
      ? el('p', { class: 'status' }, 'Every version listed wraps account keys: none can be disabled yet. (A version not listed has never wrapped one of this cluster\'s.)')
      : el('div', { class: 'disable-safe' },
        el('p', {}, `${idle.length === 1 ? 'This version wraps' : 'These versions wrap'} nothing in either store and can be disabled at once:`),
        el('ul', {}, ...idle.map((uri) => el('li', {},
          el('code', {}, `sealwatch keyvault key set-attributes --vault-name ${vaultName} --name ${kv.keyName} --version ${lastSegment(uri)} --enabled=false`)))));
    return el('div', { class: 'usage', 'data-cluster': c.name },
      el('h3', {}, `Cluster ${c.name}`),
      table(['Store', 'Key version', 'Account keys it wraps', 'In use', 'Last wrap', 'Last unwrap'],
        rows.map((r) => el('tr', {},
          el('td', {}, r.resource),
          el('td', { title: r.keyUri }, lastSegment(r.keyUri)),
          el('td', {}, r.accountKeys.join(', ') || 'none'),
          el('td', { class: 'in-use' }, r.inUse ? 'yes' : 'no'),
          el('td', {}, when(r.lastWrap)),
          el('td', {}, when(r.lastUnwrap))))),
      verdict);
  }));
}

// showAudit shows the newest records of a vault's audit log, newest first,
// and whether the log's chain verifies, or where it breaks.
async function showAudit(vaultId, chain, box) {
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
    chain.textContent = `The audit log could not be read: ${e.message}`;
    return;
  }
  const records = [...(res.value || [])].reverse();
  if (res.chainVerified) {
    chain.className = 'status chain-verified';
    chain.textContent = `Chain verified: every record of the audit log is as it was written, in order. The newest ${records.length} of this vault are shown.`;
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

// missingPermissions are those of get, wrapKey and unwrapKey that no
// access policy of vault grants objectId.
function missingPermissions(vault, objectId) {
  const need = ['get', 'wrapkey', 'unwrapkey'];
  const granted = new Set();
  for (const p of vault.properties.accessPolicies || []) {
    if (p.objectId !== objectId) continue;
    for (const k of p.permissions?.keys || []) granted.add(k.toLowerCase());
  }
  if (granted.has('all')) return [];
  return need.filter((n) => !granted.has(n)).map((n) => ({ get: 'get', wrapkey: 'wrapKey', unwrapkey: 'unwrapKey' })[n]);
}

// showSteps shows the five set-up steps for the chosen cluster, vault and
// workspace, each done or not, why, and the command that does it.
function showSteps(list, { cluster, vault, workspace }) {
  const rg = resourceGroup((cluster || vault || workspace || {}).id || '');
  const vaultName = vault ? vault.name : 'cmk1';
  const clusterName = cluster ? cluster.name : 'cl01';
  const kv = cluster?.properties.keyVaultProperties;
  const keyName = kv ? kv.keyName : 'k1';
  const wsName = workspace ? workspace.name : 'ws01';
  const keyInThisVault = kv && vault && vaultOfKey([vault], cluster);
  const steps = [];

  // 1. A vault with purge protection, and a key.
  if (!vault) {
    steps.push(['not-done', 'There is no vault yet.']);
  } else if (!vault.properties.enablePurgeProtection || vault.properties.enableSoftDelete === false) {
    steps.push(['not-done', `Vault ${vault.name} does not have purge protection: a key there could be purged for good, so the node refuses it.`]);
  } else if (keyInThisVault) {
    steps.push(['done', `Vault ${vault.name} has soft delete and purge protection; its key ${kv.keyName} was proven usable at step 4.`]);
  } else {
    steps.push(['unknown', `Vault ${vault.name} has soft delete and purge protection. Its keys are read on the vault's own host, not through the management API: step 4 checks the key.`]);
  }
  // 2. A cluster.
  steps.push(cluster
    ? ['done', `Cluster ${cluster.name} exists; its identity's object ID is ${cluster.identity.principalId}, the document-store principal's ${cluster.properties.documentStorePrincipalId}.`]
    : ['not-done', 'There is no cluster yet.']);
  // 3. Both principals may get, wrap and unwrap with the key.
  if (!cluster || !vault) {
    steps.push(['not-done', 'Needs a cluster and a vault first.']);
  } else {
    const lacks = [
      ['the cluster\'s identity', cluster.identity.principalId],
      ['the document-store principal', cluster.properties.documentStorePrincipalId],
    ].map(([who, oid]) => [who, oid, missingPermissions(vault, oid)]).filter(([, , m]) => m.length > 0);
    steps.push(lacks.length === 0
      ? ['done', `Vault ${vault.name}'s access policies grant both principals get, wrapKey and unwrapKey.`]
      : ['not-done', lacks.map(([who, oid, m]) => `${who} (${oid}) lacks ${m.join(', ')}`).join('; ') + ` on vault ${vault.name}.`]);
  }
  // 4. The cluster's keyVaultProperties.
  if (!kv) {
    steps.push(['not-done', cluster ? `Cluster ${cluster.name} has no key yet.` : 'Needs a cluster first.']);
  } else if (cluster.properties.keyState && cluster.properties.keyState !== 'Accessible') {
    steps.push(['not-done', `The key is set (${keyText(kv)}) but ${cluster.properties.keyState} now: ${cluster.properties.keyCheckError || 'see Key state above'}.`]);
  } else {
    steps.push(['done', `The key in force is ${keyText(kv)}; state ${cluster.properties.keyState || 'not checked yet'}.`]);
  }
  // 5. The workspace linked to the cluster.
  const linked = cluster && workspace && (cluster.properties.associatedWorkspaces || [])
    .some((w) => w.resourceId.toLowerCase() === workspace.id.toLowerCase());
  if (linked) {
    steps.push([kv ? 'done' : 'not-done', kv
      ? `Workspace ${workspace.name} is linked to cluster ${cluster.name}: its data is sealed under the key.`
      : `Workspace ${workspace.name} is linked, but the cluster has no key: its data is under the platform key.`]);
  } else if (!workspace) {
    steps.push(['not-done', 'There is no workspace yet.']);
  } else if (workspace.properties.clusterResourceId) {
    steps.push(['not-done', `Workspace ${workspace.name} is linked to another cluster (${lastSegment(workspace.properties.clusterResourceId)}).`]);
  } else {
    steps.push(['not-done', `Workspace ${workspace.name} is not linked to ${cluster ? `cluster ${cluster.name}` : 'a cluster'}.`]);
  }

  const definitions = [
    ['A vault with purge protection, and a key',
      `sealwatch keyvault create --name ${vaultName} -g ${rg} --enable-purge-protection\nsealwatch keyvault key create --vault-name ${vaultName} --name ${keyName}`],
    ['A cluster, with its own identity',
      `sealwatch cluster create --name ${clusterName} -g ${rg} --capacity 100`],
    ['Grant the cluster\'s identity and the document-store principal get, wrapKey and unwrapKey',
      `sealwatch keyvault set-policy --name ${vaultName} --cluster ${clusterName} --key-permissions get wrapKey unwrapKey`],
    ['Set the cluster\'s key (keyVaultProperties)',
      `sealwatch cluster update --name ${clusterName} --key-vault ${vaultName} --key-name ${keyName}`],
    ['Link a new workspace to the cluster, and onboard it under the key',
      `sealwatch workspace link --name ${wsName} --cluster ${clusterName}\nsealwatch sentinel onboard --workspace ${wsName} --cmk`],
  ];
  const labels = { done: 'Done', 'not-done': 'Not done', unknown: 'Not checked here' };
  list.replaceChildren(...definitions.map(([title, command], i) => {
    const [status, why] = steps[i];
    return el('li', { class: `cmk-step ${status}`, 'data-status': status },
      el('div', { class: 'step-head' }, el('strong', {}, title), el('span', { class: `step-status ${status}` }, labels[status])),
      el('p', { class: 'why' }, why),
      status === 'done' ? '' : el('pre', { class: 'command' }, el('code', {}, command)));
  }));
}
