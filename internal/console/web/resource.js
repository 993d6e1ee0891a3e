// What the Analytics page's parts share: the URLs of a workspace's security
// resources, writes under the etag read, how a refusal is said, status and
// alert lines, a confirmation in place and a plain table.
import { ApiError } from './api.js';
import { el } from './dom.js';

export const apiVersion = 'api-version=2023-07-01';

// url is the management API's URL of path under the workspace's security
// resources.
export function url(ctx, path) {
  return `${ctx.base}/${path}?${apiVersion}`;
}

// ifMatch is the header that makes a write fail rather than overwrite a
// change made since etag was read.
export function ifMatch(etag) {
  return etag ? { 'If-Match': etag } : undefined;
}

// explain is what the page says of a refused call: a conflict says what
// happened and what to do.
export function explain(e, what) {
  if (!(e instanceof ApiError)) return `${what} failed: ${e.message}`;
  if (e.status === 412) return `${what} was refused: it was changed by someone else since this page read it. Reload it to see the change, then make yours again.`;
  return `${what} was refused: ${e.message}`;
}

// messages is a status line and an alert line, for one part of the page.
export function messages(prefix) {
  const status = el('p', { id: `${prefix}-status`, class: 'status', role: 'status' });
  const error = el('p', { id: `${prefix}-error`, class: 'error', role: 'alert', hidden: true });
  return {
    nodes: [status, error],
    say(text) { status.textContent = text; error.hidden = true; },
    fail(text) { status.textContent = ''; error.textContent = text; error.hidden = false; },
  };
}

// confirmDelete shows, in place of box's content, a question and two
// buttons; onYes runs when the deletion is confirmed.
export function confirmDelete(box, question, onYes) {
  const keep = [...box.childNodes];
  const yes = el('button', { type: 'button', class: 'danger', id: 'confirm-delete' }, 'Delete');
  const no = el('button', { type: 'button', class: 'secondary', id: 'cancel-delete' }, 'Cancel');
  const restore = () => box.replaceChildren(...keep);
  yes.addEventListener('click', () => { restore(); onYes(); });
  no.addEventListener('click', restore);
  box.replaceChildren(el('span', { class: 'confirm', role: 'alert' }, question), yes, no);
  no.focus();
}

// table builds a table with a header of names and a row per item from
// cells(item), which returns the row's cells' contents.
export function table(id, names, items, cells, rowProps = () => ({})) {
  return el('table', { class: 'grid', id },
    el('thead', {}, el('tr', {}, ...names.map((n) => el('th', { scope: 'col' }, n)))),
    el('tbody', {}, ...items.map((it) => el('tr', rowProps(it), ...cells(it).map((c) => el('td', {}, c))))));
}

// field is input with its label above it.
export function field(input, label) {
  return el('div', { class: 'field' }, el('label', { htmlFor: input.id }, label), input);
}

// select is a choice among options (each its own label), value chosen.
export function select(id, options, value) {
  const s = el('select', { id });
  for (const o of options) s.append(el('option', { value: o }, o));
  s.value = value;
  return s;
}
