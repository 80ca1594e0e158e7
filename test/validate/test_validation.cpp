// Every bad input of the C API contract (the comment of each status in varnorm.h), for forward and backward:
// the status returned and that nothing was written. All buffers of a call are slices of one arena filled
// with a sentinel pattern; after a rejected call the whole arena must hold that pattern still, so no output
// (wherever a test points it) was touched. Also the edges that are accepted (adjacent buffers, optional
// buffers left NULL, the largest shape whose byte size fits) and the exact aliases the contract allows
// (y == x, dx == dy, dx == x), which must give bitwise the out-of-place result.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

// 4096 floats, float i holding the quiet NaN with payload i + 1: distinct from anything the library writes.
class sentinel_arena {
 public:
  sentinel_arena() : data_(kFloats) {
    for (std::size_t i = 0; i < kFloats; ++i) data_[i] = pattern(i);
  }
  float* at(std::size_t offset) { return data_.data() + offset; }
  bool untouched() const {
    for (std::size_t i = 0; i < kFloats; ++i)
      if (std::memcmp(&data_[i], &pattern_bits(i), sizeof(float)) != 0) return false;
    return true;
  }

 private:
  static constexpr std::size_t kFloats = 4096;
  static const std::uint32_t& pattern_bits(std::size_t i) {
    static std::vector<std::uint32_t> bits = [] {
      std::vector<std::uint32_t> b(kFloats);
      for (std::size_t k = 0; k < kFloats; ++k) b[k] = 0x7fc00001u + static_cast<std::uint32_t>(k);
      return b;
    }();
    return bits[i];
  }
  static float pattern(std::size_t i) {
    float f;
    std::memcpy(&f, &pattern_bits(i), sizeof f);
    return f;
  }
  std::vector<float> data_;
};

// Writes a raw integer into an enum field, as a C caller can: no C++ conversion to an out-of-range enum value.
template <class Enum>
void set_raw(Enum& field, std::int32_t raw) {
  static_assert(sizeof(Enum) == sizeof raw, "the C enums are int-sized");
  std::memcpy(&field, &raw, sizeof raw);
}

// n=2, c=3, h=4, w=5 (120 elements, 6 planes): inputs and outputs far apart in the arena.
constexpr std::size_t kX = 1000, kAlpha = 1400, kBeta = 1410, kDy = 1600, kMeanIn = 1900, kRstdIn = 1910;
constexpr std::size_t kY = 2500, kMean = 2800, kRstd = 2810, kDx = 2500, kDalpha = 2800, kDbeta = 2810;
constexpr std::size_t kElements = 120, kPlanes = 6, kChannels = 3;

struct forward_args {
  varnorm_desc desc = varnorm_desc_make(2, 3, 4, 5, VARNORM_LAYOUT_NCHW);
  bool null_desc = false;
  const float *x, *alpha, *beta;
  float *y, *mean, *rstd;

  explicit forward_args(sentinel_arena& a)
      : x(a.at(kX)), alpha(a.at(kAlpha)), beta(a.at(kBeta)), y(a.at(kY)), mean(a.at(kMean)), rstd(a.at(kRstd)) {}
  varnorm_status call() const { return varnorm_forward(null_desc ? nullptr : &desc, x, alpha, beta, y, mean, rstd); }
};

struct backward_args {
  varnorm_desc desc = varnorm_desc_make(2, 3, 4, 5, VARNORM_LAYOUT_NCHW);
  bool null_desc = false;
  const float *x, *alpha, *dy, *mean, *rstd;
  float *dx, *dalpha, *dbeta;

  explicit backward_args(sentinel_arena& a)
      : x(a.at(kX)),
        alpha(a.at(kAlpha)),
        dy(a.at(kDy)),
        mean(a.at(kMeanIn)),
        rstd(a.at(kRstdIn)),
        dx(a.at(kDx)),
        dalpha(a.at(kDalpha)),
        dbeta(a.at(kDbeta)) {}
  varnorm_status call() const {
    return varnorm_backward(null_desc ? nullptr : &desc, x, alpha, dy, mean, rstd, dx, dalpha, dbeta);
  }
};

