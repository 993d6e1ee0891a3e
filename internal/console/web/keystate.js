// The state of the tenant's customer-managed keys, watched for the whole
// shell: the banner above every page when a key the user depends on is not
// Accessible, and the clusters the Keys page shows. One watcher asks the
// node's management API for the clusters (each with its keyState) every
// pollSeconds, on each page change (refresh), and when a call is refused for
// the key; nothing else polls.
//
// A page tells the watcher which workspace the user is working in with
// workingIn(id), its resource ID or its customerId (the workspace ID of the
// query API and of #/incidents/{customerId}): a workspace whose cluster's
// key is not Accessible gets the banner — given by its resource ID, even if
// its cluster is in another subscription.
import { ApiError, call } from './api.js';
import { el } from './dom.js';

// pollSeconds matches the node's default key check interval: polling more
// often would show nothing new.
const pollSeconds = 30;
const mgmtVersion = 'api-version=2023-07-01';

let banner = null; // the banner's element while signed in
let session = null;
let timer = 0;
let inFlight = null;
let again = false;
let workspaceId = ''; // the resource ID or customerId of the workspace the user works in
let workspaceCluster = null; // {workspaceId, cluster}: its cluster, when not among clusters
let clusters = [];
const listeners = new Set();

// canRead says whether the signed-in application may read clusters: the
// management API is the Owner's. Others get no banner from polling (their
// calls would only be refused) but still from a refusal for the key.
const canRead = () => session && session.principal.roles.includes('Owner');

// start watches the keys for session, showing the banner in element.
export function start(element, s) {
  stop();
  banner = element;
  session = s;
  window.addEventListener('sealwatch:key-refused', onRefused);
  refresh();
}

// stop ends the watching (at sign-out) and hides the banner.
export function stop() {
  clearTimeout(timer);
  window.removeEventListener('sealwatch:key-refused', onRefused);
  if (banner) banner.replaceChildren();
  if (banner) banner.hidden = true;
  banner = null;
  session = null;
  clusters = [];
  workspaceId = '';
  workspaceCluster = null;
}

// workingIn says which workspace (its resource ID or customerId) the user
// works in now; the banner follows it.
export function workingIn(id) {
  if ((id || '') === workspaceId) return;
  workspaceId = id || '';
  workspaceCluster = null;
  refresh();
}

// subscribe calls fn with the clusters after every refresh (at once with
// those known); it returns the function that ends the subscription.
export function subscribe(fn) {
  listeners.add(fn);
  fn(clusters);
  return () => listeners.delete(fn);
}

// refresh asks for the clusters now; a refresh asked for while one runs
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
    if (session) timer = setTimeout(refresh, pollSeconds * 1000);
  })();
  return inFlight;
}

async function load() {
  if (!canRead()) {
    // A refusal's banner lasts until the user moves on; the next refusal
    // brings it back.
    if (banner) banner.hidden = true;
    return;
  }
  try {
    const res = await call('GET', `/subscriptions/${encodeURIComponent(session.tenantId)}/providers/Microsoft.OperationalInsights/clusters?${mgmtVersion}`);
    clusters = res.value || [];
    await loadWorkspaceCluster();
  } catch (e) {
    if (!(e instanceof ApiError)) return; // the node is away: keep what is shown
    clusters = [];
  }
  if (!session) return;
  show();
  for (const fn of listeners) fn(clusters);
}

// loadWorkspaceCluster finds the cluster of the workspace worked in when
// it is not among the subscription's clusters.
async function loadWorkspaceCluster() {
  const ws = workspaceId;
  // A customerId names no resource to read: only a listed cluster tells.
  if (!ws.startsWith('/subscriptions/') || clusterOf(ws) || (workspaceCluster && workspaceCluster.workspaceId === ws)) return;
  let cluster = null;
  try {
    const w = await call('GET', `${ws}?${mgmtVersion}`);
    const id = w.properties?.clusterResourceId;
    if (id) cluster = await call('GET', `${id}?${mgmtVersion}`);
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
  }
  if (ws === workspaceId) workspaceCluster = { workspaceId: ws, cluster };
}

// linkOf is the listed cluster a workspace (resource ID or customerId) is
// linked to, and the link, which names the workspace.
function linkOf(id) {
  const want = id.toLowerCase();
  for (const c of clusters) {
    const w = (c.properties.associatedWorkspaces || []).find((a) => a.resourceId.toLowerCase() === want || a.workspaceId.toLowerCase() === want);
    if (w) return { cluster: c, workspace: w };
  }
  return null;
}

const clusterOf = (id) => linkOf(id)?.cluster;

// meanings say, for each state that is not Accessible, what it means for
// the user's work and what to do.
const meanings = {
  Revoked: {
    means: 'queries, ingestion, incidents and analytics rules of its workspaces are refused (403 CustomerManagedKeyInaccessible); the stored data is kept, unreadable.',
    todo: 'Enable the key (or its version) again in its vault, or restore the access policy of the cluster\'s identity and of the document-store principal; everything works again within one key check.',
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

// show puts the clusters whose key is not Accessible in the banner: the
// workspace worked in first.
function show() {
  if (!banner) return;
  const current = workspaceId ? clusterOf(workspaceId) || workspaceCluster?.cluster : null;
  const troubled = clusters.filter((c) => meanings[c.properties.keyState]);
  if (current && meanings[current.properties.keyState] && !troubled.includes(current)) troubled.unshift(current);
  troubled.sort((a, b) => (b === current) - (a === current));
  if (troubled.length === 0) {
    banner.replaceChildren();
    banner.hidden = true;
    return;
  }
  const workspaceName = linkOf(workspaceId)?.workspace.workspaceName || workspaceId.split('/').pop();
  const items = troubled.map((c) => {
    const state = c.properties.keyState;
    const m = meanings[state];
    const whose = c === current ? ` — the workspace ${workspaceName} you work in is sealed under it` : '';
    return el('li', {},
      el('strong', {}, `The customer-managed key of cluster ${c.name} is ${state}${whose}: `),
      m.means, ' ', m.todo);
  });
  const text = items.map((li) => li.textContent).join('\n');
  // Replace the banner only when it says something new, so that a screen
  // reader announces a change once, not every poll.
  if (banner.dataset.text === text && !banner.hidden) return;
  banner.dataset.text = text;
  banner.className = `key-banner ${troubled.some((c) => c.properties.keyState !== 'Unreachable') ? 'refused' : 'warning'}`;
  banner.replaceChildren(el('ul', {}, ...items), el('a', { href: '#/keys' }, 'See the keys'));
  banner.hidden = false;
}

// onRefused shows a refusal for the key at once, whoever is signed in: an
// Owner's banner is refreshed from the clusters; another's says what the
// refusal says.
function onRefused(event) {
  if (canRead()) {
    refresh();
    return;
  }
  if (!banner) return;
  banner.className = 'key-banner refused';
  banner.replaceChildren(el('p', {}, `${event.detail.message} `, 'The key owner can restore it; nothing stored is lost.'));
  banner.hidden = false;
}
