// The one kernel source, compiled once per ISA (see isa_*.cpp). The including file defines
// VARNORM_KERNEL_NAMESPACE and, inside that namespace, `kernel_arch`, `kernel_max_vectors` and
// `kernel_name`. Everything here has internal linkage, so code built with one ISA's flags can never be
// merged by the linker into another ISA's kernels.
//
// How a block is walked. A block is `positions` x `channels` values, element (p, ch) at x[p * stride + ch].
// It is cut into rows of V vectors of W lanes, each lane always holding the same channel:
//  - contiguous blocks (stride == channels, as NCHW planes and NHWC groups spanning all C) take R positions
//    per row with R * channels a multiple of W, so a vector may hold several positions of few channels
//    (C = 2: eight positions of two channels in a 16-lane vector). Positions left over (< R) go through the
//    same arithmetic on a zero-padded copy, or, for statistics, through the exact double-precision path;
//  - otherwise channels are taken in sub-groups of up to kernel_max_vectors * W, one position per row, the
//    last vector of a row loaded and stored through a zero-padded copy when the sub-group is not a
//    multiple of W;
//  - a group of small NCHW planes (plane_stride set), whose rows alone hold fewer than kernel_max_vectors
//    vectors, walks shared rows holding those vectors of several planes side by side (planes_share_rows);
//    larger planes of a group are walked one by one, as are streaming output and positions after the last
//    whole row.
// No load or store ever touches memory outside the block.
//
// Accuracy. Values are shifted by the lane's first value of the block (a DC offset costs no precision).
// Each lane accumulates at most kSegmentRows values in float (two-pass, Welford, or shifted sums: see
// shifted_segment_moments). Segment results are merged pairwise (a binary counter, Chan's formula) so that the
// rounding error grows with log2 of the block length, and lanes are combined in double. A channel whose float
// statistics cannot stand (not finite: |x| near 1e19 and above overflows x^2; or squares below float's normal
// range) is recomputed in double.
//
// Output. Forward's y and backward's dx are one elementwise engine; outputs too large to stay in cache are
// written with non-temporal stores from the first vector-aligned position on.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/kernel_table.hpp"
#include "kernels/vector_ops.hpp"

