// The state of the customer-managed keys the user depends on, watched for
// the whole shell: the banner above every page when one is not Accessible,
// and the clusters the Keys page shows. One watcher asks the node's
// management API every pollSeconds, on each page change (refresh), and when
// a call is refused for the key; nothing else polls. An Owner's watcher
// reads the tenant's clusters, each with its keyState; anyone's reads the
// workspace they work in, whose keyState is its cluster's.
//
// A page tells the watcher which workspace the user is working in with
// workingIn(id), its resource ID or its customerId (the workspace ID of the
// query API and of #/incidents/{customerId}).
import { ApiError, call } from './api.js';
import { el } from './dom.js';

// pollSeconds matches the node's default key check interval: polling more
// often would show nothing new.
const pollSeconds = 30;
const mgmtVersion = 'api-version=2023-07-01';
// background marks the watcher's calls as the page's own, not the
// person's: they do not restart the session's idle time.
const background = { 'X-Sealwatch-Background': '1' };

let banner = null; // the banner's element while signed in
let session = null;
let timer = 0;
let inFlight = null;
let again = false;
let workspaceId = ''; // the resource ID or customerId of the workspace the user works in
let workspace = null; // that workspace's resource, once read
let clusters = [];
let refusal = null; // the last refusal for the key, until the next refresh
let missed = false; // a poll came due while the tab was hidden
const listeners = new Set();

// isOwner says whether the signed-in application may read clusters: the
// management API's clusters are the Owner's.
const isOwner = () => session && session.principal.roles.includes('Owner');

// start watches the keys for session, showing the banner in element.
export function start(element, s) {
  stop();
  banner = element;
  session = s;
  window.addEventListener('sealwatch:key-refused', onRefused);
  document.addEventListener('visibilitychange', onVisible);
  refresh();
}

// stop ends the watching (at sign-out) and hides the banner.
export function stop() {
  clearTimeout(timer);
  window.removeEventListener('sealwatch:key-refused', onRefused);
  document.removeEventListener('visibilitychange', onVisible);
  if (banner) {
    banner.replaceChildren();
    banner.hidden = true;
    delete banner.dataset.text;
  }
  banner = null;
  session = null;
  clusters = [];
  workspaceId = '';
  workspace = null;
  refusal = null;
}

// workingIn says which workspace (its resource ID or customerId) the user
// works in now; the banner follows it.
export function workingIn(id) {
  if ((id || '') === workspaceId) return;
  workspaceId = id || '';
  workspace = null;
  refresh();
}

// subscribe calls fn with the clusters after every refresh (at once with
// those known); it returns the function that ends the subscription.
export function subscribe(fn) {
  listeners.add(fn);
  fn(clusters);
  return () => listeners.delete(fn);
}

// refresh asks for the states now; a refresh asked for while one runs
// runs once more after it, so that no change is missed and none overlap.
export function refresh() {
  if (!session) return Promise.resolve();
  if (inFlight) {
    again = true;
    return inFlight;
  }
  clearTimeout(timer);
  inFlight = (async () => {
    do {
      again = false;
      await load();
    } while (again && session);
    inFlight = null;
    if (session) timer = setTimeout(poll, pollSeconds * 1000);
  })();
  return inFlight;
}

// poll refreshes on the interval while the page is seen; a hidden tab
// waits to be shown again (onVisible), asking nothing meanwhile.
function poll() {
  if (document.hidden) missed = true;
  else refresh();
}

function onVisible() {
  if (!document.hidden && missed) {
    missed = false;
    refresh();
  }
}

async function load() {
  const asked = session;
  const wanted = workspaceId;
  const sub = encodeURIComponent(session.tenantId);
  let read = [];
  let found = null;
  let failed = null;
  try {
    if (isOwner()) {
      const res = await call('GET', `/subscriptions/${sub}/providers/Microsoft.OperationalInsights/clusters?${mgmtVersion}`, undefined, undefined, background);
      read = res.value || [];
    }
    found = wanted ? await findWorkspace(sub, wanted) : null;
  } catch (e) {
    failed = e;
  }
  // Signed out (or in again, perhaps as another) meanwhile: what was read
  // is the old session's, and is dropped.
  if (session !== asked) return;
  if (failed && !(failed instanceof ApiError)) return; // the node is away: keep what is shown
  clusters = failed ? [] : read;
  if (!failed) workspace = wanted === workspaceId ? found : null; // the page moved on: the next load reads its workspace
  refusal = null;
  show();
  for (const fn of listeners) fn(clusters);
}

