// Kernel sets to run every numerical test on: all that this machine supports.
#pragma once

#include <varnorm/varnorm.h>

#include <string>
#include <vector>

namespace varnorm_test {

inline std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const char* name : {"scalar", "sse2", "avx2", "avx512", "neon64"}) {
    if (varnorm_set_isa(name) == VARNORM_OK) out.emplace_back(name);
  }
  varnorm_set_isa("auto");
  return out;
}

// Forces a kernel set for the lifetime of the object.
class isa_scope {
 public:
  explicit isa_scope(const std::string& name) { ok_ = varnorm_set_isa(name.c_str()) == VARNORM_OK; }
  ~isa_scope() { varnorm_set_isa("auto"); }
  isa_scope(const isa_scope&) = delete;
  isa_scope& operator=(const isa_scope&) = delete;
  bool ok() const { return ok_; }

 private:
  bool ok_ = false;
};

}  // namespace varnorm_test