namespace varnorm::detail::VARNORM_KERNEL_NAMESPACE {
namespace {

using ops = vector_ops<kernel_arch>;
using vec = ops::vec;
constexpr int W = ops::width;
constexpr int kMaxVectors = kernel_max_vectors;
constexpr int kMaxLanes = kMaxVectors * W;
// Values one lane accumulates in float before its result joins the pairwise merge.
constexpr int kSegmentRows = 16;
// Levels of the pairwise merge: level k holds 2^k segments, one position per row at least.
constexpr int kMergeLevels = 1 + []() {
  int levels = 0;
  while ((std::int64_t{kSegmentRows} << levels) < kMaxBlockPositions) ++levels;
  return levels;
}();

constexpr float kInverse[kSegmentRows + 1] = {0.0f,        1.0f,        1.0f / 2,  1.0f / 3,  1.0f / 4,
                                              1.0f / 5,    1.0f / 6,    1.0f / 7,  1.0f / 8,  1.0f / 9,
                                              1.0f / 10,   1.0f / 11,   1.0f / 12, 1.0f / 13, 1.0f / 14,
                                              1.0f / 15,   1.0f / 16};

// ---------------------------------------------------------------------------------------------------------
// Row geometry

struct row_geometry {
  int vectors = 1;            // V
  int period = 1;             // vector v holds the same channels, lane by lane, as vector v + period
  std::int64_t positions = 1; // positions per row (R)
  std::int64_t step = 1;      // floats from one row to the next
  int used_lanes = W;         // lanes of the last vector that hold data
};

constexpr int gcd_int(int a, int b) noexcept {
  while (b != 0) {
    const int t = a % b;
    a = b;
    b = t;
  }
  return a;
}

// Vectors per row when a contiguous block is walked with several positions per row; 0 when its channel count
// does not repeat within kMaxVectors vectors (then it is walked in sub-groups).
constexpr int contiguous_vectors(int channels) noexcept {
  const int period = channels / gcd_int(channels, W);  // vectors until the lane pattern repeats
  if (period > kMaxVectors) return 0;
  return period * (kMaxVectors / period);
}

// The contiguous walk of every channel count a block can have, computed at compile time: a block's geometry
// then costs no integer division (a dozen of them per unit: 16x16 NCHW planes ran 8% faster without them).
struct contiguous_walk {
  int vectors;    // 0: channel counts whose pattern does not repeat within kMaxVectors vectors
  int period;
  int positions;
};
constexpr struct contiguous_walks {
  contiguous_walk by_channels[kMaxGroupChannels + 1];
  constexpr contiguous_walks() noexcept : by_channels{} {
    for (int c = 1; c <= kMaxGroupChannels; ++c) {
      const int vectors = contiguous_vectors(c);
      by_channels[c] = {vectors, c / gcd_int(c, W), vectors * W / c};
    }
  }
} kContiguousWalks;

bool walks_contiguously(block_shape b) noexcept {
  return b.stride == b.channels && b.channels <= kMaxGroupChannels &&
         kContiguousWalks.by_channels[b.channels].vectors > 0;
}

constexpr row_geometry contiguous_geometry(block_shape b) noexcept {
  const contiguous_walk& walk = kContiguousWalks.by_channels[b.channels];
  row_geometry g;
  g.vectors = walk.vectors;
  g.period = walk.period;
  g.positions = walk.positions;
  // Short blocks take narrower rows, down to one period, until each lane sees a whole segment: a 16x16 plane
  // in 8-vector rows gave each lane 2 values, and halving 8 vectors' moments cost more than the sums.
  while (g.vectors > g.period && b.positions < kSegmentRows * g.positions) {
    g.vectors /= 2;
    g.positions /= 2;
  }
  g.step = g.positions * b.stride;
  return g;
}

// Sub-group [first, first + count) of a block walked one position per row.
row_geometry subgroup_geometry(block_shape b, int count) noexcept {
  row_geometry g;
  g.vectors = (count + W - 1) / W;
  g.period = g.vectors;
  g.positions = 1;
  g.step = b.stride;
  g.used_lanes = count - (g.vectors - 1) * W;
  return g;
}

// Vectors per row of a plane of `positions` values (one channel, stride 1) walked alone.
constexpr int plane_row_vectors(std::int64_t positions) noexcept {
  return contiguous_geometry(block_shape{positions, 1, 1, 0}).vectors;
}

// Whether planes of `positions` values share rows when a group (plane_stride set) holds several: a shared row
// holds the row vectors of P planes, vector v being part v / P of plane v % P, so that, as in the row of a plane
// alone, the vectors of a plane lie `period` (P) apart and are merged in the same pairs; each lane sees exactly
// the values it sees in its plane alone, in the same order, and every plane keeps its own bits. Planes whose
// own rows are full are walked one by one.
constexpr bool planes_share_rows(std::int64_t positions) noexcept {
  return plane_row_vectors(positions) < kMaxVectors;
}

// The largest plane that shares rows (rows only widen as planes grow), for the work plan.
constexpr std::int64_t largest_row_sharing_plane() noexcept {
  std::int64_t positions = 1;
  while (positions < kMaxBlockPositions && planes_share_rows(positions + 1)) ++positions;
  return positions;
}

// Calls f(std::integral_constant<int, V>, std::integral_constant<int, P>) for shared rows of `planes` planes
// (P) whose own rows have PV vectors: V = P * PV.
template <int PV, int P = 1, class F>
void with_planes(int planes, F& f) noexcept {
  if constexpr (P * PV <= kMaxVectors) {
    if (planes == P) {
      f(std::integral_constant<int, P * PV>{}, std::integral_constant<int, P>{});
      return;
    }
    with_planes<PV, P + 1>(planes, f);
  }
}
// plane_vectors is kMaxVectors halved one or more times (contiguous_geometry): 1, 2 or 4.
template <class F>
void with_planar_vectors(int planes, int plane_vectors, F&& f) noexcept {
  switch (plane_vectors) {
    case 1: with_planes<1>(planes, f); break;
    case 2: with_planes<2>(planes, f); break;
    case 4: with_planes<4>(planes, f); break;
    default: break;
  }
}

// The walk of a group of planes that share rows, one pass per `planes` planes: each plane's `plane_vectors` row
// vectors in a shared row, `rows` whole rows of `step` floats per plane; positions from `done` on are left over.
struct shared_rows {
  int plane_vectors;
  int planes;
  std::int64_t step;
  std::int64_t rows;
  std::int64_t done;
};

shared_rows shared_rows_of(std::int64_t positions) noexcept {
  shared_rows s;
  s.plane_vectors = plane_row_vectors(positions);
  s.planes = kMaxVectors / s.plane_vectors;
  s.step = std::int64_t{s.plane_vectors} * W;
  s.rows = positions / s.step;
  s.done = s.rows * s.step;
  return s;
}

// Calls f(std::integral_constant<int, V>, std::integral_constant<bool, Partial>) for the geometry's V.
template <class F>
void with_vectors(const row_geometry& g, F&& f) noexcept {
  const bool partial = g.used_lanes != W;
  auto pick = [&](auto v) {
    if (partial)
      f(v, std::true_type{});
    else
      f(v, std::false_type{});
  };
  switch (g.vectors) {
    case 1: pick(std::integral_constant<int, 1>{}); break;
    case 2: pick(std::integral_constant<int, 2>{}); break;
    case 3: pick(std::integral_constant<int, 3>{}); break;
    case 4: pick(std::integral_constant<int, 4>{}); break;
    default:
      if constexpr (kMaxVectors >= 8) {
        switch (g.vectors) {
          case 5: pick(std::integral_constant<int, 5>{}); break;
          case 6: pick(std::integral_constant<int, 6>{}); break;
          case 7: pick(std::integral_constant<int, 7>{}); break;
          case 8: pick(std::integral_constant<int, 8>{}); break;
          default: break;
        }
      }
      break;
  }
}

// Where vector v of a row starts, relative to the row: right after vector v - 1 (the walks above), or, in a row
// shared by P planes of a group (planes_share_rows), as part v / P of plane v % P.
struct packed_vectors {
  std::int64_t offset(int v) const noexcept { return std::int64_t{v} * W; }
};
template <int P>
struct planar_vectors {
  std::int64_t plane_stride;
  std::int64_t offset(int v) const noexcept { return (v % P) * plane_stride + std::int64_t{v / P} * W; }
};

// Vector v of a row; the last one of a partial row reads only `used` floats.
template <int V, bool Partial, class Vectors = packed_vectors>
vec load_row_vector(const float* row, int v, int used, Vectors at = {}) noexcept {
  if (Partial && v == V - 1) {
    float padded[W] = {};
    std::memcpy(padded, row + at.offset(v), static_cast<std::size_t>(used) * sizeof(float));
    return ops::load(padded);
  }
  return ops::load(row + at.offset(v));
}

template <int V, bool Partial, class Vectors = packed_vectors>
void store_row_vector(float* row, int v, int used, vec value, Vectors at = {}) noexcept {
  if (Partial && v == V - 1) {
    float padded[W];
    ops::store(padded, value);
    std::memcpy(row + at.offset(v), padded, static_cast<std::size_t>(used) * sizeof(float));
    return;
  }
  ops::store(row + at.offset(v), value);
}

// The per-lane values of a per-channel array for the first `period` vectors of a row (the pattern repeats
// after that). Contiguous rows cycle through the channels; sub-group rows hold one channel per lane, the
// lanes past the last channel unused.
void lanes_of(const float* per_channel, const row_geometry& g, int channels, bool contiguous,
              float* lanes) noexcept {
  const int count = g.period * W;
  if (contiguous && channels == 1) {  // NCHW planes (period 1): one vector store, not one per lane
    ops::store(lanes, ops::splat(per_channel[0]));
    return;
  }
  if (contiguous) {
    for (int l = 0, ch = 0; l < count; ++l, ch = ch + 1 == channels ? 0 : ch + 1) lanes[l] = per_channel[ch];
  } else {
    for (int l = 0; l < count; ++l) lanes[l] = l < channels ? per_channel[l] : 0.0f;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Exact (double precision) statistics: for positions left over from whole rows, and for blocks whose float
// statistics overflowed.

moments exact_moments(const float* x, std::int64_t positions, std::int64_t stride) noexcept {
  moments m{};
  if (positions <= 0) return m;
  double sum = 0.0;
  for (std::int64_t p = 0; p < positions; ++p) sum += static_cast<double>(x[p * stride]);
  m.count = static_cast<double>(positions);
  m.mean = sum / m.count;
  for (std::int64_t p = 0; p < positions; ++p) {
    const double d = static_cast<double>(x[p * stride]) - m.mean;
    m.m2 += d * d;
  }
  return m;
}

bool all_equal(const float* x, std::int64_t positions, std::int64_t stride) noexcept {
  bool equal = true;
  for (std::int64_t p = 1; p < positions; ++p) equal &= x[p * stride] == x[0];
  return equal;
}

// Whether float statistics of a channel can stand. Squares of deviations below 2^-63 fall under float's
// normal range (|x| near 1e-19 and below, or subnormal data) and overflow above 2^64: M2 is then recomputed in
// double. M2 == 0 stands only for a channel whose values are really all equal (silence, constants), not for
// one whose squares all underflowed.
bool float_moments_trusted(const moments& m, const float* x, std::int64_t positions, std::int64_t stride) noexcept {
  if (!__builtin_isfinite(m.mean) || !__builtin_isfinite(m.m2)) return false;
  constexpr double kSmallestExactSquare = 0x1p-102;  // float's smallest normal, 2^-126, divided by 2^-24
  if (m.m2 >= m.count * kSmallestExactSquare) return true;
  return m.m2 == 0.0 && all_equal(x, positions, stride);
}

void exact_grad_sums(const float* x, const float* dy, std::int64_t positions, std::int64_t stride,
                     double* sum_dyx, double* sum_dy) noexcept {
  double a = 0.0, b = 0.0;
  for (std::int64_t p = 0; p < positions; ++p) {
    const double g = static_cast<double>(dy[p * stride]);
    a += g * static_cast<double>(x[p * stride]);
    b += g;
  }
  *sum_dyx = a;
  *sum_dy = b;
}

// ---------------------------------------------------------------------------------------------------------
// Statistics over whole rows

// Per lane: mean of (x - shift), M2, and the plain sum of x. The mean comes from the plain sums: their
// partial sums wander like a random walk for centred data, where shifted sums grow steadily, so they lose
// less. M2 comes from the shifted values: a DC offset (|mean| >> std) costs it nothing.
template <int V>
struct lane_moments {
  vec mean[V];
  vec m2[V];
  vec sum[V];
};

// One segment of `rows` <= kSegmentRows rows: per-lane moments, each lane over `rows` values.
// Method VARNORM_ALGORITHM_SHIFTED_SUMS is not handled here (see shifted_segment_moments).
template <int V, bool Partial, varnorm_algorithm Method, class Vectors>
void segment_moments(const float* base, std::int64_t step, int rows, int used, Vectors at, const vec* shift,
                     lane_moments<V>& out) noexcept {
  if constexpr (Method == VARNORM_ALGORITHM_WELFORD) {
    for (int v = 0; v < V; ++v) {
      out.mean[v] = load_row_vector<V, Partial>(base, v, used, at) - shift[v];
      out.m2[v] = ops::splat(0.0f);
    }
    for (int r = 1; r < rows; ++r) {
      const float* row = base + r * step;
      const vec inv = ops::splat(kInverse[r + 1]);
      for (int v = 0; v < V; ++v) {
        const vec y = load_row_vector<V, Partial>(row, v, used, at) - shift[v];
        const vec d = y - out.mean[v];
        out.mean[v] = ops::fma(d, inv, out.mean[v]);
        out.m2[v] = ops::fma(d, y - out.mean[v], out.m2[v]);
      }
    }
    const vec count = ops::splat(static_cast<float>(rows));
    for (int v = 0; v < V; ++v) out.sum[v] = ops::fma(out.mean[v], count, shift[v] * count);
  } else {
    vec sum[V];
    for (int v = 0; v < V; ++v) sum[v] = ops::splat(0.0f);
    for (int r = 0; r < rows; ++r) {
      const float* row = base + r * step;
      for (int v = 0; v < V; ++v) sum[v] = sum[v] + (load_row_vector<V, Partial>(row, v, used, at) - shift[v]);
    }
    const vec inv = ops::splat(kInverse[rows]);
    const vec count = ops::splat(static_cast<float>(rows));
    for (int v = 0; v < V; ++v) {
      out.mean[v] = sum[v] * inv;
      out.m2[v] = ops::splat(0.0f);
      out.sum[v] = ops::fma(shift[v], count, sum[v]);
    }
    for (int r = 0; r < rows; ++r) {
      const float* row = base + r * step;
      for (int v = 0; v < V; ++v) {
        const vec d = (load_row_vector<V, Partial>(row, v, used, at) - shift[v]) - out.mean[v];
        out.m2[v] = ops::fma(d, d, out.m2[v]);
      }
    }
  }
}

// One segment by shifted sums: with z = x - t, where t (per lane, absolute) is the mean of the lane's previous
// segment, the lane accumulates sum z and sum z^2 in one pass (three vector operations per vector, against
// Welford's five), and M2 = sum z^2 - (sum z)^2 / rows. That difference cancels by the factor
// 1 + rows * (t - segment mean)^2 / M2; summed over a block's segments, the cancellation errors are bounded by
// a few units of roundoff times the block's M2 (the terms rows * (mean - block mean)^2 of the segments and of
// their predecessors each add up to at most the block's M2), never by the block's |mean| / std. The
// block's first segment has no predecessor and is computed two-pass.
template <int V, bool Partial, class Vectors>
void shifted_segment_moments(const float* base, std::int64_t step, int rows, int used, Vectors at, const vec* shift,
                             const vec* estimate, lane_moments<V>& out) noexcept {
  vec t[V], sum[V], squares[V];
  for (int v = 0; v < V; ++v) {
    t[v] = shift[v] + estimate[v];
    sum[v] = squares[v] = ops::splat(0.0f);
  }
  for (int r = 0; r < rows; ++r) {
    const float* row = base + r * step;
    for (int v = 0; v < V; ++v) {
      const vec z = load_row_vector<V, Partial>(row, v, used, at) - t[v];
      sum[v] = sum[v] + z;
      squares[v] = ops::fma(z, z, squares[v]);
    }
  }
  const vec inv = ops::splat(kInverse[rows]);
  const vec count = ops::splat(static_cast<float>(rows));
  const vec zero = ops::splat(0.0f);
  for (int v = 0; v < V; ++v) {
    const vec mean_z = sum[v] * inv;
    out.mean[v] = (t[v] - shift[v]) + mean_z;
    // Rounding may leave M2 slightly below 0 where it is within rounding of 0: merged, that is an error of the
    // same size; a block whose M2 ends below its trust threshold is recomputed exactly (block_moments_for).
    out.m2[v] = ops::fma(zero - sum[v], mean_z, squares[v]);
    out.sum[v] = ops::fma(t[v], count, sum[v]);
  }
}

// Segment `s` of a block (`rows` rows from `base`); `estimate` holds the lane means of segment s - 1.
template <int V, bool Partial, varnorm_algorithm Method, class Vectors>
void block_segment_moments(const float* base, std::int64_t step, int rows, int used, Vectors at, const vec* shift,
                           std::int64_t s, const vec* estimate, lane_moments<V>& out) noexcept {
  if constexpr (Method == VARNORM_ALGORITHM_SHIFTED_SUMS) {
    if (s > 0) {
      shifted_segment_moments<V, Partial>(base, step, rows, used, at, shift, estimate, out);
      return;
    }
    segment_moments<V, Partial, VARNORM_ALGORITHM_TWO_PASS>(base, step, rows, used, at, shift, out);
  } else {
    (void)s;
    (void)estimate;
    segment_moments<V, Partial, Method>(base, step, rows, used, at, shift, out);
  }
}

// out := merge(left, right), Chan's formula per lane, for left and right of left_count and right_count values.
// out may be right.
template <int V>
void merge_lanes(const lane_moments<V>& left, double left_count, const lane_moments<V>& right, double right_count,
                 lane_moments<V>& out) noexcept {
  const double total = left_count + right_count;
  const vec mean_weight = ops::splat(static_cast<float>(right_count / total));
  const vec m2_weight = ops::splat(static_cast<float>(left_count * right_count / total));
  for (int v = 0; v < V; ++v) {
    const vec d = right.mean[v] - left.mean[v];
    out.mean[v] = ops::fma(d, mean_weight, left.mean[v]);
    out.m2[v] = ops::fma(d * d, m2_weight, left.m2[v] + right.m2[v]);
    out.sum[v] = left.sum[v] + right.sum[v];
  }
}

// Per-lane moments of `rows` rows (each lane sees `rows` values), stored to lane_*; the mean is relative to
// lane_shift, the lane's value in the first row.
//
// Lanes of vectors v and v + period hold the same channel and share a shift; at the end they are merged
// pairwise, so only the first `period` vectors are stored, each lane then over rows * V / period values.
// Never inlined: a caller that dispatches to several instantiations would add up their frames (up to 25 KiB
// each on avx512), which test/realtime's stack check catches.
template <int V, bool Partial, varnorm_algorithm Method, class Vectors = packed_vectors>
__attribute__((noinline)) void rows_moments(const float* base, std::int64_t step, std::int64_t rows, int used,
                                            int period, float* lane_shift, float* lane_mean, float* lane_m2,
                                            float* lane_sum, Vectors at = {}) noexcept {
  vec shift[V];
  for (int v = 0, pattern = 0; v < V; ++v, pattern = pattern + 1 == period ? 0 : pattern + 1)
    shift[v] = load_row_vector<V, Partial>(base, pattern, used, at);  // pattern = v % period, without a division
  for (int v = 0; v < period; ++v) ops::store(lane_shift + v * W, shift[v]);
  lane_moments<V> level[kMergeLevels];
  const std::int64_t full = rows / kSegmentRows;
  const int rest = static_cast<int>(rows % kSegmentRows);
  vec estimate[V];  // lane means of the previous segment (shifted sums)
  for (int v = 0; v < V; ++v) estimate[v] = ops::splat(0.0f);
  // Binary counter: level k holds 2^k segments; equal halves merge as soon as both exist. Segment s ends in
  // level k, k the number of trailing ones of s, and is written there directly (these arrays live in memory:
  // copies of them would cost as much as a short block's arithmetic).
  lane_moments<V> current;
  for (std::int64_t s = 0; s < full; ++s) {
    int k = 0;
    while ((s >> k) & 1) ++k;
    lane_moments<V>& segment = k == 0 ? level[0] : current;
    block_segment_moments<V, Partial, Method>(base + s * kSegmentRows * step, step, kSegmentRows, used, at, shift, s,
                                              estimate, segment);
    for (int v = 0; v < V; ++v) estimate[v] = segment.mean[v];
    for (int j = 0; j < k; ++j) {
      const double half = static_cast<double>(kSegmentRows) * static_cast<double>(std::int64_t{1} << j);
      merge_lanes<V>(level[j], half, current, half, j + 1 == k ? level[k] : current);
    }
  }
  // Fold what is left from the right: the partial segment, then the levels from small to large, into *folded
  // (rows > 0, so at least one of them exists).
  lane_moments<V> acc;
  lane_moments<V>* folded = nullptr;
  double acc_count = 0.0;
  if (rest > 0) {
    block_segment_moments<V, Partial, Method>(base + full * kSegmentRows * step, step, rest, used, at, shift, full,
                                              estimate, acc);
    folded = &acc;
    acc_count = rest;
  }
  for (int k = 0; k < kMergeLevels && (full >> k) != 0; ++k) {
    if (((full >> k) & 1) == 0) continue;
    const double count = static_cast<double>(kSegmentRows) * static_cast<double>(std::int64_t{1} << k);
    if (folded == nullptr) {
      folded = &level[k];
    } else {
      merge_lanes<V>(level[k], count, *folded, acc_count, acc);
      folded = &acc;
    }
    acc_count += count;
  }
  lane_moments<V>& total = *folded;
  // V / period is a power of two (see contiguous_vectors), so halving reaches `period` exactly.
  const vec half = ops::splat(0.5f);
  for (int width = V / 2; width >= period; width /= 2, acc_count *= 2.0) {
    const vec m2_weight = ops::splat(static_cast<float>(acc_count * 0.5));
    for (int v = 0; v < width; ++v) {
      const vec d = total.mean[v + width] - total.mean[v];
      total.mean[v] = ops::fma(d, half, total.mean[v]);
      total.m2[v] = ops::fma(d * d, m2_weight, total.m2[v] + total.m2[v + width]);
      total.sum[v] = total.sum[v] + total.sum[v + width];
    }
  }
  for (int v = 0; v < period; ++v) {
    ops::store(lane_mean + v * W, total.mean[v]);
    ops::store(lane_m2 + v * W, total.m2[v]);
    ops::store(lane_sum + v * W, total.sum[v]);
  }
}

// The mean of a channel: from the plain sums, except where M2 is exactly 0. Then every value equals the
// shifted mean exactly, while a plain float sum of 3 copies of x may round: the residue would survive the
// tile merge as a variance above 0 in a constant plane.
double exact_when_constant(double m2, double shifted_mean, double summed_mean) noexcept {
  return m2 == 0.0 ? shifted_mean : summed_mean;
}

// Lanes l < lanes, each over `count` values with mean lane_shift + lane_mean, combined in double into
// out[l % channels] (Chan's formula for equal counts).
void combine_lanes(const float* lane_shift, const float* lane_mean, const float* lane_m2, const float* lane_sum,
                   int lanes, double count, int channels, moments* out) noexcept {
  const double lanes_per_channel = static_cast<double>(lanes / channels);
  for (int ch = 0; ch < channels; ++ch) {
    double sum = 0.0, mean_sum = 0.0;
    for (int l = ch; l < lanes; l += channels) {
      mean_sum += static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]);
      sum += static_cast<double>(lane_sum[l]);
    }
    const double mean_of_lanes = mean_sum / lanes_per_channel;
    double m2 = 0.0;
    for (int l = ch; l < lanes; l += channels) {
      const double d = static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]) - mean_of_lanes;
      m2 += static_cast<double>(lane_m2[l]) + count * d * d;
    }
    moments m;
    m.count = count * lanes_per_channel;
    m.mean = exact_when_constant(m2, mean_of_lanes, sum / m.count);
    m.m2 = m2;
    out[ch] = merge_moments(out[ch], m);
  }
}

