// KQL for the console's editor: a stream tokenizer that tells keywords,
// functions, strings, numbers and timespans, comments, and operators apart,
// and the classes that console.css colours them with. It highlights; the
// node's parser alone decides what a query means.
import { HighlightStyle, StreamLanguage, tags } from './codemirror.js';

// keywords are the tabular operators and the words used inside them.
const keywords = new Set([
  'as', 'by', 'consume', 'count', 'datatable', 'distinct', 'evaluate', 'extend', 'externaldata',
  'facet', 'find', 'fork', 'getschema', 'invoke', 'join', 'kind', 'let', 'limit', 'lookup',
  'make-series', 'materialize', 'mv-apply', 'mv-expand', 'on', 'order', 'parse', 'parse-where',
  'partition', 'print', 'project', 'project-away', 'project-keep', 'project-rename',
  'project-reorder', 'range', 'reduce', 'render', 'sample', 'sample-distinct', 'scan', 'search',
  'serialize', 'set', 'sort', 'step', 'summarize', 'take', 'top', 'top-hitters', 'top-nested',
  'union', 'where', 'with', 'from', 'to', 'in', 'has', 'has_any', 'has_all', 'has_cs', 'hasprefix',
  'hassuffix', 'contains', 'contains_cs', 'startswith', 'startswith_cs', 'endswith',
  'endswith_cs', 'matches', 'regex', 'between', 'and', 'or', 'not', 'asc', 'desc', 'nulls',
  'first', 'last', 'inner', 'innerunique', 'leftouter', 'rightouter', 'fullouter', 'leftanti',
  'rightanti', 'leftsemi', 'rightsemi', 'anti', 'semi',
]);
const atoms = new Set(['true', 'false', 'null', 'dynamic', 'datetime', 'timespan', 'bool', 'int',
  'long', 'real', 'string', 'guid', 'decimal']);

const timespanUnits = /^(?:d|h|m|s|ms|microsecond|microseconds|tick|ticks|day|days|hour|hours|minute|minutes|second|seconds|millisecond|milliseconds)\b/;

function readString(stream, quote) {
  let escaped = false;
  let ch;
  while ((ch = stream.next()) != null) {
    if (ch === quote && !escaped) return;
    escaped = !escaped && ch === '\\';
  }
}

const kqlParser = {
  name: 'kql',
  token(stream) {
    if (stream.eatSpace()) return null;
    if (stream.match('//')) {
      stream.skipToEnd();
      return 'lineComment';
    }
    const ch = stream.peek();
    if (ch === '"' || ch === "'") {
      stream.next();
      readString(stream, ch);
      return 'string';
    }
    if ((ch === '@' || ch === 'h' || ch === 'H') && /['"]/.test(stream.string.charAt(stream.pos + 1))) {
      stream.next();
      const quote = stream.next();
      // A verbatim (@) or obfuscated (h) string: no escapes in @'...'.
      if (ch === '@') stream.skipTo(quote) ? stream.next() : stream.skipToEnd();
      else readString(stream, quote);
      return 'string';
    }
    if (stream.match(/^\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/)) {
      stream.match(timespanUnits);
      return 'number';
    }
    if (stream.match(/^[A-Za-z_][\w]*/)) {
      let word = stream.current();
      // Operators such as mv-expand are words joined by hyphens.
      const hyphenated = /^(?:-[A-Za-z_]\w*)+/.exec(stream.string.slice(stream.pos));
      if (hyphenated && keywords.has((word + hyphenated[0]).toLowerCase())) {
        stream.pos += hyphenated[0].length;
        word += hyphenated[0];
      }
      const lower = word.toLowerCase();
      if (stream.string.charAt(stream.pos) === '(' && !keywords.has(lower)) return 'variableName.function';
      if (keywords.has(lower)) return 'keyword';
      if (atoms.has(lower)) return 'atom';
      return 'variableName';
    }
    if (stream.match(/^(?:\||==|!=|<=|>=|=~|!~|[=<>+\-*/%!])/)) return 'operator';
    stream.next();
    return null;
  },
};

export const kql = StreamLanguage.define(kqlParser);

// kqlHighlight gives each kind of token a class; console.css colours them,
// so that the policy's style-src 'self' holds for the highlighting too.
export const kqlHighlight = HighlightStyle.define([
  { tag: tags.keyword, class: 'kql-keyword' },
  { tag: tags.function(tags.variableName), class: 'kql-function' },
  { tag: tags.string, class: 'kql-string' },
  { tag: tags.number, class: 'kql-number' },
  { tag: tags.lineComment, class: 'kql-comment' },
  { tag: tags.operator, class: 'kql-operator' },
  { tag: tags.atom, class: 'kql-atom' },
]);