// findWorkspace reads the workspace id names: among the subscription's
// (which anyone lists those of that they may read), else, named by its
// resource ID, on its own.
async function findWorkspace(sub, id) {
  const want = id.toLowerCase();
  const res = await call('GET', `/subscriptions/${sub}/providers/Microsoft.OperationalInsights/workspaces?${mgmtVersion}`, undefined, undefined, background);
  const found = (res.value || []).find((w) => w.id.toLowerCase() === want || w.properties.customerId.toLowerCase() === want);
  if (found || !id.startsWith('/subscriptions/') || !isOwner()) return found || null;
  return call('GET', `${id}?${mgmtVersion}`, undefined, undefined, background);
}

// meanings say, for each state that is not Accessible, what it means for
// the user's work and what to do.
const meanings = {
  Revoked: {
    means: 'queries, ingestion, incidents and analytics rules of its workspaces are refused (403 CustomerManagedKeyInaccessible); the stored data is kept, unreadable.',
    todo: 'Enable the key (or its version) again in its vault or key service, or restore the access of the cluster\'s identity and of the document-store principal to it; everything works again within one key check.',
  },
  Locked: {
    means: 'its vault has not answered for longer than the grace, so queries, ingestion and incidents of its workspaces are refused (503 KeyVaultUnreachable); nothing stored is lost.',
    todo: 'Bring the vault back within reach of the node; the first successful key check restores everything.',
  },
  Unreachable: {
    means: 'its vault does not answer; the node works from the keys in memory until the grace runs out, then refuses queries and ingestion.',
    todo: 'Bring the vault back within reach of the node before the grace (5 minutes by default) runs out.',
  },
};

// show puts in the banner each key not Accessible: the workspace worked
// in first (its cluster's, named through the workspace), then the other
// clusters' an Owner sees.
function show() {
  if (!banner) return;
  const entries = [];
  const wsCluster = workspace?.properties.clusterResourceId?.toLowerCase();
  if (workspace && meanings[workspace.properties.keyState]) {
    entries.push({ state: workspace.properties.keyState,
      who: `The customer-managed key of cluster ${wsCluster.split('/').pop()} is ${workspace.properties.keyState} — the workspace ${workspace.name} you work in is sealed under it` });
  }
  for (const c of clusters) {
    if (meanings[c.properties.keyState] && c.id.toLowerCase() !== wsCluster) {
      entries.push({ state: c.properties.keyState, who: `The customer-managed key of cluster ${c.name} is ${c.properties.keyState}` });
    }
  }
  if (entries.length === 0 && refusal) {
    // A refusal for a workspace the watcher does not know of (one the
    // user may not list): what the refusal says, until the next refresh.
    entries.push({ state: refusal.code === 'KeyVaultUnreachable' ? 'Locked' : 'Revoked', who: refusal.message });
  }
  if (entries.length === 0) {
    banner.replaceChildren();
    banner.hidden = true;
    delete banner.dataset.text;
    return;
  }
  const owner = isOwner();
  const items = entries.map((e) => el('li', {}, el('strong', {}, `${e.who}: `), meanings[e.state].means, ' ',
    owner ? meanings[e.state].todo : `For the key owner: ${meanings[e.state].todo}`));
  const text = items.map((li) => li.textContent).join('\n');
  // Replace the banner only when it says something new, so that a screen
  // reader announces a change once, not every poll.
  if (banner.dataset.text === text && !banner.hidden) return;
  banner.dataset.text = text;
  banner.className = `key-banner ${entries.some((e) => e.state !== 'Unreachable') ? 'refused' : 'warning'}`;
  banner.replaceChildren(el('ul', {}, ...items));
  if (owner) banner.append(el('a', { href: '#/keys' }, 'See the keys'));
  banner.hidden = false;
}

// onRefused answers a call refused for the key: the states are read again
// at once, and the refusal itself is shown if they do not explain it.
function onRefused(event) {
  refresh().then(() => {
    if (!banner || !banner.hidden) return;
    refusal = event.detail;
    show();
  });
}