// Moments of a group of planes that share rows (planes_share_rows), as many planes per pass as a row holds;
// per plane the same steps as interleaved_moments on that plane alone.
template <varnorm_algorithm Method>
void planar_moments(const float* x, const block_shape& b, moments* out) noexcept {
  alignas(64) float lane_shift[kMaxLanes];
  alignas(64) float lane_mean[kMaxLanes];
  alignas(64) float lane_m2[kMaxLanes];
  alignas(64) float lane_sum[kMaxLanes];
  const shared_rows s = shared_rows_of(b.positions);
  for (int first = 0; first < b.channels; first += s.planes) {
    const int count = std::min(b.channels - first, s.planes);
    const float* group = x + first * b.plane_stride;
    if (s.rows > 0) {
      with_planar_vectors(count, s.plane_vectors, [&](auto v, auto p) {
        rows_moments<decltype(v)::value, false, Method>(group, s.step, s.rows, W, count, lane_shift, lane_mean,
                                                        lane_m2, lane_sum,
                                                        planar_vectors<decltype(p)::value>{b.plane_stride});
      });
    }
    for (int v = 0; v < count; ++v) {
      const float* plane = group + v * b.plane_stride;
      moments& m = out[first + v];
      m = moments{};
      if (s.rows > 0)
        combine_lanes(lane_shift + v * W, lane_mean + v * W, lane_m2 + v * W, lane_sum + v * W, W,
                      static_cast<double>(s.rows * s.plane_vectors), 1, &m);
      m = merge_moments(m, exact_moments(plane + s.done, b.positions - s.done, 1));
      if (!float_moments_trusted(m, plane, b.positions, 1)) m = exact_moments(plane, b.positions, 1);
    }
  }
}

