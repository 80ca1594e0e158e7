// The real-time promise (README "Real time", varnorm.h): with max_threads = 1, and for calls below the
// parallel cut-off (131072 elements) with any max_threads, varnorm_forward and varnorm_backward make no
// heap allocation and no system call (so they take no lock that can sleep, and wake no thread).
//
// 1. Allocations: this program replaces malloc, free, calloc, realloc, aligned_alloc, posix_memalign,
//    memalign, valloc, pvalloc and every operator new / delete (plain, array, nothrow, sized, aligned) with
//    wrappers that count calls while armed and forward to glibc's __libc_* functions. Every call below is
//    made armed, on every supported kernel set (chosen with varnorm_set_isa outside the armed region), both
//    layouts, all algorithms, with and without mean/rstd, beta and dx, per-channel and per-sample affine,
//    out of place and in place, as VarianceNorm2d and with groups of channels with and without the mean
//    subtracted (GroupNorm, LayerNorm, InstanceNorm2d); any allocator call fails the program, naming the call.
// 2. System calls: per kernel set, a forked child installs a seccomp filter that traps every system call
//    but exit_group, then makes the same calls; a trapped call fails the program with the call and the
//    system call number. Where seccomp is unavailable (qemu-user refuses it) this part is skipped, said so.
//    TBB is not initialized in this process before these children run, and TBB's first call makes system
//    calls (checked by hand: tbb::this_task_arena::max_concurrency() is trapped), so in a TBB build this
//    also shows that the serial path makes no TBB call.
// 3. Stack: before each call the stack below the caller is painted with a byte pattern; after it, the depth of
//    the deepest overwritten byte must stay within kStackBudget (optimized builds only: -O0 frames are larger).
// All three mechanisms are self-tested first, so the program cannot pass by not looking.
// Exit status: 0 all good, 1 a violation or a failed self-test.
#include <varnorm/varnorm.h>

#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#define VARNORM_REALTIME_SECCOMP 1
#if defined(__x86_64__)
#define VARNORM_AUDIT_ARCH AUDIT_ARCH_X86_64
#else
#define VARNORM_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#endif

#include "support/isa.hpp"

// ---------------------------------------------------------------------------------------------------------
// Counting allocator.

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);
void __libc_free(void* p);
}

