#!/usr/bin/env bash
# Symbol hygiene of a static libvarnorm.a. Fails when
#  1. an object defines a global symbol that is neither a C symbol varnorm_* nor in namespace varnorm:
#     such a symbol can collide with, or silently be replaced by, the consumer's own definition
#     (a template instantiation from std::, xsimd or TBB compiled with the consumer's flags and headers);
#  2. a weak (or GNU-unique) symbol defined in a kernel object (isa_<set>.cpp.o, one per kernel set, each
#     compiled with its ISA's flags) is also defined in another object of the archive: the linker keeps
#     one copy for all callers, possibly the one compiled with -mavx512f, and runs it on the SSE2 path or
#     in the generic code of a CPU without AVX-512. (Optimized builds inline such functions and hide the
#     problem; -O0 builds show it.)
# Tolerated, and nothing else:
#  - DW.ref.__gxx_personality_v0: a compiler-generated, hidden, weak pointer to the C++ exception
#    personality routine, the same eight bytes in every C++ object; it holds no code, so neither the
#    collision nor the ISA argument applies.
#  - in parallel_tbb.cpp.o (the one object that includes TBB), WEAK definitions of TBB's own entities:
#    typeinfo of tbb::detail::d1::task and its bases (vague linkage, emitted wherever a task is derived)
#    and tbb::detail::d0::atomic_do_once<lambda of task_arena::initialize()>. They come from TBB's inline
#    header code, every program that uses TBB's headers defines them identically, and a consumer of the
#    TBB build must link that same TBB (pkg-config Requires.private, find_dependency in the CMake package).
#    A varnorm type in their template arguments would make them internal, so they cannot carry our code.
# Unoptimized (Debug, -O0) archives are checked with rule 1 relaxed to strong symbols: -O0 emits every
# header template it calls (std::, xsimd, TBB) as a weak out-of-line copy, which no source change can avoid.
# Such copies are identical wherever the same headers are used, but a consumer built against other
# versions of those headers could have one replaced by ours: link an optimized build into a larger runtime
# (README "Build options"). Rule 2 holds in every build: kernel sets are compiled with -O2 in Debug builds too
# (src/CMakeLists.txt), and test/consumer/run.sh checks a Debug build's archive.
# Usage: check_symbols.sh NM ARCHIVE KERNEL_SETS [optimized|unoptimized]
#        (KERNEL_SETS: e.g. "sse2;avx2;avx512;scalar"; default: optimized)
set -euo pipefail
nm_tool=$1
archive=$2
kernel_objects=" $(sed 's/\([^;]*\);*/isa_\1.cpp.o /g' <<<"$3")"
build=${4:-optimized}

# "object type mangled-name" for every defined global symbol.
symbols=$("$nm_tool" -A -g --defined-only "$archive" |
  awk '{ n = split($1, path, ":"); print path[n - 1], $(NF - 1), $NF }')
[ -n "$symbols" ] || { echo "no symbols read from $archive"; exit 1; }

demangle() { c++filt "$1" 2>/dev/null || echo "$1"; }

failures=0
exempt='^DW\.ref\.__gxx_personality_v0$'
# Namespace varnorm in the Itanium C++ ABI: a nested name beginning with "7varnorm", optionally behind the
# prefixes of vtables, typeinfo, typeinfo names, guard variables, thunks and function-local statics.
ours='^(varnorm_|_Z(TV|TI|TS|GV|Th[^_]*_|Tv[^_]*_)*Z?NK?7varnorm)'
tbb_own='^_Z(TV|TI|TS)?NK?3tbb'

tolerated_weak=0
while read -r object type name; do
  [[ $object == parallel_tbb.cpp.o && $type =~ ^[VWu]$ && $name =~ $tbb_own ]] && continue
  if [[ $build == unoptimized && $type =~ ^[VW]$ && ! ( $name =~ $ours ) ]]; then
    tolerated_weak=$((tolerated_weak + 1))
    continue
  fi
  if ! [[ $name =~ $ours || $name =~ $exempt ]]; then
    echo "foreign global symbol in $object ($type): $(demangle "$name")  [$name]"
    failures=$((failures + 1))
  fi
done <<<"$symbols"

weak_in_isa=$(awk -v kernels="$kernel_objects" 'index(kernels, " " $1 " ") && $2 ~ /^[VWu]$/ { print $3 }' \
  <<<"$symbols" | sort -u)
for name in $weak_in_isa; do
  [[ $name =~ $exempt ]] && continue
  objects=$(awk -v s="$name" '$3 == s { print $1 }' <<<"$symbols" | sort -u)
  if [ "$(wc -l <<<"$objects")" -gt 1 ]; then
    echo "weak symbol of a kernel object defined in several objects ($(echo $objects)):" \
      "$(demangle "$name")  [$name]"
    failures=$((failures + 1))
  fi
done

if [ $failures -gt 0 ]; then
  echo "$archive: $failures symbol problem(s)"
  exit 1
fi
[ $tolerated_weak -gt 0 ] &&
  echo "$archive: unoptimized build: $tolerated_weak weak out-of-line copies of header templates tolerated"
echo "$archive: $(wc -l <<<"$symbols") defined global symbols, all varnorm_* or varnorm:: (or tolerated);" \
  "no weak symbol of the kernel objects ($kernel_objects) defined twice"
