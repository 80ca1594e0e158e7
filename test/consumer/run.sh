#!/usr/bin/env bash
# The ways a project can use varnorm, each built from scratch, run and checked:
#  - for TBB ON and OFF: configure, build and install the library into a temporary prefix, then build the
#    C99 consumer (in a C-only CMake project) and the C++17 consumer against the installed tree with
#    find_package(varnorm CONFIG), and both again with plain compiler calls and pkg-config --static;
#  - add_subdirectory(varnorm) from a Debug project (which must not build varnorm's tests or examples), whose
#    unoptimized libvarnorm.a must pass test/symbols/check_symbols.sh.
# Every consumer compares the library's outputs with a reference it computes itself.
# Build directories: build/pkg-*. Usage: bash test/consumer/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
jobs=${VARNORM_JOBS:-$(nproc)}
consumer_src=$root/test/consumer
prefixes=$(mktemp -d)
trap 'rm -rf "$prefixes"' EXIT

step() { echo "--- $*"; }
quiet() {  # runs a command, shows its output only if it fails
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log"; rm -f "$log"; echo "FAILED: $*"; return 1
  fi
  rm -f "$log"
}
fresh_configure() {  # source dir, build dir, cmake args...
  local src=$1 dir=$2; shift 2
  rm -rf "$dir"
  quiet cmake -S "$src" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
}

for tbb in ON OFF; do
  lib_build=$root/build/pkg-tbb-$tbb
  prefix=$prefixes/tbb-$tbb
  step "TBB $tbb: build and install the library into $prefix"
  fresh_configure "$root" "$lib_build" -DVARNORM_WITH_TBB=$tbb -DVARNORM_BUILD_TESTS=OFF \
    -DVARNORM_BUILD_EXAMPLES=OFF -DVARNORM_INSTALL=ON
  quiet cmake --build "$lib_build" -j "$jobs"
  quiet cmake --install "$lib_build" --prefix "$prefix"
  (cd "$prefix" && find . -type f | sort)

  for language in C CXX; do
    step "TBB $tbb: $language consumer with find_package(varnorm CONFIG)"
    consumer_build=$root/build/pkg-consumer-tbb-$tbb-$language
    fresh_configure "$consumer_src" "$consumer_build" -DCMAKE_PREFIX_PATH="$prefix" \
      -DVARNORM_CONSUMER_LANGUAGE=$language
    quiet cmake --build "$consumer_build" -j "$jobs"
  done
  "$root/build/pkg-consumer-tbb-$tbb-C/consumer_c"
  "$root/build/pkg-consumer-tbb-$tbb-CXX/consumer_cpp"

  step "TBB $tbb: consumers with pkg-config --static"
  export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
  pkg-config --validate varnorm
  flags=$(pkg-config --static --cflags --libs varnorm)
  echo "pkg-config --static --cflags --libs varnorm: $flags"
  if [ $tbb = ON ] && [[ $flags != *-ltbb* ]]; then echo "FAILED: TBB build without -ltbb"; exit 1; fi
  if [ $tbb = OFF ] && [[ $flags == *-ltbb* ]]; then echo "FAILED: TBB-free build links TBB"; exit 1; fi
  pc_build=$root/build/pkg-pkgconfig-tbb-$tbb
  rm -rf "$pc_build" && mkdir -p "$pc_build"
  # shellcheck disable=SC2086 # the flags are a word list
  ${CC:-cc} -std=c99 -Wall -Wextra -Wpedantic -Werror -O2 "$consumer_src/consumer.c" -o "$pc_build/consumer_c" \
    $flags
  # shellcheck disable=SC2086
  ${CXX:-c++} -std=c++17 -Wall -Wextra -Wpedantic -Werror -O2 "$consumer_src/consumer.cpp" \
    -o "$pc_build/consumer_cpp" $flags
  "$pc_build/consumer_c"
  "$pc_build/consumer_cpp"
  unset PKG_CONFIG_PATH
done

# A Debug project: its unoptimized libvarnorm.a must still keep each kernel set's code to itself.
step "add_subdirectory(varnorm) consumer, Debug"
subdir_build=$root/build/pkg-subdir
fresh_configure "$consumer_src/subdir" "$subdir_build" -DVARNORM_SOURCE_DIR="$root" -DCMAKE_BUILD_TYPE=Debug
quiet cmake --build "$subdir_build" -j "$jobs"
"$subdir_build/consumer_c"
"$subdir_build/consumer_cpp"
archive=$subdir_build/varnorm/src/libvarnorm.a
bash "$root/test/symbols/check_symbols.sh" nm "$archive" "$(cat "$subdir_build/kernel_sets.txt")" unoptimized
echo "all consumers passed"
