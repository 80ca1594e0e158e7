// Every rule about what a call may pass, in one place. Validation runs before any work, so a call that
// fails writes nothing.
#pragma once

#include <varnorm/varnorm.h>

#include <cstdint>
#include <cstring>

#include "core/types.hpp"

namespace varnorm::detail {

// The integer a C caller stored in an enum field. Loading an enum object that holds a value outside its
// enumerators is undefined behaviour in C++ (and UBSan aborts on it), so untrusted fields are read as bytes.
template <class Enum>
std::int32_t enum_value(const Enum& field) noexcept {
  static_assert(sizeof(Enum) == sizeof(std::int32_t), "C enums of the API are int-sized");
  std::int32_t value;
  std::memcpy(&value, &field, sizeof value);
  return value;
}

varnorm_status validate_forward(const varnorm_desc* desc, const forward_buffers& b, problem* out) noexcept;
varnorm_status validate_backward(const varnorm_desc* desc, const backward_buffers& b, problem* out) noexcept;

}  // namespace varnorm::detail