// Moments of a block whose channels are interleaved (no plane stride).
template <varnorm_algorithm Method>
void interleaved_moments(const float* x, const block_shape& b, moments* out) noexcept {
  for (int ch = 0; ch < b.channels; ++ch) out[ch] = moments{};
  alignas(64) float lane_shift[kMaxLanes];
  alignas(64) float lane_mean[kMaxLanes];
  alignas(64) float lane_m2[kMaxLanes];
  alignas(64) float lane_sum[kMaxLanes];
  if (walks_contiguously(b)) {
    const row_geometry g = contiguous_geometry(b);
    const std::int64_t rows = b.positions / g.positions;
    if (rows > 0) {
      with_vectors(g, [&](auto v, auto partial) {
        rows_moments<decltype(v)::value, decltype(partial)::value, Method>(
            x, g.step, rows, g.used_lanes, g.period, lane_shift, lane_mean, lane_m2, lane_sum);
      });
      const double per_lane = static_cast<double>(rows) * static_cast<double>(g.vectors / g.period);
      combine_lanes(lane_shift, lane_mean, lane_m2, lane_sum, g.period * W, per_lane, b.channels, out);
    }
    const std::int64_t done = rows * g.positions;
    for (int ch = 0; ch < b.channels; ++ch)
      out[ch] = merge_moments(out[ch], exact_moments(x + done * b.stride + ch, b.positions - done, b.stride));
  } else {
    for (int first = 0; first < b.channels; first += kMaxLanes) {
      const int count = b.channels - first < kMaxLanes ? b.channels - first : kMaxLanes;
      const row_geometry g = subgroup_geometry(b, count);
      with_vectors(g, [&](auto v, auto partial) {
        rows_moments<decltype(v)::value, decltype(partial)::value, Method>(
            x + first, g.step, b.positions, g.used_lanes, g.period, lane_shift, lane_mean, lane_m2, lane_sum);
      });
      // One lane per channel: the lane's moments are the channel's.
      for (int l = 0; l < count; ++l) {
        moments m;
        m.count = static_cast<double>(b.positions);
        m.m2 = static_cast<double>(lane_m2[l]);
        m.mean = exact_when_constant(m.m2, static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]),
                                     static_cast<double>(lane_sum[l]) / m.count);
        out[first + l] = m;
      }
    }
  }
  for (int ch = 0; ch < b.channels; ++ch) {
    if (!float_moments_trusted(out[ch], x + ch, b.positions, b.stride))
      out[ch] = exact_moments(x + ch, b.positions, b.stride);
  }
}

