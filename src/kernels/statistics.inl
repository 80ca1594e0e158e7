// Moments of each channel of a block (part of kernel_source.inl).
//
// Accuracy. Values are shifted by the lane's first value of the run (a DC offset costs no precision). Each lane
// accumulates at most kSegmentRows values in float (two-pass, Welford, or shifted sums: see
// shifted_segment_moments); segment results are merged pairwise (segment_merge.inl), lanes are combined in
// double. A channel whose float statistics cannot stand (float_moments_trusted) is recomputed in double.

constexpr float kInverse[kSegmentRows + 1] = {0.0f,      1.0f,      1.0f / 2,  1.0f / 3,  1.0f / 4,  1.0f / 5,
                                              1.0f / 6,  1.0f / 7,  1.0f / 8,  1.0f / 9,  1.0f / 10, 1.0f / 11,
                                              1.0f / 12, 1.0f / 13, 1.0f / 14, 1.0f / 15, 1.0f / 16};

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
// Per lane: sum[v] = the sum of (x - shift) over `rows` rows, in row order.
template <int V, bool Partial, class Vectors>
void shifted_row_sums(const input_element* base, std::int64_t step, int rows, int used, Vectors at, const vec* shift,
                      vec* sum) noexcept {
  for (int v = 0; v < V; ++v) sum[v] = ops::splat(0.0f);
  for (int r = 0; r < rows; ++r) {
    const input_element* row = base + r * step;
    for (int v = 0; v < V; ++v) sum[v] = sum[v] + (load_row_vector<V, Partial>(row, v, used, at) - shift[v]);
  }
}

