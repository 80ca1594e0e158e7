// Runs a validated call: the work plan's units and tiles, on the active kernel set, on the schedule's
// threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include <varnorm/varnorm.h>

#include "core/types.hpp"

namespace varnorm::detail {

// An index into a scratch array of the parallel paths (computed in int64, as every size).
inline std::size_t slot(std::int64_t i) noexcept { return static_cast<std::size_t>(i); }

varnorm_status execute_forward(const problem& p, const forward_buffers& b) noexcept;
varnorm_status execute_backward(const problem& p, const backward_buffers& b) noexcept;

}  // namespace varnorm::detail