// The planes of a group (plane_stride set): side by side where they share rows, else one by one.
template <varnorm_algorithm Method>
void plane_group_moments(const float* x, const block_shape& b, moments* out) noexcept {
  if (planes_share_rows(b.positions)) {
    planar_moments<Method>(x, b, out);
    return;
  }
  for (int ch = 0; ch < b.channels; ++ch)
    interleaved_moments<Method>(x + ch * b.plane_stride, block_shape{b.positions, 1, 1, 0}, out + ch);
}

template <varnorm_algorithm Method>
void block_moments_for(const float* x, const block_shape& b, moments* out) noexcept {
  if (b.plane_stride == 0)
    interleaved_moments<Method>(x, b, out);
  else
    plane_group_moments<Method>(x, b, out);
}

void block_moments(const float* x, block_shape b, varnorm_algorithm algorithm, moments* out) noexcept {
  switch (algorithm) {
    case VARNORM_ALGORITHM_WELFORD: block_moments_for<VARNORM_ALGORITHM_WELFORD>(x, b, out); break;
    case VARNORM_ALGORITHM_SHIFTED_SUMS: block_moments_for<VARNORM_ALGORITHM_SHIFTED_SUMS>(x, b, out); break;
    default: block_moments_for<VARNORM_ALGORITHM_TWO_PASS>(x, b, out); break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Elementwise passes: forward's y = x * scale (+ shift) and backward's dx, on one engine.

// The arithmetic of an elementwise pass, per vector: `in` holds the pass's inputs (x, and dy in backward),
// `p` its per-lane parameters.
struct scale_op {  // y = x * scale
  static constexpr int inputs = 1;
  static vec apply(const vec* in, const vec* p) noexcept { return in[0] * p[0]; }
};
struct scale_shift_op {  // y = x * scale + shift
  static constexpr int inputs = 1;
  static vec apply(const vec* in, const vec* p) noexcept { return ops::fma(in[0], p[0], p[1]); }
};
struct grad_op {  // dx = a * dy + b * (x - mean)
  static constexpr int inputs = 2;
  static vec apply(const vec* in, const vec* p) noexcept { return ops::fma(p[1], in[0] - p[2], p[0] * in[1]); }
};

constexpr int kMaxParams = 3;

// Rows of an elementwise pass. Stream: full, vector-aligned rows written with non-temporal stores.
template <class Op, int V, bool Partial, bool Stream, class Vectors = packed_vectors>
void rows_elementwise(const float* const* in, float* out, std::int64_t step, std::int64_t rows, int used,
                      int period, const float (*lanes)[kMaxLanes], Vectors vectors = {}) noexcept {
  vec param[V][kMaxParams];
  for (int v = 0, pattern = 0; v < V; ++v, pattern = pattern + 1 == period ? 0 : pattern + 1)
    for (int i = 0; i < kMaxParams; ++i) param[v][i] = ops::load(lanes[i] + pattern * W);  // pattern = v % period
  // Local copies: vector stores may alias anything, so in[] itself would be reloaded after every store.
  const float* source[Op::inputs];
  for (int i = 0; i < Op::inputs; ++i) source[i] = in[i];
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t at = r * step;
    for (int v = 0; v < V; ++v) {
      vec values[Op::inputs];
      for (int i = 0; i < Op::inputs; ++i) values[i] = load_row_vector<V, Partial>(source[i] + at, v, used, vectors);
      const vec result = Op::apply(values, param[v]);
      if constexpr (Stream)
        ops::stream(out + at + vectors.offset(v), result);
      else
        store_row_vector<V, Partial>(out + at, v, used, result, vectors);
    }
  }
}

// `floats` (< one row) of a contiguous block as one zero-padded row: the same arithmetic as whole rows.
template <class Op, int V>
void elementwise_partial_row(const float* const* in, float* out, std::int64_t floats, const row_geometry& g,
                             const float (*lanes)[kMaxLanes]) noexcept {
  if (floats <= 0) return;
  alignas(64) float padded[Op::inputs][kMaxLanes] = {};
  const float* padded_in[Op::inputs];
  const std::size_t bytes = static_cast<std::size_t>(floats) * sizeof(float);
  for (int i = 0; i < Op::inputs; ++i) {
    std::memcpy(padded[i], in[i], bytes);
    padded_in[i] = padded[i];
  }
  rows_elementwise<Op, V, false, false>(padded_in, padded[0], g.step, 1, g.used_lanes, g.period, lanes);
  std::memcpy(out, padded[0], bytes);
}

template <int Inputs>
struct shifted_inputs {
  const float* at[Inputs];
  shifted_inputs(const float* const* in, std::int64_t offset) noexcept {
    for (int i = 0; i < Inputs; ++i) at[i] = in[i] + offset;
  }
};

// A contiguous block with streaming stores. The positions before the first vector-aligned output row go
// through the padded path, so every element gets the same arithmetic whatever the output's alignment (in
// place and out of place stay bitwise equal). False when no position of the first row starts a
// vector-aligned output.
template <class Op>
bool elementwise_streaming(const float* const* in, float* out, const block_shape& b,
                           const float (*lanes)[kMaxLanes]) noexcept {
  const row_geometry g = contiguous_geometry(b);
  constexpr std::uintptr_t kVectorBytes = W * sizeof(float);
  std::int64_t head = 0;
  while (head < g.positions && head < b.positions &&
         reinterpret_cast<std::uintptr_t>(out + head * b.channels) % kVectorBytes != 0)
    ++head;
  if (head == g.positions || head == b.positions) return false;
  const std::int64_t rows = (b.positions - head) / g.positions;
  const std::int64_t body = head + rows * g.positions;
  with_vectors(g, [&](auto v, auto) {
    constexpr int kV = decltype(v)::value;
    // Whole positions only move to the padded path, so every row still starts at channel 0.
    elementwise_partial_row<Op, kV>(in, out, head * b.channels, g, lanes);
    const std::int64_t at = head * b.stride;
    rows_elementwise<Op, kV, false, true>(shifted_inputs<Op::inputs>(in, at).at, out + at, g.step, rows,
                                          g.used_lanes, g.period, lanes);
    const std::int64_t tail = body * b.stride;
    elementwise_partial_row<Op, kV>(shifted_inputs<Op::inputs>(in, tail).at, out + tail,
                                    (b.positions - body) * b.channels, g, lanes);
  });
  ops::stream_fence();
  return true;
}

// The lanes of every parameter of a pass, for channels [first, first + channels) of each: the first
// period * W lanes only (no more are read), zeros for an absent parameter.
void parameter_lanes(const float* const* params, int first, const row_geometry& g, int channels, bool contiguous,
                     float (*lanes)[kMaxLanes]) noexcept {
  for (int i = 0; i < kMaxParams; ++i) {
    if (params[i] != nullptr)
      lanes_of(params[i] + first, g, channels, contiguous, lanes[i]);
    else
      std::fill_n(lanes[i], g.period * W, 0.0f);
  }
}

// One elementwise pass over a block: whole rows in place, then the positions left over (contiguous
// blocks) as one zero-padded row through the same arithmetic, so every element gets bitwise the same
// treatment. `params` are per-channel arrays (unused ones may be NULL).
template <class Op>
void elementwise_pass(const float* const* in, float* out, const block_shape& b, const float* const* params,
                      bool stream) noexcept {
  // Filled only as far as it is read (parameter_lanes): zeroing all of it cost 1.5 KiB of stores per block, for a
  // few 16 KiB planes a measurable share.
  alignas(64) float lanes[kMaxParams][kMaxLanes];
  if (walks_contiguously(b)) {
    const row_geometry g = contiguous_geometry(b);
    parameter_lanes(params, 0, g, b.channels, true, lanes);
    if constexpr (ops::has_streaming_store) {
      if (stream && elementwise_streaming<Op>(in, out, b, lanes)) return;
    }
    const std::int64_t rows = b.positions / g.positions;
    with_vectors(g, [&](auto v, auto) {
      constexpr int kV = decltype(v)::value;
      rows_elementwise<Op, kV, false, false>(in, out, g.step, rows, g.used_lanes, g.period, lanes);
      const std::int64_t tail = rows * g.step;
      elementwise_partial_row<Op, kV>(shifted_inputs<Op::inputs>(in, tail).at, out + tail,
                                      (b.positions - rows * g.positions) * b.channels, g, lanes);
    });
    return;
  }
  for (int first = 0; first < b.channels; first += kMaxLanes) {
    const int count = b.channels - first < kMaxLanes ? b.channels - first : kMaxLanes;
    const row_geometry g = subgroup_geometry(b, count);
    parameter_lanes(params, first, g, count, false, lanes);
    with_vectors(g, [&](auto v, auto partial) {
      rows_elementwise<Op, decltype(v)::value, decltype(partial)::value, false>(
          shifted_inputs<Op::inputs>(in, first).at, out + first, g.step, b.positions, g.used_lanes, g.period, lanes);
    });
  }
}

// Plane ch's part of the per-channel parameter arrays of a group.
struct plane_parameters {
  const float* at[kMaxParams];
  plane_parameters(const float* const* params, int ch) noexcept {
    for (int i = 0; i < kMaxParams; ++i) at[i] = params[i] != nullptr ? params[i] + ch : nullptr;
  }
};

// The values from position `first` on of every plane of a group, each plane on its own.
template <class Op>
void elementwise_planes(const float* const* in, float* out, const block_shape& b, std::int64_t first,
                        const float* const* params, bool stream) noexcept {
  for (int ch = 0; ch < b.channels; ++ch) {
    const std::int64_t at = ch * b.plane_stride + first;
    elementwise_pass<Op>(shifted_inputs<Op::inputs>(in, at).at, out + at, block_shape{b.positions - first, 1, 1, 0},
                         plane_parameters(params, ch).at, stream);
  }
}

// The planes of a group: whole vectors side by side where the planes share rows (the same arithmetic per element
// whatever the walk), the rest and streaming output plane by plane (each plane keeps its own alignment
// handling).
template <class Op>
void plane_group_elementwise(const float* const* in, float* out, const block_shape& b, const float* const* params,
                             bool stream) noexcept {
  if (stream || !planes_share_rows(b.positions)) {
    elementwise_planes<Op>(in, out, b, 0, params, stream);
    return;
  }
  alignas(64) float lanes[kMaxParams][kMaxLanes];
  const shared_rows s = shared_rows_of(b.positions);
  for (int first = 0; first < b.channels; first += s.planes) {
    const int count = std::min(b.channels - first, s.planes);
    for (int i = 0; i < kMaxParams; ++i)  // pattern v (vectors v, v + count, ...): plane first + v's value
      for (int v = 0; v < count; ++v)
        ops::store(lanes[i] + v * W, ops::splat(params[i] != nullptr ? params[i][first + v] : 0.0f));
    const std::int64_t group = first * b.plane_stride;
    with_planar_vectors(count, s.plane_vectors, [&](auto v, auto p) {
      rows_elementwise<Op, decltype(v)::value, false, false>(shifted_inputs<Op::inputs>(in, group).at, out + group,
                                                             s.step, s.rows, W, count, lanes,
                                                             planar_vectors<decltype(p)::value>{b.plane_stride});
    });
  }
  if (s.done < b.positions) elementwise_planes<Op>(in, out, b, s.done, params, false);
}

template <class Op>
void block_elementwise(const float* const* in, float* out, const block_shape& b, const float* const* params,
                       bool stream) noexcept {
  if (b.plane_stride == 0)
    elementwise_pass<Op>(in, out, b, params, stream);
  else
    plane_group_elementwise<Op>(in, out, b, params, stream);
}

void block_scale(const float* x, float* y, block_shape b, const float* scale, const float* shift,
                 bool stream) noexcept {
  const float* in[1] = {x};
  const float* params[kMaxParams] = {scale, shift, nullptr};
  if (shift != nullptr)
    block_elementwise<scale_shift_op>(in, y, b, params, stream);
  else
    block_elementwise<scale_op>(in, y, b, params, stream);
}

// ---------------------------------------------------------------------------------------------------------
// Backward

template <int V>
struct lane_sums {
  vec dyx[V];
  vec dy[V];
};

template <int V, bool Partial, class Vectors>
void segment_grad_sums(const float* x, const float* dy, std::int64_t step, int rows, int used, Vectors at,
                       lane_sums<V>& out) noexcept {
  for (int v = 0; v < V; ++v) {
    out.dyx[v] = ops::splat(0.0f);
    out.dy[v] = ops::splat(0.0f);
  }
  for (int r = 0; r < rows; ++r) {
    for (int v = 0; v < V; ++v) {
      const vec g = load_row_vector<V, Partial>(dy + r * step, v, used, at);
      out.dyx[v] = ops::fma(g, load_row_vector<V, Partial>(x + r * step, v, used, at), out.dyx[v]);
      out.dy[v] = out.dy[v] + g;
    }
  }
}

// Per-lane sums over `rows` rows; vectors v and v + period are added, the first `period` stored.
template <int V, bool Partial, class Vectors = packed_vectors>
void rows_grad_sums(const float* x, const float* dy, std::int64_t step, std::int64_t rows, int used, int period,
                    float* lane_dyx, float* lane_dy, Vectors at = {}) noexcept {
  lane_sums<V> level[kMergeLevels];
  const std::int64_t full = rows / kSegmentRows;
  const int rest = static_cast<int>(rows % kSegmentRows);
  for (std::int64_t s = 0; s < full; ++s) {
    lane_sums<V> current;
    const std::int64_t offset = s * kSegmentRows * step;
    segment_grad_sums<V, Partial>(x + offset, dy + offset, step, kSegmentRows, used, at, current);
    int k = 0;
    for (std::int64_t carry = s; carry & 1; carry >>= 1, ++k) {
      for (int v = 0; v < V; ++v) {
        current.dyx[v] = level[k].dyx[v] + current.dyx[v];
        current.dy[v] = level[k].dy[v] + current.dy[v];
      }
    }
    level[k] = current;
  }
  lane_sums<V> acc;
  const std::int64_t offset = full * kSegmentRows * step;
  segment_grad_sums<V, Partial>(x + offset, dy + offset, step, rest, used, at, acc);
  for (int k = 0; k < kMergeLevels && (full >> k) != 0; ++k) {
    if (((full >> k) & 1) == 0) continue;
    for (int v = 0; v < V; ++v) {
      acc.dyx[v] = level[k].dyx[v] + acc.dyx[v];
      acc.dy[v] = level[k].dy[v] + acc.dy[v];
    }
  }
  for (int width = V / 2; width >= period; width /= 2) {
    for (int v = 0; v < width; ++v) {
      acc.dyx[v] = acc.dyx[v] + acc.dyx[v + width];
      acc.dy[v] = acc.dy[v] + acc.dy[v + width];
    }
  }
  for (int v = 0; v < period; ++v) {
    ops::store(lane_dyx + v * W, acc.dyx[v]);
    ops::store(lane_dy + v * W, acc.dy[v]);
  }
}

// Sums of a group of planes that share rows (planes_share_rows), as many planes per pass as a row holds; per
// plane the same steps as interleaved_grad_sums on that plane alone.
void planar_grad_sums(const float* x, const float* dy, const block_shape& b, double* sum_dyx,
                      double* sum_dy) noexcept {
  alignas(64) float lane_dyx[kMaxLanes];
  alignas(64) float lane_dy[kMaxLanes];
  const shared_rows s = shared_rows_of(b.positions);
  for (int first = 0; first < b.channels; first += s.planes) {
    const int count = std::min(b.channels - first, s.planes);
    const std::int64_t group = first * b.plane_stride;
    if (s.rows > 0) {
      with_planar_vectors(count, s.plane_vectors, [&](auto v, auto p) {
        constexpr int kPlanes = decltype(p)::value;
        rows_grad_sums<decltype(v)::value, false>(x + group, dy + group, s.step, s.rows, W, count, lane_dyx,
                                                  lane_dy, planar_vectors<kPlanes>{b.plane_stride});
      });
    }
    for (int v = 0; v < count; ++v) {
      const std::int64_t plane = group + v * b.plane_stride;
      double dyx = 0.0, dy_sum = 0.0;
      if (s.rows > 0) {
        for (int l = v * W; l < (v + 1) * W; ++l) {
          dyx += static_cast<double>(lane_dyx[l]);
          dy_sum += static_cast<double>(lane_dy[l]);
        }
      }
      double a = 0.0, c = 0.0;
      exact_grad_sums(x + plane + s.done, dy + plane + s.done, b.positions - s.done, 1, &a, &c);
      dyx += a;
      dy_sum += c;
      if (!__builtin_isfinite(dyx) || !__builtin_isfinite(dy_sum))
        exact_grad_sums(x + plane, dy + plane, b.positions, 1, &dyx, &dy_sum);
      sum_dyx[first + v] = dyx;
      sum_dy[first + v] = dy_sum;
    }
  }
}

// Sums of a block whose channels are interleaved (no plane stride).
void interleaved_grad_sums(const float* x, const float* dy, const block_shape& b, double* sum_dyx,
                           double* sum_dy) noexcept {
  for (int ch = 0; ch < b.channels; ++ch) sum_dyx[ch] = sum_dy[ch] = 0.0;
  alignas(64) float lane_dyx[kMaxLanes];
  alignas(64) float lane_dy[kMaxLanes];
  if (walks_contiguously(b)) {
    const row_geometry g = contiguous_geometry(b);
    const std::int64_t rows = b.positions / g.positions;
    if (rows > 0) {
      with_vectors(g, [&](auto v, auto partial) {
        rows_grad_sums<decltype(v)::value, decltype(partial)::value>(x, dy, g.step, rows, g.used_lanes, g.period,
                                                                     lane_dyx, lane_dy);
      });
      // Summed in locals: through sum_dyx / sum_dy (which may alias anything) every addition waited for the
      // previous one's store, a third of a 16x16 plane's backward.
      for (int ch = 0; ch < b.channels; ++ch) {
        double dyx = 0.0, dy_sum = 0.0;
        for (int l = ch; l < g.period * W; l += b.channels) {
          dyx += static_cast<double>(lane_dyx[l]);
          dy_sum += static_cast<double>(lane_dy[l]);
        }
        sum_dyx[ch] = dyx;
        sum_dy[ch] = dy_sum;
      }
    }
    const std::int64_t done = rows * g.positions;
    for (int ch = 0; ch < b.channels; ++ch) {
      double a = 0.0, c = 0.0;
      const std::int64_t at = done * b.stride + ch;
      exact_grad_sums(x + at, dy + at, b.positions - done, b.stride, &a, &c);
      sum_dyx[ch] += a;
      sum_dy[ch] += c;
    }
  } else {
    for (int first = 0; first < b.channels; first += kMaxLanes) {
      const int count = b.channels - first < kMaxLanes ? b.channels - first : kMaxLanes;
      const row_geometry g = subgroup_geometry(b, count);
      with_vectors(g, [&](auto v, auto partial) {
        rows_grad_sums<decltype(v)::value, decltype(partial)::value>(x + first, dy + first, g.step, b.positions,
                                                                     g.used_lanes, g.period, lane_dyx, lane_dy);
      });
      for (int l = 0; l < count; ++l) {
        sum_dyx[first + l] = static_cast<double>(lane_dyx[l]);
        sum_dy[first + l] = static_cast<double>(lane_dy[l]);
      }
    }
  }
  for (int ch = 0; ch < b.channels; ++ch) {
    if (!__builtin_isfinite(sum_dyx[ch]) || !__builtin_isfinite(sum_dy[ch]))
      exact_grad_sums(x + ch, dy + ch, b.positions, b.stride, &sum_dyx[ch], &sum_dy[ch]);
  }
}

void plane_group_grad_sums(const float* x, const float* dy, const block_shape& b, double* sum_dyx,
                           double* sum_dy) noexcept {
  if (planes_share_rows(b.positions)) {
    planar_grad_sums(x, dy, b, sum_dyx, sum_dy);
    return;
  }
  for (int ch = 0; ch < b.channels; ++ch) {
    const std::int64_t at = ch * b.plane_stride;
    interleaved_grad_sums(x + at, dy + at, block_shape{b.positions, 1, 1, 0}, sum_dyx + ch, sum_dy + ch);
  }
}

void block_grad_sums(const float* x, const float* dy, block_shape b, double* sum_dyx, double* sum_dy) noexcept {
  if (b.plane_stride == 0)
    interleaved_grad_sums(x, dy, b, sum_dyx, sum_dy);
  else
    plane_group_grad_sums(x, dy, b, sum_dyx, sum_dy);
}

void block_grad_apply(const float* x, const float* dy, float* dx, block_shape b, const float* a, const float* bb,
                      const float* mean, bool stream) noexcept {
  const float* in[2] = {x, dy};
  const float* params[kMaxParams] = {a, bb, mean};
  block_elementwise<grad_op>(in, dx, b, params, stream);
}

constexpr kernel_table kTable = {kernel_name,     largest_row_sharing_plane(), block_moments, block_scale,
                                 block_grad_sums, block_grad_apply};

}  // namespace

const kernel_table& kernel_set() noexcept { return kTable; }

}  // namespace varnorm::detail::VARNORM_KERNEL_NAMESPACE
