// The one place that decides which kernel set runs.
#pragma once

#include <varnorm/varnorm.h>

#include "kernels/kernel_table.hpp"

namespace varnorm::detail {

// The kernel set in use: the one forced with select_isa, else the best this CPU supports.
const kernel_table& active_kernels() noexcept;

// "auto" / nullptr: best available. A known name this CPU or build lacks: VARNORM_ERROR_UNSUPPORTED.
varnorm_status select_isa(const char* name) noexcept;

}  // namespace varnorm::detail
