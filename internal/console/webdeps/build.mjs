// Bundles entry.js with esbuild into one ES module, codemirror.js, and
// writes beside it codemirror.LICENSES.txt with the licence of every
// package the bundle holds. Run by scripts/console-vendor.sh from a
// directory holding this file, entry.js and node_modules (npm ci from
// package-lock.json); its one argument is the console's web directory.
import * as esbuild from 'esbuild';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs WEB_DIR');
  process.exit(2);
}

const result = await esbuild.build({
  entryPoints: ['entry.js'],
  bundle: true,
  format: 'esm',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  metafile: true,
  write: false,
  banner: { js: '/* CodeMirror 6, bundled by scripts/console-vendor.sh (internal/console/webdeps); licences: codemirror.LICENSES.txt */' },
});

// The packages whose code is in the bundle, by the paths of its inputs.
const packages = new Set();
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
  if (m) packages.add(m[1]);
}

let licences = 'The console\'s editor bundle, codemirror.js, is built by scripts/console-vendor.sh from\n' +
  'internal/console/webdeps (package-lock.json) and holds code of these packages, under these licences.\n';
for (const name of [...packages].sort()) {
  const dir = join('node_modules', name);
  const meta = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license'].map((f) => join(dir, f)).find((f) => existsSync(f));
  if (!file) {
    console.error(`${name} ships no licence file: bundle nothing without its licence`);
    process.exit(1);
  }
  licences += `\n== ${name} ${meta.version} (${meta.license}) ==\n\n${readFileSync(file, 'utf8').trim()}\n`;
}

writeFileSync(join(out, 'codemirror.js'), result.outputFiles[0].text);
writeFileSync(join(out, 'codemirror.LICENSES.txt'), licences);
console.log(`wrote ${join(out, 'codemirror.js')} (${result.outputFiles[0].contents.length} bytes) from ${[...packages].sort().join(', ')}`);