namespace {

enum alloc_kind {
  k_malloc,
  k_calloc,
  k_realloc,
  k_aligned_alloc,
  k_posix_memalign,
  k_memalign,
  k_valloc,
  k_pvalloc,
  k_free,
  k_new,
  k_new_array,
  k_delete,
  k_delete_array
};
const char* const kAllocKindNames[] = {
    "malloc",  "calloc", "realloc",      "aligned_alloc",  "posix_memalign",  "memalign",         "valloc",
    "pvalloc", "free",   "operator new", "operator new[]", "operator delete", "operator delete[]"};

std::atomic<bool> g_armed{false};
std::atomic<long> g_calls{0};
std::atomic<int> g_first_kind{0};
std::atomic<std::size_t> g_first_size{0};

inline void note(alloc_kind kind, std::size_t size) noexcept {
  if (!g_armed.load(std::memory_order_relaxed)) return;
  if (g_calls.fetch_add(1) == 0) {
    g_first_kind.store(kind);
    g_first_size.store(size);
  }
}

void arm() noexcept {
  g_calls.store(0);
  g_armed.store(true);
}
long disarm() noexcept {
  g_armed.store(false);
  return g_calls.load();
}

void* aligned_or_null(std::size_t alignment, std::size_t size) noexcept {
  return __libc_memalign(alignment, size == 0 ? 1 : size);
}

void* new_or_throw(alloc_kind kind, std::size_t size) {
  note(kind, size);
  void* p = __libc_malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void* aligned_new_or_throw(alloc_kind kind, std::size_t size, std::align_val_t alignment) {
  note(kind, size);
  void* p = aligned_or_null(static_cast<std::size_t>(alignment), size);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void counted_delete(alloc_kind kind, void* p) noexcept {
  note(kind, 0);
  __libc_free(p);
}

}  // namespace

extern "C" {
void* malloc(std::size_t size) noexcept {
  note(k_malloc, size);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  note(k_calloc, count * size);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  note(k_realloc, size);
  return __libc_realloc(p, size);
}
void free(void* p) noexcept {
  note(k_free, 0);
  __libc_free(p);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  note(k_aligned_alloc, size);
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  note(k_posix_memalign, size);
  if (alignment < sizeof(void*) || (alignment & (alignment - 1)) != 0) return EINVAL;
  void* p = __libc_memalign(alignment, size);
  if (p == nullptr) return ENOMEM;
  *out = p;
  return 0;
}
void* memalign(std::size_t alignment, std::size_t size) noexcept {
  note(k_memalign, size);
  return __libc_memalign(alignment, size);
}
void* valloc(std::size_t size) noexcept {
  note(k_valloc, size);
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  note(k_pvalloc, size);
  return __libc_pvalloc(size);
}
}  // extern "C"

void* operator new(std::size_t size) { return new_or_throw(k_new, size); }
void* operator new[](std::size_t size) { return new_or_throw(k_new_array, size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  note(k_new, size);
  return __libc_malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  note(k_new_array, size);
  return __libc_malloc(size == 0 ? 1 : size);
}
void* operator new(std::size_t size, std::align_val_t alignment) {
  return aligned_new_or_throw(k_new, size, alignment);
}
void* operator new[](std::size_t size, std::align_val_t alignment) {
  return aligned_new_or_throw(k_new_array, size, alignment);
}
void* operator new(std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  note(k_new, size);
  return aligned_or_null(static_cast<std::size_t>(alignment), size);
}
void* operator new[](std::size_t size, std::align_val_t alignment, const std::nothrow_t&) noexcept {
  note(k_new_array, size);
  return aligned_or_null(static_cast<std::size_t>(alignment), size);
}
void operator delete(void* p) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p) noexcept { counted_delete(k_delete_array, p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { counted_delete(k_delete_array, p); }
void operator delete(void* p, std::size_t) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p, std::size_t) noexcept { counted_delete(k_delete_array, p); }
void operator delete(void* p, std::align_val_t) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p, std::align_val_t) noexcept { counted_delete(k_delete_array, p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { counted_delete(k_delete_array, p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { counted_delete(k_delete, p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { counted_delete(k_delete_array, p); }

// ---------------------------------------------------------------------------------------------------------
// The calls.

namespace {

constexpr std::int64_t kParallelCutoff = 131072;  // src/plan/work_plan.hpp kParallelMinElements

// How a call groups channels (varnorm_desc groups, center): VarianceNorm2d is {0, false}.
struct group_mode {
  std::int32_t groups;
  bool center;
};

// One tensor shape with all its buffers, allocated and filled before anything is armed. alpha, beta,
// dalpha and dbeta have n*c values, enough for per-sample affine; mean and rstd n*c, enough for any groups.
struct dataset {
  std::int64_t n, c, h, w;
  varnorm_layout layout;
  std::vector<int> max_threads;  // each call on this shape is made with each of these
  std::vector<float> x, alpha, beta, dy, y, mean, rstd, dx, dalpha, dbeta;
  std::vector<group_mode> modes = {{0, false}};  // and in each of these
};

dataset make_dataset(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, varnorm_layout layout,
                     std::vector<int> max_threads, std::uint32_t seed) {
  dataset d{n, c, h, w, layout, std::move(max_threads), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}};
  const std::size_t elements = static_cast<std::size_t>(n * c * h * w), planes = static_cast<std::size_t>(n * c);
  std::uint32_t state = seed;
  auto uniform = [&state] {  // in [-1, 1)
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(state >> 8) / 8388608.0f - 1.0f;
  };
  d.x.resize(elements);
  for (std::size_t i = 0; i < elements; ++i) d.x[i] = 3.0f + uniform() * static_cast<float>(1 + i % 5);
  d.dy.resize(elements);
  for (float& v : d.dy) v = uniform();
  d.alpha.resize(planes);
  for (float& v : d.alpha) v = 1.0f + 0.1f * uniform();
  d.beta.resize(planes);
  for (float& v : d.beta) v = uniform();
  d.y.assign(elements, 0.0f);
  d.dx.assign(elements, 0.0f);
  d.mean.assign(planes, 0.0f);
  d.rstd.assign(planes, 0.0f);
  d.dalpha.assign(planes, 0.0f);
  d.dbeta.assign(planes, 0.0f);
  return d;
}

// Small shapes with tails (0, 8 threads stay serial), shapes just below the cut-off with many planes and
// two NHWC channel groups (the same), and shapes above it, with several tiles per plane, at max_threads 1.
// Each as VarianceNorm2d, and with groups of channels with and without the mean subtracted (GroupNorm,
// LayerNorm G = 1, InstanceNorm2d G = 0 centred, NHWC groups wider than 64 channels).
std::vector<dataset> make_datasets() {
  std::vector<dataset> out;
  out.push_back(make_dataset(2, 3, 17, 19, VARNORM_LAYOUT_NCHW, {1, 0, 8}, 1));
  out.back().modes.insert(out.back().modes.end(), {{1, true}, {0, true}});
  out.push_back(make_dataset(2, 3, 17, 19, VARNORM_LAYOUT_NHWC, {1, 0, 8}, 2));
  out.back().modes.insert(out.back().modes.end(), {{1, true}, {1, false}});
  out.push_back(make_dataset(2, 17, 8, 8, VARNORM_LAYOUT_NCHW, {1, 0, 8}, 8));  // groups of small planes
  out.back().modes.insert(out.back().modes.end(), {{1, true}, {17, true}});
  // Planes of 16 values: one plane per lane in the statistics and in the gradient sums.
  out.push_back(make_dataset(2, 20, 4, 4, VARNORM_LAYOUT_NCHW, {1, 0, 8}, 13));
  out.back().modes.insert(out.back().modes.end(), {{5, true}, {1, true}});
  out.push_back(make_dataset(1, 16, 64, 64, VARNORM_LAYOUT_NCHW, {1, 0, 8}, 3));
  out.back().modes.insert(out.back().modes.end(), {{4, true}, {1, false}});
  out.push_back(make_dataset(2, 80, 20, 20, VARNORM_LAYOUT_NHWC, {1, 0, 8}, 4));
  out.back().modes.insert(out.back().modes.end(), {{1, true}, {2, true}, {0, true}, {16, false}});
  // NHWC channel groups of several tiles each: forward walks two of a sample's units side by side.
  out.push_back(make_dataset(1, 130, 25, 25, VARNORM_LAYOUT_NHWC, {1, 0}, 12));
  out.back().modes.insert(out.back().modes.end(), {{2, true}, {0, true}});
  out.push_back(make_dataset(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, {1}, 5));
  out.back().modes.insert(out.back().modes.end(), {{1, true}});
  out.push_back(make_dataset(1, 2, 300, 300, VARNORM_LAYOUT_NHWC, {1}, 6));
  out.back().modes.insert(out.back().modes.end(), {{1, true}});
  // Groups only: NHWC groups of 256 and 128 channels, and of 3 planes of 1 x 257 in both layouts.
  out.push_back(make_dataset(1, 256, 16, 16, VARNORM_LAYOUT_NHWC, {1, 0, 8}, 9));
  out.back().modes = {{1, true}, {2, true}, {8, false}};
  out.push_back(make_dataset(2, 12, 1, 257, VARNORM_LAYOUT_NCHW, {1, 0}, 10));
  out.back().modes = {{3, true}, {3, false}};
  out.push_back(make_dataset(2, 12, 1, 257, VARNORM_LAYOUT_NHWC, {1, 0}, 11));
  out.back().modes = {{3, true}, {1, true}};
  return out;
}

// One library call: a plain value, so that a forked child can step through a prepared list of them.
struct call_spec {
  bool backward;
  std::size_t dataset;
  varnorm_algorithm algorithm;
  int correction;
  bool per_sample_affine;
  bool beta;   // forward: beta given
  bool stats;  // forward: mean and rstd written; backward: saved mean and rstd given (else recomputed)
  bool dx;     // backward: dx written (else NULL, only dalpha and dbeta)
  int max_threads;
  bool in_place = false;  // forward y == x, backward dx == dy (on copies of x and dy)
  group_mode mode = {0, false};
};

std::vector<call_spec> make_calls(const std::vector<dataset>& data) {
  std::vector<call_spec> calls;
  for (std::size_t i = 0; i < data.size(); ++i) {
    for (const group_mode mode : data[i].modes) {
      for (int threads : data[i].max_threads) {
        for (varnorm_algorithm algorithm : {VARNORM_ALGORITHM_AUTO, VARNORM_ALGORITHM_TWO_PASS,
                                            VARNORM_ALGORITHM_WELFORD, VARNORM_ALGORITHM_SHIFTED_SUMS}) {
          for (bool per_sample : {false, true}) {
            for (bool stats : {true, false}) {
              const int correction = per_sample ? 0 : 1;
              const bool beta = stats != per_sample;
              // Forward first: a backward with saved statistics reads what it wrote.
              calls.push_back({false, i, algorithm, correction, per_sample, beta, stats, true, threads, false, mode});
              calls.push_back({true, i, algorithm, correction, per_sample, false, stats, true, threads, false, mode});
              if (!stats)
                calls.push_back({true, i, algorithm, correction, per_sample, false, true, false, threads, false, mode});
              if (stats) {
                calls.push_back({false, i, algorithm, correction, per_sample, beta, stats, true, threads, true, mode});
                calls.push_back({true, i, algorithm, correction, per_sample, false, stats, true, threads, true, mode});
              }
            }
          }
        }
      }
    }
  }
  return calls;
}

varnorm_desc desc_of(const dataset& d, const call_spec& s) noexcept {
  varnorm_desc desc = varnorm_desc_make(d.n, d.c, d.h, d.w, d.layout);
  desc.algorithm = s.algorithm;
  desc.correction = s.correction;
  desc.per_sample_affine = s.per_sample_affine ? 1 : 0;
  desc.max_threads = s.max_threads;
  desc.groups = s.mode.groups;
  desc.center = s.mode.center ? 1 : 0;
  return desc;
}

// Makes the call; nothing here allocates or makes a system call besides what the library does.
varnorm_status make_call(std::vector<dataset>& data, const call_spec& s) noexcept {
  dataset& d = data[s.dataset];
  const varnorm_desc desc = desc_of(d, s);
  const float* x = d.x.data();
  const float* dy = d.dy.data();
  float* dx = s.dx ? d.dx.data() : nullptr;
  if (s.in_place) {  // copies, not allocations: the buffers exist already
    if (!s.backward) {
      std::memcpy(d.y.data(), d.x.data(), d.x.size() * sizeof(float));
      x = d.y.data();
    } else {
      std::memcpy(d.dx.data(), d.dy.data(), d.dy.size() * sizeof(float));
      dy = dx = d.dx.data();
    }
  }
  float* mean = s.stats ? d.mean.data() : nullptr;
  float* rstd = s.stats ? d.rstd.data() : nullptr;
  if (!s.backward)
    return varnorm_forward(&desc, x, d.alpha.data(), s.beta ? d.beta.data() : nullptr, d.y.data(), mean, rstd);
  return varnorm_backward(&desc, x, d.alpha.data(), dy, mean, rstd, dx, d.dalpha.data(), d.dbeta.data());
}

std::string describe(const std::vector<dataset>& data, const call_spec& s, const char* isa) {
  const dataset& d = data[s.dataset];
  char text[512];
  std::snprintf(text, sizeof text,
                "%s (kernel set %s, %lldx%lldx%lldx%lld %s, groups %d, center %d, %s, correction %d, %s affine%s, %s, "
                "max_threads %d%s)",
                s.backward ? "varnorm_backward" : "varnorm_forward", isa, static_cast<long long>(d.n),
                static_cast<long long>(d.c), static_cast<long long>(d.h), static_cast<long long>(d.w),
                d.layout == VARNORM_LAYOUT_NCHW ? "NCHW" : "NHWC", static_cast<int>(s.mode.groups),
                s.mode.center ? 1 : 0,
                s.algorithm == VARNORM_ALGORITHM_AUTO       ? "auto"
                : s.algorithm == VARNORM_ALGORITHM_TWO_PASS ? "two-pass"
                : s.algorithm == VARNORM_ALGORITHM_WELFORD  ? "welford"
                                                            : "shifted sums",
                s.correction, s.per_sample_affine ? "per-sample" : "per-channel",
                s.backward ? (s.dx ? ", dx" : ", no dx") : (s.beta ? ", beta" : ", no beta"),
                s.backward ? (s.stats ? "saved mean/rstd" : "recomputed mean/rstd")
                           : (s.stats ? "mean/rstd written" : "no mean/rstd"),
                s.max_threads, s.in_place ? (s.backward ? ", dx == dy" : ", y == x") : "");
  return text;
}

int g_failures = 0;

void fail(const std::string& message) {
  std::fprintf(stderr, "FAIL: %s\n", message.c_str());
  ++g_failures;
}

// Every call armed: none may reach the allocator.
void check_no_allocation(std::vector<dataset>& data, const std::vector<call_spec>& calls, const char* isa) {
  for (const call_spec& s : calls) {
    arm();
    const varnorm_status status = make_call(data, s);
    const long n = disarm();
    if (status != VARNORM_OK) fail(describe(data, s, isa) + " returned " + varnorm_status_string(status));
    if (n != 0) {
      fail(describe(data, s, isa) + " made " + std::to_string(n) + " allocator call(s), the first " +
           kAllocKindNames[g_first_kind.load()] + "(" + std::to_string(g_first_size.load()) + ")");
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Stack use.

// Stack any call may use below its caller's frame (README "Real time").
constexpr std::size_t kStackBudget = 40 * 1024;
constexpr std::size_t kPaintedBytes = 256 * 1024;
constexpr unsigned char kPaint = 0xA5;
std::uintptr_t g_painted = 0;  // the painted area's lowest address (an address only: the area is gone)

// Fills kPaintedBytes of stack below the caller's frame with kPaint: a call the caller makes next runs on them.
__attribute__((noinline)) void paint_stack() {
  unsigned char area[kPaintedBytes];
  std::memset(area, kPaint, sizeof area);
  asm volatile("" : : "r"(area) : "memory");
  g_painted = reinterpret_cast<std::uintptr_t>(area);
}

// How deep the stack went since paint_stack: the painted bytes from the deepest one overwritten up.
__attribute__((noinline)) std::size_t stack_used() {
  const auto* painted = reinterpret_cast<const volatile unsigned char*>(g_painted);
  std::size_t untouched = 0;
  while (untouched < kPaintedBytes && painted[untouched] == kPaint) ++untouched;
  return kPaintedBytes - untouched;
}

// Every call within kStackBudget; `deepest` collects the most any call used.
void check_stack_use(std::vector<dataset>& data, const std::vector<call_spec>& calls, const char* isa,
                     std::size_t& deepest) {
  for (const call_spec& s : calls) {
    paint_stack();
    const varnorm_status status = make_call(data, s);
    const std::size_t used = stack_used();
    if (status != VARNORM_OK) fail(describe(data, s, isa) + " returned " + varnorm_status_string(status));
    if (used > deepest) deepest = used;
    if (std::getenv("VARNORM_REALTIME_DEPTHS") != nullptr)
      std::printf("%zu %s\n", used, describe(data, s, isa).c_str());
    if (used > kStackBudget)
      fail(describe(data, s, isa) + " used " + std::to_string(used) + " bytes of stack, more than " +
           std::to_string(kStackBudget));
  }
}

// A function that puts 48 KiB on the stack is seen using more than the budget.
__attribute__((noinline)) void use_deep_stack() {
  volatile unsigned char area[48 * 1024];
  for (std::size_t i = 0; i < sizeof area; i += 512) area[i] = 0;
}

bool stack_gauge_works() {
  paint_stack();
  use_deep_stack();
  return stack_used() > kStackBudget;
}

// The counter sees what it must: deliberate malloc/free, operator new/delete, a std::vector and a nothrow
// array new inside an armed region (through volatile pointers, so the compiler cannot drop them).
std::vector<double>* volatile g_escape = nullptr;

bool allocation_counter_works() {
  void* (*volatile do_malloc)(std::size_t) = std::malloc;
  void (*volatile do_free)(void*) = std::free;
  void* (*volatile do_new)(std::size_t) = &::operator new;
  void (*volatile do_delete)(void*) noexcept = &::operator delete;
  arm();
  do_free(do_malloc(24));
  do_delete(do_new(40));
  {
    std::vector<double> v(100);
    g_escape = &v;
  }
  int* volatile array = new (std::nothrow) int[3];
  delete[] array;
  const long seen = disarm();
  g_escape = nullptr;
  return seen == 8;
}

#ifdef VARNORM_REALTIME_SECCOMP
// Shared between the parent and a forked child: where the child was and what stopped it.
struct child_report {
  volatile long call;     // index of the call in progress, -1 before the first
  volatile long syscall;  // the trapped system call's number
};
child_report* g_report = nullptr;

constexpr int kExitTrapped = 3, kExitStatus = 4, kExitNoSeccomp = 77;

void on_sigsys(int, siginfo_t* info, void*) {
  g_report->syscall = info->si_syscall;
  syscall(SYS_exit_group, kExitTrapped);
}

// In the child: from here on every system call but exit/exit_group raises SIGSYS (handled above).
bool enter_no_syscall_mode() {
  struct sigaction action;
  std::memset(&action, 0, sizeof action);
  action.sa_sigaction = on_sigsys;
  action.sa_flags = SA_SIGINFO;
  if (sigaction(SIGSYS, &action, nullptr) != 0) return false;
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, VARNORM_AUDIT_ARCH, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit_group, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_exit, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP),
  };
  struct sock_fprog program;
  program.len = static_cast<unsigned short>(sizeof filter / sizeof filter[0]);
  program.filter = filter;
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) == 0;
}

enum class child_result { ok, trapped, bad_status, no_seccomp, crashed };

// Runs body() in a child in no-syscall mode; body returns the child's exit status.
template <class Body>
child_result run_without_syscalls(Body&& body, int* raw_status) {
  g_report->call = -1;
  g_report->syscall = -1;
  std::fflush(nullptr);
  const pid_t pid = fork();
  if (pid < 0) return child_result::crashed;
  if (pid == 0) {
    if (!enter_no_syscall_mode()) _exit(kExitNoSeccomp);
    syscall(SYS_exit_group, body());
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  *raw_status = status;
  if (!WIFEXITED(status)) return child_result::crashed;
  switch (WEXITSTATUS(status)) {
    case 0: return child_result::ok;
    case kExitTrapped: return child_result::trapped;
    case kExitStatus: return child_result::bad_status;
    case kExitNoSeccomp: return child_result::no_seccomp;
    default: return child_result::crashed;
  }
}

// Returns false when seccomp is unavailable here (the syscall check is then skipped).
bool seccomp_available_and_working() {
  int raw = 0;
  // The filter traps a deliberate system call, naming it: the check below cannot pass by not looking.
  const child_result r = run_without_syscalls(
      [] {
        syscall(SYS_getpid);
        return 0;
      },
      &raw);
  if (r == child_result::no_seccomp) return false;
  if (r != child_result::trapped || g_report->syscall != SYS_getpid) {
    fail("seccomp self-test: a getpid() in no-syscall mode was not trapped (child status " + std::to_string(raw) +
         ", syscall " + std::to_string(g_report->syscall) + ")");
    return false;
  }
  return true;
}

void check_no_syscall(std::vector<dataset>& data, const std::vector<call_spec>& calls, const char* isa) {
  int raw = 0;
  const child_result r = run_without_syscalls(
      [&]() -> int {
        for (std::size_t i = 0; i < calls.size(); ++i) {
          g_report->call = static_cast<long>(i);
          if (make_call(data, calls[i]) != VARNORM_OK) return kExitStatus;
        }
        return 0;
      },
      &raw);
  const long at = g_report->call;
  const std::string where =
      at >= 0 ? describe(data, calls[static_cast<std::size_t>(at)], isa) : "before the first call";
  switch (r) {
    case child_result::ok: return;
    case child_result::trapped: fail(where + " made system call " + std::to_string(g_report->syscall)); return;
    case child_result::bad_status: fail(where + " did not return VARNORM_OK in no-syscall mode"); return;
    case child_result::no_seccomp: fail("seccomp became unavailable between the self-test and the check"); return;
    case child_result::crashed:
      fail(where + ": the no-syscall child ended abnormally (wait status " + std::to_string(raw) + ")");
      return;
  }
}
#endif

}  // namespace

int main() {
  if (!allocation_counter_works()) {
    std::fprintf(stderr, "FAIL: allocation counter self-test: the interposed allocator did not see deliberate calls\n");
    return 1;
  }
  std::vector<dataset> data = make_datasets();
  const std::vector<call_spec> calls = make_calls(data);
  for (const call_spec& s : calls) {
    const dataset& d = data[s.dataset];
    if (s.max_threads != 1 && d.n * d.c * d.h * d.w >= kParallelCutoff) {
      std::fprintf(stderr, "FAIL: test setup: max_threads %d on a shape above the cut-off\n", s.max_threads);
      return 1;
    }
  }
  const std::vector<std::string> isas = varnorm_test::supported_isas();
  if (isas.empty()) {
    std::fprintf(stderr, "FAIL: no kernel set permitted and supported\n");
    return 1;
  }

  std::size_t total = 0;
  int failures_before = g_failures;
  for (const std::string& isa : isas) {
    if (varnorm_set_isa(isa.c_str()) != VARNORM_OK) {
      fail("varnorm_set_isa(" + isa + ")");
      continue;
    }
    check_no_allocation(data, calls, isa.c_str());
    total += calls.size();
  }
  std::printf("allocations: %zu calls on %zu kernel set(s), %d with an allocator call or an error\n", total,
              isas.size(), g_failures - failures_before);

#if defined(__OPTIMIZE__)
  if (!stack_gauge_works()) {
    fail("stack gauge self-test: 48 KiB put on the stack were not seen");
  } else {
    failures_before = g_failures;
    std::size_t deepest = 0;
    for (const std::string& isa : isas) {
      varnorm_set_isa(isa.c_str());
      check_stack_use(data, calls, isa.c_str(), deepest);
    }
    std::printf("stack: the same calls, the deepest used %zu bytes (budget %zu), %d over budget or failed\n", deepest,
                kStackBudget, g_failures - failures_before);
  }
#else
  std::printf("SKIPPED: stack use not checked in an unoptimized build\n");
#endif

#ifdef VARNORM_REALTIME_SECCOMP
  g_report = static_cast<child_report*>(
      mmap(nullptr, sizeof(child_report), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (g_report == MAP_FAILED) {
    fail("mmap of the shared report page");
  } else if (!seccomp_available_and_working()) {
    if (g_failures == 0) std::printf("SKIPPED: system calls not checked: seccomp filters unavailable here\n");
  } else {
    failures_before = g_failures;
    for (const std::string& isa : isas) {
      varnorm_set_isa(isa.c_str());  // before the fork: the child inherits the choice
      check_no_syscall(data, calls, isa.c_str());
    }
    std::printf("system calls: the same calls under a seccomp filter, %d kernel set(s) with a system call\n",
                g_failures - failures_before);
  }
#else
  std::printf("SKIPPED: system calls not checked on this platform\n");
#endif
  varnorm_test::select_default_isa();

#ifdef VARNORM_REALTIME_WITH_TBB
  // Last, as it initializes TBB and starts its threads (the checks above rely on TBB being untouched): a
  // call that does go parallel (backward above the cut-off) reaches the allocator (its per-unit buffer), so
  // a small call going parallel by mistake would be caught above.
  {
    std::vector<dataset> big;
    big.push_back(make_dataset(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, {2}, 7));
    const call_spec parallel{true, 0, VARNORM_ALGORITHM_AUTO, 1, false, false, false, true, 2};
    arm();
    const varnorm_status status = make_call(big, parallel);
    const long n = disarm();
    if (status != VARNORM_OK || n == 0)
      fail("self-test: " + describe(big, parallel, varnorm_isa()) +
           " made no allocator call; expected the parallel "
           "path's work buffer (if it no longer allocates, find another witness of a parallel call)");
  }
#endif

  if (g_failures != 0) {
    std::fprintf(stderr, "%d failure(s)\n", g_failures);
    return 1;
  }
  std::printf("PASSED\n");
  return 0;
}
