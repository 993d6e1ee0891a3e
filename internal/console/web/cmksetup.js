// The Keys page's guided set-up of a customer-managed key: the five steps
// (a vault with purge protection and a key; a cluster; both principals
// granted get, wrapKey and unwrapKey; the cluster's keyVaultProperties; a
// workspace linked and onboarded under the key), each checked through the
// management API — done, or not and why — with the command that does it,
// and a button doing it through the same API where the signed-in Owner may.
import { call, reads } from './api.js';
import { el } from './dom.js';
import { isKeyVault, keyText } from './keysource.js';

const mgmtVersion = 'api-version=2023-07-01';

// lastSegment is the name at the end of a resource ID or URI.
function lastSegment(uri) {
  return uri.replace(/\/+$/, '').split('/').pop();
}

function resourceGroup(id) {
  const m = /\/resourceGroups\/([^/]+)\//i.exec(id || '');
  return m ? m[1] : '';
}

// vaultOfKey is the listed vault that holds a cluster's key.
function vaultOfKey(vaults, cluster) {
  const uri = cluster.properties.keyVaultProperties?.keyVaultUri;
  if (!uri) return undefined;
  const host = (u) => { try { return new URL(u).host.toLowerCase(); } catch { return ''; } };
  return vaults.find((v) => host(v.properties.vaultUri) === host(uri));
}

// missingPermissions are those of get, wrapKey and unwrapKey that no
// access policy of vault grants objectId.
function missingPermissions(vault, objectId) {
  const granted = new Set();
  for (const p of vault.properties.accessPolicies || []) {
    if (p.objectId !== objectId) continue;
    for (const k of p.permissions?.keys || []) granted.add(k.toLowerCase());
  }
  if (granted.has('all')) return [];
  return ['get', 'wrapKey', 'unwrapKey'].filter((n) => !granted.has(n.toLowerCase()));
}

