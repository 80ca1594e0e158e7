#!/usr/bin/env bash
# Builds varnorm_bench at a git revision (default HEAD) and from the working tree (Release), then runs
# tools/compare_speed.py on the two: new/base time per benchmark, alternated rounds, fastest of each.
# Usage: bash tools/compare_speed.sh [REV] [compare_speed.py options: --rounds N --filter REGEX --min-time S
#   --cpu N]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev=HEAD
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then rev=$1; shift; fi
jobs=${VARNORM_JOBS:-$(nproc)}
work="$root/build/speed"
mkdir -p "$work"

build_bench() {  # source tree, build folder
  cmake -S "$1" -B "$2" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_BENCHMARKS=ON \
    -DVARNORM_BUILD_TESTS=OFF -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF >"$2.configure.log" 2>&1 ||
    { cat "$2.configure.log"; return 1; }
  cmake --build "$2" -j "$jobs" --target varnorm_bench >/dev/null
}

rm -rf "$work/base-src"
git worktree prune
git worktree add --detach "$work/base-src" "$rev" >/dev/null 2>&1
trap 'git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true' EXIT
build_bench "$work/base-src" "$work/base"
build_bench "$root" "$work/current"
python3 "$root/tools/compare_speed.py" "$work/base/bench/varnorm_bench" "$work/current/bench/varnorm_bench" "$@"
