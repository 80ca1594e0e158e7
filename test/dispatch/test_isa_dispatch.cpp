// Which kernel set runs. The library lists its kernel sets (varnorm_isa_count, varnorm_isa_name), best first,
// scalar last; varnorm_isa_supported says which this CPU and OS run, checked here against the compiler's own
// CPU detection; "auto" and NULL choose the first supported one; every supported set can be forced and is then
// reported; unknown names are INVALID_ARGUMENT and known sets the CPU or build lacks UNSUPPORTED, both leaving
// the active set as it was. No kernel runs here: the tests only select sets, so VARNORM_TEST_ISAS (which keeps
// kernels valgrind cannot execute from running) does not restrict them.
#include <varnorm/varnorm.h>
#include <varnorm/varnorm.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>
#include <iterator>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

// What each kernel set varnorm has needs, written here independently of the library (a test that read the
// library's own table could not catch a wrong entry): avx512 needs AVX-512 F, CD, DQ and BW and FMA; avx2 needs
// AVX2 and FMA; each with the register state the OS saves (GCC's and Clang's __builtin_cpu_supports report AVX
// and AVX-512 features only when XCR0 enables them). AArch64 always has NEON; every CPU runs scalar.
struct kernel_set_requirement {
  const char* name;
  bool (*cpu_runs)();
};

bool cpu_runs_avx512() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_runs_avx2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

bool cpu_runs_sse2() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse2");
#else
  return false;
#endif
}

bool cpu_runs_neon64() {
#if defined(__aarch64__)
  return true;
#else
  return false;
#endif
}

bool cpu_runs_scalar() { return true; }

const kernel_set_requirement kRequirements[] = {{"avx512", cpu_runs_avx512},
                                                {"avx2", cpu_runs_avx2},
                                                {"sse2", cpu_runs_sse2},
                                                {"neon64", cpu_runs_neon64},
                                                {"scalar", cpu_runs_scalar}};

const kernel_set_requirement* requirement_of(const std::string& name) {
  for (const kernel_set_requirement& r : kRequirements)
    if (name == r.name) return &r;
  return nullptr;
}

std::vector<std::string> listed_isas() {
  std::vector<std::string> names;
  for (int i = 0; i < varnorm_isa_count(); ++i) names.emplace_back(varnorm_isa_name(i));
  return names;
}

std::vector<std::string> listed_and_supported() {
  std::vector<std::string> names;
  for (const std::string& name : listed_isas())
    if (varnorm_isa_supported(name.c_str()) == 1) names.push_back(name);
  return names;
}

bool contains(const std::vector<std::string>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::string active() { return varnorm_isa(); }

// Puts back the kernel set the other tests run on (support/isa.hpp), however the test ends.
struct restore_default_isa {
  ~restore_default_isa() { select_default_isa(); }
};

const char* const kUnknownNames[] = {"avx", "", "AVX2", "sse3", "Scalar", "avx512 ", "auto2", "neon", "portable"};

}  // namespace

TEST_CASE("the kernel sets are listed once each, by non-empty names, with scalar last", "[dispatch]") {
  const int count = varnorm_isa_count();
  REQUIRE(count >= 1);
  std::set<std::string> seen;
  for (int i = 0; i < count; ++i) {
    CAPTURE(i);
    const char* name = varnorm_isa_name(i);
    REQUIRE(name != nullptr);
    CHECK(std::strlen(name) > 0);
    CHECK(seen.insert(name).second);
    // Names are stable: the same string on every call.
    CHECK(varnorm_isa_name(i) == name);
  }
  CHECK(std::string(varnorm_isa_name(count - 1)) == "scalar");
  CHECK(reference_isa() == "scalar");
  for (int index : {-1, count, count + 1, INT_MIN, INT_MAX}) {
    CAPTURE(index);
    CHECK(varnorm_isa_name(index) == nullptr);
  }
  // The C++ wrappers say the same.
  CHECK(varnorm::isa_count() == count);
  for (int i = -1; i <= count; ++i) CHECK(varnorm::isa_name(i) == varnorm_isa_name(i));
}

TEST_CASE("the listed kernel sets are known ones, best first", "[dispatch]") {
  // kRequirements is in the order the sets should be preferred; the list must follow it.
  std::size_t next = 0;
  for (const std::string& name : listed_isas()) {
    CAPTURE(name);
    std::size_t at = next;
    while (at < std::size(kRequirements) && name != kRequirements[at].name) ++at;
    CHECK(at < std::size(kRequirements));
    next = at + 1;
  }
#if defined(__x86_64__)
  CHECK(listed_isas().size() == 4);  // avx512, avx2, sse2, scalar
#elif defined(__aarch64__)
  CHECK(listed_isas().size() == 2);  // neon64, scalar
#endif
}

TEST_CASE("varnorm_isa_supported says which listed kernel sets this CPU runs", "[dispatch]") {
  for (const std::string& name : listed_isas()) {
    CAPTURE(name);
    const kernel_set_requirement* requirement = requirement_of(name);
    INFO("a listed kernel set this test knows no requirement for: add it to kRequirements");
    REQUIRE(requirement != nullptr);
    CHECK(varnorm_isa_supported(name.c_str()) == (requirement->cpu_runs() ? 1 : 0));
    CHECK(varnorm::isa_supported(name.c_str()) == requirement->cpu_runs());
  }
  CHECK(varnorm_isa_supported("scalar") == 1);
  // Kernel sets of another processor family, which this build leaves out, are not supported either.
  for (const kernel_set_requirement& r : kRequirements) {
    CAPTURE(r.name);
    if (!contains(listed_isas(), r.name)) CHECK(varnorm_isa_supported(r.name) == 0);
  }
  CHECK(varnorm_isa_supported(nullptr) == 0);
  CHECK(varnorm_isa_supported("auto") == 0);
  for (const char* name : kUnknownNames) {
    CAPTURE(name);
    CHECK(varnorm_isa_supported(name) == 0);
  }
}

