// The console's KQL editor, shared by the Logs page and the rule form:
// CodeMirror 6 with KQL highlighted, undo and line numbers, in a shadow root.
import {
  EditorState, EditorView, autocompletion, bracketMatching, defaultKeymap, drawSelection, highlightActiveLine,
  history, historyKeymap, keymap, lineNumbers, syntaxHighlighting,
} from './codemirror.js';
import { kql, kqlHighlight } from './kql.js';
import { el } from './dom.js';

// kqlEditor makes an editor in a new element of id holding doc, named
// label for assistive technology; keys are bindings before the defaults,
// onChange (optional) is called when the text changes, and completion
// (optional) is a completion source offered as one types. It returns the
// element to place and the editor.
export function kqlEditor(id, { doc = '', label, keys = [], onChange, completion }) {
  // The editor lives in a shadow root: there CodeMirror adopts its styles as
  // a constructed style sheet, where in the document it would add a <style>
  // element, which the page's policy (style-src 'self') refuses.
  const box = el('div', { class: 'editor', id });
  const root = box.attachShadow({ mode: 'open' });
  root.append(el('link', { rel: 'stylesheet', href: '/console/assets/editor.css' }));
  const view = new EditorView({
    root,
    parent: root,
    state: EditorState.create({
      doc,
      extensions: [
        lineNumbers(), history(), drawSelection(), highlightActiveLine(), bracketMatching(),
        kql, syntaxHighlighting(kqlHighlight), EditorView.lineWrapping,
        // Tab is left to move the focus on, as everywhere in the page.
        keymap.of([...keys, ...defaultKeymap, ...historyKeymap]),
        // A label outside the shadow root cannot name what is inside it.
        EditorView.contentAttributes.of({ 'aria-label': label, spellcheck: 'false' }),
        EditorView.updateListener.of((u) => { if (u.docChanged && onChange) onChange(); }),
        // The list shows 12 options at a time, moved by the arrow keys, and
        // no scroll bar (editor.css): a region that scrolls must be reachable
        // by Tab, and Tab would leave the editor and close the list.
        ...(completion ? [autocompletion({ override: [completion], icons: false, maxRenderedOptions: 12 })] : []),
      ],
    }),
  });
  return { box, view };
}

// placeCaret puts the editor's caret at 1-based line and column, within
// the text.
export function placeCaret(view, line, column) {
  const doc = view.state.doc;
  const l = doc.line(Math.min(Math.max(line, 1), doc.lines));
  const pos = Math.min(l.from + Math.max(column - 1, 0), l.to);
  view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
  view.focus();
}