template <class Args>
struct bad_input {
  std::string what;
  varnorm_status expected;
  std::function<void(Args&, sentinel_arena&)> change;
};

// Mistakes in the descriptor, the same for forward and backward.
template <class Args>
std::vector<bad_input<Args>> descriptor_mistakes() {
  const std::int64_t big = std::int64_t{1} << 16, huge = std::int64_t{1} << 32;
  return {
      {"desc NULL", VARNORM_ERROR_NULL_POINTER, [](Args& c, sentinel_arena&) { c.null_desc = true; }},
      {"n negative", VARNORM_ERROR_INVALID_SHAPE, [](Args& c, sentinel_arena&) { c.desc.n = -1; }},
      {"c negative", VARNORM_ERROR_INVALID_SHAPE, [](Args& c, sentinel_arena&) { c.desc.c = -1; }},
      {"h negative", VARNORM_ERROR_INVALID_SHAPE, [](Args& c, sentinel_arena&) { c.desc.h = -1; }},
      {"w INT64_MIN", VARNORM_ERROR_INVALID_SHAPE,
       [](Args& c, sentinel_arena&) { c.desc.w = std::numeric_limits<std::int64_t>::min(); }},
      {"n*c*h*w overflows int64", VARNORM_ERROR_INVALID_SHAPE,
       [=](Args& c, sentinel_arena&) { c.desc.n = c.desc.c = c.desc.h = c.desc.w = big; }},
      {"h*w overflows int64", VARNORM_ERROR_INVALID_SHAPE,
       [=](Args& c, sentinel_arena&) { c.desc.n = c.desc.c = 1, c.desc.h = c.desc.w = huge; }},
      {"n*c overflows int64", VARNORM_ERROR_INVALID_SHAPE,
       [=](Args& c, sentinel_arena&) { c.desc.n = c.desc.c = huge, c.desc.h = c.desc.w = 1; }},
      {"byte size 2^63 overflows (2^61 floats)", VARNORM_ERROR_INVALID_SHAPE,
       [](Args& c, sentinel_arena&) {
         c.desc.n = std::int64_t{1} << 31, c.desc.c = std::int64_t{1} << 30, c.desc.h = c.desc.w = 1;
       }},
      {"layout 2", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { set_raw(c.desc.layout, 2); }},
      {"layout -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { set_raw(c.desc.layout, -1); }},
      {"algorithm 4", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { set_raw(c.desc.algorithm, 4); }},
      {"algorithm -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { set_raw(c.desc.algorithm, -1); }},
      {"eps negative", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.eps = -1e-5f; }},
      {"eps smallest negative", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.eps = -std::numeric_limits<float>::denorm_min(); }},
      {"eps NaN", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.eps = std::numeric_limits<float>::quiet_NaN(); }},
      {"eps +inf", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.eps = std::numeric_limits<float>::infinity(); }},
      {"eps -inf", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.eps = -std::numeric_limits<float>::infinity(); }},
      {"correction 2", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.correction = 2; }},
      {"correction -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.correction = -1; }},
      {"per_sample_affine 2", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.per_sample_affine = 2; }},
      {"per_sample_affine -1", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.per_sample_affine = -1; }},
      {"max_threads -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.max_threads = -1; }},
      {"h*w == 1 with correction 1", VARNORM_ERROR_TOO_FEW_ELEMENTS,
       [](Args& c, sentinel_arena&) { c.desc.h = c.desc.w = 1; }},
      {"h == 0 with correction 1", VARNORM_ERROR_TOO_FEW_ELEMENTS, [](Args& c, sentinel_arena&) { c.desc.h = 0; }},
      {"w == 0 with correction 0", VARNORM_ERROR_TOO_FEW_ELEMENTS,
       [](Args& c, sentinel_arena&) { c.desc.w = 0, c.desc.correction = 0; }},
      // Groups and centring (c = 3).
      {"groups -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.groups = -1; }},
      {"groups INT32_MIN", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.groups = std::numeric_limits<std::int32_t>::min(); }},
      {"groups 2 not dividing c = 3", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.groups = 2; }},
      {"groups 6 > c = 3", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.groups = 6; }},
      {"groups INT32_MAX", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.groups = std::numeric_limits<std::int32_t>::max(); }},
      {"center 2", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.center = 2; }},
      {"center -1", VARNORM_ERROR_INVALID_ARGUMENT, [](Args& c, sentinel_arena&) { c.desc.center = -1; }},
      {"center 2 with groups 1", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.center = 2, c.desc.groups = 1; }},
      // Descriptor fields come before the shape; whether groups divides c after it (it needs a valid c).
      {"groups -1 with n negative", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.groups = -1, c.desc.n = -1; }},
      {"center 2 with c negative", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.center = 2, c.desc.c = -1; }},
      {"groups 2 with c negative", VARNORM_ERROR_INVALID_SHAPE,
       [](Args& c, sentinel_arena&) { c.desc.groups = 2, c.desc.c = -3; }},
      {"groups 2 not dividing c, n*c overflows", VARNORM_ERROR_INVALID_SHAPE,
       [=](Args& c, sentinel_arena&) { c.desc.groups = 2, c.desc.n = huge, c.desc.c = huge + 1; }},
      // mean and rstd hold n*G floats: that size must fit too, also when c = 0 leaves G unbounded.
      {"n*G overflows int64 with c == 0", VARNORM_ERROR_INVALID_SHAPE,
       [=](Args& c, sentinel_arena&) { c.desc.n = std::int64_t{1} << 40, c.desc.c = 0, c.desc.groups = 1 << 30; }},
      {"n*G byte size overflows with c == 0 (2^61 floats)", VARNORM_ERROR_INVALID_SHAPE,
       [](Args& c, sentinel_arena&) { c.desc.n = std::int64_t{1} << 31, c.desc.c = 0, c.desc.groups = 1 << 30; }},
      // Too few values per group: (C/G)*h*w <= correction.
      {"groups = c, h*w == 1, correction 1", VARNORM_ERROR_TOO_FEW_ELEMENTS,
       [](Args& c, sentinel_arena&) { c.desc.groups = 3, c.desc.center = 1, c.desc.h = c.desc.w = 1; }},
      {"groups 1, h == 0, correction 0", VARNORM_ERROR_TOO_FEW_ELEMENTS,
       [](Args& c, sentinel_arena&) { c.desc.groups = 1, c.desc.h = 0, c.desc.correction = 0; }},
      {"groups not dividing c before too few elements", VARNORM_ERROR_INVALID_ARGUMENT,
       [](Args& c, sentinel_arena&) { c.desc.groups = 2, c.desc.h = c.desc.w = 1; }},
  };
}

