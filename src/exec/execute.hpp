// Runs a validated call: the work plan's units and tiles, on the active kernel set, on the schedule's
// threads.
#pragma once

#include <varnorm/varnorm.h>

#include "core/types.hpp"

namespace varnorm::detail {

varnorm_status execute_forward(const problem& p, const forward_buffers& b) noexcept;
varnorm_status execute_backward(const problem& p, const backward_buffers& b) noexcept;

}  // namespace varnorm::detail
