// Bundles each library the console uses with esbuild into one ES module
// under the console's web directory, and writes beside each a
// NAME.LICENSES.txt with the licence of every package the bundle holds. Run
// by scripts/console-vendor.sh from a directory holding this file, the entry
// files and node_modules (npm ci from package-lock.json); its one argument
// is the console's web directory. It also copies axe-core, the
// accessibility checker the browser tests run in each page, with its
// licence, to ../browsertest/axe beside that directory: for the tests only,
// neither served by the node nor in its binary.
import * as esbuild from 'esbuild';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node build.mjs WEB_DIR');
  process.exit(2);
}

const bundles = [
  { name: 'codemirror', entry: 'entry.js', what: 'CodeMirror 6' },
  { name: 'uplot', entry: 'uplot-entry.js', what: 'uPlot', css: 'node_modules/uplot/dist/uPlot.min.css' },
];

for (const b of bundles) {
  const result = await esbuild.build({
    entryPoints: [b.entry],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    metafile: true,
    write: false,
    banner: { js: `/* ${b.what}, bundled by scripts/console-vendor.sh (internal/console/webdeps); licences: ${b.name}.LICENSES.txt */` },
  });

  // The packages whose code is in the bundle, by the paths of its inputs.
  const packages = new Set();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m) packages.add(m[1]);
  }

  let licences = `The console's ${b.what} bundle, ${b.name}.js${b.css ? ` (and ${b.name}.css)` : ''}, is built by scripts/console-vendor.sh from\n` +
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

  writeFileSync(join(out, `${b.name}.js`), result.outputFiles[0].text);
  writeFileSync(join(out, `${b.name}.LICENSES.txt`), licences);
  if (b.css) copyFileSync(b.css, join(out, `${b.name}.css`));
  console.log(`wrote ${b.name}.js (${result.outputFiles[0].contents.length} bytes) from ${[...packages].sort().join(', ')}`);
}

const axe = join(dirname(out), 'browsertest', 'axe');
const axeMeta = JSON.parse(readFileSync('node_modules/axe-core/package.json', 'utf8'));
copyFileSync('node_modules/axe-core/axe.min.js', join(axe, 'axe.min.js'));
writeFileSync(join(axe, 'LICENSE.txt'), `axe-core ${axeMeta.version} (${axeMeta.license}), copied by scripts/console-vendor.sh for the browser tests only.\n\n` +
  readFileSync('node_modules/axe-core/LICENSE', 'utf8'));
console.log(`copied axe-core ${axeMeta.version} to ${axe}`);
