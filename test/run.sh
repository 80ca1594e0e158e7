#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs every test of varnorm: the source format check, the unit tests
# (with TBB and without), the installed-package consumers and the example, the sanitizer and valgrind runs,
# the fuzzer for a bounded time, the AArch64 build under qemu, the benchmark smoke run, and the PyTorch
# extension's tests.
# Usage: bash test/run.sh [stage...]     (no stage: all of them; stages are listed in `all_stages` below)
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}

bash .ci/install-deps.sh || { echo "dependency installation failed"; exit 1; }

# The stages build the library many times (with and without TBB, installed, as a subproject) from the same
# compile commands: each is compiled once per run and reused (ccache, in build/ccache). Build folders already
# configured keep what they were configured with.
export CCACHE_DIR="$root/build/ccache" CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=2G
export CMAKE_C_COMPILER_LAUNCHER=ccache CMAKE_CXX_COMPILER_LAUNCHER=ccache

configure_build_test() {  # name, cmake args...
  local name=$1; shift
  local dir="$root/build/$name"
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" || return 1
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 600
}

# The C and C++ sources against .clang-format: lists every file clang-format-14 would change, changes none.
stage_format() {
  find src include test bench examples tools python -type f \
    \( -name '*.cpp' -o -name '*.hpp' -o -name '*.h' -o -name '*.c' -o -name '*.inl' \) \
    -not -path 'test/fuzz/corpus/*' -print0 | sort -z | xargs -0 clang-format-14 --dry-run -Werror
}
stage_unit() { configure_build_test release -DVARNORM_WITH_TBB=ON; }
stage_no_tbb() { configure_build_test no-tbb -DVARNORM_WITH_TBB=OFF; }
stage_consumers() { bash test/consumer/run.sh; }
stage_sanitizers() { bash test/sanitize/run.sh; }
stage_fuzz() { bash test/fuzz/run.sh; }
stage_arm() { bash test/arm/run.sh; }
stage_bench_smoke() { bash bench/run.sh --smoke; }
stage_torch() { bash python/test/run.sh; }

all_stages=(format unit no_tbb consumers sanitizers fuzz arm bench_smoke torch)
stages=("$@")
[ ${#stages[@]} -eq 0 ] && stages=("${all_stages[@]}")

mkdir -p build
passed=0 failed=0 failures=()
for s in "${stages[@]}"; do
  echo "=== stage $s ==="
  start=$(date +%s)
  if "stage_$s"; then
    passed=$((passed + 1)); result=passed
  else
    failed=$((failed + 1)); failures+=("$s"); result=FAILED
  fi
  echo "=== stage $s: $result in $(( $(date +%s) - start )) s ==="
done
[ $failed -gt 0 ] && echo "failed stages: ${failures[*]}"
echo "stages: $passed passed, $failed failed"
[ $failed -eq 0 ]