// Runs each mistake on a fresh arena: the status, and not one float of the arena changed.
template <class Args>
void expect_rejected(const std::vector<bad_input<Args>>& cases) {
  for (const auto& bad : cases) {
    sentinel_arena arena;
    Args args(arena);
    bad.change(args, arena);
    CAPTURE(bad.what);
    CHECK(args.call() == bad.expected);
    CHECK(arena.untouched());
  }
}

// Runs each change that the contract accepts.
template <class Args>
void expect_accepted(const std::vector<bad_input<Args>>& cases) {
  for (const auto& ok : cases) {
    sentinel_arena arena;
    Args args(arena);
    ok.change(args, arena);
    CAPTURE(ok.what);
    CHECK(args.call() == VARNORM_OK);
  }
}

}  // namespace

TEST_CASE("forward rejects every bad descriptor with its documented status and writes nothing", "[validate]") {
  expect_rejected(descriptor_mistakes<forward_args>());
}

TEST_CASE("backward rejects every bad descriptor with its documented status and writes nothing", "[validate]") {
  expect_rejected(descriptor_mistakes<backward_args>());
}

TEST_CASE("groups and center: valid values are accepted, several values per group where a plane alone has too few, "
          "and an invalid groups is reported before a NULL buffer",
          "[validate][groups]") {
  using F = forward_args;
  using B = backward_args;
  // c = 3, n = 2: groups 1 and 3 divide it; with groups 1 one statistic per sample (2 of mean and rstd).
  expect_accepted<F>({
      {"groups 1, center 1", VARNORM_OK, [](F& c, sentinel_arena&) { c.desc.groups = 1, c.desc.center = 1; }},
      {"groups 3 = c, center 1", VARNORM_OK, [](F& c, sentinel_arena&) { c.desc.groups = 3, c.desc.center = 1; }},
      {"groups 1, center 0", VARNORM_OK, [](F& c, sentinel_arena&) { c.desc.groups = 1; }},
      {"groups 1, h*w == 1, correction 1: 3 values per group", VARNORM_OK,
       [](F& c, sentinel_arena&) { c.desc.groups = 1, c.desc.h = c.desc.w = 1; }},
      {"n*c == 0 with groups 5 (dividing c = 0), mean and rstd NULL", VARNORM_OK,
       [](F& c, sentinel_arena&) { c.desc.c = 0, c.desc.groups = 5, c.mean = c.rstd = nullptr; }},
      {"n = 2^40, c = 0, groups 2 (n*G fits), mean and rstd NULL", VARNORM_OK,
       [](F& c, sentinel_arena&) {
         c.desc.n = std::int64_t{1} << 40, c.desc.c = 0, c.desc.groups = 2, c.mean = c.rstd = nullptr;
       }},
  });
  expect_accepted<B>({
      {"groups 1, center 1, saved statistics", VARNORM_OK,
       [](B& c, sentinel_arena&) { c.desc.groups = 1, c.desc.center = 1; }},
      {"groups 1, center 1, recomputed statistics", VARNORM_OK,
       [](B& c, sentinel_arena&) { c.desc.groups = 1, c.desc.center = 1, c.mean = c.rstd = nullptr; }},
  });
  expect_rejected<F>({
      {"groups not dividing c with x NULL", VARNORM_ERROR_INVALID_ARGUMENT,
       [](F& c, sentinel_arena&) { c.desc.groups = 2, c.x = nullptr; }},
      {"center 2 with y NULL", VARNORM_ERROR_INVALID_ARGUMENT,
       [](F& c, sentinel_arena&) { c.desc.center = 2, c.y = nullptr; }},
  });
  expect_rejected<B>({
      {"groups not dividing c with dy NULL", VARNORM_ERROR_INVALID_ARGUMENT,
       [](B& c, sentinel_arena&) { c.desc.groups = 2, c.dy = nullptr; }},
      {"groups -1 with mean without rstd", VARNORM_ERROR_INVALID_ARGUMENT,
       [](B& c, sentinel_arena&) { c.desc.groups = -1, c.rstd = nullptr; }},
  });
}

