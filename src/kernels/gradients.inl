// Backward's reductions (part of kernel_source.inl): sum(dy * (x - shift)) and sum(dy) of each channel of a
// block, per lane in float over 16-row segments merged pairwise, lanes added in double. The shift (a channel's
// mean, when the layer subtracts it) keeps sum(dy * (x - mean)) accurate at large offsets, where
// sum(dy * x) - mean * sum(dy) would cancel.

template <int V>
struct lane_sums {
  vec dyx[V];
  vec dy[V];
};

template <int V, bool Partial, bool Shifted, class Vectors>
void segment_grad_sums(const input_element* x, const input_element* dy, const vec* shift, std::int64_t step, int rows,
                       int used, Vectors at, lane_sums<V>& out) noexcept {
  for (int v = 0; v < V; ++v) {
    out.dyx[v] = ops::splat(0.0f);
    out.dy[v] = ops::splat(0.0f);
  }
  for (int r = 0; r < rows; ++r) {
    for (int v = 0; v < V; ++v) {
      const vec g = load_row_vector<V, Partial>(dy + r * step, v, used, at);
      vec value = load_row_vector<V, Partial>(x + r * step, v, used, at);
      if constexpr (Shifted) value = value - shift[v];
      out.dyx[v] = ops::fma(g, value, out.dyx[v]);
      out.dy[v] = out.dy[v] + g;
    }
  }
}

// The segments of a run for segment_merge.
template <int V, bool Partial, bool Shifted, class Vectors>
struct grad_segments {
  const input_element* x;
  const input_element* dy;
  const vec* shift;  // per vector of a row (Shifted)
  std::int64_t step;
  int used;
  Vectors at;

  void segment(std::int64_t s, int rows, lane_sums<V>& out) const noexcept {
    const std::int64_t offset = s * kSegmentRows * step;
    segment_grad_sums<V, Partial, Shifted>(x + offset, dy + offset, shift, step, rows, used, at, out);
  }
  static void merge(const lane_sums<V>& left, double, const lane_sums<V>& right, double, lane_sums<V>& out) noexcept {
    for (int v = 0; v < V; ++v) {
      out.dyx[v] = left.dyx[v] + right.dyx[v];
      out.dy[v] = left.dy[v] + right.dy[v];
    }
  }
};

// Per-lane sums over `rows` rows; vectors v and v + period are added, the first `period` stored. Never inlined,
// as rows_elementwise.
template <int V, bool Partial, bool Shifted, class Vectors = packed_vectors>
__attribute__((noinline)) void rows_grad_sums(const input_element* x, const input_element* dy, const float* shift_lanes,
                                              std::int64_t step, std::int64_t rows, int used, int period,
                                              float* lane_dyx, float* lane_dy, Vectors at = {}) noexcept {
  vec shift[V];
  if constexpr (Shifted) {
    for (int v = 0, pattern = 0; v < V; ++v, pattern = pattern + 1 == period ? 0 : pattern + 1)
      shift[v] = ops::load(shift_lanes + pattern * W);  // pattern = v % period
  }
  grad_segments<V, Partial, Shifted, Vectors> segments{x, dy, shift, step, used, at};
  segment_merge<lane_sums<V>, decltype(segments)> merge;
  double count = 0.0;
  lane_sums<V>& total = merge.merge_rows(segments, rows, &count);
  for (int width = V / 2; width >= period; width /= 2) {
    for (int v = 0; v < width; ++v) {
      total.dyx[v] = total.dyx[v] + total.dyx[v + width];
      total.dy[v] = total.dy[v] + total.dy[v + width];
    }
  }
  for (int v = 0; v < period; ++v) {
    ops::store(lane_dyx + v * W, total.dyx[v]);
    ops::store(lane_dy + v * W, total.dy[v]);
  }
}

// Planes [0, planes) of W adjacent lanes each: their lane totals (lane_total). Never inlined, as combine_lanes.
__attribute__((noinline)) void plane_lane_totals(const float* lane_dyx, const float* lane_dy, int planes,
                                                 double* sum_dyx, double* sum_dy) noexcept {
  for (int plane = 0; plane < planes; ++plane) {
    sum_dyx[plane] = lane_total(lane_dyx + plane * W);
    sum_dy[plane] = lane_total(lane_dy + plane * W);
  }
}

// The gradient-sum pass of walk_block: sum_dyx[ch] = sum(dy * (x - shift[ch])) (shift NULL: 0), sum_dy[ch] =
// sum(dy).
template <bool Shifted>
struct grad_sums_pass {
  const input_element* x;
  const input_element* dy;
  const float* shift;
  double* sum_dyx;
  double* sum_dy;
  alignas(64) float lane_dyx[kMaxLanes];
  alignas(64) float lane_dy[kMaxLanes];
  alignas(64) std::conditional_t<Shifted, float[1][kMaxLanes], char> shift_lanes;  // Shifted: the shift's lanes

  static bool shares_rows() noexcept { return true; }
  static bool whole_block(const block_shape&, const row_run&, const row_geometry&) noexcept { return false; }
  void lanes(const row_run& run) noexcept {
    if constexpr (Shifted) run_parameter_lanes(run, &shift, 1, shift_lanes);
  }

  template <int V, bool Partial, class Vectors>
  void rows(const row_run& run, Vectors at) noexcept {
    const float* lanes = nullptr;
    if constexpr (Shifted) lanes = shift_lanes[0];
    rows_grad_sums<V, Partial, Shifted>(x + run.offset, dy + run.offset, lanes, run.step, run.rows, run.used,
                                        run.period, lane_dyx, lane_dy, at);
  }

