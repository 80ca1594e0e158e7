// libFuzzer target for varnorm_forward / varnorm_backward (see test/fuzz/README.md).
//
// One input decodes to one call: shape (including 0, 1, SIMD tail sizes, several tiles, negative and
// overflowing dimensions), layout, algorithm, correction, eps, per-sample affine, groups (0, a divisor of c, or
// sometimes an invalid value) and center (0, 1, sometimes invalid), bias, which optional
// buffers are given, NULL pointers, where every buffer lies in one float arena (unaligned offsets, exact
// aliases, partial overlaps) and the values (raw float bits: NaN, Inf, subnormals, huge). Checked:
//  - the status equals the one re-derived here from the rules in varnorm.h and README "Contract";
//  - on an error the arena is unchanged (nothing written);
//  - on success, on every supported kernel set: results lie within the accuracy bound of the long double
//    oracle (support/oracle.hpp, support/tolerance.hpp), and so within twice that bound of "scalar";
//    NaN appears in every output of each group (plane) whose x holds NaN or Inf and, elsewhere, exactly where the
//    oracle's IEEE arithmetic gives NaN; max_threads 1, 2 and the decoded value, and the aliased placement
//    versus separate buffers, give identical bits; nothing outside the outputs is written.
// Any failed check aborts, which libFuzzer reports as a crash with the input saved.
#include <varnorm/varnorm.h>

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "support/cases.hpp"
#include "support/isa.hpp"
#include "support/oracle.hpp"
#include "support/tolerance.hpp"

using namespace varnorm_test;

