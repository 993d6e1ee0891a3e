#!/usr/bin/env bash
# The one test command: installs what the tests need that Go does not fetch
# itself, then runs go vet and go test over the whole module.
#
#   scripts/test.sh              go vet ./... and go test -timeout 30m ./...
#   scripts/test.sh ARGS...      go test ARGS... alone, such as -run JS ./internal/node
#
# What it installs, once:
#   - Node.js and npm, from the machine's Debian packages, if there is no node;
#   - the official JavaScript SDKs that the tests drive, with `npm ci` from the
#     package.json and package-lock.json of docs/examples/sdk/js, into
#     ${XDG_CACHE_HOME:-~/.cache}/sealwatch-test, again only when that lock
#     file changes;
#   - Chromium, from the machine's Debian packages (chromium), if there is no
#     /usr/bin/chromium: the web console's browser tests drive it headless;
#   - the zstd tool (Debian's zstd), if there is none: a test sends the node
#     what the tool's pipe writes, as a user's `cat rows.json | zstd` would;
#   - SoftHSM2 (Debian's softhsm2), if its PKCS#11 module is missing: the
#     PKCS#11 key driver's tests keep their keys on SoftHSM2 tokens;
#   - Local KMS (github.com/nsmithuk/local-kms, MIT), built from its module
#     source into the cache: the AWS KMS driver's tests start it;
#   - PostgreSQL (Debian's postgresql), if there is no initdb under
#     /usr/lib/postgresql/*/bin: the PostgreSQL storage's tests start a
#     server of their own from there, in a temporary directory (the cluster
#     the package makes and starts on 5432 is stopped and set to manual);
#   - SeaweedFS (github.com/seaweedfs/seaweedfs, Apache-2.0), built from its
#     module source into the cache: the object store's tests start its S3
#     endpoint.
# The tests find those packages through SEALWATCH_TEST_NODE_MODULES, the
# browser through SEALWATCH_TEST_CHROMIUM, SoftHSM2's module through
# SEALWATCH_TEST_SOFTHSM2_MODULE, Local KMS through SEALWATCH_TEST_LOCAL_KMS,
# PostgreSQL's binaries through SEALWATCH_TEST_POSTGRES_BIN, and SeaweedFS
# through SEALWATCH_TEST_SEAWEEDFS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Node 20 is the oldest the SDKs support (their "engines").
readonly min_node_major=20
readonly js_project=docs/examples/sdk/js
cache="${XDG_CACHE_HOME:-$HOME/.cache}/sealwatch-test"

say() { printf 'test.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null; then
		sudo "$@"
	else
		die "installing what the tests need takes root or sudo: run \`$*\` as root, then this script again"
	fi
}

install_node() {
	if command -v node >/dev/null && command -v npm >/dev/null; then
		return
	fi
	command -v apt-get >/dev/null || die "no node or npm, and no apt-get to install them: install Node.js ${min_node_major} or newer with npm, then run this script again"
	say "installing Node.js and npm from the machine's Debian packages"
	apt_install nodejs npm
}

