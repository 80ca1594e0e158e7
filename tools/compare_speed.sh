#!/usr/bin/env bash
# Builds varnorm_bench at a git revision (default HEAD) and from the working tree (Release), then runs
# tools/compare_speed.py on the two: new/base time per benchmark, alternated rounds, fastest of each.
# Usage: bash tools/compare_speed.sh [REV] [compare_speed.py options: --rounds N --filter REGEX --min-time S
#   --cpu N]
set -euo pipefail
source "$(dirname "$0")/revision_tree.sh"
start_in_repository speed
rev=HEAD
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then rev=$1; shift; fi

build_bench() {  # source tree, build folder
  configure_release "$1" "$2" -DVARNORM_BUILD_BENCHMARKS=ON
  cmake --build "$2" -j "$jobs" --target varnorm_bench >/dev/null
}

checkout_revision "$rev"
build_bench "$work/base-src" "$work/base"
build_bench "$root" "$work/current"
python3 "$root/tools/compare_speed.py" "$work/base/bench/varnorm_bench" "$work/current/bench/varnorm_bench" "$@"
