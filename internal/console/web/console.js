// The console's shell: sign-in, the signed-in frame with its navigation,
// and a page for each part of the product, chosen by the URL's fragment.
import { ApiError, call, setCsrfToken } from './api.js';
import * as analytics from './analytics.js';
import * as incidents from './incidents.js';
import * as logs from './logs.js';
import * as keys from './keys.js';
import * as keystate from './keystate.js';

const $ = (id) => document.getElementById(id);

// pages are the console's parts, in navigation order.
const pages = {
  logs: { title: 'Logs', render: logs.render },
  incidents: { title: 'Incidents', render: incidents.render },
  analytics: { title: 'Analytics', render: analytics.render },
  keys: { title: 'Keys', render: keys.render },
};

let session = null;

function showSignIn(notice) {
  session = null;
  keystate.stop();
  setCsrfToken('');
  $('loading').hidden = true;
  $('shell').hidden = true;
  $('signin').hidden = false;
  $('signin-notice').textContent = notice || '';
  $('signin-notice').hidden = !notice;
  $('client-id').focus();
}

function showShell(s) {
  session = s;
  setCsrfToken(s.csrfToken);
  $('loading').hidden = true;
  $('signin').hidden = true;
  $('shell').hidden = false;
  const p = s.principal;
  $('who').textContent = `${p.displayName}${p.roles.length ? ` (${p.roles.join(', ')})` : ''}`;
  keystate.start($('key-banner'), s);
  route();
}

// route shows the page the fragment names (#/logs by default). What
// follows the page's name (#/incidents/WORKSPACE/ID) is the page's own
// path, given to its render.
function route() {
  if (!session) return;
  const path = location.hash.replace(/^#\//, '');
  let name = path.split('/', 1)[0];
  let sub = path.slice(name.length + 1);
  if (!Object.hasOwn(pages, name)) {
    name = 'logs';
    sub = '';
    history.replaceState(null, '', '#/logs');
  }
  const page = pages[name];
  document.title = `${page.title} · Sealwatch`;
  $('page-title').textContent = page.title;
  keystate.refresh();
  if (page.render) page.render($('page-body'), session, sub);
  else $('page-body').textContent = page.text;
  for (const a of document.querySelectorAll('nav a[data-page]')) {
    if (a.dataset.page === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

async function signIn(event) {
  event.preventDefault();
  const button = $('signin-submit');
  const error = $('signin-error');
  error.hidden = true;
  const clientId = $('client-id').value.trim();
  const clientSecret = $('client-secret').value;
  if (!clientId || !clientSecret) {
    error.textContent = 'Give the application\'s client ID and its secret.';
    error.hidden = false;
    return;
  }
  button.disabled = true;
  try {
    const s = await call('POST', '/console/session', { clientId, clientSecret });
    $('client-secret').value = '';
    showShell(s);
  } catch (e) {
    error.textContent = e instanceof ApiError ? e.message : `The sign-in failed: ${e.message}`;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

async function signOut() {
  try {
    await call('DELETE', '/console/session');
  } finally {
    $('signin-form').reset();
    showSignIn('You have signed out.');
  }
}

async function start() {
  $('signin-form').addEventListener('submit', signIn);
  $('signout').addEventListener('click', signOut);
  window.addEventListener('hashchange', route);
  window.addEventListener('sealwatch:session-ended', () => {
    if (session) showSignIn('Your session has ended: sign in again.');
  });
  try {
    const s = await call('GET', '/console/session');
    if (s.signedIn) showShell(s);
    else showSignIn();
  } catch (e) {
    showSignIn(`The node could not be asked for the session: ${e.message}`);
  }
}

start();