TEST_CASE("varnorm_isa_supported and varnorm_set_isa agree on every kernel set varnorm has", "[dispatch]") {
  restore_default_isa restore;
  for (const kernel_set_requirement& r : kRequirements) {
    CAPTURE(r.name);
    REQUIRE(varnorm_set_isa("scalar") == VARNORM_OK);
    const varnorm_status status = varnorm_set_isa(r.name);
    if (varnorm_isa_supported(r.name) == 1) {
      CHECK(status == VARNORM_OK);
      CHECK(active() == r.name);
    } else {
      CHECK(status == VARNORM_ERROR_UNSUPPORTED);
      CHECK(active() == "scalar");
    }
  }
}

TEST_CASE("varnorm_isa names a listed kernel set, and \"auto\" and NULL select the first supported one", "[dispatch]") {
  restore_default_isa restore;
  CHECK(contains(listed_isas(), active()));
  const std::vector<std::string> supported = listed_and_supported();
  REQUIRE(!supported.empty());
  // The best this CPU runs, found without the library's detection.
  std::string best;
  for (const std::string& name : listed_isas()) {
    const kernel_set_requirement* requirement = requirement_of(name);
    if (requirement != nullptr && requirement->cpu_runs()) {
      best = name;
      break;
    }
  }
  CHECK(best == supported.front());
  REQUIRE(varnorm_set_isa("scalar") == VARNORM_OK);
  REQUIRE(varnorm_set_isa("auto") == VARNORM_OK);
  CHECK(active() == best);
  REQUIRE(varnorm_set_isa("scalar") == VARNORM_OK);
  REQUIRE(varnorm_set_isa(nullptr) == VARNORM_OK);
  CHECK(active() == best);
}

TEST_CASE("forcing each supported kernel set succeeds and varnorm_isa then reports it", "[dispatch]") {
  restore_default_isa restore;
  const std::vector<std::string> supported = listed_and_supported();
  for (const std::string& name : supported) {
    CAPTURE(name);
    CHECK(varnorm_set_isa(name.c_str()) == VARNORM_OK);
    CHECK(active() == name);
    CHECK(std::string(varnorm::isa()) == name);
  }
  // From every other set too.
  for (const std::string& from : supported)
    for (const std::string& to : supported) {
      REQUIRE(varnorm_set_isa(from.c_str()) == VARNORM_OK);
      CAPTURE(from, to);
      CHECK(varnorm::set_isa(to.c_str()).ok());
      CHECK(active() == to);
    }
}

TEST_CASE("an unknown kernel set name is INVALID_ARGUMENT and leaves the active set unchanged", "[dispatch]") {
  restore_default_isa restore;
  for (const std::string& current : listed_and_supported()) {
    REQUIRE(varnorm_set_isa(current.c_str()) == VARNORM_OK);
    for (const char* name : kUnknownNames) {
      CAPTURE(current, name);
      CHECK(varnorm_set_isa(name) == VARNORM_ERROR_INVALID_ARGUMENT);
      CHECK(active() == current);
    }
  }
}

TEST_CASE("a known kernel set the CPU or build lacks is UNSUPPORTED and leaves the active set unchanged",
          "[dispatch]") {
  restore_default_isa restore;
  std::vector<std::string> lacking;
  for (const kernel_set_requirement& r : kRequirements)
    if (varnorm_isa_supported(r.name) == 0) lacking.emplace_back(r.name);
#if defined(__x86_64__)
  REQUIRE(contains(lacking, "neon64"));  // left out of the build
#elif defined(__aarch64__)
  REQUIRE(contains(lacking, "avx512"));
  REQUIRE(contains(lacking, "sse2"));
#endif
  for (const std::string& current : listed_and_supported()) {
    REQUIRE(varnorm_set_isa(current.c_str()) == VARNORM_OK);
    for (const std::string& name : lacking) {
      CAPTURE(current, name);
      CHECK(varnorm_set_isa(name.c_str()) == VARNORM_ERROR_UNSUPPORTED);
      CHECK(active() == current);
    }
  }
}

TEST_CASE("the kernel sets can be listed and queried while another thread switches between them", "[dispatch]") {
  restore_default_isa restore;
  const std::vector<std::string> listed = listed_isas();
  const std::vector<std::string> supported = listed_and_supported();
  std::atomic<bool> stop{false};
  std::atomic<int> mismatches{0};
  std::thread switcher([&] {
    for (std::size_t i = 0; !stop.load(); ++i)
      if (varnorm_set_isa(supported[i % supported.size()].c_str()) != VARNORM_OK) mismatches.fetch_add(1);
  });
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t)
    readers.emplace_back([&] {
      for (int round = 0; round < 500; ++round) {
        if (listed_isas() != listed || listed_and_supported() != supported) mismatches.fetch_add(1);
        if (!contains(supported, varnorm_isa())) mismatches.fetch_add(1);
      }
    });
  for (std::thread& reader : readers) reader.join();
  stop.store(true);
  switcher.join();
  CHECK(mismatches.load() == 0);
}