namespace {

// Floats one call may touch at most: keeps an execution in milliseconds while still reaching several
// spatial tiles (32768 floats) and the multi-threaded schedules (from 131072 elements).
constexpr std::int64_t kMaxElements = 160000;
// What output memory holds before a call.
constexpr float kUnwritten = -12345.0f;

// The decoded call, printed with every failure.
std::string g_call_text;

[[noreturn]] void fail(const char* what, const std::string& detail = {}) {
  std::fprintf(stderr, "varnorm fuzz check failed: %s %s\n  call: %s\n", what, detail.c_str(), g_call_text.c_str());
  std::abort();
}

void check(bool ok, const char* what, const std::string& detail = {}) {
  if (!ok) fail(what, detail);
}

// ---------------------------------------------------------------------------------------------------------
// Buffers: where each lies in the arena.

enum role : std::size_t { X, ALPHA, BETA, DY, MEAN, RSTD, Y, DX, DALPHA, DBETA, ROLES };
const char* const kRoleNames[ROLES] = {"x", "alpha", "beta", "dy", "mean", "rstd", "y", "dx", "dalpha", "dbeta"};

struct slot {
  bool present = false;     // false: passed as NULL
  std::int64_t offset = 0;  // in floats, into the arena
  std::int64_t count = 0;   // floats the API says it spans (0 when the shape is invalid)
};

struct call {
  bool backward = false;
  bool null_desc = false;
  varnorm_desc desc{};
  bool shape_valid = false;
  std::array<slot, ROLES> slots{};
  std::int64_t arena_floats = 0;
  int decoded_threads = 0;
  // Which outputs may exactly equal which inputs (README "Contract").
  bool alias_allowed(role out, role in) const {
    return backward ? (out == DX && (in == X || in == DY)) : (out == Y && in == X);
  }
  std::vector<role> inputs() const {
    return backward ? std::vector<role>{X, ALPHA, DY, MEAN, RSTD} : std::vector<role>{X, ALPHA, BETA};
  }
  std::vector<role> outputs() const {
    return backward ? std::vector<role>{DX, DALPHA, DBETA} : std::vector<role>{Y, MEAN, RSTD};
  }
};

// ---------------------------------------------------------------------------------------------------------
// The expected status, from the documented rules alone, in the documented order: NULL desc, descriptor
// fields, shape, mean/rstd pairing (backward), required buffers, element count, overlap.

bool descriptor_fields_valid(const varnorm_desc& d) {
  int layout = 0, algorithm = 0;
  std::memcpy(&layout, &d.layout, sizeof layout);
  std::memcpy(&algorithm, &d.algorithm, sizeof algorithm);
  const bool eps_ok = !std::isnan(d.eps) && !std::isinf(d.eps) && !(d.eps < 0.0f);
  return (layout == 0 || layout == 1) && (algorithm >= 0 && algorithm <= 3) && eps_ok &&
         (d.correction == 0 || d.correction == 1) && (d.per_sample_affine == 0 || d.per_sample_affine == 1) &&
         d.max_threads >= 0 && d.groups >= 0 && (d.center == 0 || d.center == 1);
}

// Every size the API implies (the plane h*w, the planes n*c, the statistics n*G, the tensor n*c*h*w) fits in
// bytes as ptrdiff_t, computed exactly in 128 bits.
bool shape_valid(const varnorm_desc& d) {
  if (d.n < 0 || d.c < 0 || d.h < 0 || d.w < 0) return false;
  const __int128 limit = PTRDIFF_MAX / static_cast<__int128>(sizeof(float));
  const __int128 plane = static_cast<__int128>(d.h) * d.w, stats = static_cast<__int128>(d.n) * d.c;
  if (plane > limit || stats > limit) return false;
  if (static_cast<__int128>(d.n) * (d.groups > 0 ? d.groups : d.c) > limit) return false;
  // Both factors are below 2^62 here, so the product fits in 128 bits.
  return plane * stats <= limit;
}

bool ranges_intersect(const slot& a, const slot& b) {
  if (!a.present || !b.present || a.count == 0 || b.count == 0) return false;
  return a.offset < b.offset + b.count && b.offset < a.offset + a.count;
}

varnorm_status expected_status(const call& c) {
  if (c.null_desc) return VARNORM_ERROR_NULL_POINTER;
  if (!descriptor_fields_valid(c.desc)) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (!c.shape_valid) return VARNORM_ERROR_INVALID_SHAPE;
  // groups must divide c: checked with the shape, before the buffers.
  if (c.desc.groups > 0 && c.desc.c % c.desc.groups != 0) return VARNORM_ERROR_INVALID_ARGUMENT;
  if (c.backward && c.slots[MEAN].present != c.slots[RSTD].present) return VARNORM_ERROR_INVALID_ARGUMENT;
  for (role r : {X, ALPHA, c.backward ? DY : Y})
    if (!c.slots[r].present && c.slots[r].count > 0) return VARNORM_ERROR_NULL_POINTER;
  const varnorm_desc& d = c.desc;
  if (d.n * d.c > 0 && group_channels(d) * (d.h * d.w) <= d.correction) return VARNORM_ERROR_TOO_FEW_ELEMENTS;
  const std::vector<role> ins = c.inputs(), outs = c.outputs();
  for (std::size_t i = 0; i < outs.size(); ++i) {
    const slot& o = c.slots[outs[i]];
    for (role in : ins) {
      const slot& s = c.slots[in];
      const bool exact = o.offset == s.offset && o.count == s.count;
      if (ranges_intersect(o, s) && !(exact && c.alias_allowed(outs[i], in))) return VARNORM_ERROR_OVERLAP;
    }
    for (std::size_t j = i + 1; j < outs.size(); ++j)
      if (ranges_intersect(o, c.slots[outs[j]])) return VARNORM_ERROR_OVERLAP;
  }
  return VARNORM_OK;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

// Dimensions that hit every SIMD tail (widths 1, 4, 8, 16 floats; rows of up to 8 vectors; NHWC channel
// groups of 64) and tile boundaries, plus invalid ones.
std::int64_t decode_dimension(FuzzedDataProvider& in) {
  static const std::int64_t kSmall[] = {0, 1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129};
  static const std::int64_t kLarge[] = {255, 256, 257, 511, 512, 513, 1023, 1024, 1025, 32767, 32768, 32769};
  static const std::int64_t kInvalid[] = {-1,
                                          std::numeric_limits<std::int64_t>::min(),
                                          std::int64_t{1} << 31,
                                          std::int64_t{1} << 40,
                                          std::int64_t{1} << 62,
                                          std::numeric_limits<std::int64_t>::max()};
  const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
  if (kind < 160) return kSmall[kind % std::size(kSmall)];
  if (kind < 200) return kLarge[kind % std::size(kLarge)];
  if (kind < 240) return in.ConsumeIntegralInRange<std::int64_t>(0, 300);
  return kInvalid[kind % std::size(kInvalid)];
}

// A value for an enum field: mostly valid, sometimes just outside, sometimes arbitrary.
std::int32_t decode_enum(FuzzedDataProvider& in, std::int32_t valid_count) {
  const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
  if (kind < 230) return kind % valid_count;
  if (kind < 245) return kind % 2 == 0 ? valid_count : -1;
  return in.ConsumeIntegral<std::int32_t>();
}

// groups: mostly 0 (one per channel) or a divisor of c (1, c and those between), sometimes a value the library
// must reject (negative, not dividing c) or an arbitrary one.
std::int32_t decode_groups(FuzzedDataProvider& in, std::int64_t c) {
  const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
  if (kind < 90) return 0;
  if (kind < 220 && c > 0 && c <= std::numeric_limits<std::int32_t>::max()) {
    // The (kind % count)-th divisor of c, among its first 64 (c up to 2^31: scan its square root at most).
    std::vector<std::int64_t> small, large;
    for (std::int64_t g = 1; g * g <= c && small.size() < 32; ++g)
      if (c % g == 0) {
        small.push_back(g);
        if (g != c / g) large.push_back(c / g);
      }
    small.insert(small.end(), large.rbegin(), large.rend());
    return static_cast<std::int32_t>(small[kind % small.size()]);
  }
  if (kind < 235) return c >= 0 && c < std::numeric_limits<std::int32_t>::max() ? static_cast<std::int32_t>(c + 1) : 2;
  if (kind < 245) return kind % 2 == 0 ? -1 : std::numeric_limits<std::int32_t>::min();
  return in.ConsumeIntegral<std::int32_t>();
}

float decode_eps(FuzzedDataProvider& in) {
  static const float kEps[] = {1e-5f,
                               0.0f,
                               1e-5f,
                               -0.0f,
                               1e-12f,
                               1.0f,
                               std::numeric_limits<float>::denorm_min(),
                               std::numeric_limits<float>::max(),
                               -1e-5f,
                               std::numeric_limits<float>::quiet_NaN(),
                               std::numeric_limits<float>::infinity()};
  const std::uint8_t kind = in.ConsumeIntegral<std::uint8_t>();
  if (kind < 240) return kEps[kind % std::size(kEps)];
  const std::uint32_t bits = in.ConsumeIntegral<std::uint32_t>();
  float eps;
  std::memcpy(&eps, &bits, sizeof eps);
  return eps;
}

// Values of one tensor, in one of several families chosen by the input.
struct value_source {
  std::uint8_t family = 0;
  int exponent = 0;  // values are about 2^exponent
  float offset = 0;  // in units of 2^exponent: a DC offset
  std::uint8_t special_rate = 0;
  bool finite_only = false;
};

float special_value(std::uint32_t pick) {
  static const float kSpecial[] = {std::numeric_limits<float>::quiet_NaN(),
                                   -std::numeric_limits<float>::quiet_NaN(),
                                   std::numeric_limits<float>::infinity(),
                                   -std::numeric_limits<float>::infinity(),
                                   std::numeric_limits<float>::denorm_min(),
                                   -std::numeric_limits<float>::denorm_min(),
                                   std::numeric_limits<float>::min(),
                                   std::numeric_limits<float>::max(),
                                   -std::numeric_limits<float>::max(),
                                   1e30f,
                                   -1e30f,
                                   0.0f,
                                   -0.0f,
                                   1e-40f};
  return kSpecial[pick % std::size(kSpecial)];
}

void fill_values(FuzzedDataProvider& in, const value_source& s, std::mt19937& rng, float* out, std::int64_t count) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<std::uint32_t> any;
  const double scale = std::ldexp(1.0, s.exponent);
  const float constant = static_cast<float>((1.0 + static_cast<double>(s.offset)) * scale);
  for (std::int64_t i = 0; i < count; ++i) {
    float v;
    switch (s.family % 4) {
      case 0:  // raw bits from the input while it lasts, then Gaussian
        if (in.remaining_bytes() >= 4) {
          const std::uint32_t bits = in.ConsumeIntegral<std::uint32_t>();
          std::memcpy(&v, &bits, sizeof v);
          break;
        }
        [[fallthrough]];
      case 1: v = static_cast<float>((static_cast<double>(s.offset) + normal(rng)) * scale); break;
      case 2: v = constant; break;
      default: v = (any(rng) & 1u) != 0 ? constant : static_cast<float>(normal(rng) * scale); break;
    }
    if (s.special_rate != 0 && any(rng) % 256u < s.special_rate) v = special_value(any(rng));
    if (s.finite_only && !std::isfinite(v)) v = 0.0f;
    out[i] = v;
  }
}

value_source decode_source(FuzzedDataProvider& in, bool finite_only) {
  value_source s;
  s.family = in.ConsumeIntegral<std::uint8_t>();
  s.exponent = in.ConsumeIntegralInRange<int>(-150, 128);
  if (in.ConsumeBool()) s.exponent = in.ConsumeIntegralInRange<int>(-4, 4);  // ordinary data, mostly
  s.offset = static_cast<float>(in.ConsumeIntegralInRange<int>(-1000, 1000)) * (in.ConsumeBool() ? 1.0f : 0.001f);
  s.special_rate = in.ConsumeBool() ? 0 : in.ConsumeIntegral<std::uint8_t>();
  s.finite_only = finite_only;
  return s;
}

struct decoded {
  call c;
  std::vector<float> arena;
};

// Places outputs, and for the alias modes moves one output onto (or partly onto) another buffer.
void place_buffers(FuzzedDataProvider& in, call& c) {
  std::int64_t next = 8;  // room for a placement a few floats before the first buffer
  for (std::size_t r = 0; r < ROLES; ++r) {
    next += in.ConsumeIntegralInRange<std::int64_t>(0, 17);  // any float offset: unaligned for every ISA
    c.slots[r].offset = next;
    next += std::max<std::int64_t>(c.slots[r].count, 1);
  }
  // Alias modes, the allowed ones most often.
  const std::uint8_t mode = in.ConsumeIntegral<std::uint8_t>();
  const role out = c.backward ? DX : Y;
  if (mode < 60) {
    // separate buffers
  } else if (mode < 110) {
    c.slots[out].offset = c.slots[X].offset;  // y == x, dx == x
  } else if (mode < 150 && c.backward) {
    c.slots[DX].offset = c.slots[DY].offset;  // dx == dy
  } else if (mode < 170 && c.backward) {
    c.slots[DY].offset = c.slots[X].offset;  // dy == x, and then dx == x == dy
    c.slots[DX].offset = c.slots[X].offset;
  } else {
    // Any output moved to a few floats around the start of any other buffer: partial overlaps.
    const std::vector<role> outs = c.outputs();
    const role moved = outs[in.ConsumeIntegralInRange<std::size_t>(0, outs.size() - 1)];
    const role target = static_cast<role>(in.ConsumeIntegralInRange<std::size_t>(0, ROLES - 1));
    c.slots[moved].offset = c.slots[target].offset + in.ConsumeIntegralInRange<std::int64_t>(-4, 4);
  }
  c.arena_floats = next + 32;
}

bool decode(const std::uint8_t* data, std::size_t size, decoded* out) {
  FuzzedDataProvider in(data, size);
  call& c = out->c;
  c.backward = in.ConsumeBool();
  varnorm_desc& d = c.desc;
  d.n = decode_dimension(in);
  d.c = decode_dimension(in);
  d.h = decode_dimension(in);
  d.w = decode_dimension(in);
  // Enum fields are written as the integers a C caller may pass; an out-of-range value in a C++ enum
  // object is what the library must reject.
  const std::int32_t layout = decode_enum(in, 2), algorithm = decode_enum(in, 4);
  std::memcpy(&d.layout, &layout, sizeof layout);
  std::memcpy(&d.algorithm, &algorithm, sizeof algorithm);
  d.eps = decode_eps(in);
  d.correction = decode_enum(in, 2);
  d.per_sample_affine = decode_enum(in, 2);
  d.groups = decode_groups(in, d.c);
  d.center = decode_enum(in, 2);
  const std::uint8_t threads = in.ConsumeIntegral<std::uint8_t>();
  d.max_threads = threads < 250 ? threads % 4 : -static_cast<int>(threads % 3) - 1;
  c.decoded_threads = d.max_threads;
  c.null_desc = in.ConsumeIntegral<std::uint8_t>() == 0;

  c.shape_valid = shape_valid(d);
  if (c.shape_valid) {
    const std::int64_t planes = d.n * d.c, elements = planes * (d.h * d.w);
    const std::int64_t affine = d.per_sample_affine == 1 ? planes : d.c;
    // mean and rstd: n*G (G = c when groups is 0, or when it is invalid: the call is rejected before they are
    // looked at).
    const bool groups_valid = d.groups == 0 || (d.groups > 0 && d.c % d.groups == 0);
    const std::int64_t statistics = groups_valid && d.groups > 0 ? d.n * d.groups : planes;
    // Valid shapes too large to allocate: only those that do no work (n*c == 0) are kept.
    if (elements > kMaxElements || affine > kMaxElements || planes > kMaxElements || statistics > kMaxElements)
      return false;
    for (role r : {X, DY, Y, DX}) c.slots[r].count = elements;
    for (role r : {ALPHA, BETA, DALPHA, DBETA}) c.slots[r].count = affine;
    for (role r : {MEAN, RSTD}) c.slots[r].count = statistics;
  }
  // Which buffers are passed: inputs and y mostly, optional ones at random, one required one NULL rarely.
  const std::uint8_t given = in.ConsumeIntegral<std::uint8_t>();
  for (std::size_t r = 0; r < ROLES; ++r) c.slots[r].present = true;
  c.slots[BETA].present = (given & 1u) != 0;
  c.slots[MEAN].present = (given & 2u) != 0;
  c.slots[RSTD].present = (given & 4u) != 0;
  if (c.backward && (given & 8u) == 0) c.slots[RSTD].present = c.slots[MEAN].present;  // mostly paired
  c.slots[DX].present = (given & 16u) != 0 || (given & 32u) != 0;
  c.slots[DALPHA].present = (given & 64u) != 0 || (given & 32u) != 0;
  c.slots[DBETA].present = (given & 128u) != 0 || (given & 32u) != 0;
  const std::uint8_t null_pick = in.ConsumeIntegral<std::uint8_t>();
  if (null_pick >= 248) c.slots[std::array<role, 4>{X, ALPHA, Y, DY}[null_pick % 4]].present = false;

  place_buffers(in, c);

  // Values: one source per input tensor; x may hold anything, the others only finite values (a
  // non-finite alpha, beta or dy has no per-plane NaN rule to check).
  std::mt19937 rng(in.ConsumeIntegral<std::uint32_t>());
  const value_source x_source = decode_source(in, false);
  const value_source other_source = decode_source(in, true);
  // Outputs start as a marker, so that a skipped write shows; inputs are written over it.
  out->arena.assign(static_cast<std::size_t>(c.arena_floats), kUnwritten);
  std::vector<float>& a = out->arena;
  for (role r : {ALPHA, BETA, DY, MEAN, RSTD})
    fill_values(in, other_source, rng, a.data() + c.slots[r].offset, c.slots[r].count);
  // alpha near 1 unless the input asks otherwise, so that most cases test the statistics.
  if (in.ConsumeBool())
    for (std::int64_t i = 0; i < c.slots[ALPHA].count; ++i)
      a[static_cast<std::size_t>(c.slots[ALPHA].offset + i)] += 1.0f;
  fill_values(in, x_source, rng, a.data() + c.slots[X].offset, c.slots[X].count);
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Running a call

const float* cptr(const std::vector<float>& arena, const slot& s) {
  return s.present ? arena.data() + s.offset : nullptr;
}
float* ptr(std::vector<float>& arena, const slot& s) { return s.present ? arena.data() + s.offset : nullptr; }

varnorm_status run(const call& c, std::vector<float>& arena, int max_threads) {
  varnorm_desc d = c.desc;
  d.max_threads = max_threads;
  const varnorm_desc* dp = c.null_desc ? nullptr : &d;
  const auto& s = c.slots;
  if (c.backward)
    return varnorm_backward(dp, cptr(arena, s[X]), cptr(arena, s[ALPHA]), cptr(arena, s[DY]), cptr(arena, s[MEAN]),
                            cptr(arena, s[RSTD]), ptr(arena, s[DX]), ptr(arena, s[DALPHA]), ptr(arena, s[DBETA]));
  return varnorm_forward(dp, cptr(arena, s[X]), cptr(arena, s[ALPHA]), cptr(arena, s[BETA]), ptr(arena, s[Y]),
                         ptr(arena, s[MEAN]), ptr(arena, s[RSTD]));
}

// The same call with every buffer in an arena of its own layout: no buffer touches another.
call separated(const call& c) {
  call s = c;
  std::int64_t next = 0;
  for (std::size_t r = 0; r < ROLES; ++r) {
    s.slots[r].offset = next;
    next += std::max<std::int64_t>(c.slots[r].count, 1);
  }
  s.arena_floats = next;
  return s;
}

// The inputs of `c` as read from `arena`, copied into the separated layout; outputs filled with a marker.
std::vector<float> separated_arena(const call& c, const std::vector<float>& arena, const call& sep) {
  std::vector<float> out(static_cast<std::size_t>(sep.arena_floats), kUnwritten);
  for (role r : c.inputs())
    std::copy_n(arena.begin() + c.slots[r].offset, c.slots[r].count, out.begin() + sep.slots[r].offset);
  return out;
}

std::vector<float> extract(const std::vector<float>& arena, const slot& s) {
  if (!s.present) return {};
  return std::vector<float>(arena.begin() + s.offset, arena.begin() + s.offset + s.count);
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// ---------------------------------------------------------------------------------------------------------
// Comparing with the oracle

// got against the oracle's want within `bound`; a result beyond float range must be the infinity of its
// sign (an IEEE overflow), and NaN must match NaN.
bool within(float got, real want, double bound) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isnan(got)) return false;
  const real biggest = static_cast<real>(std::numeric_limits<float>::max());
  if (std::isinf(got) || std::fabs(want) > biggest) {
    // Near the top of the range the bound decides on which side of FLT_MAX the rounding falls.
    const bool same_sign = std::signbit(got) == std::signbit(static_cast<double>(want));
    return same_sign && (std::isinf(got) ? std::fabs(want) + static_cast<real>(bound) >= biggest
                                         : std::fabs(static_cast<real>(got)) + static_cast<real>(bound) >= biggest);
  }
  return std::fabs(static_cast<real>(got) - want) <= static_cast<real>(bound);
}

// Whether every x of group g of sample n is finite.
bool group_finite(const layer_case& lc, std::int64_t n, std::int64_t g) {
  const std::int64_t k = group_channels(lc.desc);
  for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch)
    for (std::int64_t p = 0; p < lc.desc.h * lc.desc.w; ++p)
      if (!std::isfinite(lc.x[static_cast<std::size_t>(element_offset(lc.desc, n, ch, p))])) return false;
  return true;
}

