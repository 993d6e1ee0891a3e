// What the console takes from CodeMirror 6: the editor, its commands and
// the language support its KQL mode (../web/kql.js) is built on. build.mjs
// bundles this into ../web/codemirror.js.
export { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection, placeholder } from '@codemirror/view';
export { EditorState } from '@codemirror/state';
export { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
export { StreamLanguage, HighlightStyle, syntaxHighlighting, bracketMatching } from '@codemirror/language';
export { tags } from '@lezer/highlight';
export { autocompletion, completionKeymap, startCompletion, currentCompletions } from '@codemirror/autocomplete';
