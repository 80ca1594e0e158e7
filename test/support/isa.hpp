// Kernel sets to run every numerical test on: all that this machine supports, or, when the environment
// variable VARNORM_TEST_ISAS is set (e.g. "scalar,sse2,avx2"), only those of them it lists. valgrind cannot
// execute AVX-512, so its run restricts the tests this way (see test/sanitize/README.md).
#pragma once

#include <varnorm/varnorm.h>

#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

namespace varnorm_test {

// Whether VARNORM_TEST_ISAS permits kernel set `name` (unset or empty: every set is permitted).
inline bool isa_allowed(const std::string& name) {
  const char* list = std::getenv("VARNORM_TEST_ISAS");
  if (list == nullptr || *list == '\0') return true;
  std::istringstream items(list);
  for (std::string item; std::getline(items, item, ',');)
    if (item == name) return true;
  return false;
}

// The kernel set tests run on outside an isa_scope: "auto", or with VARNORM_TEST_ISAS the best permitted
// set this machine supports. Returns false when none of the permitted sets is supported.
inline bool select_default_isa() {
  const char* list = std::getenv("VARNORM_TEST_ISAS");
  if (list == nullptr || *list == '\0') return varnorm_set_isa("auto") == VARNORM_OK;
  for (int i = 0; i < varnorm_isa_count(); ++i) {  // best first
    const char* name = varnorm_isa_name(i);
    if (isa_allowed(name) && varnorm_set_isa(name) == VARNORM_OK) return true;
  }
  return false;
}

// The portable kernel set the others are compared with: the library lists it last, and every CPU runs it.
inline std::string reference_isa() { return varnorm_isa_name(varnorm_isa_count() - 1); }

// The permitted kernel sets this machine supports, the reference first and the best last.
inline std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (int i = varnorm_isa_count() - 1; i >= 0; --i) {
    const char* name = varnorm_isa_name(i);
    if (isa_allowed(name) && varnorm_isa_supported(name)) out.emplace_back(name);
  }
  return out;
}

// Forces a kernel set for the lifetime of the object.
class isa_scope {
 public:
  explicit isa_scope(const std::string& name) {
    ok_ = isa_allowed(name) && varnorm_set_isa(name.c_str()) == VARNORM_OK;
  }
  ~isa_scope() { select_default_isa(); }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

}  // namespace varnorm_test