  // Summed in locals: through sum_dyx / sum_dy (which may alias anything) every addition would wait for the
  // previous one's store.
  void after(const row_run& run) noexcept {
    switch (run.layout) {
      case lane_layout::channel_cycle:
        if (run.channels == 1) {  // one vector of lanes (period 1)
          plane_lane_totals(lane_dyx, lane_dy, 1, sum_dyx + run.first, sum_dy + run.first);
          break;
        }
        for (int ch = 0; ch < run.channels; ++ch) {
          double dyx = 0.0, dy_sum = 0.0;
          for (int l = ch; l < run.period * W; l += run.channels) {
            dyx += static_cast<double>(lane_dyx[l]);
            dy_sum += static_cast<double>(lane_dy[l]);
          }
          sum_dyx[run.first + ch] = dyx;
          sum_dy[run.first + ch] = dy_sum;
        }
        break;
      case lane_layout::channel_per_lane:
        for (int l = 0; l < run.channels; ++l) {
          sum_dyx[run.first + l] = static_cast<double>(lane_dyx[l]);
          sum_dy[run.first + l] = static_cast<double>(lane_dy[l]);
        }
        break;
      case lane_layout::plane_per_vector:
        plane_lane_totals(lane_dyx, lane_dy, run.channels, sum_dyx + run.first, sum_dy + run.first);
        break;
    }
  }

  void empty(int first, int channels) noexcept {
    for (int ch = first; ch < first + channels; ++ch) sum_dyx[ch] = sum_dy[ch] = 0.0;
  }

  void tail(std::int64_t offset, int first, int channels, std::int64_t positions, std::int64_t stride,
            const row_geometry&) noexcept {
    for (int ch = 0; ch < channels; ++ch) {
      double dyx = 0.0, dy_sum = 0.0;
      exact_grad_sums(x + offset + ch, dy + offset + ch, shift_of(first + ch), positions, stride, &dyx, &dy_sum);
      sum_dyx[first + ch] += dyx;
      sum_dy[first + ch] += dy_sum;
    }
  }

  void finish(std::int64_t offset, int first, int channels, std::int64_t positions, std::int64_t stride) noexcept {
    for (int ch = 0; ch < channels; ++ch) {
      if (!__builtin_isfinite(sum_dyx[first + ch]) || !__builtin_isfinite(sum_dy[first + ch]))
        exact_grad_sums(x + offset + ch, dy + offset + ch, shift_of(first + ch), positions, stride,
                        &sum_dyx[first + ch], &sum_dy[first + ch]);
    }
  }

 private:
  float shift_of(int ch) const noexcept { return Shifted ? shift[ch] : 0.0f; }
};

// Planes of at most kLanePlaneSumPositions values, one to a lane, as lane_plane_moments takes them.
template <bool Shifted>
__attribute__((noinline)) void lane_plane_grad_sums(const input_element* x, const input_element* dy, const float* shift,
                                                    const block_shape& b, double* sum_dyx, double* sum_dy) noexcept {
  alignas(64) input_element x_planes[kLanePlaneValues], dy_planes[kLanePlaneValues];
  for (int first = 0; first < b.channels;) {
    const lane_chunk chunk = lane_chunk_of(b.channels - first, b.positions);
    copy_planes_to_lanes(x, b, first, chunk, x_planes);
    copy_planes_to_lanes(dy, b, first, chunk, dy_planes);
    const bool padded = chunk.lanes != chunk.count;
    float padded_shift[W] = {};
    double padded_dyx[W], padded_dy[W];
    if (Shifted && padded) std::copy_n(shift + first, chunk.count, padded_shift);
    grad_sums_pass<Shifted> pass;
    pass.x = x_planes;
    pass.dy = dy_planes;
    pass.shift = Shifted ? (padded ? padded_shift : shift + first) : nullptr;
    pass.sum_dyx = padded ? padded_dyx : sum_dyx + first;
    pass.sum_dy = padded ? padded_dy : sum_dy + first;
    const block_shape lanes{b.positions, chunk.lanes, chunk.lanes, 0};
    walk_subgroups(pass, lanes, 0, 0);
    pass.finish(0, 0, chunk.count, b.positions, chunk.lanes);
    if (padded) {
      std::copy_n(padded_dyx, chunk.count, sum_dyx + first);
      std::copy_n(padded_dy, chunk.count, sum_dy + first);
    }
    first += chunk.count;
  }
}

template <bool Shifted>
void block_grad_sums_of(const input_element* x, const input_element* dy, const float* shift, const block_shape& b,
                        double* sum_dyx, double* sum_dy) noexcept {
  if (takes_lane_planes(b, kLanePlaneSumPositions)) {
    lane_plane_grad_sums<Shifted>(x, dy, shift, b, sum_dyx, sum_dy);
    return;
  }
  grad_sums_pass<Shifted> pass;
  pass.x = x;
  pass.dy = dy;
  pass.shift = shift;
  pass.sum_dyx = sum_dyx;
  pass.sum_dy = sum_dy;
  walk_block(pass, b);
}

void block_grad_sums(const input_element* x, const input_element* dy, const float* shift, block_shape b,
                     double* sum_dyx, double* sum_dy) noexcept {
  if (shift != nullptr)
    block_grad_sums_of<true>(x, dy, shift, b, sum_dyx, sum_dy);
  else
    block_grad_sums_of<false>(x, dy, nullptr, b, sum_dyx, sum_dy);
}