TEST_CASE("forward: NULL x, alpha or y is NULL_POINTER, NULL beta, mean, rstd are accepted", "[validate]") {
  using F = forward_args;
  expect_rejected<F>({
      {"x NULL", VARNORM_ERROR_NULL_POINTER, [](F& c, sentinel_arena&) { c.x = nullptr; }},
      {"alpha NULL", VARNORM_ERROR_NULL_POINTER, [](F& c, sentinel_arena&) { c.alpha = nullptr; }},
      {"y NULL", VARNORM_ERROR_NULL_POINTER, [](F& c, sentinel_arena&) { c.y = nullptr; }},
      {"alpha NULL with per-sample affine", VARNORM_ERROR_NULL_POINTER,
       [](F& c, sentinel_arena&) { c.alpha = nullptr, c.desc.per_sample_affine = 1; }},
  });
  expect_accepted<F>({
      {"nothing changed", VARNORM_OK, [](F&, sentinel_arena&) {}},
      {"beta NULL", VARNORM_OK, [](F& c, sentinel_arena&) { c.beta = nullptr; }},
      {"mean and rstd NULL", VARNORM_OK, [](F& c, sentinel_arena&) { c.mean = c.rstd = nullptr; }},
      {"mean NULL only", VARNORM_OK, [](F& c, sentinel_arena&) { c.mean = nullptr; }},
      {"rstd NULL only", VARNORM_OK, [](F& c, sentinel_arena&) { c.rstd = nullptr; }},
  });
}

