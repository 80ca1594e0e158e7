#!/usr/bin/env bash
# Counts the instructions one call takes, at a git revision (default HEAD) and in the working tree, with callgrind
# (avx2 kernel set, one thread; valgrind does not run AVX-512): forward and backward of NCHW and NHWC on the
# shapes where a call's fixed costs are a visible share (many planes or channel groups of a few KiB). Counts are
# exact, so a change of a few instructions per plane shows on a machine whose timings move by 10%; they say
# nothing of cache misses or latency, which the benchmark suite measures.
# Usage: bash tools/count_instructions.sh [REV]
set -euo pipefail
source "$(dirname "$0")/revision_tree.sh"
start_in_repository instructions
rev=${1:-HEAD}
shapes="1x16x64x64 8x64x64x64 1x128x64x64 8x128x32x32 8x256x16x16 8x32x128x128 1x256x8x8 1x256x4x4"
calls=3

per_call() {  # driver, then its arguments but CALLS: instructions per call
  local out="$work/callgrind.out"
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" "$@" "$calls" >/dev/null 2>&1
  awk -v calls="$calls" '/^summary:/ { printf "%.0f", $2 / calls }' "$out"
}

checkout_revision "$rev"
build_tool "$work/base-src" "$work/base" instruction_count
build_tool "$root" "$work/current" instruction_count
echo "| call | $rev | working tree | new/base |"
echo "|---|---|---|---|"
for shape in $shapes; do
  read -r n c h w <<<"${shape//x/ }"
  for layout in nchw nhwc; do
    for direction in forward backward; do
      base=$(per_call "$work/base/instruction_count" "$n" "$c" "$h" "$w" $layout $direction 0)
      new=$(per_call "$work/current/instruction_count" "$n" "$c" "$h" "$w" $layout $direction 0)
      awk -v name="$direction $layout $shape" -v base="$base" -v new="$new" \
        'BEGIN { printf "| %s | %d | %d | %.3f |\n", name, base, new, new / base }'
    done
  done
done