// The outputs of a call: forward y, mean, rstd; backward dx, dalpha, dbeta. Empty: passed as NULL.
struct results {
  std::array<std::vector<float>, 3> out;
};

results collect(const call& c, const std::vector<float>& arena) {
  const std::vector<role> outs = c.outputs();
  return {{extract(arena, c.slots[outs[0]]), extract(arena, c.slots[outs[1]]), extract(arena, c.slots[outs[2]])}};
}

// What each output element must be: NaN (`nan_required`), within `bound` of `want` (when `checked`), or
// unconstrained (results the library computes from float-rounded statistics that overflow or underflow,
// where its IEEE result legitimately departs from the oracle).
struct expectation {
  std::vector<real> want;
  std::vector<double> bound;
  std::vector<char> nan_required, checked;

  explicit expectation(std::size_t size) : want(size), bound(size), nan_required(size, 0), checked(size, 0) {}
  void expect_nan(std::size_t i) { nan_required[i] = 1; }
  void expect(std::size_t i, real value, double b) {
    want[i] = value;
    bound[i] = b;
    checked[i] = 1;
  }
};

// The smallest absolute error a float result can carry: half the subnormal spacing, rounded up.
constexpr double kSubnormalRounding = static_cast<double>(std::numeric_limits<float>::denorm_min());