TEST_CASE("backward: NULL x, alpha or dy is NULL_POINTER, mean without rstd (or rstd without mean) is "
          "INVALID_ARGUMENT, NULL dx, dalpha, dbeta are accepted",
          "[validate]") {
  using B = backward_args;
  expect_rejected<B>({
      {"x NULL", VARNORM_ERROR_NULL_POINTER, [](B& c, sentinel_arena&) { c.x = nullptr; }},
      {"alpha NULL", VARNORM_ERROR_NULL_POINTER, [](B& c, sentinel_arena&) { c.alpha = nullptr; }},
      {"dy NULL", VARNORM_ERROR_NULL_POINTER, [](B& c, sentinel_arena&) { c.dy = nullptr; }},
      {"mean without rstd", VARNORM_ERROR_INVALID_ARGUMENT, [](B& c, sentinel_arena&) { c.rstd = nullptr; }},
      {"rstd without mean", VARNORM_ERROR_INVALID_ARGUMENT, [](B& c, sentinel_arena&) { c.mean = nullptr; }},
  });
  expect_accepted<B>({
      {"nothing changed", VARNORM_OK, [](B&, sentinel_arena&) {}},
      {"mean and rstd NULL (recomputed)", VARNORM_OK, [](B& c, sentinel_arena&) { c.mean = c.rstd = nullptr; }},
      {"dx NULL", VARNORM_OK, [](B& c, sentinel_arena&) { c.dx = nullptr; }},
      {"dalpha and dbeta NULL", VARNORM_OK, [](B& c, sentinel_arena&) { c.dalpha = c.dbeta = nullptr; }},
      {"all outputs NULL", VARNORM_OK, [](B& c, sentinel_arena&) { c.dx = c.dalpha = c.dbeta = nullptr; }},
  });
}

TEST_CASE("shape limits: h*w == 0 with n*c > 0 is TOO_FEW_ELEMENTS with NULL (empty) x and y, n*c == 0 with "
          "h*w == 0 is OK, 2^61 - 1 floats is a valid size (the NULL x is what is reported)",
          "[validate]") {
  const float alpha[3] = {1.0f, 1.0f, 1.0f};  // c values are required whatever n, h, w
  for (int correction : {0, 1}) {
    varnorm_desc d = varnorm_desc_make(2, 3, 0, 5, VARNORM_LAYOUT_NHWC);
    d.correction = correction;
    CAPTURE(correction);
    CHECK(varnorm_forward(&d, nullptr, alpha, nullptr, nullptr, nullptr, nullptr) == VARNORM_ERROR_TOO_FEW_ELEMENTS);
    CHECK(varnorm_backward(&d, nullptr, alpha, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) ==
          VARNORM_ERROR_TOO_FEW_ELEMENTS);
    d.n = 0;
    CHECK(varnorm_forward(&d, nullptr, alpha, nullptr, nullptr, nullptr, nullptr) == VARNORM_OK);
    CHECK(varnorm_backward(&d, nullptr, alpha, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr) == VARNORM_OK);
  }
  // h*w == 1 is enough for the population variance.
  sentinel_arena arena;
  forward_args one(arena);
  one.desc.h = one.desc.w = 1;
  one.desc.correction = 0;
  CHECK(one.call() == VARNORM_OK);

  varnorm_desc largest = varnorm_desc_make((std::int64_t{1} << 61) - 1, 1, 1, 1, VARNORM_LAYOUT_NCHW);
  float y = 0.0f;
  CHECK(varnorm_forward(&largest, nullptr, alpha, nullptr, &y, nullptr, nullptr) == VARNORM_ERROR_NULL_POINTER);
  largest.n += 1;
  CHECK(varnorm_forward(&largest, nullptr, alpha, nullptr, &y, nullptr, nullptr) == VARNORM_ERROR_INVALID_SHAPE);
}

