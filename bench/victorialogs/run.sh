#!/bin/sh
# Side-by-side benchmark of Sealwatch and VictoriaLogs (issue 14): installs
# VictoriaLogs v1.52.1 into a cache directory (once), builds Sealwatch and the
# benchmark from this checkout, and runs them. Arguments go to the benchmark:
#
#   bench/victorialogs/run.sh                     # 1,000,000 events
#   bench/victorialogs/run.sh -rows 100000        # a quick run
#   bench/victorialogs/run.sh -profile /tmp/prof  # and a CPU profile of each Sealwatch query
#
# It prints a markdown table on standard output and its progress on standard
# error. Both servers listen on 127.0.0.1 only, in a temporary directory
# removed at the end. Not part of `go test`. Linux only (it reads /proc).
set -eu

vl_version=v1.52.1
repo=$(cd "$(dirname "$0")/../.." && pwd)
cache=${SEALWATCH_BENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sealwatch-bench}
vl_dir=$cache/victorialogs-$vl_version
vl=$vl_dir/victoria-logs

if [ ! -x "$vl" ]; then
	echo "installing VictoriaLogs $vl_version into $vl_dir" >&2
	mkdir -p "$vl_dir"
	GOBIN=$vl_dir go install "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@$vl_version" || {
		echo "run.sh: could not install VictoriaLogs $vl_version with go install; check that Go can fetch modules" >&2
		exit 1
	}
fi

bin=$(mktemp -d "${TMPDIR:-/tmp}/vlbench-bin.XXXXXX")
trap 'rm -rf "$bin"' EXIT
trap 'exit 130' INT TERM
(cd "$repo" && go build -o "$bin/sealwatch" ./cmd/sealwatch && go build -o "$bin/vlbench" ./bench/victorialogs)

version=$(cd "$repo" && git describe --always --dirty 2>/dev/null || echo unknown)
"$bin/vlbench" -sealwatch "$bin/sealwatch" -victorialogs "$vl" -sealwatch-version "$version" -victorialogs-version "$vl_version" "$@"
