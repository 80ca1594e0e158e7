// Float buffers placed where a kernel that reads or writes outside its tensor is caught: against a
// PROT_NONE guard page (any access past the end, or before the start, faults), or at a chosen float offset
// from a 64-byte boundary (every alignment a vector load can meet).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#define VARNORM_TEST_HAVE_GUARD_PAGES 1
#endif

namespace varnorm_test {

#if VARNORM_TEST_HAVE_GUARD_PAGES
enum class guard_side {
  after,   // the data ends where the guard page starts: an overread or overwrite faults
  before,  // the data starts where the guard page ends: an underread or underwrite faults
};

// `count` floats (at least 1) next to a PROT_NONE page, in their own mapping, holding a copy of `values`.
class guarded_floats {
 public:
  guarded_floats(const std::vector<float>& values, guard_side side) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (values.empty() ? 1 : values.size()) * sizeof(float);
    const std::size_t data_pages = (bytes + page - 1) / page;
    size_ = (data_pages + 1) * page;
    void* base = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<char*>(base);
    char* guard = side == guard_side::after ? base_ + data_pages * page : base_;
    if (mprotect(guard, page, PROT_NONE) != 0) {
      munmap(base_, size_);
      throw std::runtime_error("mprotect failed");
    }
    data_ = reinterpret_cast<float*>(side == guard_side::after ? guard - bytes : base_ + page);
    std::copy(values.begin(), values.end(), data_);
    count_ = values.size();
  }
  ~guarded_floats() { munmap(base_, size_); }
  guarded_floats(const guarded_floats&) = delete;
  guarded_floats& operator=(const guarded_floats&) = delete;

  float* data() { return data_; }
  std::vector<float> values() const { return std::vector<float>(data_, data_ + count_); }

 private:
  char* base_ = nullptr;
  std::size_t size_ = 0;
  float* data_ = nullptr;
  std::size_t count_ = 0;
};
#endif

// A copy of `values` starting `offset` (< 16) floats past a 64-byte boundary.
class offset_floats {
 public:
  offset_floats(const std::vector<float>& values, std::size_t offset) {
    if (offset >= 16) throw std::invalid_argument("offset_floats: offset of 16 floats or more");
    storage_.resize(values.size() + 32);
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    const std::size_t skip = ((64 - address % 64) % 64) / sizeof(float) + offset;
    std::copy(values.begin(), values.end(), storage_.begin() + static_cast<std::ptrdiff_t>(skip));
    data_ = storage_.data() + skip;
    count_ = values.size();
  }
  float* data() { return data_; }
  std::vector<float> values() const { return std::vector<float>(data_, data_ + count_); }

 private:
  std::vector<float> storage_;
  float* data_ = nullptr;
  std::size_t count_ = 0;
};

}  // namespace varnorm_test
