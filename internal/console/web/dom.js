// Building the page's elements: the console sets no HTML from text, so
// that nothing a node answers (log rows, incident titles, comments) can
// ever run as markup.

// el makes a tag with props (class, properties such as htmlFor or
// disabled, else attributes such as aria-label) and children (elements or
// text).
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k in e) e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}
