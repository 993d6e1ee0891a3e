// What the console takes from CodeMirror 6: the editor, its commands and
// the language support its KQL mode (../web/kql.js) is built on, and the
// completion the Logs page feeds from the workspace's metadata. build.mjs
// bundles this into ../web/codemirror.js.
export { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection, placeholder } from '@codemirror/view';
export { EditorState } from '@codemirror/state';
export { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
export { StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching } from '@codemirror/language';
export { tags } from '@lezer/highlight';
export { autocompletion } from '@codemirror/autocomplete';
