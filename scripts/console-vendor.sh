#!/usr/bin/env bash
# Rebuilds the web console's vendored libraries under internal/console/web
# (codemirror.js: the editor and its completion; uplot.js and uplot.css: the
# charts) and each one's licences (NAME.LICENSES.txt), from the exact
# packages that internal/console/webdeps/package-lock.json names: npm ci into
# a cache, then esbuild (a pinned dev dependency) bundles the entry files
# there. It also copies axe-core (a pinned dev dependency), the browser
# tests' accessibility checker, to internal/console/browsertest/axe: test-only,
# never served nor embedded.
#
# Only whoever changes those packages runs this, and commits what it writes:
# the node serves what is committed, and neither building nor running it
# needs Node.js. To move to newer packages: edit package.json there, run
# `npm install --package-lock-only` in that directory, then this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly src=internal/console/webdeps
readonly web="$PWD/internal/console/web"
work="${XDG_CACHE_HOME:-$HOME/.cache}/sealwatch-console-vendor"

command -v npm >/dev/null || { echo "console-vendor.sh: needs Node.js and npm (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$src"/*.js "$src/build.mjs" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error && node build.mjs "$web")
