#!/usr/bin/env bash
# Stage "sanitizers" of test/run.sh: the whole Catch2 suite (and every other ctest test) built with gcc and
# -DVARNORM_SANITIZE=address,undefined, then the suite under valgrind memcheck on the scalar, sse2 and avx2
# kernel sets only (valgrind cannot execute AVX-512). How TBB is handled: test/sanitize/README.md.
# Build directories: build/asan, and build/release (shared with the unit stage) for valgrind.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}
status=0
mkdir -p "$root/build"  # the configure logs lie next to the build folders, which cmake creates

configure_build() {  # dir, cmake args...
  local dir=$1; shift
  # -g1: line tables only, which the sanitizers' stack traces need; full -g costs build time for no more.
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF "$@" >"$dir.configure.log" 2>&1 ||
    { cat "$dir.configure.log"; return 1; }
  cmake --build "$dir" -j "$jobs" || return 1
}

echo "--- address,undefined (gcc) ---"
start=$(date +%s)
if configure_build "$root/build/asan" -DVARNORM_SANITIZE=address,undefined; then
  # Every finding is fatal (-fno-sanitize-recover=all at compile time, halt/abort at run time).
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1 \
  LSAN_OPTIONS=suppressions="$root/test/sanitize/lsan.supp":print_suppressions=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$root/build/asan" -j "$jobs" --output-on-failure --timeout 600 || status=1
else
  status=1
fi
echo "--- address,undefined: $(( $(date +%s) - start )) s ---"

echo "--- valgrind memcheck (scalar, sse2, avx2) ---"
start=$(date +%s)
# The unit stage's Release build, configured as test/run.sh does (built here if that stage did not run).
if cmake -S "$root" -B "$root/build/release" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_WITH_TBB=ON \
     >"$root/build/release.configure.log" 2>&1 && cmake --build "$root/build/release" -j "$jobs"; then
  # --errors-for-leak-kinds=definite: TBB's worker threads keep their thread-local blocks until process
  # exit ("possibly lost" at exit), which is not a leak of varnorm's (README.md here).
  valgrind_kernel_set() {  # kernel set; its output goes to build/valgrind-<set>.log
    VARNORM_TEST_ISAS=$1 valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
      --errors-for-leak-kinds=definite --show-leak-kinds=definite -q \
      "$root/build/release/test/varnorm_tests" ${VARNORM_VALGRIND_TESTS:-} >"$root/build/valgrind-$1.log" 2>&1
  }
  export -f valgrind_kernel_set
  export root
  # One valgrind per kernel set, $jobs at a time (each runs on one core), the longest (avx2) first.
  kernel_sets=(avx2 scalar sse2)
  printf '%s\n' "${kernel_sets[@]}" | xargs -P "$jobs" -I{} bash -c 'valgrind_kernel_set {}' || status=1
  for set in "${kernel_sets[@]}"; do
    echo "[valgrind $set]"
    cat "$root/build/valgrind-$set.log"
  done
else
  status=1
fi
echo "--- valgrind: $(( $(date +%s) - start )) s ---"
exit $status