std::array<expectation, 3> forward_expectations(const layer_case& lc) {
  const varnorm_desc& d = lc.desc;
  const oracle_forward_result fwd = oracle_forward(d, lc.x.data(), lc.alpha.data(), lc.beta_or_null());
  const forward_bounds b = forward_error_bounds(lc, fwd);
  std::array<expectation, 3> e{expectation(tensor_size(d)), expectation(stats_size(d)), expectation(stats_size(d))};
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      const std::size_t gi = stats_offset(d, n, g);
      const bool finite = group_finite(lc, n, g);
      const oracle_plane& st = fwd.planes[gi];
      // A constant group has variance exactly 0 (README "Contract"), where the variance bound, with its
      // infinite condition number, says nothing: rstd = 1/sqrt(eps) is then rounded once, and y carries
      // that rounding, the scale's and its own (and is inf or NaN exactly as IEEE says when eps = 0); with the
      // mean subtracted y is beta up to roundings of the scale, the shift and y of at most u*|alpha*x*rstd|.
      const bool constant = st.m2 == 0;
      const double rstd_rel_constant = 2 * kFloatUnit;
      if (finite) {
        e[1].expect(gi, st.mean, b.mean[gi] + kSubnormalRounding);
        e[2].expect(gi, st.rstd,
                    (constant ? rstd_rel_constant * static_cast<double>(st.rstd) : b.rstd[gi]) + kSubnormalRounding);
      } else {
        e[1].expect_nan(gi);
        e[2].expect_nan(gi);
      }
      const std::int64_t k = group_channels(d);
      for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch) {
        const double alpha =
            std::fabs(static_cast<double>(lc.alpha[static_cast<std::size_t>(affine_offset(d, n, ch))]));
        for (std::int64_t p = 0; p < d.h * d.w; ++p) {
          const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
          if (!finite) {
            e[0].expect_nan(i);
          } else if (constant) {
            const double product = alpha * std::fabs(static_cast<double>(lc.x[i])) * static_cast<double>(st.rstd);
            const double rel = d.center != 0 ? 3 * kFloatUnit : rstd_rel_constant + kFloatUnit;
            const double bound =
                std::isfinite(product)
                    ? rel * product + kFloatUnit * std::fabs(static_cast<double>(fwd.y[i])) + kSubnormalRounding
                    : 0.0;
            e[0].expect(i, fwd.y[i], bound);
          } else {
            e[0].expect(i, fwd.y[i], b.y[i]);
          }
        }
      }
    }
  }
  return e;
}