TEST_CASE("forward: an output partially overlapping an input or another output is OVERLAP and writes nothing, "
          "adjacent buffers are fine",
          "[validate][overlap]") {
  using F = forward_args;
  expect_rejected<F>({
      {"y = x + 1 float", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.y = a.at(kX + 1); }},
      {"y = x - 1 float", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.y = a.at(kX - 1); }},
      {"y's last float on x's first", VARNORM_ERROR_OVERLAP,
       [](F& c, sentinel_arena& a) { c.y = a.at(kX - kElements + 1); }},
      {"y's first float on x's last", VARNORM_ERROR_OVERLAP,
       [](F& c, sentinel_arena& a) { c.y = a.at(kX + kElements - 1); }},
      {"y covers alpha", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.y = a.at(kAlpha - 10); }},
      {"y == alpha", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.alpha = a.at(kY); }},
      {"y covers beta", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.beta = a.at(kY + 50); }},
      {"mean = rstd + 1", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.mean = a.at(kRstd + 1); }},
      {"rstd's first on mean's last", VARNORM_ERROR_OVERLAP,
       [](F& c, sentinel_arena& a) { c.rstd = a.at(kMean + kPlanes - 1); }},
      {"mean == rstd", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.mean = a.at(kRstd); }},
      {"mean inside x", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.mean = a.at(kX + 50); }},
      {"rstd == alpha", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.rstd = a.at(kAlpha); }},
      {"rstd overlaps beta by one", VARNORM_ERROR_OVERLAP,
       [](F& c, sentinel_arena& a) { c.rstd = a.at(kBeta - kPlanes + 1); }},
      {"mean inside y", VARNORM_ERROR_OVERLAP, [](F& c, sentinel_arena& a) { c.mean = a.at(kY + kElements - 1); }},
      {"y == x but mean inside x", VARNORM_ERROR_OVERLAP,
       [](F& c, sentinel_arena& a) { c.y = a.at(kX), c.mean = a.at(kX + 7); }},
  });
  expect_accepted<F>({
      {"y right after x", VARNORM_OK, [](F& c, sentinel_arena& a) { c.y = a.at(kX + kElements); }},
      {"y right before x", VARNORM_OK, [](F& c, sentinel_arena& a) { c.y = a.at(kX - kElements); }},
      {"rstd right after mean", VARNORM_OK, [](F& c, sentinel_arena& a) { c.rstd = a.at(kMean + kPlanes); }},
      {"alpha and beta the same input", VARNORM_OK, [](F& c, sentinel_arena& a) { c.beta = a.at(kAlpha); }},
  });
}

