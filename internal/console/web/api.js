// The console's one way to the node's HTTP API. The session rides in an
// HttpOnly cookie the page cannot read; the CSRF token, which every request
// that changes something must carry, lives only in this module's memory.

let csrfToken = '';

// ApiError is a refusal in the API's shape, {"error":{"code","message"}},
// with its innererror when it has one (a query's error's line and column).
export class ApiError extends Error {
  constructor(status, code, message, inner) {
    super(message);
    this.status = status;
    this.code = code;
    this.inner = inner || null;
  }
}

export function setCsrfToken(token) {
  csrfToken = token || '';
}

// call sends method to path with body as JSON (when given) and returns the
// decoded JSON answer, or null for an empty one; it throws ApiError, or the
// AbortError of signal (optional) when the caller cancels. extraHeaders
// (optional) are sent too, such as the If-Match of a write that must not
// overwrite another's.
export async function call(method, path, body, signal, extraHeaders) {
  const headers = { Accept: 'application/json', ...extraHeaders };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = csrfToken;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
    signal,
  });
  const text = await res.text();
  let data = null;
  if (text !== '') {
    try {
      data = JSON.parse(text);
    } catch {
      throw new ApiError(res.status, 'BadResponse', `the node answered ${res.status} with a body that is not JSON`);
    }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    if (res.status === 401 && csrfToken !== '') {
      // The session ended under the page (idle, its hour up, signed out
      // elsewhere, the node restarted): the shell goes back to the sign-in.
      window.dispatchEvent(new CustomEvent('sealwatch:session-ended'));
    }
    if (e.code === 'CustomerManagedKeyInaccessible' || e.code === 'KeyVaultUnreachable') {
      // The shell's key banner says what this means and what to do.
      window.dispatchEvent(new CustomEvent('sealwatch:key-refused', { detail: { code: e.code, message: e.message } }));
    }
    throw new ApiError(res.status, e.code || String(res.status), e.message || `the node answered ${res.status}`, e.innererror);
  }
  return data;
}

// reads makes a part's reads ordered: each call begins a read and returns
// whether it is still the latest begun, so that a slow answer (a reload
// after one change, overtaken by the reload after the next) never replaces
// a newer one.
export function reads() {
  let n = 0;
  return () => {
    const turn = ++n;
    return () => turn === n;
  };
}