std::array<expectation, 3> backward_expectations(const layer_case& lc) {
  const varnorm_desc& d = lc.desc;
  const oracle_forward_result fwd = oracle_forward(d, lc.x.data(), lc.alpha.data(), static_cast<const float*>(nullptr));
  const oracle_backward_result bwd = oracle_backward(d, lc.x.data(), lc.alpha.data(), lc.dy.data());
  const backward_bounds b = backward_error_bounds(lc, fwd, bwd);
  const real biggest = static_cast<real>(std::numeric_limits<float>::max());
  const real smallest = static_cast<real>(std::numeric_limits<float>::min());
  const std::int64_t k = group_channels(d), m = k * d.h * d.w;
  std::array<expectation, 3> e{expectation(tensor_size(d)), expectation(affine_size(d)), expectation(affine_size(d))};
  std::vector<char> affine_ordinary(affine_size(d), 1), affine_nan(affine_size(d), 0);
  for (std::int64_t n = 0; n < d.n; ++n) {
    for (std::int64_t g = 0; g < group_count(d); ++g) {
      const std::size_t gi = stats_offset(d, n, g);
      const bool finite = group_finite(lc, n, g);
      const oracle_plane& st = fwd.planes[gi];
      auto ordinary_float = [&](real v) { return v == 0 || (v >= smallest && v <= biggest); };
      // The group's coefficients r^3*|B| and r*|A|/M (0 without centring), in float.
      const real coeff_b = st.rstd * st.rstd * st.rstd * std::fabs(bwd.b[gi]);
      const real coeff_c = st.rstd * std::fabs(bwd.a[gi]) / static_cast<real>(m);
      for (std::int64_t ch = g * k; ch < (g + 1) * k; ++ch) {
        const std::size_t a = static_cast<std::size_t>(affine_offset(d, n, ch));
        const real alpha = std::fabs(static_cast<real>(lc.alpha[a]));
        const real coeff_a = alpha * st.rstd;
        // dx uses rstd and its coefficients rounded to float (README "Contract": saved statistics).
        const bool ordinary = finite && std::isfinite(st.kappa) && st.rstd >= smallest && st.rstd <= biggest &&
                              ordinary_float(coeff_a) && ordinary_float(coeff_b) && ordinary_float(coeff_c);
        if (!finite) affine_nan[a] = 1;
        if (!ordinary) affine_ordinary[a] = 0;
        for (std::int64_t p = 0; p < d.h * d.w; ++p) {
          const std::size_t i = static_cast<std::size_t>(element_offset(d, n, ch, p));
          if (!finite)
            e[0].expect_nan(i);
          else if (ordinary)
            e[0].expect(i, bwd.dx[i], b.dx[i]);
        }
      }
    }
  }
  for (std::size_t a = 0; a < affine_size(d); ++a) {
    if (affine_nan[a])
      e[1].expect_nan(a);
    else if (affine_ordinary[a])
      e[1].expect(a, bwd.dalpha[a], b.dalpha[a]);
    e[2].expect(a, bwd.dbeta[a], b.dbeta[a]);  // sum(dy) does not depend on x
  }
  return e;
}