TEST_CASE("backward: an output partially overlapping an input or another output is OVERLAP and writes nothing, "
          "adjacent buffers are fine",
          "[validate][overlap]") {
  using B = backward_args;
  expect_rejected<B>({
      {"dx = dy + 1 float", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dx = a.at(kDy + 1); }},
      {"dx = dy - 1 float", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dx = a.at(kDy - 1); }},
      {"dx = x + 1 float", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dx = a.at(kX + 1); }},
      {"dx = x - 1 float", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dx = a.at(kX - 1); }},
      {"dalpha = dbeta + 1", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kDbeta + 1); }},
      {"dbeta = dalpha + 2", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dbeta = a.at(kDalpha + 2); }},
      {"dalpha == dbeta", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kDbeta); }},
      {"dalpha inside x", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kX + 10); }},
      {"dbeta inside dy", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dbeta = a.at(kDy + 117); }},
      {"dx covers mean", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.mean = a.at(kDx + 3); }},
      {"dx covers rstd", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.rstd = a.at(kDx + kElements - 1); }},
      {"dalpha == alpha", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kAlpha); }},
      {"dalpha = alpha + 1", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kAlpha + 1); }},
      {"dbeta == rstd", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dbeta = a.at(kRstdIn); }},
      {"dbeta == mean", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dbeta = a.at(kMeanIn); }},
      {"dalpha inside dx", VARNORM_ERROR_OVERLAP, [](B& c, sentinel_arena& a) { c.dalpha = a.at(kDx + 40); }},
      {"dx == dy but dbeta inside dy", VARNORM_ERROR_OVERLAP,
       [](B& c, sentinel_arena& a) { c.dx = a.at(kDy), c.dbeta = a.at(kDy + 60); }},
      {"dx == x but dalpha inside x", VARNORM_ERROR_OVERLAP,
       [](B& c, sentinel_arena& a) { c.dx = a.at(kX), c.dalpha = a.at(kX + 60); }},
  });
  expect_accepted<B>({
      {"dx right after dy", VARNORM_OK, [](B& c, sentinel_arena& a) { c.dx = a.at(kDy + kElements); }},
      {"dx right before x", VARNORM_OK, [](B& c, sentinel_arena& a) { c.dx = a.at(kX - kElements); }},
      {"dbeta right after dalpha", VARNORM_OK, [](B& c, sentinel_arena& a) { c.dbeta = a.at(kDalpha + kChannels); }},
  });
}

TEST_CASE("with groups, mean and rstd span n*G floats: overlaps are judged on that size",
          "[validate][overlap][groups]") {
  // groups 1: mean and rstd hold n = 2 floats each (6 without groups), so buffers 2 floats apart are adjacent.
  using F = forward_args;
  using B = backward_args;
  const std::size_t stats = 2;
  auto grouped = [](auto& c) { c.desc.groups = 1, c.desc.center = 1; };
  expect_accepted<F>({
      {"rstd right after mean", VARNORM_OK, [=](F& c, sentinel_arena& a) { grouped(c), c.rstd = a.at(kMean + stats); }},
      {"mean right before x", VARNORM_OK, [=](F& c, sentinel_arena& a) { grouped(c), c.mean = a.at(kX - stats); }},
      {"rstd right after y", VARNORM_OK, [=](F& c, sentinel_arena& a) { grouped(c), c.rstd = a.at(kY + kElements); }},
  });
  expect_rejected<F>({
      {"rstd = mean + 1", VARNORM_ERROR_OVERLAP,
       [=](F& c, sentinel_arena& a) { grouped(c), c.rstd = a.at(kMean + stats - 1); }},
      {"mean's last float on x's first", VARNORM_ERROR_OVERLAP,
       [=](F& c, sentinel_arena& a) { grouped(c), c.mean = a.at(kX - stats + 1); }},
      {"rstd's first float on y's last", VARNORM_ERROR_OVERLAP,
       [=](F& c, sentinel_arena& a) { grouped(c), c.rstd = a.at(kY + kElements - 1); }},
      {"mean on alpha's last", VARNORM_ERROR_OVERLAP,
       [=](F& c, sentinel_arena& a) { grouped(c), c.mean = a.at(kAlpha + kChannels - 1); }},
  });
  expect_accepted<B>({
      {"dalpha right after the saved mean", VARNORM_OK,
       [=](B& c, sentinel_arena& a) { grouped(c), c.dalpha = a.at(kMeanIn + stats); }},
      {"dx right after the saved rstd", VARNORM_OK,
       [=](B& c, sentinel_arena& a) { grouped(c), c.dx = a.at(kRstdIn + stats); }},
  });
  expect_rejected<B>({
      {"dalpha on the saved mean's last", VARNORM_ERROR_OVERLAP,
       [=](B& c, sentinel_arena& a) { grouped(c), c.dalpha = a.at(kMeanIn + stats - 1); }},
      {"dbeta on the saved rstd's last", VARNORM_ERROR_OVERLAP,
       [=](B& c, sentinel_arena& a) { grouped(c), c.dbeta = a.at(kRstdIn + stats - 1); }},
      {"dx covers the saved rstd", VARNORM_ERROR_OVERLAP,
       [=](B& c, sentinel_arena& a) { grouped(c), c.rstd = a.at(kDx + kElements - 1); }},
  });
}