# apt_install installs Debian packages, reading the package lists first.
apt_install() {
	as_root apt-get update -qq
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

readonly chromium=/usr/bin/chromium

install_chromium() {
	if [ -x "$chromium" ]; then
		return
	fi
	command -v apt-get >/dev/null || die "no $chromium, and no apt-get to install it: install Debian's chromium package (or set SEALWATCH_TEST_CHROMIUM to a Chromium), then run this script again"
	say "installing Chromium from the machine's Debian packages, for the console's browser tests"
	apt_install chromium
}

install_zstd() {
	if command -v zstd >/dev/null; then
		return
	fi
	command -v apt-get >/dev/null || die "no zstd tool, and no apt-get to install it: install zstd, then run this script again"
	say "installing the zstd tool from the machine's Debian packages"
	apt_install zstd
}

readonly softhsm2_module=/usr/lib/softhsm/libsofthsm2.so

install_softhsm2() {
	if [ -f "$softhsm2_module" ]; then
		return
	fi
	command -v apt-get >/dev/null || die "no $softhsm2_module, and no apt-get to install it: install Debian's softhsm2 package (or set SEALWATCH_TEST_SOFTHSM2_MODULE to a SoftHSM2 module), then run this script again"
	say "installing SoftHSM2 from the machine's Debian packages, for the PKCS#11 key driver's tests"
	apt_install softhsm2
}

readonly local_kms_version=v0.0.0-20260228092603-2a5e92d09ab6

# install_local_kms builds Local KMS from its module source, once per
# version. Its server listens on every interface; the build makes it listen
# on loopback only, as every server the tests start does.
install_local_kms() {
	local bin="$cache/local-kms/local-kms-$local_kms_version" src work
	if [ -x "$bin" ]; then
		printf '%s' "$bin"
		return
	fi
	say "building Local KMS $local_kms_version into $bin"
	work="$(mktemp -d)"
	# The function runs in a command substitution's subshell: its exit,
	# failed or not, leaves no temporary directory or half-built binary
	# (the paths are expanded now: the locals are gone by then).
	# shellcheck disable=SC2064
	trap "rm -rf $(printf '%q %q' "$work" "$bin.tmp")" EXIT
	# Outside any module, so that the download touches no go.mod.
	src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/nsmithuk/local-kms@$local_kms_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -d "$src" ] || die "could not download the Local KMS module source"
	cp -r "$src/." "$work/"
	chmod -R u+w "$work"
	grep -q 'addr := ":"+port' "$work/src/server.go" || die "Local KMS $local_kms_version: src/server.go no longer has the listen address this script makes loopback-only"
	sed -i 's/addr := ":"+port/addr := "127.0.0.1:"+port/' "$work/src/server.go"
	grep -q 'addr := "127.0.0.1:"+port' "$work/src/server.go" || die "Local KMS $local_kms_version: the loopback-only patch did not apply"
	mkdir -p "$(dirname "$bin")"
	(cd "$work" && go build -o "$bin.tmp" . >&2)
	mv "$bin.tmp" "$bin"
	printf '%s' "$bin"
}

# stop_installed_clusters stops the cluster Debian's postgresql made and
# started on port 5432 as it installed, and keeps it from starting at boot
# (start.conf: manual): the tests run servers of their own, and nobody asked
# for this one. Called only just after this script installed PostgreSQL where
# there was none, so no cluster of an existing install is touched; a cluster
# already down (a container's policy-rc.d kept it from starting) is only set
# to manual.
stop_installed_clusters() {
	local ver name status
	command -v pg_lsclusters >/dev/null || return 0
	while read -r ver name _ status _; do
		if [ "$status" = online ]; then
			as_root pg_ctlcluster "$ver" "$name" stop
		fi
		if [ -f "/etc/postgresql/$ver/$name/start.conf" ]; then
			echo manual | as_root tee "/etc/postgresql/$ver/$name/start.conf" >/dev/null
		fi
	done < <(pg_lsclusters -h)
}

# postgres_bin prints the directory of the newest PostgreSQL server binaries
# Debian installed, installing its postgresql if there are none:
# internal/pgtest starts its server from there.
postgres_bin() {
	local initdb
	if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
		command -v apt-get >/dev/null || die "no PostgreSQL under /usr/lib/postgresql, and no apt-get to install it: install Debian's postgresql package (or set SEALWATCH_TEST_POSTGRES_BIN to the directory of initdb and postgres), then run this script again"
		say "installing PostgreSQL from the machine's Debian packages, for the PostgreSQL storage's tests"
		apt_install postgresql >&2
		stop_installed_clusters
	fi
	initdb="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
	[ -x "$initdb" ] || die "Debian's postgresql installed no initdb under /usr/lib/postgresql"
	printf '%s' "${initdb%/initdb}"
}

readonly seaweedfs_version=v0.0.0-20261109003541-7506e5f91cd6