void check_results(const call& c, const std::array<expectation, 3>& e, const results& r, const results* scalar) {
  const std::vector<role> outs = c.outputs();
  for (std::size_t k = 0; k < 3; ++k) {
    const std::vector<float>& got = r.out[k];
    for (std::size_t i = 0; i < got.size(); ++i) {
      char text[240];
      std::snprintf(text, sizeof text, "%s[%zu] = %a on %s; oracle %La, bound %g; scalar %a", kRoleNames[outs[k]], i,
                    static_cast<double>(got[i]), varnorm_isa(), e[k].want[i], e[k].bound[i],
                    scalar != nullptr ? static_cast<double>(scalar->out[k][i]) : 0.0);
      if (e[k].nan_required[i] != 0) check(std::isnan(got[i]), "NaN expected (plane with NaN or Inf in x)", text);
      if (e[k].checked[i] == 0) continue;
      check(within(got[i], e[k].want[i], e[k].bound[i]), "not within the accuracy bound of the oracle", text);
      // Both within the bound of the oracle: within twice the bound of each other.
      if (scalar != nullptr)
        check(within(got[i], static_cast<real>(scalar->out[k][i]), 2 * e[k].bound[i]), "ISA disagrees with scalar",
              text);
    }
  }
}

layer_case logical_case(const call& c, const std::vector<float>& arena) {
  layer_case lc;
  lc.desc = c.desc;
  lc.x = extract(arena, c.slots[X]);
  lc.alpha = extract(arena, c.slots[ALPHA]);
  if (!c.backward && c.slots[BETA].present) lc.beta = extract(arena, c.slots[BETA]);
  lc.dy = c.backward ? extract(arena, c.slots[DY]) : std::vector<float>(lc.x.size(), 0.0f);
  return lc;
}

