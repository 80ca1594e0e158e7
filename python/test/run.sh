#!/usr/bin/env bash
# The `torch` stage: builds the PyTorch extension in build/torch (-DVARNORM_BUILD_TORCH=ON, the library's own
# tests and examples off: the unit stage builds those) and runs its unittest suite with Debian's python3, which
# has the python3-torch package (a python3 earlier on PATH may not). Fails if no test ran.
# Usage: bash python/test/run.sh [unittest arguments, run in python/test; default: discover -v -s .]
#   e.g. bash python/test/run.sh -v test_numerics.ForwardBackwardTest
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}
dir=$root/build/torch
python=/usr/bin/python3

mkdir -p "$root/build"
# Keep the generator of an existing build directory (a user may have configured it without Ninja).
generator=()
[ -f "$dir/CMakeCache.txt" ] || generator=(-G Ninja)
cmake -S "$root" -B "$dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_TORCH=ON \
  -DVARNORM_BUILD_TESTS=OFF -DVARNORM_BUILD_EXAMPLES=OFF >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "$jobs" --target varnorm_torch

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
if [ $# -eq 0 ]; then
  set -- discover -v -s .
fi
(cd "$root/python/test" && PYTHONPATH="$dir/python:$root/python/test" "$python" -m unittest "$@") 2>&1 |
  tee "$log" || status=$?
# Python 3.11's unittest exits 0 when it finds no test; a stage that tested nothing must fail.
ran=$(sed -n 's/^Ran \([0-9][0-9]*\) tests\{0,1\} in .*/\1/p' "$log" | tail -1)
if [ "${ran:-0}" -eq 0 ]; then
  echo "python/test/run.sh: no test ran"
  exit 1
fi
exit "$status"
