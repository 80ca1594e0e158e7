# Warning and floating-point settings shared by every varnorm target (library, tests, benchmarks).
# Never -ffast-math: the statistics depend on IEEE evaluation order. -ffp-contract=off keeps the compiler
# from fusing a*b+c on its own, so results depend only on the kernels' explicit FMAs, on every compiler.
add_library(varnorm_compile_options INTERFACE)
target_compile_features(varnorm_compile_options INTERFACE cxx_std_17)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(varnorm_compile_options INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wconversion -ffp-contract=off)
endif()
if(VARNORM_SANITIZE)
  target_compile_options(varnorm_compile_options INTERFACE
    -fsanitize=${VARNORM_SANITIZE} -fno-sanitize-recover=all -fno-omit-frame-pointer)
  target_link_options(varnorm_compile_options INTERFACE -fsanitize=${VARNORM_SANITIZE})
endif()