// Backward with saved statistics is compared with the oracle, which recomputes them: the saved ones must
// be forward's own, so forward (scalar kernels) writes them into the arena first.
void save_statistics(const call& c, std::vector<float>& arena) {
  call f = c;
  f.backward = false;
  f.null_desc = false;
  f.slots[BETA].present = false;
  const call sep = separated(f);
  std::vector<float> sa = separated_arena(f, arena, sep);
  isa_scope scope(reference_isa());
  check(run(sep, sa, 1) == VARNORM_OK, "forward for saved statistics failed");
  for (role r : {MEAN, RSTD})
    std::copy_n(sa.begin() + sep.slots[r].offset, c.slots[r].count, arena.begin() + c.slots[r].offset);
}

std::string describe(const call& c) {
  const varnorm_desc& d = c.desc;
  int layout = 0, algorithm = 0;
  std::memcpy(&layout, &d.layout, sizeof layout);
  std::memcpy(&algorithm, &d.algorithm, sizeof algorithm);
  char text[400];
  int used = std::snprintf(text, sizeof text,
                           "%s%s n=%lld c=%lld h=%lld w=%lld layout=%d algorithm=%d eps=%a correction=%d "
                           "per_sample_affine=%d groups=%d center=%d max_threads=%d; buffers (offset/count):",
                           c.backward ? "backward" : "forward", c.null_desc ? " desc=NULL" : "",
                           static_cast<long long>(d.n), static_cast<long long>(d.c), static_cast<long long>(d.h),
                           static_cast<long long>(d.w), layout, algorithm, static_cast<double>(d.eps), d.correction,
                           d.per_sample_affine, d.groups, d.center, d.max_threads);
  std::string out(text, static_cast<std::size_t>(used));
  const std::vector<role> ins = c.inputs(), outs = c.outputs();
  for (const std::vector<role>* group : {&ins, &outs})
    for (role r : *group) {
      const slot& s = c.slots[r];
      used = s.present ? std::snprintf(text, sizeof text, " %s %lld/%lld", kRoleNames[r],
                                       static_cast<long long>(s.offset), static_cast<long long>(s.count))
                       : std::snprintf(text, sizeof text, " %s NULL", kRoleNames[r]);
      out.append(text, static_cast<std::size_t>(used));
    }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::vector<std::string> isas = supported_isas();
  decoded dec;
  if (!decode(data, size, &dec)) return 0;
  const call& c = dec.c;
  const varnorm_status want = expected_status(c);
  g_call_text = describe(c);
  if (c.backward && want == VARNORM_OK && c.slots[MEAN].present) save_statistics(c, dec.arena);
  const std::vector<float>& prepared = dec.arena;
  const call sep = separated(c);
  const bool compare = want == VARNORM_OK && c.desc.n * c.desc.c > 0;
  std::array<expectation, 3> expected{expectation(0), expectation(0), expectation(0)};
  if (compare) {
    const layer_case lc = logical_case(c, prepared);
    expected = c.backward ? backward_expectations(lc) : forward_expectations(lc);
  }

  results scalar_results;
  bool have_scalar = false;
  for (const std::string& isa : isas) {
    isa_scope scope(isa);
    check(scope.ok(), "cannot select", isa);
    std::vector<float> arena = prepared;
    const varnorm_status got = run(c, arena, c.decoded_threads);
    if (got != want) {
      char text[160];
      std::snprintf(text, sizeof text, "status %d, expected %d (isa %s, shape %lld %lld %lld %lld)", got, want,
                    isa.c_str(), static_cast<long long>(c.desc.n), static_cast<long long>(c.desc.c),
                    static_cast<long long>(c.desc.h), static_cast<long long>(c.desc.w));
      fail("status", text);
    }
    if (got != VARNORM_OK) {
      check(same_bits(arena, prepared), "an error wrote to a buffer", isa);
      continue;
    }
    // Nothing outside the outputs changed.
    std::vector<float> untouched = arena;
    for (role r : c.outputs())
      if (c.slots[r].present)
        std::copy_n(prepared.begin() + c.slots[r].offset, c.slots[r].count, untouched.begin() + c.slots[r].offset);
    check(same_bits(untouched, prepared), "a write outside the outputs", isa);

    // A forward no-op (n*c == 0) writes nothing: with groups and c == 0, mean and rstd still span n*G floats,
    // which keep what they held.
    const results aliased = collect(c, arena);
    const bool forward_no_op = !c.backward && c.desc.n * c.desc.c == 0;
    if (forward_no_op)
      for (role r : {MEAN, RSTD})
        check(same_bits(extract(arena, c.slots[r]), extract(prepared, c.slots[r])), "a no-op wrote", kRoleNames[r]);
    // Separate buffers on one thread and on two give the bits of the (possibly aliased) call.
    for (int threads : {1, 2}) {
      std::vector<float> sa = separated_arena(c, prepared, sep);
      check(run(sep, sa, threads) == VARNORM_OK, "separated call failed", isa);
      // Again, back to back (the buffers are separate, so the inputs are unchanged): a first call below 1M values
      // may find the pool cold and stay on the calling thread, the second finds it warm.
      if (threads > 1) check(run(sep, sa, threads) == VARNORM_OK, "separated call failed", isa);
      const results r = collect(sep, sa);
      for (std::size_t k = 0; k < (forward_no_op ? 1 : 3); ++k)
        check(same_bits(r.out[k], aliased.out[k]),
              threads == 1 ? "aliased buffers or max_threads change the bits" : "max_threads 2 changes the bits",
              isa + " output " + kRoleNames[c.outputs()[k]]);
    }
    if (!compare) continue;
    check_results(c, expected, aliased, have_scalar ? &scalar_results : nullptr);
    if (isa == reference_isa()) {
      scalar_results = aliased;
      have_scalar = true;
    }
  }
  return 0;
}