template <int V, bool Partial, varnorm_algorithm Method, class Vectors>
void segment_moments(const input_element* base, std::int64_t step, int rows, int used, Vectors at, const vec* shift,
                     lane_moments<V>& out) noexcept {
  if constexpr (Method == VARNORM_ALGORITHM_WELFORD) {
    for (int v = 0; v < V; ++v) {
      out.mean[v] = load_row_vector<V, Partial>(base, v, used, at) - shift[v];
      out.m2[v] = ops::splat(0.0f);
    }
    for (int r = 1; r < rows; ++r) {
      const input_element* row = base + r * step;
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
    shifted_row_sums<V, Partial>(base, step, rows, used, at, shift, sum);
    const vec inv = ops::splat(kInverse[rows]);
    const vec count = ops::splat(static_cast<float>(rows));
    for (int v = 0; v < V; ++v) {
      out.mean[v] = sum[v] * inv;
      out.m2[v] = ops::splat(0.0f);
      out.sum[v] = ops::fma(shift[v], count, sum[v]);
    }
    for (int r = 0; r < rows; ++r) {
      const input_element* row = base + r * step;
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
// block's first segment has no predecessor: a whole one takes t from its own first rows (leading_rows_mean),
// a shorter one (a run of fewer than kSegmentRows rows) is computed two-pass.
template <int V, bool Partial, class Vectors>
void shifted_segment_moments(const input_element* base, std::int64_t step, int rows, int used, Vectors at,
                             const vec* shift, const vec* estimate, lane_moments<V>& out) noexcept {
  vec t[V], sum[V], squares[V];
  for (int v = 0; v < V; ++v) {
    t[v] = shift[v] + estimate[v];
    sum[v] = squares[v] = ops::splat(0.0f);
  }
  // Rows that are part of wider rows (a channel group of an NHWC sample of more channels): the hardware
  // prefetchers leave the sweep waiting on memory, so each row fetches the one a segment ahead.
  const bool prefetch = step > W * V;
  for (int r = 0; r < rows; ++r) {
    const input_element* row = base + r * step;
    if (prefetch)
      for (int v = 0; v < V; ++v) __builtin_prefetch(row + kSegmentRows * step + at.offset(v));
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

// Rows a block's first segment takes its shifted sums' estimate from. With t the mean of a lane's first
// kLeadingRows values, kSegmentRows * (t - segment mean)^2 <= kSegmentRows / kLeadingRows * M2 (Cauchy-Schwarz),
// so no lane cancels by more than 1 + kSegmentRows / kLeadingRows = 5, whatever the data.
constexpr int kLeadingRows = kSegmentRows / 4;

// Per lane: the mean of (x - shift) over the first kLeadingRows rows.
template <int V, bool Partial, class Vectors>
void leading_rows_mean(const input_element* base, std::int64_t step, int used, Vectors at, const vec* shift,
                       vec* mean) noexcept {
  shifted_row_sums<V, Partial>(base, step, kLeadingRows, used, at, shift, mean);
  const vec inv = ops::splat(kInverse[kLeadingRows]);
  for (int v = 0; v < V; ++v) mean[v] = mean[v] * inv;
}

// Segment `s` of a block (`rows` rows from `base`); `estimate` holds the lane means of segment s - 1.
template <int V, bool Partial, varnorm_algorithm Method, class Vectors>
void block_segment_moments(const input_element* base, std::int64_t step, int rows, int used, Vectors at,
                           const vec* shift, std::int64_t s, const vec* estimate, lane_moments<V>& out) noexcept {
  if constexpr (Method == VARNORM_ALGORITHM_SHIFTED_SUMS) {
    if (s > 0) {
      shifted_segment_moments<V, Partial>(base, step, rows, used, at, shift, estimate, out);
      return;
    }
    if (rows == kSegmentRows) {
      vec leading_mean[V];
      leading_rows_mean<V, Partial>(base, step, used, at, shift, leading_mean);
      shifted_segment_moments<V, Partial>(base, step, rows, used, at, shift, leading_mean, out);
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

// The segments of a run for segment_merge: shifted by the lane's first value, each (shifted sums) estimated from
// the previous one's mean.
template <int V, bool Partial, varnorm_algorithm Method, class Vectors>
struct moment_segments {
  const input_element* base;
  std::int64_t step;
  int used;
  Vectors at;
  const vec* shift;
  vec estimate[V];  // lane means of the previous segment (shifted sums)

  void segment(std::int64_t s, int rows, lane_moments<V>& out) noexcept {
    block_segment_moments<V, Partial, Method>(base + s * kSegmentRows * step, step, rows, used, at, shift, s, estimate,
                                              out);
    for (int v = 0; v < V; ++v) estimate[v] = out.mean[v];
  }
  static void merge(const lane_moments<V>& left, double left_count, const lane_moments<V>& right, double right_count,
                    lane_moments<V>& out) noexcept {
    merge_lanes<V>(left, left_count, right, right_count, out);
  }
};

// Per-lane moments of `rows` rows (each lane sees `rows` values), stored to lane_*; the mean is relative to
// lane_shift, the lane's value in the first row.
//
// Lanes of vectors v and v + period hold the same channel and share a shift; at the end they are merged
// pairwise, so only the first `period` vectors are stored, each lane then over rows * V / period values.
// Never inlined: a caller that dispatches to several instantiations would add up their frames (the largest of
// the kernels; bench/README.md, "Stack use"), which test/realtime's stack check catches.
template <int V, bool Partial, varnorm_algorithm Method, class Vectors = packed_vectors>
__attribute__((noinline)) void rows_moments(const input_element* base, std::int64_t step, std::int64_t rows, int used,
                                            int period, float* lane_shift, float* lane_mean, float* lane_m2,
                                            float* lane_sum, Vectors at = {}) noexcept {
  vec shift[V];
  for (int v = 0, pattern = 0; v < V; ++v, pattern = pattern + 1 == period ? 0 : pattern + 1)
    shift[v] = load_row_vector<V, Partial>(base, pattern, used, at);  // pattern = v % period, without a division
  for (int v = 0; v < period; ++v) ops::store(lane_shift + v * W, shift[v]);
  moment_segments<V, Partial, Method, Vectors> segments;
  segments.base = base;
  segments.step = step;
  segments.used = used;
  segments.at = at;
  segments.shift = shift;
  for (int v = 0; v < V; ++v) segments.estimate[v] = ops::splat(0.0f);
  segment_merge<lane_moments<V>, decltype(segments)> merge;
  double count = 0.0;
  lane_moments<V>& total = merge.merge_rows(segments, rows, &count);
  // V / period is a power of two (see contiguous_vectors), so halving reaches `period` exactly.
  const vec half = ops::splat(0.5f);
  for (int width = V / 2; width >= period; width /= 2, count *= 2.0) {
    const vec m2_weight = ops::splat(static_cast<float>(count * 0.5));
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

// Planes by sums about one shift each (VARNORM_ALGORITHM_SHIFTED_SUMS): a plane's float shift t is the mean of its
// first row; per lane, sum z and sum z^2 of z = x - t in float over kSegmentRows rows, the plane's vectors added
// as a tree (the pairs rows_moments merges), its lanes into double; M2 = S2 - S1^2 / n in double. No merge per
// segment and no combination of lanes: a subtraction per value more than plain sums, and no more. The walk is a
// plane's own rows (packed_vectors, P = 1) or shared rows of P planes (planar_vectors<P>), with the same values
// in each lane in the same order, so that a plane gets the same bits alone and in a group.
struct plane_sums {
  double count;
  double shift;
  double sum;      // sum of (x - shift)
  double squares;  // sum of (x - shift)^2
};

// Rounding of one float sum of plane_sums_about, in units of roundoff: kSegmentRows additions in a lane, the tree
// over a plane's vectors (at most 3 levels), the rounding of z, with room to spare.
constexpr double kPlaneSumRoundoff = 24.0;

// Planes of fewer values keep the segment merges: the promise allows them 4 ceil(log2 n) units of roundoff against
// the sums' own kPlaneSumRoundoff, so that too many of them would be summed twice.
constexpr std::int64_t kMinPlaneSumValues = 1024;

// Whether plane_sums keep the promised bound (README.md, "Accuracy"): the relative error of M2 within
// 4 * ceil(log2 n) * kappa * 2^-24. Its error is at most kPlaneSumRoundoff * 2^-24 * (S2 + 2 |S1| sqrt(S2 / n)) (by
// Cauchy-Schwarz, sum |z| <= sqrt(n S2)); a shift far from the plane's mean (|S1| / n against the deviation) makes
// that large.
bool plane_sums_within_bound(const plane_sums& p) noexcept {
  const double mean_z = p.sum / p.count;
  const double m2 = p.squares - p.sum * mean_z;
  if (!(m2 > 0.0)) return p.sum == 0.0 && p.squares == 0.0;  // all values equal t: exact; NaN: not within
  if (!std::isfinite(m2)) return false;
  const auto count = static_cast<std::uint64_t>(p.count);
  const int ceil_log2 = count > 1 ? 64 - __builtin_clzll(count - 1) : 0;
  const double allowed_at_kappa_1 = 4.0 * ceil_log2 * m2;
  // Without square roots first, for the usual shift near the mean: kappa >= 1, and
  // 2 |S1| sqrt(S2 / n) <= 8 S1^2 / n + S2 / 8 (AM-GM).
  if (kPlaneSumRoundoff * (1.125 * p.squares + 8.0 * p.sum * mean_z) <= allowed_at_kappa_1) return true;
  const double mean = p.shift + mean_z;
  const double kappa = std::sqrt(1.0 + p.count * mean * mean / m2);
  const double error = kPlaneSumRoundoff * (p.squares + 2.0 * std::fabs(p.sum) * std::sqrt(p.squares / p.count));
  return error <= allowed_at_kappa_1 * kappa;
}

// Adds each plane's vectors of sum[0..V) as a tree (vectors p, p + P, ... hold plane p), then its lanes into the
// double lanes total[p * W / D ...].
template <int V, int P>
void add_plane_lanes(vec* sum, ops::dvec* total) noexcept {
  constexpr int D = ops::double_width;
  for (int width = V / 2; width >= P; width /= 2)
    for (int v = 0; v < width; ++v) sum[v] = sum[v] + sum[v + width];
  alignas(64) float lanes[W];
  for (int plane = 0; plane < P; ++plane) {
    ops::store(lanes, sum[plane]);
    for (int j = 0; j < W / D; ++j) {
      ops::dvec& lane_pair = total[plane * (W / D) + j];
      lane_pair = lane_pair + ops::load_widened(lanes + j * D);
    }
  }
}

// W double lanes added as a tree (lane_total's order).
inline double double_lane_total(const ops::dvec* total) noexcept {
  constexpr int D = ops::double_width;
  ops::dvec all = total[0];
  for (int j = 1; j < W / D; ++j) all = all + total[j];
  return ops::reduce_add(all);
}

// plane_sums of the P planes of `rows` rows of V vectors (vector v of plane v % P), plane p about shift[p].
template <int V, int P, class Vectors>
__attribute__((noinline)) void plane_sums_about(const input_element* base, std::int64_t step, std::int64_t rows,
                                                Vectors at, const float* shift, plane_sums* out) noexcept {
  constexpr int D = ops::double_width;
  vec t[V], sum[V], squares[V];
  for (int v = 0; v < V; ++v) t[v] = ops::splat(shift[v % P]);
  ops::dvec sum_total[P * W / D], squares_total[P * W / D];
  for (int j = 0; j < P * W / D; ++j) sum_total[j] = squares_total[j] = ops::splat(0.0);
  for (std::int64_t first = 0; first < rows; first += kSegmentRows) {
    const std::int64_t end = std::min(rows, first + kSegmentRows);
    for (int v = 0; v < V; ++v) sum[v] = squares[v] = ops::splat(0.0f);
    for (std::int64_t r = first; r < end; ++r) {
      const input_element* row = base + r * step;
      for (int v = 0; v < V; ++v) {
        const vec z = load_row_vector<V, false>(row, v, W, at) - t[v];
        sum[v] = sum[v] + z;
        squares[v] = ops::fma(z, z, squares[v]);
      }
    }
    add_plane_lanes<V, P>(sum, sum_total);
    add_plane_lanes<V, P>(squares, squares_total);
  }
  for (int plane = 0; plane < P; ++plane) {
    out[plane].count = static_cast<double>(rows * (V / P) * W);
    out[plane].shift = shift[plane];
    out[plane].sum = double_lane_total(sum_total + plane * (W / D));
    out[plane].squares = double_lane_total(squares_total + plane * (W / D));
  }
}

// plane_sums of the P planes of `rows` rows of V vectors, each about the mean of its first row, or, where that
// would not keep the bound (a trend across the plane, or a far value first), once more about the mean found, the
// plane alone in its own rows (the same lanes, the same order; it is in cache). Returns the planes that keep it
// (bit p: plane p).
template <int V, int P, class Vectors>
unsigned plane_shifted_sums(const input_element* base, std::int64_t step, std::int64_t rows, Vectors at,
                            plane_sums* out) noexcept {
  constexpr int D = ops::double_width;
  vec first[V];
  ops::dvec first_total[P * W / D];
  for (int v = 0; v < V; ++v) first[v] = load_row_vector<V, false>(base, v, W, at);
  for (int j = 0; j < P * W / D; ++j) first_total[j] = ops::splat(0.0);
  add_plane_lanes<V, P>(first, first_total);
  float shift[P];
  for (int plane = 0; plane < P; ++plane)
    shift[plane] = static_cast<float>(double_lane_total(first_total + plane * (W / D)) / ((V / P) * W));
  plane_sums_about<V, P>(base, step, rows, at, shift, out);
  unsigned kept = 0;
  for (int plane = 0; plane < P; ++plane) {
    if (plane_sums_within_bound(out[plane])) {
      kept |= 1u << plane;
      continue;
    }
    const float mean = static_cast<float>(out[plane].shift + out[plane].sum / out[plane].count);
    if (!std::isfinite(mean)) continue;
    plane_sums_about<V / P, 1>(base + at.offset(plane), step, rows, packed_vectors{}, &mean, &out[plane]);
    if (plane_sums_within_bound(out[plane])) kept |= 1u << plane;
  }
  return kept;
}

moments moments_of(const plane_sums& p) noexcept {
  moments m;
  m.count = p.count;
  const double mean_z = p.sum / p.count;
  m.mean = p.shift + mean_z;
  m.m2 = p.squares - p.sum * mean_z;
  m.sum = p.shift * p.count + p.sum;
  return m;
}

// Channel ch's lanes k < lanes_per_channel, at ch * channel_step + k * lane_step, each over `count` values with
// mean lane_shift + lane_mean, combined in double into out[ch] (Chan's formula for equal counts). Never inlined:
// vectorised copies of it in the branches of a walk added KiB of temporaries to the walk's frame.
__attribute__((noinline)) void combine_lanes(const float* lane_shift, const float* lane_mean, const float* lane_m2,
                                             const float* lane_sum, int channels, int lanes_per_channel,
                                             int channel_step, int lane_step, double count, moments* out) noexcept {
  const int end = lanes_per_channel * lane_step;
  for (int ch = 0; ch < channels; ++ch) {
    const int first = ch * channel_step;
    double sum = 0.0, mean_sum = 0.0;
    for (int l = first; l < first + end; l += lane_step) {
      mean_sum += static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]);
      sum += static_cast<double>(lane_sum[l]);
    }
    const double mean_of_lanes = mean_sum / static_cast<double>(lanes_per_channel);
    double m2 = 0.0;
    for (int l = first; l < first + end; l += lane_step) {
      const double d = static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]) - mean_of_lanes;
      m2 += static_cast<double>(lane_m2[l]) + count * d * d;
    }
    moments m;
    m.count = count * static_cast<double>(lanes_per_channel);
    m.mean = mean_of_lanes;
    m.m2 = m2;
    m.sum = sum;
    out[ch] = m;
  }
}

// Planes [0, planes) of W adjacent lanes each (plane p in lanes [p * W, (p + 1) * W)), combined as combine_lanes
// does, in double, but a vector of lanes at a time and added as a tree (lane_total's order). Never inlined, as
// combine_lanes.
__attribute__((noinline)) void combine_plane_lanes(const float* lane_shift, const float* lane_mean,
                                                   const float* lane_m2, const float* lane_sum, int planes,
                                                   double count, moments* out) noexcept {
  constexpr int D = ops::double_width;
  for (int plane = 0; plane < planes; ++plane) {
    const int first = plane * W;
    dvec lane_means[W / D];
    for (int j = 0; j < W / D; ++j)
      lane_means[j] = ops::load_widened(lane_shift + first + j * D) + ops::load_widened(lane_mean + first + j * D);
    dvec mean_sum = lane_means[0];
    for (int j = 1; j < W / D; ++j) mean_sum = mean_sum + lane_means[j];
    const double mean_of_lanes = ops::reduce_add(mean_sum) / static_cast<double>(W);
    const dvec center = ops::splat(mean_of_lanes), weight = ops::splat(count);
    auto m2_term = [&](int j) {
      const dvec d = lane_means[j] - center;
      return ops::load_widened(lane_m2 + first + j * D) + weight * d * d;
    };
    dvec m2 = m2_term(0);
    for (int j = 1; j < W / D; ++j) m2 = m2 + m2_term(j);
    moments m;
    m.count = count * static_cast<double>(W);
    m.mean = mean_of_lanes;
    m.m2 = ops::reduce_add(m2);
    m.sum = lane_total(lane_sum + first);
    out[plane] = m;
  }
}

// The statistics pass of walk_block: out[ch] = moments of channel ch.
template <varnorm_algorithm Method>
struct statistics_pass {
  const input_element* x;
  moments* out;
  alignas(64) float lane_shift[kMaxLanes];
  alignas(64) float lane_mean[kMaxLanes];
  alignas(64) float lane_m2[kMaxLanes];
  alignas(64) float lane_sum[kMaxLanes];
  plane_sums plane_results[kMaxVectors];  // the last run's, for the planes in plane_sums_taken
  unsigned plane_sums_taken = 0;          // bit p: the run's plane p by plane_shifted_sums

  static bool shares_rows() noexcept { return true; }
  static bool whole_block(const block_shape&, const row_run&, const row_geometry&) noexcept { return false; }
  static void lanes(const row_run&) noexcept {}

  template <int V, bool Partial, class Vectors>
  void rows(const row_run& run, Vectors at) noexcept {
    plane_sums_taken = 0;
    // A plane's own rows, or shared rows of planes: sums about one shift per plane, where they keep the bound.
    if constexpr (Method == VARNORM_ALGORITHM_SHIFTED_SUMS && !Partial) {
      constexpr int P = planes_per_row<Vectors>::value;
      const bool planes = run.layout == lane_layout::plane_per_vector ||
                          (run.layout == lane_layout::channel_cycle && run.channels == 1);
      if (planes && run.rows * (V / P) * W >= kMinPlaneSumValues) {
        plane_sums_taken = plane_shifted_sums<V, P>(x + run.offset, run.step, run.rows, at, plane_results);
        if (plane_sums_taken == (1u << P) - 1) return;
      }
    }
    rows_moments<V, Partial, Method>(x + run.offset, run.step, run.rows, run.used, run.period, lane_shift, lane_mean,
                                     lane_m2, lane_sum, at);
  }

  void after(const row_run& run) noexcept {
    const int planes = run.layout == lane_layout::plane_per_vector ? run.channels : 1;
    if (plane_sums_taken != (1u << planes) - 1) combine_run(run);
    for (int plane = 0; plane < planes; ++plane)
      if (plane_sums_taken & (1u << plane)) out[run.first + plane] = moments_of(plane_results[plane]);
  }

  // The moments of the run's channels from rows_moments' lanes.
  void combine_run(const row_run& run) noexcept {
    const double per_lane = static_cast<double>(run.rows) * static_cast<double>(run.vectors / run.period);
    switch (run.layout) {
      case lane_layout::channel_cycle:  // lane l holds channel l % channels
        if (run.channels == 1) {        // one vector of lanes (period 1)
          combine_plane_lanes(lane_shift, lane_mean, lane_m2, lane_sum, 1, per_lane, out + run.first);
          break;
        }
        combine_lanes(lane_shift, lane_mean, lane_m2, lane_sum, run.channels, run.period * W / run.channels, 1,
                      run.channels, per_lane, out + run.first);
        break;
      case lane_layout::channel_per_lane:  // the lane's moments are the channel's
        for (int l = 0; l < run.channels; ++l) {
          moments m;
          m.count = per_lane;
          m.mean = static_cast<double>(lane_shift[l]) + static_cast<double>(lane_mean[l]);
          m.m2 = static_cast<double>(lane_m2[l]);
          m.sum = static_cast<double>(lane_sum[l]);
          out[run.first + l] = m;
        }
        break;
      case lane_layout::plane_per_vector:  // lanes [v * W, (v + 1) * W) hold plane v
        combine_plane_lanes(lane_shift, lane_mean, lane_m2, lane_sum, run.channels, per_lane, out + run.first);
        break;
    }
  }

  void empty(int first, int channels) noexcept {
    for (int ch = first; ch < first + channels; ++ch) out[ch] = moments{};
  }

  void tail(std::int64_t offset, int first, int channels, std::int64_t positions, std::int64_t stride,
            const row_geometry&) noexcept {
    for (int ch = 0; ch < channels; ++ch)
      out[first + ch] = merge_moments(out[first + ch], exact_moments(x + offset + ch, positions, stride));
  }

  void finish(std::int64_t offset, int first, int channels, std::int64_t positions, std::int64_t stride) noexcept {
    for (int ch = 0; ch < channels; ++ch) {
      if (!float_moments_trusted(out[first + ch], x + offset + ch, positions, stride))
        out[first + ch] = exact_moments(x + offset + ch, positions, stride);
    }
  }
};

// Planes of at most kLanePlaneMomentPositions values (a group of small NCHW planes, or one such plane), a chunk at a
// time: copied into a block with the planes as channels and walked one plane per lane, so that no plane's lanes
// are combined in double (for a 16-value plane that costs more than its sums). Each plane's bits are its own.
template <varnorm_algorithm Method>
__attribute__((noinline)) void lane_plane_moments(const input_element* x, const block_shape& b, moments* out) noexcept {
  alignas(64) input_element planes[kLanePlaneValues];
  for (int first = 0; first < b.channels;) {
    const lane_chunk chunk = lane_chunk_of(b.channels - first, b.positions);
    copy_planes_to_lanes(x, b, first, chunk, planes);
    moments padded[W];
    statistics_pass<Method> pass;
    pass.x = planes;
    pass.out = chunk.lanes == chunk.count ? out + first : padded;
    const block_shape lanes{b.positions, chunk.lanes, chunk.lanes, 0};
    walk_subgroups(pass, lanes, 0, 0);
    pass.finish(0, 0, chunk.count, b.positions, chunk.lanes);
    if (chunk.lanes != chunk.count) std::copy_n(padded, chunk.count, out + first);
    first += chunk.count;
  }
}

template <varnorm_algorithm Method>
void block_moments_for(const input_element* x, const block_shape& b, moments* out) noexcept {
  if (takes_lane_planes(b, kLanePlaneMomentPositions)) {
    lane_plane_moments<Method>(x, b, out);
    return;
  }
  statistics_pass<Method> pass;
  pass.x = x;
  pass.out = out;
  walk_block(pass, b);
}

void block_moments(const input_element* x, block_shape b, varnorm_algorithm algorithm, moments* out) noexcept {
  switch (algorithm) {
    case VARNORM_ALGORITHM_WELFORD: block_moments_for<VARNORM_ALGORITHM_WELFORD>(x, b, out); break;
    case VARNORM_ALGORITHM_SHIFTED_SUMS: block_moments_for<VARNORM_ALGORITHM_SHIFTED_SUMS>(x, b, out); break;
    default: block_moments_for<VARNORM_ALGORITHM_TWO_PASS>(x, b, out); break;
  }
}

// Groups [first, end) of finish_statistics, Ops::double_width at a time (end - first a multiple of it).
template <class Ops>
void finish_statistics_by(const moments* m, int first, int end, double dof, double eps,
                          finished_statistics& out) noexcept {
  using dvec_of = typename Ops::dvec;
  const dvec_of nan = Ops::splat(std::numeric_limits<double>::quiet_NaN());
  for (int i = first; i < end; i += Ops::double_width) {
    auto field = [&](double moments::*member) { return Ops::from_lanes([&](int l) { return m[i + l].*member; }); };
    const dvec_of n = field(&moments::count), mean = field(&moments::mean), m2 = field(&moments::m2);
    const dvec_of sum = field(&moments::sum);
    const auto finite = Ops::finite(mean) && Ops::finite(m2);
    const dvec_of rstd = Ops::select(finite, Ops::splat(1.0) / Ops::sqrt(m2 / Ops::splat(dof) + Ops::splat(eps)), nan);
    const dvec_of reported = Ops::select(m2 == Ops::splat(0.0), mean, sum / n);
    Ops::store(out.rstd_exact + i, rstd);
    Ops::store(out.mean_exact + i, Ops::select(finite, mean, nan));
    Ops::store_narrowed(out.rstd + i, rstd);
    Ops::store_narrowed(out.mean + i, Ops::select(finite, reported, nan));
  }
}

// Whole vectors of groups, then the rest one at a time; vector divides, square roots and conversions round
// exactly as scalar ones do.
void finish_statistics(const moments* m, int count, double dof, double eps, finished_statistics& out) noexcept {
  const int whole = count / ops::double_width * ops::double_width;
  finish_statistics_by<ops>(m, 0, whole, dof, eps, out);
  finish_statistics_by<vector_ops<scalar_arch>>(m, whole, count, dof, eps, out);
}

// A vector at a time, as finish_statistics.
void divide_by(const double* values, int count, double divisor, double* quotients) noexcept {
  constexpr int D = ops::double_width;
  int i = 0;
  for (; i + D <= count; i += D) ops::store(quotients + i, ops::load(values + i) / ops::splat(divisor));
  for (; i < count; ++i) quotients[i] = values[i] / divisor;
}
