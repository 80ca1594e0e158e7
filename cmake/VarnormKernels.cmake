# Kernel sets: code compiled once per instruction set the target processor family has, each copy with its
# own flags, one chosen at run time (src/dispatch/isa_dispatch.cpp). The library's kernels and the benchmark's
# baseline loops are both compiled this way, from this one table.
# x86-64: sse2, avx2 (+fma) and avx512 (f/cd/dq/bw, +fma). AArch64: neon64. Every processor: the portable
# scalar set, compiled for the baseline target.

# Sets `out` to the kernel sets of the target processor, and `out`_FLAGS_<isa> to each one's compiler flags.
function(varnorm_kernel_sets out)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" processor)
  set(sets "")
  if(processor MATCHES "^(x86_64|amd64)$")
    set(sets sse2 avx2 avx512)
    set(${out}_FLAGS_sse2 -msse2 PARENT_SCOPE)
    set(${out}_FLAGS_avx2 -mavx2 -mfma PARENT_SCOPE)
    set(${out}_FLAGS_avx512 -mavx512f -mavx512cd -mavx512dq -mavx512bw -mfma PARENT_SCOPE)
  elseif(processor MATCHES "^(aarch64|arm64)$")
    set(sets neon64)
  endif()
  list(APPEND sets scalar)
  set(${out} ${sets} PARENT_SCOPE)
endfunction()

# varnorm_add_kernel_sources(<target> <pattern> [OPTIONS <option>...])
# For every kernel set: adds <pattern> with "<isa>" replaced by the set's name to <target>, compiled with the
# set's flags and then OPTIONS, and defines VARNORM_HAVE_<ISA> for <target>. The target's VARNORM_KERNEL_SETS
# property lists the sets added.
function(varnorm_add_kernel_sources target pattern)
  cmake_parse_arguments(PARSE_ARGV 2 arg "" "" "OPTIONS")
  varnorm_kernel_sets(sets)
  foreach(isa IN LISTS sets)
    string(REPLACE "<isa>" "${isa}" source "${pattern}")
    string(TOUPPER ${isa} upper)
    target_sources(${target} PRIVATE ${source})
    set(options ${sets_FLAGS_${isa}} ${arg_OPTIONS})
    set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${options}")
    target_compile_definitions(${target} PRIVATE VARNORM_HAVE_${upper})
    set_property(TARGET ${target} APPEND PROPERTY VARNORM_KERNEL_SETS ${isa})
  endforeach()
  message(STATUS "${target} kernel sets: ${sets}")
endfunction()
