// Which kernel set runs: varnorm_isa() names a documented set; "auto" and NULL choose the best set this CPU
// and OS support, decided here independently of the library (the compiler's CPU detection, which checks the
// OS-enabled register state as the dispatcher does); every supported set can be forced and is then
// reported; unknown names are INVALID_ARGUMENT and known sets the CPU lacks UNSUPPORTED, both leaving the
// active set as it was. No kernel runs here: the tests only select sets, so VARNORM_TEST_ISAS (which keeps
// kernels valgrind cannot execute from running) does not restrict them.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

const std::vector<std::string> kKnownNames = {"avx512", "avx2", "sse2", "neon64", "scalar"};

// The kernel sets this CPU can run, best first, as src/dispatch/isa_dispatch.cpp requires them: avx512
// needs AVX-512 F, CD, DQ and BW; avx2 needs AVX2 and FMA; each with the register state the OS saves
// (GCC's and Clang's __builtin_cpu_supports report AVX and AVX-512 features only when XCR0 enables them).
// AArch64 always has NEON.
std::vector<std::string> expected_supported() {
  std::vector<std::string> out;
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512bw"))
    out.emplace_back("avx512");
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) out.emplace_back("avx2");
  if (__builtin_cpu_supports("sse2")) out.emplace_back("sse2");
#elif defined(__aarch64__)
  out.emplace_back("neon64");
#endif
  out.emplace_back("scalar");
  return out;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string active() { return varnorm_isa(); }

// Puts back the kernel set the other tests run on (support/isa.hpp), however the test ends.
struct restore_default_isa {
  ~restore_default_isa() { select_default_isa(); }
};

}  // namespace

TEST_CASE("varnorm_isa names a known kernel set, and \"auto\" and NULL select the best one this CPU supports",
          "[dispatch]") {
  restore_default_isa restore;
  CHECK(contains(kKnownNames, active()));
  const std::string best = expected_supported().front();
  REQUIRE(varnorm_set_isa("scalar") == VARNORM_OK);
  REQUIRE(varnorm_set_isa("auto") == VARNORM_OK);
  CHECK(active() == best);
  REQUIRE(varnorm_set_isa("scalar") == VARNORM_OK);
  REQUIRE(varnorm_set_isa(nullptr) == VARNORM_OK);
  CHECK(active() == best);
}

TEST_CASE("forcing each kernel set the CPU supports succeeds and varnorm_isa then reports it, and \"scalar\" always "
          "succeeds",
          "[dispatch]") {
  restore_default_isa restore;
  for (const std::string& name : expected_supported()) {
    CAPTURE(name);
    CHECK(varnorm_set_isa(name.c_str()) == VARNORM_OK);
    CHECK(active() == name);
  }
  // From every other set too.
  for (const std::string& name : expected_supported()) {
    REQUIRE(varnorm_set_isa(name.c_str()) == VARNORM_OK);
    CAPTURE(name);
    CHECK(varnorm_set_isa("scalar") == VARNORM_OK);
    CHECK(active() == "scalar");
  }
}

TEST_CASE("an unknown kernel set name is INVALID_ARGUMENT and leaves the active set unchanged", "[dispatch]") {
  restore_default_isa restore;
  for (const std::string& current : expected_supported()) {
    REQUIRE(varnorm_set_isa(current.c_str()) == VARNORM_OK);
    for (const char* name : {"avx", "", "AVX2", "sse3", "Scalar", "avx512 ", "auto2", "neon"}) {
      CAPTURE(current, name);
      CHECK(varnorm_set_isa(name) == VARNORM_ERROR_INVALID_ARGUMENT);
      CHECK(active() == current);
    }
  }
}

TEST_CASE("a known kernel set the CPU lacks is UNSUPPORTED and leaves the active set unchanged", "[dispatch]") {
  restore_default_isa restore;
  const std::vector<std::string> supported = expected_supported();
  std::vector<std::string> lacking;
  for (const std::string& name : kKnownNames)
    if (!contains(supported, name)) lacking.push_back(name);
#if defined(__x86_64__)
  REQUIRE(contains(lacking, "neon64"));
#elif defined(__aarch64__)
  REQUIRE(contains(lacking, "avx512"));
  REQUIRE(contains(lacking, "sse2"));
#endif
  for (const std::string& current : supported) {
    REQUIRE(varnorm_set_isa(current.c_str()) == VARNORM_OK);
    for (const std::string& name : lacking) {
      CAPTURE(current, name);
      CHECK(varnorm_set_isa(name.c_str()) == VARNORM_ERROR_UNSUPPORTED);
      CHECK(active() == current);
    }
  }
}