# install_seaweedfs builds SeaweedFS's weed command from its module source,
# once per version. `go install` refuses the module (its go.mod has replace
# directives), so it is built from a copy of the module directory, where
# those directives apply. The build takes minutes; its output is shown only
# when it fails.
install_seaweedfs() {
	local bin="$cache/seaweedfs/weed-$seaweedfs_version" src work tmp
	if [ -x "$bin" ]; then
		printf '%s' "$bin"
		return
	fi
	say "building SeaweedFS $seaweedfs_version into $bin (a few minutes, once)"
	mkdir -p "$(dirname "$bin")"
	work="$(mktemp -d)"
	# A name of its own beside the binary, renamed into place: two runs at
	# once each build whole, and neither sees the other's half.
	tmp="$(mktemp "$bin.XXXXXX")"
	# As in install_local_kms: the subshell's exit removes the temporary files.
	# shellcheck disable=SC2064
	trap "rm -rf $(printf '%q %q' "$work" "$tmp")" EXIT
	src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/seaweedfs/seaweedfs@$seaweedfs_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
	[ -d "$src" ] || die "could not download the SeaweedFS module source"
	mkdir "$work/src"
	cp -r "$src/." "$work/src/"
	chmod -R u+w "$work/src"
	if ! (cd "$work/src" && go build -trimpath -ldflags='-s -w' -o "$tmp" ./weed >"$work/build.log" 2>&1); then
		cat "$work/build.log" >&2
		die "building SeaweedFS failed (its output is above)"
	fi
	chmod 755 "$tmp"
	mv "$tmp" "$bin"
	printf '%s' "$bin"
}

check_node() {
	local version major
	version="$(node --version)"
	major="${version#v}"
	major="${major%%.*}"
	if [ "$major" -lt "$min_node_major" ]; then
		die "node ${version} is older than the ${min_node_major} the JavaScript SDKs need: install Node.js ${min_node_major} or newer (put it first on PATH), then run this script again"
	fi
}

# install_sdks runs npm ci in the cache from the committed lock file, unless
# the cache already holds exactly what that lock file names.
install_sdks() {
	local dir="$cache/js" stamp want
	want="$(cat "$js_project/package.json" "$js_project/package-lock.json" "$js_project/.npmrc" | sha256sum | cut -d' ' -f1)"
	stamp="$dir/installed.sha256"
	if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		return
	fi
	say "installing the JavaScript SDKs into $dir with npm ci"
	mkdir -p "$dir"
	rm -f "$stamp"
	cp "$js_project/package.json" "$js_project/package-lock.json" "$js_project/.npmrc" "$dir/"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
	printf '%s\n' "$want" >"$stamp"
}

install_node
check_node
install_zstd
install_sdks
export SEALWATCH_TEST_NODE_MODULES="$cache/js/node_modules"
SEALWATCH_TEST_LOCAL_KMS="$(install_local_kms)"
export SEALWATCH_TEST_LOCAL_KMS
SEALWATCH_TEST_SEAWEEDFS="$(install_seaweedfs)"
export SEALWATCH_TEST_SEAWEEDFS
if [ -z "${SEALWATCH_TEST_CHROMIUM:-}" ]; then
	install_chromium
	export SEALWATCH_TEST_CHROMIUM="$chromium"
fi

if [ -z "${SEALWATCH_TEST_SOFTHSM2_MODULE:-}" ]; then
	install_softhsm2
	export SEALWATCH_TEST_SOFTHSM2_MODULE="$softhsm2_module"
fi

if [ -z "${SEALWATCH_TEST_POSTGRES_BIN:-}" ]; then
	SEALWATCH_TEST_POSTGRES_BIN="$(postgres_bin)"
	export SEALWATCH_TEST_POSTGRES_BIN
fi

if [ "$#" -gt 0 ]; then
	exec go test "$@"
fi
go vet ./...
# The node's package runs whole nodes, some on PostgreSQL and SeaweedFS: on a
# busy two-core machine it can pass go test's default ten minutes.
go test -timeout 30m ./...
