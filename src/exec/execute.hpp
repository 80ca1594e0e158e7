// Runs a validated call: the work plan's units and tiles, on the active kernel set, on the schedule's
// threads.
#pragma once

#include <cstddef>
#include <cstdint>

#include <varnorm/varnorm.h>

#include "core/types.hpp"
#include "kernels/kernel_table.hpp"

namespace varnorm::detail {

// An index into a scratch array of the parallel paths (computed in int64, as every size).
inline std::size_t slot(std::int64_t i) noexcept { return static_cast<std::size_t>(i); }

// Fences, as it ends, the streaming stores its thread made (kernel_table::stream_fence): held for a serial call
// and for each parallel task, so that every thread's output is visible before the call returns.
class streamed_output_fence {
 public:
  streamed_output_fence(const kernel_table& k, bool stream) noexcept : fence_(stream ? k.stream_fence : nullptr) {}
  ~streamed_output_fence() {
    if (fence_ != nullptr) fence_();
  }
  streamed_output_fence(const streamed_output_fence&) = delete;
  streamed_output_fence& operator=(const streamed_output_fence&) = delete;

 private:
  void (*fence_)() noexcept;
};

varnorm_status execute_forward(const problem& p, const forward_buffers& b) noexcept;
varnorm_status execute_backward(const problem& p, const backward_buffers& b) noexcept;

}  // namespace varnorm::detail
