#!/usr/bin/env bash
# Rebuilds the web console's vendored editor, internal/console/web/codemirror.js,
# and its licences, codemirror.LICENSES.txt, from the exact packages that
# internal/console/webdeps/package-lock.json names: npm ci into a cache, then
# esbuild (a pinned dev dependency) bundles internal/console/webdeps/entry.js.
#
# Only whoever changes the editor's packages runs this, and commits both
# files: the node serves what is committed, and neither building nor running
# it needs Node.js. To move to newer packages: edit package.json there, run
# `npm install --package-lock-only` in that directory, then this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

readonly src=internal/console/webdeps
readonly web="$PWD/internal/console/web"
work="${XDG_CACHE_HOME:-$HOME/.cache}/sealwatch-console-vendor"

command -v npm >/dev/null || { echo "console-vendor.sh: needs Node.js and npm (apt-get install nodejs npm)" >&2; exit 1; }
mkdir -p "$work"
cp "$src/package.json" "$src/package-lock.json" "$src/.npmrc" "$src/entry.js" "$src/build.mjs" "$work/"
(cd "$work" && npm ci --no-audit --no-fund --loglevel=error && node build.mjs "$web")
