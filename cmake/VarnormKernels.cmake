# One kernel set per instruction set the target processor family has, each compiled with its own flags.
# x86-64: sse2, avx2 (+fma) and avx512 (f/cd/dq/bw) all in one library, chosen at run time.
# AArch64: neon64. Every build also has the portable "scalar" set (kernels/isa_scalar.cpp).

# kernels/isa_<isa>.cpp compiled with the given flags; the dispatcher sees VARNORM_HAVE_<ISA>.
function(varnorm_add_kernel_set target isa)
  set(source ${PROJECT_SOURCE_DIR}/src/kernels/isa_${isa}.cpp)
  string(TOUPPER ${isa} upper)
  target_sources(${target} PRIVATE ${source})
  set_source_files_properties(${source} PROPERTIES COMPILE_OPTIONS "${ARGN}")
  target_compile_definitions(${target} PRIVATE VARNORM_HAVE_${upper})
  set_property(TARGET ${target} APPEND PROPERTY VARNORM_KERNEL_SETS ${isa})
endfunction()

function(varnorm_add_kernel_sets target)
  string(TOLOWER "${CMAKE_SYSTEM_PROCESSOR}" processor)
  if(processor MATCHES "^(x86_64|amd64)$")
    varnorm_add_kernel_set(${target} sse2 -msse2)
    varnorm_add_kernel_set(${target} avx2 -mavx2 -mfma)
    varnorm_add_kernel_set(${target} avx512 -mavx512f -mavx512cd -mavx512dq -mavx512bw)
  elseif(processor MATCHES "^(aarch64|arm64)$")
    varnorm_add_kernel_set(${target} neon64)
  endif()
  set_property(TARGET ${target} APPEND PROPERTY VARNORM_KERNEL_SETS scalar)
  get_target_property(sets ${target} VARNORM_KERNEL_SETS)
  message(STATUS "varnorm kernel sets: ${sets}")
endfunction()