TEST_CASE("the allowed exact aliases y == x, dx == dy and dx == x give bitwise the out-of-place results",
          "[validate][alias]") {
  // A small shape (one thread) and one large enough to be split over threads by tiles.
  // And groups of channels with the mean subtracted: dx == x must not overwrite x before the group's statistics
  // and sums are complete.
  for (const varnorm_desc& shape :
       {make_desc(2, 5, 7, 9, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false),
        make_desc(1, 2, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true),
        with_groups(make_desc(2, 6, 7, 9, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 1, false), 3, true),
        with_groups(make_desc(2, 6, 7, 9, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, true), 2, false),
        with_groups(make_desc(1, 4, 300, 300, VARNORM_LAYOUT_NCHW, VARNORM_ALGORITHM_AUTO, 0, false), 1, true),
        with_groups(make_desc(1, 130, 40, 30, VARNORM_LAYOUT_NHWC, VARNORM_ALGORITHM_AUTO, 0, false), 1, true)}) {
    const layer_case c = make_case(shape, true, 4242);
    for (const std::string& isa : supported_isas()) {
      isa_scope scope(isa);
      REQUIRE(scope.ok());
      CAPTURE(isa, shape.n, shape.c, shape.h, shape.w, shape.groups, shape.center);
      const forward_outputs out_of_place = run_forward(c);
      REQUIRE(out_of_place.status == VARNORM_OK);
      std::vector<float> in_place = c.x, mean(stats_size(shape)), rstd(stats_size(shape));
      REQUIRE(varnorm_forward(&c.desc, in_place.data(), c.alpha.data(), c.beta.data(), in_place.data(), mean.data(),
                              rstd.data()) == VARNORM_OK);
      CHECK(bitwise_equal(in_place, out_of_place.y));
      CHECK(bitwise_equal(mean, out_of_place.mean));
      CHECK(bitwise_equal(rstd, out_of_place.rstd));

      for (bool saved : {true, false}) {
        CAPTURE(saved);
        const float* m = saved ? out_of_place.mean.data() : nullptr;
        const float* r = saved ? out_of_place.rstd.data() : nullptr;
        const backward_outputs reference = run_backward(c, m, r);
        REQUIRE(reference.status == VARNORM_OK);
        std::vector<float> dalpha(affine_size(shape)), dbeta(affine_size(shape));

        std::vector<float> dy_then_dx = c.dy;
        REQUIRE(varnorm_backward(&c.desc, c.x.data(), c.alpha.data(), dy_then_dx.data(), m, r, dy_then_dx.data(),
                                 dalpha.data(), dbeta.data()) == VARNORM_OK);
        CHECK(bitwise_equal(dy_then_dx, reference.dx));
        CHECK(bitwise_equal(dalpha, reference.dalpha));
        CHECK(bitwise_equal(dbeta, reference.dbeta));

        std::vector<float> x_then_dx = c.x;
        REQUIRE(varnorm_backward(&c.desc, x_then_dx.data(), c.alpha.data(), c.dy.data(), m, r, x_then_dx.data(),
                                 dalpha.data(), dbeta.data()) == VARNORM_OK);
        CHECK(bitwise_equal(x_then_dx, reference.dx));
        CHECK(bitwise_equal(dalpha, reference.dalpha));
        CHECK(bitwise_equal(dbeta, reference.dbeta));
      }
    }
  }
}
