#include "dispatch/isa_dispatch.hpp"

#include <atomic>
#include <cstddef>
#include <cstring>
#include <iterator>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

// Every kernel set varnorm has, best first: X(isa, requirement). `isa` is the name varnorm_isa reports and the
// namespace of the set's kernel_set() (src/kernels/isa_<isa>.cpp); `requirement` says whether this CPU and OS
// can run it. The one place in the library where a kernel set is named.
#define VARNORM_KERNEL_SETS(X) \
  X(avx512, avx512_runs_here)  \
  X(avx2, avx2_runs_here)      \
  X(sse2, sse2_runs_here)      \
  X(neon64, runs_everywhere)   \
  X(scalar, runs_everywhere)

// VARNORM_IF_BUILT_<isa>(yes, no): `yes` for a kernel set compiled into this build (cmake/VarnormKernels.cmake
// defines VARNORM_HAVE_<ISA> for it), `no` for one left out.
#ifdef VARNORM_HAVE_AVX512
#define VARNORM_IF_BUILT_avx512(yes, no) yes
#else
#define VARNORM_IF_BUILT_avx512(yes, no) no
#endif
#ifdef VARNORM_HAVE_AVX2
#define VARNORM_IF_BUILT_avx2(yes, no) yes
#else
#define VARNORM_IF_BUILT_avx2(yes, no) no
#endif
#ifdef VARNORM_HAVE_SSE2
#define VARNORM_IF_BUILT_sse2(yes, no) yes
#else
#define VARNORM_IF_BUILT_sse2(yes, no) no
#endif
#ifdef VARNORM_HAVE_NEON64
#define VARNORM_IF_BUILT_neon64(yes, no) yes
#else
#define VARNORM_IF_BUILT_neon64(yes, no) no
#endif
#ifdef VARNORM_HAVE_SCALAR
#define VARNORM_IF_BUILT_scalar(yes, no) yes
#else
#error "every build has the scalar kernel set: the one that runs on any CPU"
#endif

namespace varnorm::detail {

#define VARNORM_DECLARE_KERNEL_SET(isa, requirement) \
  namespace isa {                                    \
  const kernel_table& kernel_set() noexcept;         \
  }
VARNORM_KERNEL_SETS(VARNORM_DECLARE_KERNEL_SET)

namespace {

#if defined(__x86_64__) || defined(_M_X64)
// CPUID says what the core implements; XCR0 says whether the OS saves the wider registers on a context
// switch. Both must hold before a kernel set that uses them may run.
unsigned long long enabled_register_state() noexcept {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || ((ecx >> 27) & 1u) == 0) return 0;  // no OSXSAVE: no xgetbv
  unsigned lo = 0, hi = 0;
  __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

// The CPUID bits the x86 kernel sets need, read with the compiler's <cpuid.h> (static inline functions).
// xsimd's decoder would leave its inline constructor xsimd::detail::supported_arch::supported_arch() in
// libvarnorm.a as a weak global symbol whenever it is not inlined (-O2 -g does not), merged at link time
// with the copy of any other xsimd user, whose xsimd version may lay the struct out differently.
struct cpu_features {
  bool sse2 = false, fma = false, avx2 = false, avx512f = false, avx512cd = false, avx512dq = false, avx512bw = false;
};

cpu_features read_cpu_features() noexcept {
  cpu_features f;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx)) {
    f.sse2 = (edx >> 26) & 1u;
    f.fma = (ecx >> 12) & 1u;
  }
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
    f.avx2 = (ebx >> 5) & 1u;
    f.avx512f = (ebx >> 16) & 1u;
    f.avx512dq = (ebx >> 17) & 1u;
    f.avx512cd = (ebx >> 28) & 1u;
    f.avx512bw = (ebx >> 30) & 1u;
  }
  return f;
}

// Each x86 set needs the instructions its compiler flags allow (cmake/VarnormKernels.cmake) and the OS saving
// the registers they use: SSE and AVX state for avx2, opmask and upper ZMM state as well for avx512.
[[maybe_unused]] bool sse2_runs_here() noexcept { return read_cpu_features().sse2; }

[[maybe_unused]] bool avx2_runs_here() noexcept {
  const cpu_features cpu = read_cpu_features();
  return cpu.avx2 && cpu.fma && (enabled_register_state() & 0x6u) == 0x6u;
}

