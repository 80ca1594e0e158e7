// Applies VARNORM_TEST_ISAS (support/isa.hpp) before the first test and again before every test case, so
// that no test starts on a kernel set the run excludes, even one that a previous test left selected
// through varnorm_set_isa("auto"). Under valgrind this is what keeps AVX-512 code from running at all:
// the library would otherwise pick it at its first call.
#include <cstdio>
#include <cstdlib>

// Catch2 v2 declares its listener base class only with this defined.
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include "support/isa.hpp"

namespace {

struct isa_environment_listener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;

  void testRunStarting(const Catch::TestRunInfo&) override { select_or_abort(); }
  void testCaseStarting(const Catch::TestCaseInfo&) override { select_or_abort(); }

  static void select_or_abort() {
    if (varnorm_test::select_default_isa()) return;
    // A run restricted to sets this machine lacks would silently test nothing.
    std::fprintf(stderr, "VARNORM_TEST_ISAS=%s names no kernel set this machine supports\n",
                 std::getenv("VARNORM_TEST_ISAS"));
    std::abort();
  }
};

}  // namespace

CATCH_REGISTER_LISTENER(isa_environment_listener)

TEST_CASE("VARNORM_TEST_ISAS restricts the kernel sets tests run on", "[isa_environment]") {
  const char* list = std::getenv("VARNORM_TEST_ISAS");
  const std::vector<std::string> isas = varnorm_test::supported_isas();
  REQUIRE(!isas.empty());
  for (const std::string& isa : isas) CHECK(varnorm_test::isa_allowed(isa));
  // Outside any isa_scope the active set is a permitted one.
  CHECK(varnorm_test::isa_allowed(varnorm_isa()));
  if (list == nullptr || *list == '\0') CHECK(std::string(varnorm_isa()) == isas.back());
}
