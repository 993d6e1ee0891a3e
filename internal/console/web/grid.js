// The results grid of the Logs page: a table that puts into the page only
// the rows in view (and a few around them), so that a result of many
// thousand rows is drawn at once and scrolls without freezing. A click on a
// column's header sorts by it; the edge of a header drags, or takes arrow
// keys, to set the column's width; the arrow keys move a cell cursor, whose
// value (a dynamic one as indented JSON) is shown under the grid with
// buttons to copy it or its row.
import { el } from './dom.js';

// overscan is how many rows beyond those in view are in the page, on each
// side, so that a scroll of a few rows draws nothing new at once.
const overscan = 10;
const minWidth = 48;
const defaultWidth = 180;

// grid builds the grid of table ({columns, rows}) with id, named label.
export function grid(table, id, label) {
  const cols = table.columns;
  let rows = table.rows;
  let sortedBy = -1;
  let descending = false;
  let rowHeight = 0; // measured from the first row drawn
  let active = { row: 0, col: 0 };
  const widths = cols.map(() => defaultWidth);

  const colgroup = el('colgroup', {}, ...cols.map(() => el('col')));
  const headers = cols.map((c, i) => headerCell(c, i));
  const body = el('tbody');
  const tableEl = el('table', {
    class: 'grid vgrid', id, role: 'grid', tabindex: '0', 'aria-rowcount': String(rows.length + 1), 'aria-colcount': String(cols.length),
    'aria-label': `${label}: arrow keys move between cells, Ctrl+Home and Ctrl+End to the first and last, Ctrl+C copies the cell`,
  }, colgroup, el('thead', {}, el('tr', { 'aria-rowindex': '1' }, ...headers)), body);
  const scroller = el('div', { class: 'grid-scroll' }, tableEl);
  const detail = el('pre', { class: 'cell-detail', id: `${id}-cell` });
  const copyCell = el('button', { type: 'button', class: 'secondary', id: `${id}-copy-cell` }, 'Copy cell');
  const copyRow = el('button', { type: 'button', class: 'secondary', id: `${id}-copy-row` }, 'Copy row');
  const detailBar = el('div', { class: 'cell-bar', hidden: true },
    el('span', { class: 'cell-where', id: `${id}-cell-where`, role: 'status' }), copyCell, copyRow);
  const box = el('div', { class: 'grid-box' }, scroller, detailBar, detail);
  detail.hidden = true;
  setWidths();

  function headerCell(c, i) {
    const sort = el('button', { type: 'button', class: 'sort' }, c.name);
    sort.addEventListener('click', () => sortBy(i));
    const handle = el('span', {
      class: 'resize', role: 'separator', tabindex: '0', 'aria-orientation': 'vertical',
      'aria-label': `Width of ${c.name}`, 'aria-valuemin': String(minWidth), 'aria-valuemax': '2000', 'aria-valuenow': String(defaultWidth),
    });
    handle.addEventListener('pointerdown', (e) => startResize(e, i, handle));
    handle.addEventListener('keydown', (e) => {
      const step = e.shiftKey ? 50 : 10;
      if (e.key === 'ArrowLeft') resize(i, widths[i] - step);
      else if (e.key === 'ArrowRight') resize(i, widths[i] + step);
      else return;
      e.preventDefault();
    });
    return el('th', { scope: 'col', title: c.type }, sort, handle);
  }

  function setWidths() {
    [...colgroup.children].forEach((col, i) => { col.style.width = `${widths[i]}px`; });
    tableEl.style.width = `${widths.reduce((a, b) => a + b, 0)}px`;
  }

  function resize(i, w) {
    widths[i] = Math.max(minWidth, Math.min(2000, Math.round(w)));
    headers[i].querySelector('.resize').setAttribute('aria-valuenow', String(widths[i]));
    setWidths();
  }

  function startResize(e, i, handle) {
    e.preventDefault();
    const x0 = e.clientX;
    const w0 = widths[i];
    handle.setPointerCapture(e.pointerId);
    const move = (m) => resize(i, w0 + m.clientX - x0);
    const up = () => {
      handle.removeEventListener('pointermove', move);
      handle.removeEventListener('pointerup', up);
    };
    handle.addEventListener('pointermove', move);
    handle.addEventListener('pointerup', up);
  }

  // draw puts into the body the rows in view, between two spacers that
  // stand for the rows above and below.
  function draw() {
    const n = rows.length;
    const h = rowHeight || 28;
    const inView = Math.ceil((scroller.clientHeight || 480) / h);
    const first = Math.max(0, Math.floor(scroller.scrollTop / h) - overscan);
    const last = Math.min(n, first + inView + 2 * overscan);
    const drawn = [];
    for (let r = first; r < last; r++) drawn.push(rowEl(r));
    body.replaceChildren(spacer(first * h), ...drawn, spacer((n - last) * h));
    // A row's height is known once the grid is in the page.
    const measured = !rowHeight && drawn.length > 0 ? drawn[0].getBoundingClientRect().height : 0;
    if (measured) {
      rowHeight = measured;
      if (measured !== h) draw();
    }
  }

  function spacer(height) {
    const td = el('td', { colSpan: Math.max(cols.length, 1) });
    td.style.height = `${height}px`;
    return el('tr', { class: 'spacer', 'aria-hidden': 'true' }, td);
  }

  function rowEl(r) {
    const tr = el('tr', { 'aria-rowindex': String(r + 2) }, ...rows[r].map((v, c) => {
      const td = cell(v);
      td.dataset.col = String(c);
      if (r === active.row && c === active.col) {
        td.classList.add('active');
        td.id = `${id}-active`;
      }
      return td;
    }));
    tr.dataset.row = String(r);
    return tr;
  }

  function sortBy(i) {
    descending = sortedBy === i ? !descending : false;
    sortedBy = i;
    const sign = descending ? -1 : 1;
    rows = [...table.rows].sort((a, b) => sign * compare(a[i], b[i]));
    headers.forEach((th, j) => {
      if (j === i) th.setAttribute('aria-sort', descending ? 'descending' : 'ascending');
      else th.removeAttribute('aria-sort');
    });
    draw();
  }

  // moveTo puts the cell cursor on row r, column c, scrolls it into view
  // and shows its value.
  function moveTo(r, c) {
    if (rows.length === 0) return;
    active = { row: Math.max(0, Math.min(rows.length - 1, r)), col: Math.max(0, Math.min(cols.length - 1, c)) };
    const h = rowHeight || 28;
    const top = active.row * h;
    const header = tableEl.tHead.getBoundingClientRect().height;
    if (top < scroller.scrollTop) scroller.scrollTop = top;
    else if (top + h + header > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = top + h + header - scroller.clientHeight;
    draw();
    tableEl.setAttribute('aria-activedescendant', `${id}-active`);
    show();
  }

  function show() {
    const v = rows[active.row][active.col];
    detailBar.hidden = false;
    detail.hidden = false;
    detailBar.firstChild.textContent = `Row ${active.row + 1}, ${cols[active.col].name}`;
    detail.textContent = v !== null && typeof v === 'object' ? JSON.stringify(v, null, 2) : text(v);
  }

  // copy puts s on the clipboard, and says so, or why not.
  async function copy(s, what) {
    const where = detailBar.firstChild;
    try {
      await navigator.clipboard.writeText(s);
      where.textContent = `Copied the ${what}.`;
    } catch (e) {
      where.textContent = `The browser did not let the ${what} be copied: ${e.message}`;
    }
  }
  const copyActiveCell = () => copy(text(rows[active.row][active.col]), 'cell');
  copyCell.addEventListener('click', copyActiveCell);
  // A row is copied as its cells separated by tabs, as a spreadsheet pastes it.
  copyRow.addEventListener('click', () => copy(rows[active.row].map(text).join('\t'), 'row'));

  // A scroll redraws once a frame, however many scroll events it fires.
  let drawing = false;
  scroller.addEventListener('scroll', () => {
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      draw();
    });
  });
  body.addEventListener('click', (e) => {
    const td = e.target.closest('td[data-col]');
    if (!td) return;
    moveTo(Number(td.parentElement.dataset.row), Number(td.dataset.col));
  });
  tableEl.addEventListener('keydown', (e) => {
    if (e.target !== tableEl) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / (rowHeight || 28)) - 1);
    const { row, col } = active;
    const moves = {
      ArrowDown: [row + 1, col], ArrowUp: [row - 1, col], ArrowRight: [row, col + 1], ArrowLeft: [row, col - 1],
      PageDown: [row + page, col], PageUp: [row - page, col],
      Home: e.ctrlKey ? [0, 0] : [row, 0], End: e.ctrlKey ? [rows.length - 1, cols.length - 1] : [row, cols.length - 1],
    };
    if (moves[e.key]) {
      e.preventDefault();
      moveTo(...moves[e.key]);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      moveTo(row, col);
    } else if (e.key === 'c' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      copyActiveCell();
    }
  });

  // The rows are drawn at once, and again once the grid is in the page
  // and has its height.
  draw();
  requestAnimationFrame(draw);
  return box;
}

function text(v) {
  if (v === null || v === undefined) return '';
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

// compare orders two cells of one column: nulls first, then numbers by
// value, the rest by their text (ISO times sort as text).
function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  const x = typeof a === 'object' ? JSON.stringify(a) : String(a);
  const y = typeof b === 'object' ? JSON.stringify(b) : String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function cell(v) {
  if (v === null || v === undefined) return el('td', { class: 'null' });
  if (typeof v !== 'object') return el('td', {}, String(v));
  return el('td', { class: 'dynamic' }, JSON.stringify(v));
}