[[maybe_unused]] bool avx512_runs_here() noexcept {
  const cpu_features cpu = read_cpu_features();
  return cpu.avx512f && cpu.avx512cd && cpu.avx512dq && cpu.avx512bw && cpu.fma &&
         (enabled_register_state() & 0xE6u) == 0xE6u;
}
#endif

// neon64 is part of the AArch64 baseline, scalar of every build target's.
bool runs_everywhere() noexcept { return true; }

struct kernel_set_entry {
  const char* name;
  bool (*runs_here)() noexcept;
  const kernel_table& (*kernels)() noexcept;
};

#define VARNORM_ENTRY(isa, requirement) kernel_set_entry{#isa, &requirement, &isa::kernel_set},
#define VARNORM_NAME(isa, requirement) #isa,
#define VARNORM_NOTHING(isa, requirement)
#define VARNORM_BUILT_ENTRY(isa, requirement) VARNORM_IF_BUILT_##isa(VARNORM_ENTRY, VARNORM_NOTHING)(isa, requirement)
#define VARNORM_LEFT_OUT_NAME(isa, requirement) VARNORM_IF_BUILT_##isa(VARNORM_NOTHING, VARNORM_NAME)(isa, requirement)

// The kernel sets of this build, best first: what selection, varnorm_isa and the enumeration all read.
constexpr kernel_set_entry kKernelSets[] = {VARNORM_KERNEL_SETS(VARNORM_BUILT_ENTRY)};
constexpr std::size_t kKernelSetCount = std::size(kKernelSets);
static_assert(kKernelSets[kKernelSetCount - 1].kernels == &scalar::kernel_set,
              "scalar, which runs everywhere, comes last: the set chosen when no better one runs");

// Kernel sets varnorm has that this build left out (nullptr ends the list): forcing one is UNSUPPORTED, as on
// a CPU that lacks it, not an unknown name.
constexpr const char* kLeftOutNames[] = {VARNORM_KERNEL_SETS(VARNORM_LEFT_OUT_NAME) nullptr};

const kernel_set_entry* built_set_named(const char* name) noexcept {
  for (const kernel_set_entry& set : kKernelSets)
    if (std::strcmp(set.name, name) == 0) return &set;
  return nullptr;
}

bool left_out_of_build(const char* name) noexcept {
  for (const char* const* left_out = kLeftOutNames; *left_out != nullptr; ++left_out)
    if (std::strcmp(*left_out, name) == 0) return true;
  return false;
}

const kernel_set_entry& best_runnable_set() noexcept {
  for (const kernel_set_entry& set : kKernelSets)
    if (set.runs_here()) return set;
  return kKernelSets[kKernelSetCount - 1];
}

// The entry, not its kernel table, so that varnorm_isa reports the registry's name.
std::atomic<const kernel_set_entry*> g_active{nullptr};

const kernel_set_entry& active_set() noexcept {
  const kernel_set_entry* set = g_active.load(std::memory_order_acquire);
  if (set == nullptr) {
    // Racing first calls all store the same entry.
    set = &best_runnable_set();
    g_active.store(set, std::memory_order_release);
  }
  return *set;
}

}  // namespace

const kernel_table& active_kernels() noexcept { return active_set().kernels(); }

const char* active_isa_name() noexcept { return active_set().name; }

varnorm_status select_isa(const char* name) noexcept {
  if (name == nullptr || std::strcmp(name, "auto") == 0) {
    g_active.store(&best_runnable_set(), std::memory_order_release);
    return VARNORM_OK;
  }
  const kernel_set_entry* set = built_set_named(name);
  if (set == nullptr) return left_out_of_build(name) ? VARNORM_ERROR_UNSUPPORTED : VARNORM_ERROR_INVALID_ARGUMENT;
  if (!set->runs_here()) return VARNORM_ERROR_UNSUPPORTED;
  g_active.store(set, std::memory_order_release);
  return VARNORM_OK;
}

int isa_count() noexcept { return static_cast<int>(kKernelSetCount); }

const char* isa_name(int index) noexcept {
  if (index < 0 || index >= isa_count()) return nullptr;
  return kKernelSets[static_cast<std::size_t>(index)].name;
}

bool isa_supported(const char* name) noexcept {
  if (name == nullptr) return false;
  const kernel_set_entry* set = built_set_named(name);
  return set != nullptr && set->runs_here();
}

}  // namespace varnorm::detail
