#!/usr/bin/env bash
# Stage "fuzz" of test/run.sh: builds fuzz_varnorm with clang-14 (-DVARNORM_FUZZ=ON: libFuzzer, address,
# undefined) in build/fuzz and runs it for FUZZ_SECONDS (default 60), starting from the committed seeds in
# test/fuzz/corpus. Fails on any finding; the input that caused it is left in build/fuzz/findings/.
# More: test/fuzz/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}
seconds=${FUZZ_SECONDS:-60}
dir="$root/build/fuzz"
mkdir -p "$root/build"  # the configure log lies next to the build folder, which cmake creates

start=$(date +%s)
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 -DVARNORM_FUZZ=ON -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF \
  >"$dir.configure.log" 2>&1 || { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "$jobs" --target fuzz_varnorm || exit 1
echo "--- fuzz build: $(( $(date +%s) - start )) s ---"

# New inputs go to a scratch corpus; the committed seeds are only read.
mkdir -p "$dir/corpus" "$dir/findings"
start=$(date +%s)
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$dir/test/fuzz/fuzz_varnorm" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=4096 -print_final_stats=1 \
  -artifact_prefix="$dir/findings/" "$dir/corpus" "$root/test/fuzz/corpus" 2>"$dir/fuzz.log"
status=$?
grep -E "check failed|runtime error|ERROR:|stat::number_of_executed_units|Test unit written" "$dir/fuzz.log" | head -20
echo "--- fuzz run: $(( $(date +%s) - start )) s (log: build/fuzz/fuzz.log) ---"
exit $status
