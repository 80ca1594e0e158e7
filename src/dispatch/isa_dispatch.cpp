#include "dispatch/isa_dispatch.hpp"

#include <atomic>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#endif

namespace varnorm::detail {

// Each kernel set is compiled in its own translation unit (see src/kernels/isa_*.cpp).
namespace scalar { const kernel_table& kernel_set() noexcept; }
#ifdef VARNORM_HAVE_SSE2
namespace sse2 { const kernel_table& kernel_set() noexcept; }
#endif
#ifdef VARNORM_HAVE_AVX2
namespace avx2 { const kernel_table& kernel_set() noexcept; }
#endif
#ifdef VARNORM_HAVE_AVX512
namespace avx512 { const kernel_table& kernel_set() noexcept; }
#endif
#ifdef VARNORM_HAVE_NEON64
namespace neon64 { const kernel_table& kernel_set() noexcept; }
#endif

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
  bool sse2 = false, fma = false, avx2 = false, avx512f = false, avx512cd = false, avx512dq = false,
       avx512bw = false;
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
#endif

// Candidates from best to worst; a name this build does not know at all is "unknown", not "unsupported".
const kernel_table* lookup(const char* name, bool* known) noexcept {
  static const char* const kAllNames[] = {"avx512", "avx2", "sse2", "neon64", "scalar"};
  *known = false;
  for (const char* n : kAllNames)
    if (std::strcmp(n, name) == 0) *known = true;
  if (!*known) return nullptr;
#if defined(__x86_64__) || defined(_M_X64)
  const cpu_features cpu = read_cpu_features();
  const unsigned long long xcr0 = enabled_register_state();
  const bool ymm_state = (xcr0 & 0x6u) == 0x6u;     // SSE and AVX state
  const bool zmm_state = (xcr0 & 0xE6u) == 0xE6u;   // plus opmask and upper ZMM state
  (void)ymm_state;  // unused when a kernel set is left out of the build
  (void)zmm_state;
#endif
#ifdef VARNORM_HAVE_AVX512
  if (std::strcmp(name, "avx512") == 0)
    return cpu.avx512f && cpu.avx512cd && cpu.avx512dq && cpu.avx512bw && zmm_state ? &avx512::kernel_set()
                                                                                     : nullptr;
#endif
#ifdef VARNORM_HAVE_AVX2
  if (std::strcmp(name, "avx2") == 0) return cpu.avx2 && cpu.fma && ymm_state ? &avx2::kernel_set() : nullptr;
#endif
#ifdef VARNORM_HAVE_SSE2
  if (std::strcmp(name, "sse2") == 0) return cpu.sse2 ? &sse2::kernel_set() : nullptr;
#endif
#ifdef VARNORM_HAVE_NEON64
  if (std::strcmp(name, "neon64") == 0) return &neon64::kernel_set();
#endif
  if (std::strcmp(name, "scalar") == 0) return &scalar::kernel_set();
  return nullptr;
}

const kernel_table& best_kernels() noexcept {
  for (const char* name : {"avx512", "avx2", "sse2", "neon64"}) {
    bool known = false;
    if (const kernel_table* t = lookup(name, &known)) return *t;
  }
  return scalar::kernel_set();
}

std::atomic<const kernel_table*> g_active{nullptr};

}  // namespace

const kernel_table& active_kernels() noexcept {
  const kernel_table* t = g_active.load(std::memory_order_acquire);
  if (t == nullptr) {
    // Racing first calls all store the same table.
    t = &best_kernels();
    g_active.store(t, std::memory_order_release);
  }
  return *t;
}

varnorm_status select_isa(const char* name) noexcept {
  if (name == nullptr || std::strcmp(name, "auto") == 0) {
    g_active.store(&best_kernels(), std::memory_order_release);
    return VARNORM_OK;
  }
  bool known = false;
  const kernel_table* t = lookup(name, &known);
  if (!known) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (t == nullptr) return VARNORM_ERROR_UNSUPPORTED;
  g_active.store(t, std::memory_order_release);
  return VARNORM_OK;
}

}  // namespace varnorm::detail
