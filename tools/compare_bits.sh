#!/usr/bin/env bash
# Compares every output of the library at a git revision (default HEAD) with the working tree's, bit for bit:
# builds the library twice (Release), runs tools/output_digest.cpp against each, and diffs the digests.
# Usage: bash tools/compare_bits.sh [REV]        exit 0: identical; 1: some output differs (the diff is printed)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rev=${1:-HEAD}
jobs=${VARNORM_JOBS:-$(nproc)}
work="$root/build/bits"
mkdir -p "$work"

digest_of() {  # source tree, build folder, output file
  local src=$1 dir=$2 out=$3
  cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_TESTS=OFF \
    -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" --target varnorm >/dev/null
  local tbb=()
  grep -q "VARNORM_WITH_TBB:BOOL=ON" "$dir/CMakeCache.txt" && tbb=(-ltbb)
  c++ -std=c++17 -O2 -I"$src/include" "$root/tools/output_digest.cpp" "$dir/src/libvarnorm.a" "${tbb[@]}" \
    -o "$dir/output_digest"
  "$dir/output_digest" >"$out"
}

rm -rf "$work/base-src"
git worktree prune
git worktree add --detach "$work/base-src" "$rev" >/dev/null 2>&1
trap 'git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true' EXIT
digest_of "$work/base-src" "$work/base" "$work/base.txt"
digest_of "$root" "$work/current" "$work/current.txt"
lines=$(wc -l <"$work/current.txt")
if diff "$work/base.txt" "$work/current.txt"; then
  echo "compare_bits: $lines calls, every output bitwise identical to $rev"
else
  echo "compare_bits: outputs differ from $rev (above: < $rev, > working tree)"
  exit 1
fi
