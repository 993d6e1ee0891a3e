// The Analytics page's watchlists: upload a CSV with its search key, browse
// a watchlist's items, and edit, add and delete items, each write under the
// etag read.
import { call, reads } from './api.js';
import { el } from './dom.js';
import { confirmDelete, explain, field, ifMatch, messages, table, url } from './resource.js';

// shownItems bounds the items put into the page at once; the count is said.
const shownItems = 1000;
// maxUploadBytes is the most rawContent the node takes in one upload
// (watchlist.MaxRawContentBytes, the cloud's 3.8 MB).
const maxUploadBytes = 3_800_000;

export function renderWatchlists(box, ctx) {
  const msg = messages('watchlists');
  const list = el('div', { id: 'watchlists-list' });
  const itemsBox = el('div', { id: 'watchlist-items-box' });
  const upload = uploadForm(ctx, msg, () => load());
  box.replaceChildren(upload.form, ...msg.nodes, list, itemsBox);

  let watchlists = [];
  const read = reads();
  async function load() {
    const latest = read();
    let got;
    try {
      got = (await call('GET', url(ctx, 'watchlists'))).value;
    } catch (e) {
      if (latest()) msg.fail(explain(e, 'Reading the watchlists'));
      return;
    }
    if (!latest()) return;
    watchlists = got;
    upload.known(watchlists);
    list.replaceChildren(table('watchlists', ['Alias', 'Name', 'Search key', 'Items', 'Updated', ''], watchlists, (w) => {
      const p = w.properties;
      const browse = el('button', { type: 'button', class: 'secondary', 'aria-label': `Browse ${w.name}` }, 'Browse');
      browse.addEventListener('click', () => browseItems(itemsBox, ctx, w, load));
      const actions = el('span', { class: 'actions' }, browse);
      const del = el('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${w.name}` }, 'Delete');
      del.addEventListener('click', () => confirmDelete(actions, `Delete watchlist '${w.name}' and its ${p.itemsCount} items?`, async () => {
        try {
          await call('DELETE', url(ctx, `watchlists/${encodeURIComponent(w.name)}`), undefined, undefined, ifMatch(w.etag));
          msg.say(`${w.name} is deleted.`);
          itemsBox.replaceChildren();
        } catch (e) {
          msg.fail(explain(e, `Deleting ${w.name}`));
        }
        load();
      }));
      actions.append(del);
      return [w.name, p.displayName, p.itemsSearchKey, String(p.itemsCount), new Date(p.updated).toLocaleString('en-GB'), actions];
    }, (w) => ({ 'data-watchlist': w.name })));
  }
  load();
}

// uploadForm makes a watchlist from a CSV file, or replaces one's items:
// its header's columns are offered as the search key.
function uploadForm(ctx, msg, onDone) {
  const alias = el('input', { id: 'watchlist-alias', spellcheck: false, required: true });
  const name = el('input', { id: 'watchlist-name', required: true });
  const provider = el('input', { id: 'watchlist-provider', defaultValue: 'SOC', required: true });
  const file = el('input', { id: 'watchlist-file', type: 'file', accept: '.csv,text/csv', required: true });
  const key = el('select', { id: 'watchlist-search-key', required: true });
  const submit = el('button', { type: 'submit', id: 'watchlist-upload' }, 'Upload');
  const form = el('form', { id: 'watchlist-form', class: 'section', novalidate: true },
    el('h2', {}, 'Upload a watchlist (CSV)'),
    el('div', { class: 'fields' }, field(alias, 'Alias'), field(name, 'Name'), field(provider, 'Provider'),
      field(file, 'CSV file'), field(key, 'Search key (a column)')),
    el('div', { class: 'toolbar' }, submit));
  let existing = [];
  let text = '';

  file.addEventListener('change', async () => {
    const f = file.files[0];
    if (f && f.size > maxUploadBytes) {
      // Refused before it is read: the node takes no more, and reading a
      // large file would only hold up the page.
      msg.fail(`${f.name} is ${f.size.toLocaleString('en')} bytes; a watchlist upload is at most ${maxUploadBytes.toLocaleString('en')} (3.8 MB): split the file, upload the first part and add the rest item by item.`);
      file.value = '';
      text = '';
      key.replaceChildren();
      return;
    }
    if (f) msg.say('');
    text = f ? await f.text() : '';
    key.replaceChildren(...header(text).map((c) => el('option', { value: c }, c)));
    if (!alias.value && f) alias.value = f.name.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_-]/g, '_');
    if (!name.value && f) name.value = f.name.replace(/\.[^.]*$/, '');
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const f = file.files[0];
    if (!alias.value.trim() || !name.value.trim() || !f || !key.value) {
      msg.fail('Give the watchlist an alias and a name, choose its CSV file and the column to search by.');
      return;
    }
    const old = existing.find((w) => w.name === alias.value.trim());
    submit.disabled = true;
    try {
      await call('PUT', url(ctx, `watchlists/${encodeURIComponent(alias.value.trim())}`), { properties: {
        displayName: name.value.trim(), provider: provider.value.trim(), itemsSearchKey: key.value,
        contentType: 'text/csv', rawContent: text, source: f.name,
      } }, undefined, ifMatch(old?.etag));
      msg.say(`${alias.value.trim()} is ${old ? 'replaced' : 'uploaded'}.`);
      form.reset();
      key.replaceChildren();
      onDone();
    } catch (e) {
      msg.fail(explain(e, 'The upload'));
    } finally {
      submit.disabled = false;
    }
  });
  return { form, known(list) { existing = list; } };
}

