// Completion for the KQL editor, from what GET /v1/workspaces/{id}/metadata
// says the workspace has: after a | the tabular operators; where a
// statement starts, its tables and saved functions; elsewhere the columns of
// the tables the statement names first, then the functions and aggregations
// (and the tables, in a statement that joins or unions).
// It offers names; the node's parser alone decides what a query means.

// kqlCompletion is a CodeMirror completion source reading the metadata
// metadata() returns when asked (null while there is none).
export function kqlCompletion(metadata) {
  return (context) => {
    const meta = metadata();
    if (!meta) return null;
    const word = context.matchBefore(/[\w-]+/);
    const from = word ? word.from : context.pos;
    const before = context.state.sliceDoc(0, from);
    // A word only, or a space or bracket just typed after something: not a
    // list at every keystroke inside a string or number.
    if (!word && !context.explicit && !/[\s(,]$/.test(before)) return null;
    if (word && /^\d/.test(word.text)) return null;
    const statement = before.slice(before.lastIndexOf(';') + 1);
    const prev = statement.trimEnd();
    let options;
    if (prev.endsWith('|')) {
      options = meta.builtins.operators.map((label) => ({ label, type: 'keyword', boost: common.has(label) ? 1 : 0 }));
    } else if (prev === '' || /^let\s+[\w-]+\s*=$/.test(prev)) {
      options = [...tables(meta), ...savedFunctions(meta)];
    } else {
      // Tables where one may be named inside a statement: join, union, lookup.
      const tabular = /\b(join|union|lookup)\b/.test(statement) ? tables(meta) : [];
      options = [...columnsOf(meta, statement), ...tabular, ...savedFunctions(meta),
        ...meta.builtins.functions.map((label) => ({ label, type: 'function', apply: `${label}(`, boost: -1 })),
        ...meta.builtins.aggregations.map((label) => ({ label, type: 'function', detail: 'aggregation', apply: `${label}(`, boost: -1 }))];
    }
    return { from, options, validFor: /^[\w-]*$/ };
  };
}

// common are the operators most queries use, offered first after a |.
const common = new Set(['where', 'project', 'extend', 'summarize', 'take', 'sort', 'top', 'join', 'count', 'distinct', 'render', 'parse']);

const tables = (meta) => meta.tables.map((t) => ({ label: t.name, type: 'type', detail: 'table' }));

const savedFunctions = (meta) => meta.functions.map((f) => ({ label: f.name, type: 'function', detail: `(${f.parameters})` }));

// columnsOf are the columns of every table statement names, each once,
// first among the options.
function columnsOf(meta, statement) {
  const seen = new Set();
  const out = [];
  for (const t of meta.tables) {
    if (!new RegExp(`(^|[^\\w-])${t.name.replace(/[^\w]/g, '\\$&')}($|[^\\w-])`).test(statement)) continue;
    for (const c of t.columns) {
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      out.push({ label: c.name, type: 'property', detail: c.type, boost: 1 });
    }
  }
  return out;
}
