// The registry of kernel sets: which this build has, which this CPU can run, and which one runs.
#pragma once

#include <varnorm/varnorm.h>

#include "kernels/kernel_table.hpp"

namespace varnorm::detail {

// The kernel set in use: the one forced with select_isa, else the best this CPU supports.
const kernel_table& active_kernels() noexcept;

// The registry's name of the kernel set in use (as varnorm_isa reports it).
const char* active_isa_name() noexcept;

// "auto" / nullptr: best available. A known name this CPU or build lacks: VARNORM_ERROR_UNSUPPORTED.
varnorm_status select_isa(const char* name) noexcept;

// The kernel sets compiled into this build, best first: how many, and the name of each (nullptr out of range).
int isa_count() noexcept;
const char* isa_name(int index) noexcept;

// Whether this CPU and OS can run kernel set `name`; false for nullptr and names the build does not have.
bool isa_supported(const char* name) noexcept;

}  // namespace varnorm::detail
