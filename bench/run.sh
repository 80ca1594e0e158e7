#!/usr/bin/env bash
# varnorm's benchmark suite: installs what it needs (Debian 12), builds varnorm_bench in Release in
# build/bench, runs it, then prints bench/report's markdown tables and the path of its PNG chart.
#
# Usage: bash bench/run.sh [--quick | --smoke | --full] [--isa=NAME] [--cpu=N] [varnorm_bench arguments...]
#   --quick (default)  every shape, NCHW and NHWC, forward, backward with saved statistics and the training
#                      step, AUTO at threads 1 and all, forward TWO_PASS, WELFORD and SHIFTED_SUMS at threads 1,
#                      the baselines (minimal kernels included) and the peers; 3 short repetitions in random
#                      order, medians (about 130 s on 2 cores once built)
#   --smoke            CI: two small shapes, every benchmark kind, minimal timings; checks the binary, the
#                      JSON, the report and the PNG, not the timings (exits non-zero if anything fails)
#   --full             everything (also backward_recompute, all algorithms at every thread count),
#                      5 longer repetitions in random order, medians: about 5 minutes on 2 cores
#   --isa=NAME         force the library's kernel set: a name varnorm_isa_name lists (default auto)
#   --cpu=N            run the one-thread benchmarks on CPU N alone (VARNORM_BENCH_CPU), so that their ratios
#                      compare work done on one CPU; benchmarks with more threads keep every CPU
# Arguments after these go to varnorm_bench, after the mode's own: --benchmark_filter=REGEX replaces the
# mode's filter, e.g. --benchmark_filter='forward/N...C/AUTO/1x2x512x512'.
# Results: build/bench/results/<mode>-<time>.{json,png,log}, and <mode>-latest.{json,png} pointing to them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$(date +%s)

mode=quick
isa=""
extra=()
for arg in "$@"; do
  case $arg in
    --quick) mode=quick ;;
    --smoke) mode=smoke ;;
    --full) mode=full ;;
    --isa=*) isa=${arg#--isa=} ;;
    --cpu=*) export VARNORM_BENCH_CPU=${arg#--cpu=} ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *) extra+=("$arg") ;;
  esac
done

bash .ci/install-deps.sh || { echo "bench/run.sh: dependency installation failed" >&2; exit 1; }

build="$root/build/bench"
results="$build/results"
mkdir -p "$results"
jobs=${VARNORM_JOBS:-$(nproc)}
if ! cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVARNORM_BUILD_BENCHMARKS=ON \
  -DVARNORM_BUILD_TESTS=OFF -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=OFF >"$results/configure.log" 2>&1; then
  cat "$results/configure.log" >&2
  exit 1
fi
grep -E "varnorm_bench:" "$results/configure.log" | sed 's/^-- //' || true
cmake --build "$build" --target varnorm_bench -j "$jobs" >"$results/build.log" 2>&1 ||
  { cat "$results/build.log" >&2; exit 1; }
binary="$build/bench/varnorm_bench"
echo "built $binary in $(( $(date +%s) - start )) s"

small='1x16x64x64|1x2x257x256'
case $mode in
  quick)
    args=(--benchmark_min_time=0.03 --benchmark_repetitions=3 --benchmark_enable_random_interleaving=true
      "--benchmark_filter=^(copy|read2write1|read1|read2|minimal_forward|minimal_backward|minimal_forward_nhwc|minimal_backward_nhwc)/|^(forward|backward)/N[A-Z]+/(AUTO|AUTO_AFTER_[A-Z]+|GROUPNORM|peer_[a-z]+)/|^step/N[A-Z]+/AUTO/|^forward/N[A-Z]+/(TWO_PASS|WELFORD|SHIFTED_SUMS)/[0-9x]+/threads:1/")
    ;;
  smoke)
    args=(--benchmark_min_time=0.002
      "--benchmark_filter=^(copy|read2write1|read1|read2|minimal_forward|minimal_backward|minimal_forward_nhwc|minimal_backward_nhwc)/($small)/|^[a-z_]+/N[A-Z]+/[A-Za-z_]+/1x16x64x64/|^(forward|backward)/N[A-Z]+/(AUTO|AUTO_AFTER_[A-Z]+|GROUPNORM|peer_[a-z]+)/1x2x257x256/")
    ;;
  full)
    args=(--benchmark_min_time=0.1 --benchmark_repetitions=5 --benchmark_enable_random_interleaving=true)
    ;;
esac

stamp=$(date +%Y%m%d-%H%M%S)
json="$results/$mode-$stamp.json"
png="$results/$mode-$stamp.png"
log="$results/$mode-$stamp.log"
[ -n "$isa" ] && export VARNORM_BENCH_ISA="$isa"
count=$("$binary" "${args[@]}" "${extra[@]}" --benchmark_list_tests | wc -l)
if [ "$count" -eq 0 ]; then
  echo "bench/run.sh: no benchmark matches the filter (list them: $binary --benchmark_list_tests)" >&2
  exit 1
fi
echo "running $count benchmarks ($mode mode${isa:+, ISA $isa}); console output: $log"
run_start=$(date +%s)
if ! "$binary" "${args[@]}" "${extra[@]}" --benchmark_out="$json" --benchmark_out_format=json >"$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "bench/run.sh: varnorm_bench failed" >&2
  exit 1
fi
echo "ran in $(( $(date +%s) - run_start )) s"
if [ "$mode" = smoke ]; then
  # --cpu: the first CPU this process may use is taken and reported, a CPU it may not use is refused.
  cpu=$(/usr/bin/python3 -c 'import os; print(min(os.sched_getaffinity(0)))')
  pinned=$(VARNORM_BENCH_CPU=$cpu "$binary" --benchmark_filter='^copy/1x16x64x64/threads:1/' \
    --benchmark_min_time=0.002 --benchmark_format=json 2>/dev/null) || pinned=""
  [[ $pinned == *"\"one_thread_cpu\": \"$cpu\""* ]] ||
    { echo "bench/run.sh: VARNORM_BENCH_CPU=$cpu was not taken" >&2; exit 1; }
  if VARNORM_BENCH_CPU=100000 "$binary" --benchmark_filter=none >/dev/null 2>&1; then
    echo "bench/run.sh: VARNORM_BENCH_CPU=100000 was not refused" >&2
    exit 1
  fi
fi
echo

/usr/bin/python3 "$root/bench/report" "$json" --png "$png" || { echo "bench/run.sh: report failed" >&2; exit 1; }
[ -s "$png" ] || { echo "bench/run.sh: no chart written" >&2; exit 1; }
ln -sfn "$(basename "$json")" "$results/$mode-latest.json"
ln -sfn "$(basename "$png")" "$results/$mode-latest.png"
echo "json: $json"
echo "total $(( $(date +%s) - start )) s"