// header is the column names of CSV text's first record, read as the node
// reads them (RFC 4180: a quoted name may hold commas, "" and line breaks),
// to offer them as the search key; the node checks them when it is sent.
function header(text) {
  const names = [];
  let name = '';
  let quoted = false;
  for (let i = text.charCodeAt(0) === 0xFEFF ? 1 : 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') name += text[++i];
      else if (c === '"') quoted = false;
      else name += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { names.push(name); name = ''; } else if (c === '\n' || c === '\r') break;
    else name += c;
  }
  return text ? [...names, name] : [];
}

// browseItems shows watchlist w's items in box, each editable in place.
async function browseItems(box, ctx, w, onChange) {
  const msg = messages('watchlist-items');
  const base = `watchlists/${encodeURIComponent(w.name)}/watchlistItems`;
  const cols = w.properties.columns;
  let items;
  try {
    items = (await call('GET', url(ctx, base))).value;
  } catch (e) {
    box.replaceChildren(...msg.nodes);
    msg.fail(explain(e, `Reading the items of ${w.name}`));
    return;
  }
  // After a change, the watchlist is read again: its count and etag moved.
  const reload = async () => {
    onChange();
    try {
      browseItems(box, ctx, await call('GET', url(ctx, `watchlists/${encodeURIComponent(w.name)}`)), onChange);
    } catch (e) {
      msg.fail(explain(e, `Reading ${w.name}`));
    }
  };

  async function put(id, values, etag, what) {
    try {
      await call('PUT', url(ctx, `${base}/${encodeURIComponent(id)}`), { properties: { itemsKeyValue: values } }, undefined, ifMatch(etag));
      reload();
    } catch (e) {
      msg.fail(explain(e, what));
    }
  }

  // inputs are a row's cells as text boxes, labelled by their column.
  const inputs = (values, prefix) => cols.map((c, i) => el('input', { id: `${prefix}-${i}`, value: values[c] ?? '', 'aria-label': c, spellcheck: false }));
  const valuesOf = (ins) => Object.fromEntries(cols.map((c, i) => [c, ins[i].value]));

  const body = el('tbody');
  function row(item) {
    const values = item.properties.itemsKeyValue;
    const tr = el('tr', { 'data-item': item.name });
    const edit = el('button', { type: 'button', class: 'secondary', 'aria-label': `Edit item ${values[w.properties.itemsSearchKey]}` }, 'Edit');
    const del = el('button', { type: 'button', class: 'secondary', 'aria-label': `Delete item ${values[w.properties.itemsSearchKey]}` }, 'Delete');
    const actions = el('span', { class: 'actions' }, edit, del);
    tr.append(...cols.map((c) => el('td', {}, values[c] ?? '')), el('td', {}, actions));
    edit.addEventListener('click', () => {
      const ins = inputs(values, `item-${item.name}`);
      const save = el('button', { type: 'button', class: 'item-save' }, 'Save');
      const cancel = el('button', { type: 'button', class: 'secondary' }, 'Cancel');
      tr.replaceChildren(...ins.map((i) => el('td', {}, i)), el('td', {}, el('span', { class: 'actions' }, save, cancel)));
      save.addEventListener('click', () => put(item.name, valuesOf(ins), item.etag, 'Saving the item'));
      cancel.addEventListener('click', () => tr.replaceWith(row(item)));
      ins[0].focus();
    });
    del.addEventListener('click', () => confirmDelete(actions, 'Delete this item?', async () => {
      try {
        await call('DELETE', url(ctx, `${base}/${encodeURIComponent(item.name)}`), undefined, undefined, ifMatch(item.etag));
        reload();
      } catch (e) {
        msg.fail(explain(e, 'Deleting the item'));
      }
    }));
    return tr;
  }
  // The first page holds 10,000 items; the watchlist says how many in all.
  const count = Math.max(w.properties.itemsCount ?? 0, items.length);
  const shown = items.slice(0, shownItems);
  body.append(...shown.map(row));

  const added = inputs({}, 'new-item');
  const add = el('button', { type: 'button', id: 'watchlist-add-item' }, 'Add item');
  add.addEventListener('click', () => put(crypto.randomUUID(), valuesOf(added), '', 'Adding the item'));
  body.append(el('tr', { class: 'new-item' }, ...added.map((i) => el('td', {}, i)), el('td', {}, add)));

  box.replaceChildren(el('section', { class: 'section', id: 'watchlist-items' },
    el('h2', {}, `${w.properties.displayName} (${w.name}): ${count} ${count === 1 ? 'item' : 'items'}${count > shown.length ? `, the first ${shown.length} shown` : ''}`),
    ...msg.nodes,
    el('div', { class: 'results' }, el('table', { class: 'grid', id: 'watchlist-items-table' },
      el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col' }, c)), el('th', { scope: 'col' }, ''))), body))));
}
