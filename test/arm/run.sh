#!/usr/bin/env bash
# AArch64: cross-compiles the library (no TBB; neon64 and scalar kernel sets), the whole test suite and the
# examples with cmake/toolchain-aarch64.cmake, and runs them through qemu-aarch64 with ctest.
# Build directory: build/arm. Usage: bash test/arm/run.sh [extra ctest arguments, e.g. -R golden]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}
dir=$root/build/arm
mkdir -p "$root/build"

start=$(date +%s)
cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchain-aarch64.cmake" -DVARNORM_WITH_TBB=OFF \
  -DVARNORM_BUILD_TESTS=ON -DVARNORM_BUILD_EXAMPLES=ON >"$dir.configure.log" 2>&1 ||
  { cat "$dir.configure.log"; exit 1; }
cmake --build "$dir" -j "$jobs"
built=$(date +%s)

# The dispatcher must pick the NEON kernels on AArch64, not fall back to the portable ones.
emulator=(qemu-aarch64 -L /usr/aarch64-linux-gnu)
isa_line=$("${emulator[@]}" "$dir/examples/quickstart_c" | head -n 1)
echo "quickstart_c under qemu: $isa_line"
[[ $isa_line == *", neon64 kernels" ]] || { echo "FAILED: expected the neon64 kernel set"; exit 1; }

ctest --test-dir "$dir" -j "$jobs" --output-on-failure --timeout 600 "$@"
echo "arm: configure + build $((built - start)) s, tests $(($(date +%s) - built)) s"
