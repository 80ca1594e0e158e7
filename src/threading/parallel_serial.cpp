// Built when VARNORM_WITH_TBB is OFF: every call runs on the calling thread.
#include "threading/parallel.hpp"

namespace varnorm::detail {

int thread_budget(int) noexcept { return 1; }

bool pool_recently_called() noexcept { return false; }

pool_call_scope::~pool_call_scope() = default;

void parallel_for(std::int64_t count, std::int64_t, thread_use, range_body body, shares) noexcept {
  if (count > 0) body.run(body.context, 0, count);
}

}  // namespace varnorm::detail