// setup builds the guided set-up into container. Its load reads the
// vaults and workspaces, and gives the vaults to onVaults (as every later
// read does); update(clusters) shows the steps for the clusters known now;
// recheckClusters asks for the clusters again, after an action.
export function setup(container, session, recheckClusters, onVaults) {
  const sub = encodeURIComponent(session.tenantId);
  const pick = {
    cluster: el('select', { id: 'setup-cluster' }),
    vault: el('select', { id: 'setup-vault' }),
    key: el('select', { id: 'setup-key' }),
    workspace: el('select', { id: 'setup-workspace' }),
  };
  const steps = el('ol', { id: 'cmk-steps', class: 'cmk-steps' });
  container.append(
    el('p', { class: 'hint' }, 'Five steps put a workspace under your key. Each is checked here through the API; for a step not done, run the command shown or press its button, which makes the same API call.'),
    el('div', { class: 'toolbar' },
      el('label', { htmlFor: 'setup-cluster' }, 'Cluster'), pick.cluster,
      el('label', { htmlFor: 'setup-vault' }, 'Vault'), pick.vault,
      el('label', { htmlFor: 'setup-key' }, 'Key'), pick.key,
      el('label', { htmlFor: 'setup-workspace' }, 'Workspace'), pick.workspace),
    steps);

  let clusters = [];
  let vaults = [];
  let workspaces = [];
  const keysOf = new Map(); // vault ID → its keys, once read
  let busy = false;
  const problems = new Map(); // step number → the refusal of its last action

  async function load() {
    const [v, w] = await Promise.all([
      call('GET', `/subscriptions/${sub}/providers/Microsoft.KeyVault/vaults?${mgmtVersion}`),
      call('GET', `/subscriptions/${sub}/providers/Microsoft.OperationalInsights/workspaces?${mgmtVersion}`),
    ]);
    vaults = (v.value || []).sort((a, b) => a.name.localeCompare(b.name));
    workspaces = (w.value || []).sort((a, b) => a.name.localeCompare(b.name));
    keysOf.clear();
    onVaults(vaults);
  }

  async function keysOfVault(vault) {
    if (!vault) return [];
    if (!keysOf.has(vault.id)) {
      const res = await call('GET', `${vault.id}/keys?${mgmtVersion}`);
      keysOf.set(vault.id, (res.value || []).sort((a, b) => a.name.localeCompare(b.name)));
    }
    return keysOf.get(vault.id);
  }

  let shownCluster; // the cluster the choices were last made for
  const showRead = reads(); // an older show, still reading a vault's keys, shows nothing

  async function show() {
    const latest = showRead();
    fillSelect(pick.cluster, clusters, '(no cluster yet)');
    fillSelect(pick.workspace, workspaces, '(no workspace yet)');
    const cluster = clusters.find((c) => c.id === pick.cluster.value);
    // When a cluster is chosen, the vault and key of its key are the ones
    // to look at, until another is chosen.
    const fresh = cluster?.id !== shownCluster;
    shownCluster = cluster?.id;
    const kv = cluster?.properties.keyVaultProperties;
    const keyVault = cluster && vaultOfKey(vaults, cluster);
    fillSelect(pick.vault, vaults, '(no vault yet)', fresh ? keyVault?.id : undefined);
    const vault = vaults.find((v) => v.id === pick.vault.value);
    const keys = await keysOfVault(vault);
    if (!latest()) return;
    fillSelect(pick.key, keys, '(no key yet)', fresh && keyVault && vault === keyVault ? `${vault.id}/keys/${kv.keyName}` : undefined);
    const key = keys.find((k) => k.id === pick.key.value);
    const workspace = workspaces.find((w) => w.id === pick.workspace.value);
    const rg = resourceGroup(vault?.id) || resourceGroup(cluster?.id) || resourceGroup(workspace?.id) || 'rg1';
    render(check({ cluster, vault, key, workspace, rg }));
  }

  // recheck reads everything again, after an action or a change elsewhere.
  async function recheck() {
    try {
      await load();
      await recheckClusters();
    } catch (e) {
      steps.replaceChildren(el('li', { class: 'error' }, `The set-up could not be checked: ${e.message}`));
    }
  }

  // check says, for each step, whether it is done, why, the command that
  // does it, and the action that does it here.
  function check({ cluster, vault, key, workspace, rg }) {
    const vaultName = vault?.name || 'cmk1';
    const clusterName = cluster?.name || 'cl01';
    const kv = cluster?.properties.keyVaultProperties;
    const keyName = key?.name || kv?.keyName || 'k1';
    const wsName = workspace?.name || 'ws01';
    const base = `/subscriptions/${sub}/resourceGroups/${encodeURIComponent(rg)}/providers`;
    const out = [];

    // 1. A vault with purge protection, and a key.
    const s1 = {
      title: 'A vault with purge protection, and a key',
      command: `sealwatch keyvault create --name ${vaultName} -g ${rg} --enable-purge-protection\nsealwatch keyvault key create --vault-name ${vaultName} --name ${keyName}`,
    };
    if (kv && !isKeyVault(kv)) {
      Object.assign(s1, { status: 'done', why: `The cluster's key is the ${keyText(kv)}: it needs no vault; step 4 proved it usable.` });
    } else if (!vault) {
      Object.assign(s1, { status: 'not-done', why: 'There is no vault yet.',
        action: { label: 'Create the vault, with purge protection', input: ['Vault name', 'cmk1'],
          run: (name) => call('PUT', `${base}/Microsoft.KeyVault/vaults/${encodeURIComponent(name)}?${mgmtVersion}`,
            { location: 'local', properties: { sku: { family: 'A', name: 'standard' }, enablePurgeProtection: true } }) } });
    } else if (!vault.properties.enablePurgeProtection) {
      Object.assign(s1, { status: 'not-done', why: `Vault ${vault.name} does not have purge protection: a key there could be purged for good, so the node refuses it.`,
        action: { label: 'Turn purge protection on (for good)',
          run: () => call('PUT', `${vault.id}?${mgmtVersion}`, { location: vault.location, properties: { enablePurgeProtection: true } }) } });
    } else if (!key) {
      Object.assign(s1, { status: 'not-done', why: `Vault ${vault.name} has purge protection but no key.`,
        action: { label: 'Create an RSA 2048 key', input: ['Key name', 'k1'],
          run: (name) => call('PUT', `${vault.id}/keys/${encodeURIComponent(name)}?${mgmtVersion}`, { properties: { kty: 'RSA', keySize: 2048 } }) } });
    } else if (!key.properties.attributes.enabled) {
      Object.assign(s1, { status: 'not-done', why: `Key ${key.name} of vault ${vault.name} is disabled: enable it (keyvault key set-attributes --enabled=true).` });
    } else {
      const p = key.properties;
      Object.assign(s1, { status: 'done', why: `Vault ${vault.name} has soft delete and purge protection; key ${key.name} (${p.kty} ${p.keySize}) is enabled and ${p.attributes.recoveryLevel}.` });
    }
    out.push(s1);

    // 2. A cluster.
    out.push(cluster
      ? { title: 'A cluster, with its own identity', status: 'done',
        why: `Cluster ${cluster.name} exists; its identity's object ID is ${cluster.identity.principalId}, the document-store principal's ${cluster.properties.documentStorePrincipalId}.` }
      : { title: 'A cluster, with its own identity', status: 'not-done', why: 'There is no cluster yet.',
        command: `sealwatch cluster create --name ${clusterName} -g ${rg} --capacity 100`,
        action: { label: 'Create the cluster', input: ['Cluster name', 'cl01'],
          run: (name) => call('PUT', `${base}/Microsoft.OperationalInsights/clusters/${encodeURIComponent(name)}?${mgmtVersion}`,
            { location: 'local', identity: { type: 'SystemAssigned' }, sku: { name: 'CapacityReservation', capacity: 100 } }) } });

    // 3. Both principals granted get, wrapKey and unwrapKey.
    const s3 = { title: 'Grant the cluster\'s identity and the document-store principal get, wrapKey and unwrapKey',
      command: `sealwatch keyvault set-policy --name ${vaultName} --cluster ${clusterName} --key-permissions get wrapKey unwrapKey` };
    if (kv && !isKeyVault(kv)) {
      Object.assign(s3, { status: 'done', why: 'The key service grants the node\'s use of the key itself (its credentials were given with the key); step 4 proved both principals\' keyrings can use it.' });
    } else if (!cluster || !vault) {
      Object.assign(s3, { status: 'not-done', why: 'Needs a cluster and a vault first.' });
    } else {
      const principals = [['the cluster\'s identity', cluster.identity.principalId], ['the document-store principal', cluster.properties.documentStorePrincipalId]];
      const lacks = principals.map(([who, oid]) => [who, oid, missingPermissions(vault, oid)]).filter(([, , m]) => m.length > 0);
      if (lacks.length === 0) {
        Object.assign(s3, { status: 'done', why: `Vault ${vault.name}'s access policies grant both principals get, wrapKey and unwrapKey.` });
      } else {
        Object.assign(s3, { status: 'not-done',
          why: `${lacks.map(([who, oid, m]) => `${who} (${oid}) lacks ${m.join(', ')}`).join('; ')} on vault ${vault.name}.`,
          action: { label: 'Grant both principals',
            run: () => call('PUT', `${vault.id}/accessPolicies/add?${mgmtVersion}`, { properties: { accessPolicies: principals.map(([, oid]) =>
              ({ objectId: oid, permissions: { keys: ['get', 'wrapKey', 'unwrapKey'] } })) } }) } });
      }
    }
    out.push(s3);

    // 4. The cluster's keyVaultProperties.
    const s4 = { title: 'Set the cluster\'s key (keyVaultProperties)',
      command: `sealwatch cluster update --name ${clusterName} --key-vault ${vaultName} --key-name ${keyName}` };
    if (kv) {
      const state = cluster.properties.keyState;
      Object.assign(s4, state && state !== 'Accessible'
        ? { status: 'not-done', why: `The key is set (${keyText(kv)}) but ${state} now: ${cluster.properties.keyCheckError || 'see Key state above'}.` }
        : { status: 'done', why: `The key in force is ${keyText(kv)}; state ${state || 'not checked yet'}. The node proved both principals can use it.` });
    } else if (!cluster || !vault || !key) {
      Object.assign(s4, { status: 'not-done', why: 'Needs a cluster, and a vault with a key, first.' });
    } else {
      Object.assign(s4, { status: 'not-done', why: `Cluster ${cluster.name} has no key yet.`,
        action: { label: `Set key ${key.name} of vault ${vault.name}, following its latest version`,
          run: () => call('PATCH', `${cluster.id}?${mgmtVersion}`, { properties: { keyVaultProperties:
            { keyVaultUri: vault.properties.vaultUri, keyName: key.name, keyVersion: '' } } }) } });
    }
    out.push(s4);

    // 5. A workspace linked to the cluster, and onboarded under the key.
    const s5 = { title: 'Link a new workspace to the cluster, and onboard it under the key',
      command: `sealwatch workspace create --name ${wsName} -g ${rg}\nsealwatch workspace link --name ${wsName} --cluster ${clusterName}\nsealwatch sentinel onboard --workspace ${wsName} --cmk` };
    const linked = cluster && workspace && (cluster.properties.associatedWorkspaces || [])
      .some((w) => w.resourceId.toLowerCase() === workspace.id.toLowerCase());
    if (linked && kv) {
      Object.assign(s5, { status: 'done', why: `Workspace ${workspace.name} is linked to cluster ${cluster.name}: its data is sealed under the key.` });
    } else if (linked) {
      Object.assign(s5, { status: 'not-done', why: `Workspace ${workspace.name} is linked, but the cluster has no key: its data is under the platform key.` });
    } else if (!workspace) {
      Object.assign(s5, { status: 'not-done', why: 'There is no workspace yet.',
        action: { label: 'Create the workspace', input: ['Workspace name', 'ws01'],
          run: (name) => call('PUT', `${base}/Microsoft.OperationalInsights/workspaces/${encodeURIComponent(name)}?${mgmtVersion}`, { location: 'local' }) } });
    } else if (workspace.properties.clusterResourceId) {
      Object.assign(s5, { status: 'not-done', why: `Workspace ${workspace.name} is linked to another cluster (${lastSegment(workspace.properties.clusterResourceId)}).` });
    } else if (!cluster || !kv) {
      Object.assign(s5, { status: 'not-done', why: `Workspace ${workspace.name} is not linked; set the cluster's key first, so that its data is sealed under it from the start.` });
    } else {
      Object.assign(s5, { status: 'not-done', why: `Workspace ${workspace.name} is not linked to cluster ${cluster.name}.`,
        action: { label: `Link ${workspace.name} and onboard it under the key`,
          run: async () => {
            await call('PUT', `${workspace.id}/linkedServices/cluster?${mgmtVersion}`, { properties: { writeAccessResourceId: cluster.id } });
            await call('PUT', `${workspace.id}/providers/Microsoft.SecurityInsights/onboardingStates/default?${mgmtVersion}`, { properties: { customerManagedKey: true } });
          } } });
    }
    out.push(s5);
    return out;
  }

  const labels = { done: 'Done', 'not-done': 'Not done' };

  let rendered = ''; // what the steps say now, to leave them be when that holds

  function render(list) {
    // A poll that finds nothing new leaves the steps alone: a name being
    // typed is not wiped every 30 seconds.
    const says = JSON.stringify([list.map((s) => [s.status, s.why, s.command, s.action?.label]), [...problems]]);
    if (says === rendered && steps.childElementCount > 0) return;
    rendered = says;
    steps.replaceChildren(...list.map((s, i) => {
      const n = i + 1;
      const li = el('li', { class: `cmk-step ${s.status}`, 'data-status': s.status, 'data-step': String(n) },
        el('div', { class: 'step-head' }, el('strong', {}, s.title), el('span', { class: `step-status ${s.status}` }, labels[s.status])),
        el('p', { class: 'why' }, s.why));
      if (s.status === 'done') return li;
      li.append(el('pre', { class: 'command' }, el('code', {}, s.command)));
      if (s.action) li.append(actionForm(n, s.action));
      if (problems.has(n)) li.append(el('p', { class: 'error', role: 'alert' }, problems.get(n)));
      return li;
    }));
  }

  function actionForm(n, action) {
    const form = el('form', { class: 'step-action' });
    let input = null;
    if (action.input) {
      const id = `step-${n}-name`;
      input = el('input', { id, value: action.input[1], required: true, spellcheck: false, autocomplete: 'off' });
      form.append(el('label', { htmlFor: id }, action.input[0]), input);
    }
    const button = el('button', { type: 'submit', disabled: busy }, action.label);
    form.append(button);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      if (busy) return;
      busy = true;
      button.disabled = true;
      problems.delete(n);
      try {
        await action.run(input ? input.value.trim() : undefined);
        // A step done changes what the others' refusals were about.
        problems.clear();
      } catch (e) {
        problems.set(n, e.message);
      } finally {
        busy = false;
      }
      rendered = ''; // the button is enabled again however the check comes out
      await recheck();
    });
    return form;
  }

  // update shows the set-up for the clusters known now.
  async function update(list) {
    clusters = list;
    try {
      await show();
    } catch (e) {
      steps.replaceChildren(el('li', { class: 'error' }, `The set-up could not be checked: ${e.message}`));
    }
  }

  for (const s of Object.values(pick)) s.addEventListener('change', () => { problems.clear(); update(clusters); });

  return { update, load };
}

// fillSelect puts items in select as options (value: the resource ID),
// keeping the choice made unless prefer names one; with none, one option
// says so.
function fillSelect(select, items, none, prefer) {
  const chosen = prefer && items.some((x) => x.id === prefer) ? prefer : select.value;
  select.replaceChildren(...items.map((x) => el('option', { value: x.id }, x.name)));
  if (items.length === 0) select.append(el('option', { value: '' }, none));
  if (items.some((x) => x.id === chosen)) select.value = chosen;
}
