#!/usr/bin/env bash
# Counts the instructions one call takes, at a git revision (default HEAD) and in the working tree, with callgrind
# (avx2 kernel set, one thread; valgrind does not run AVX-512): forward and backward of NCHW and NHWC on the
# shapes where a call's fixed costs are a visible share (many planes or channel groups of a few KiB). Counts are
# exact, so a change of a few instructions per plane shows on a machine whose timings move by 10%; they say
# nothing of cache misses or latency, which the benchmark suite measures.
# Usage: bash tools/count_instructions.sh [REV]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev=${1:-HEAD}
jobs=${VARNORM_JOBS:-$(nproc)}
work="$root/build/instructions"
mkdir -p "$work"
shapes="1x16x64x64 8x64x64x64 1x128x64x64 8x128x32x32 8x256x16x16 8x32x128x128 1x256x8x8 1x256x4x4"
calls=3

build_driver() {  # source tree, build folder
  local src=$1 dir=$2
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_TESTS=OFF \
    -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" --target varnorm >/dev/null
  local tbb=()
  grep -q "VARNORM_WITH_TBB:BOOL=ON" "$dir/CMakeCache.txt" && tbb=(-ltbb)
  c++ -std=c++17 -O2 -I"$src/include" "$root/tools/instruction_count.cpp" "$dir/src/libvarnorm.a" "${tbb[@]}" \
    -o "$dir/instruction_count"
}

per_call() {  # driver, then its arguments but CALLS: instructions per call
  local out="$work/callgrind.out"
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" "$@" "$calls" >/dev/null 2>&1
  awk -v calls="$calls" '/^summary:/ { printf "%.0f", $2 / calls }' "$out"
}

rm -rf "$work/base-src"
git worktree prune
git worktree add --detach "$work/base-src" "$rev" >/dev/null 2>&1
trap 'git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true' EXIT
build_driver "$work/base-src" "$work/base"
build_driver "$root" "$work/current"
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
