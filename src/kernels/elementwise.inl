// Elementwise passes (part of kernel_source.inl): forward's y = (x - center) * scale + shift and backward's
// dx = a * dy + b * (x - mean) + k, each without the terms a call lacks, on one engine. Every element gets the same
// arithmetic whichever way the walk reaches it (whole rows, a zero-padded tail, streaming or regular stores), so the
// output's bits depend only on its inputs and its channel's parameters. Outputs too large to stay in cache are written
// with non-temporal stores from the first vector-aligned position on.

// The arithmetic of an elementwise pass, per vector: `in` holds the pass's inputs (x, and dy in backward),
// `p` its per-lane parameters.
struct scale_op {  // y = x * scale
  static constexpr int inputs = 1, params = 1;
  static vec apply(const vec* in, const vec* p) noexcept { return in[0] * p[0]; }
};
struct scale_shift_op {  // y = x * scale + shift
  static constexpr int inputs = 1, params = 2;
  static vec apply(const vec* in, const vec* p) noexcept { return ops::fma(in[0], p[0], p[1]); }
};
struct centered_scale_op {  // y = (x - center) * scale + shift
  static constexpr int inputs = 1, params = 3;
  static vec apply(const vec* in, const vec* p) noexcept { return ops::fma(in[0] - p[2], p[0], p[1]); }
};
struct grad_op {  // dx = a * dy + b * (x - mean)
  static constexpr int inputs = 2, params = 3;
  static vec apply(const vec* in, const vec* p) noexcept { return ops::fma(p[1], in[0] - p[2], p[0] * in[1]); }
};
struct grad_constant_op {  // dx = a * dy + b * (x - mean) + k
  static constexpr int inputs = 2, params = 4;
  static vec apply(const vec* in, const vec* p) noexcept {
    return ops::fma(p[1], in[0] - p[2], ops::fma(p[0], in[1], p[3]));
  }
};

constexpr int kMaxParams = 4;

// A streaming pass (a call too large for the caches) over planes of at most kStreamPrefetchPlaneElements values
// prefetches its inputs kStreamPrefetchElements ahead of the vector it reads: about the next unit of small planes
// (16 KiB, the plan's group size), whose first sweep would otherwise start from memory with the hardware
// prefetcher idle after this sweep's reads from cache. Larger planes come to this sweep from beyond L2 as a
// stream of their own, which the hardware prefetcher follows.
constexpr std::int64_t kStreamPrefetchElements = (std::int64_t{16} << 10) / std::int64_t{sizeof(input_element)};
constexpr std::int64_t kStreamPrefetchPlaneElements = (std::int64_t{256} << 10) / std::int64_t{sizeof(input_element)};

// Whether a streaming pass over planes of `positions` values prefetches (above).
bool prefetches_next_unit(std::int64_t positions) noexcept { return positions <= kStreamPrefetchPlaneElements; }

template <int Inputs>
__attribute__((always_inline)) inline void prefetch_ahead(const input_element* const* source,
                                                          std::int64_t at) noexcept {
  for (int i = 0; i < Inputs; ++i) __builtin_prefetch(source[i] + at + kStreamPrefetchElements, 0, 3);
}

using parameter_lanes_array = float[kMaxParams][kMaxLanes];

// Rows of an elementwise pass. Stream: full, vector-aligned rows written with non-temporal stores. Prefetch: the
// inputs kStreamPrefetchElements ahead are prefetched (small streaming planes, whose next unit follows them). Never
// inlined: in a walk's frame its loop ran out of registers and kept its counters on the stack.
template <class Op, int V, bool Partial, bool Stream, bool Prefetch = false, class Vectors = packed_vectors>
__attribute__((noinline)) void rows_elementwise(const input_element* const* in, float* out, std::int64_t step,
                                                std::int64_t rows, int used, int period,
                                                const float (*lanes)[kMaxLanes], Vectors vectors = {}) noexcept {
  vec param[V][Op::params];
  for (int v = 0, pattern = 0; v < V; ++v, pattern = pattern + 1 == period ? 0 : pattern + 1)
    for (int i = 0; i < Op::params; ++i) param[v][i] = ops::load(lanes[i] + pattern * W);  // pattern = v % period
  // Local copies: vector stores may alias anything, so in[] itself would be reloaded after every store.
  const input_element* source[Op::inputs];
  for (int i = 0; i < Op::inputs; ++i) source[i] = in[i];
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t at = r * step;
    for (int v = 0; v < V; ++v) {
      vec values[Op::inputs];
      for (int i = 0; i < Op::inputs; ++i) values[i] = load_row_vector<V, Partial>(source[i] + at, v, used, vectors);
      if constexpr (Prefetch) prefetch_ahead<Op::inputs>(source, at + vectors.offset(v));
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
void elementwise_partial_row(const input_element* const* in, float* out, std::int64_t floats, const row_geometry& g,
                             const float (*lanes)[kMaxLanes]) noexcept {
  if (floats <= 0) return;
  alignas(64) input_element padded[Op::inputs][kMaxLanes] = {};
  alignas(64) float padded_out[kMaxLanes];
  const input_element* padded_in[Op::inputs];
  for (int i = 0; i < Op::inputs; ++i) {
    std::memcpy(padded[i], in[i], static_cast<std::size_t>(floats) * sizeof(input_element));
    padded_in[i] = padded[i];
  }
  rows_elementwise<Op, V, false, false>(padded_in, padded_out, g.step, 1, g.used_lanes, g.period, lanes);
  std::memcpy(out, padded_out, static_cast<std::size_t>(floats) * sizeof(float));
}

template <int Inputs>
struct shifted_inputs {
  const input_element* at[Inputs];
  shifted_inputs(const input_element* const* in, std::int64_t offset) noexcept {
    for (int i = 0; i < Inputs; ++i) at[i] = in[i] + offset;
  }
};

// The per-lane values of a per-channel array for the first `period` vectors of a row (the pattern repeats
// after that). Contiguous rows cycle through the channels; sub-group rows hold one channel per lane, the
// lanes past the last channel unused.
void lanes_of(const float* per_channel, int period, int channels, bool contiguous, float* lanes) noexcept {
  const int count = period * W;
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

// The lanes of `count` parameters of a pass, for channels [first, first + channels) of each: the first
// period * W lanes only (no more are read), zeros for an absent parameter.
void parameter_lanes(const float* const* params, int count, int first, int period, int channels, bool contiguous,
                     float (*lanes)[kMaxLanes]) noexcept {
  for (int i = 0; i < count; ++i) {
    if (params[i] != nullptr)
      lanes_of(params[i] + first, period, channels, contiguous, lanes[i]);
    else
      std::fill_n(lanes[i], period * W, 0.0f);
  }
}

// The lanes of `count` per-channel parameters for the channels of `run`.
void run_parameter_lanes(const row_run& run, const float* const* params, int count,
                         float (*lanes)[kMaxLanes]) noexcept {
  switch (run.layout) {
    case lane_layout::channel_cycle:
      parameter_lanes(params, count, run.first, run.period, run.channels, true, lanes);
      break;
    case lane_layout::channel_per_lane:
      parameter_lanes(params, count, run.first, run.period, run.channels, false, lanes);
      break;
    case lane_layout::plane_per_vector:  // pattern v (vectors v, v + planes, ...): plane first + v's value
      for (int i = 0; i < count; ++i)
        for (int v = 0; v < run.channels; ++v)
          ops::store(lanes[i] + v * W, ops::splat(params[i] != nullptr ? params[i][run.first + v] : 0.0f));
      break;
  }
}

// The elementwise pass of walk_block. `params` are per-channel arrays (unused ones may be NULL).
template <class Op>
struct elementwise_pass {
  const input_element* const* in;
  float* out;
  const float* const* params;
  bool stream;
  lane_layout layout = lane_layout::channel_cycle;  // of the lanes below
  // Filled only as far as they are read (parameter_lanes): zeroing all of them is a measurable share of a
  // small plane.
  alignas(64) parameter_lanes_array lanes_by_parameter;

  // Streaming output is walked plane by plane: each plane keeps its own alignment handling.
  bool shares_rows() const noexcept { return !stream; }

  void lanes(const row_run& run) noexcept {
    layout = run.layout;
    run_parameter_lanes(run, params, Op::params, lanes_by_parameter);
  }

  bool whole_block(const block_shape& b, const row_run& run, const row_geometry& g) noexcept {
    if constexpr (ops::has_streaming_store) {
      if (stream) return streaming_block(b, run.offset, g);
    }
    return false;
  }

  template <int V, bool Partial, class Vectors>
  void rows(const row_run& run, Vectors at) noexcept {
    if constexpr (ops::has_streaming_store && !Partial && std::is_same_v<Vectors, packed_vectors>) {
      if (stream && streams_rows(run)) {
        rows_elementwise<Op, V, false, true>(shifted_inputs<Op::inputs>(in, run.offset).at, out + run.offset, run.step,
                                             run.rows, run.used, run.period, lanes_by_parameter, at);
        return;
      }
    }
    rows_elementwise<Op, V, Partial, false>(shifted_inputs<Op::inputs>(in, run.offset).at, out + run.offset, run.step,
                                            run.rows, run.used, run.period, lanes_by_parameter, at);
  }
  static void after(const row_run&) noexcept {}
  static void empty(int, int) noexcept {}

  // One zero-padded row. A plane's tail after shared rows takes the plane's own lanes.
  void tail(std::int64_t offset, int first, int channels, std::int64_t positions, std::int64_t,
            const row_geometry& g) noexcept {
    if (layout == lane_layout::plane_per_vector) {
      alignas(64) parameter_lanes_array plane_lanes;
      parameter_lanes(params, Op::params, first, g.period, channels, true, plane_lanes);
      padded_row(offset, positions * channels, g, plane_lanes);
    } else {
      padded_row(offset, positions * channels, g, lanes_by_parameter);
    }
  }
  static void finish(std::int64_t, int, int, std::int64_t, std::int64_t) noexcept {}

 private:
  void padded_row(std::int64_t offset, std::int64_t floats, const row_geometry& g,
                  const parameter_lanes_array& lanes) noexcept {
    with_vectors(g.vectors, g.used_lanes, [&](auto v, auto) {
      elementwise_partial_row<Op, decltype(v)::value>(shifted_inputs<Op::inputs>(in, offset).at, out + offset, floats,
                                                      g, lanes);
    });
  }

  // Channel sub-group rows (NHWC units of C > 64 channels) of full vectors, all aligned: every row starts on a
  // vector boundary, so each vector is written with a non-temporal store.
  bool streams_rows(const row_run& run) const noexcept {
    constexpr std::uintptr_t kVectorBytes = W * sizeof(float);
    return run.layout == lane_layout::channel_per_lane &&
           reinterpret_cast<std::uintptr_t>(out + run.offset) % kVectorBytes == 0 &&
           static_cast<std::uintptr_t>(run.step) * sizeof(float) % kVectorBytes == 0;
  }

  // A contiguous block with streaming stores. The positions before the first vector-aligned output row go
  // through the padded path, so every element gets the same arithmetic whatever the output's alignment (in
  // place and out of place stay bitwise equal). False when no position of the first row starts a
  // vector-aligned output.
  bool streaming_block(const block_shape& b, std::int64_t offset, const row_geometry& g) noexcept {
    constexpr std::uintptr_t kVectorBytes = W * sizeof(float);
    std::int64_t head = 0;
    while (head < g.positions && head < b.positions &&
           reinterpret_cast<std::uintptr_t>(out + offset + head * b.channels) % kVectorBytes != 0)
      ++head;
    if (head == g.positions || head == b.positions) return false;
    const std::int64_t rows = (b.positions - head) / g.positions;
    const std::int64_t body = head + rows * g.positions;
    with_vectors(g.vectors, g.used_lanes, [&](auto v, auto) {
      constexpr int kV = decltype(v)::value;
      // Whole positions only move to the padded path, so every row still starts at channel 0.
      elementwise_partial_row<Op, kV>(shifted_inputs<Op::inputs>(in, offset).at, out + offset, head * b.channels, g,
                                      lanes_by_parameter);
      const std::int64_t at = offset + head * b.stride;
      const shifted_inputs<Op::inputs> from(in, at);
      if (b.channels == 1 && prefetches_next_unit(b.positions))  // a plane, not NHWC positions
        rows_elementwise<Op, kV, false, true, true>(from.at, out + at, g.step, rows, g.used_lanes, g.period,
                                                    lanes_by_parameter);
      else
        rows_elementwise<Op, kV, false, true, false>(from.at, out + at, g.step, rows, g.used_lanes, g.period,
                                                     lanes_by_parameter);
      const std::int64_t end = offset + body * b.stride;
      elementwise_partial_row<Op, kV>(shifted_inputs<Op::inputs>(in, end).at, out + end,
                                      (b.positions - body) * b.channels, g, lanes_by_parameter);
    });
    return true;
  }
};

// Planes to walk as one span of vectors rather than through walk_block: planes laid back to back whose length is
// not a multiple of W (walked alone, each would end in a zero-padded partial vector, which for small planes cost
// more than all their whole vectors), and planes of at most kSpanPlaneVectors vectors (where the walk's set-up per
// run costs more than the plane). A vector's lanes take their planes' parameters, switched at the plane boundaries
// it crosses; every element gets the arithmetic it gets in the walk, so the bits are the same.
constexpr std::int64_t kSpanPlaneVectors = 16;

bool walks_plane_span(const block_shape& b) noexcept {
  return b.plane_stride != 0 && b.plane_stride == b.positions &&
         (b.positions % W != 0 || b.positions <= kSpanPlaneVectors * W);
}

// Per-plane parameters of a span; an absent one reads a zero (stride 0).
struct span_parameters {
  static constexpr float kAbsent = 0.0f;
  const float* base[kMaxParams];
  std::int64_t stride[kMaxParams];
  span_parameters(const float* const* params, int count) noexcept {
    for (int i = 0; i < count; ++i) {
      base[i] = params[i] != nullptr ? params[i] : &kAbsent;
      stride[i] = params[i] != nullptr ? 1 : 0;
    }
  }
  float of(int parameter, std::int64_t plane) const noexcept { return base[parameter][plane * stride[parameter]]; }
};

// The parameter vectors of the W elements from `at` (in plane `plane`) of a span of planes of `positions` values
// that ends at `end`: lane l takes the value of element at + l's plane. Inlined: called per vector.
template <class Op>
__attribute__((always_inline)) inline void span_vector_parameters(const span_parameters& sp, std::int64_t at,
                                                                  std::int64_t plane, std::int64_t positions,
                                                                  std::int64_t end, vec* p) noexcept {
  for (int i = 0; i < Op::params; ++i) p[i] = ops::splat(sp.of(i, plane));
  const std::int64_t last = std::min<std::int64_t>(at + W, end);
  for (std::int64_t boundary = (plane + 1) * positions; boundary < last; boundary += positions) {
    ++plane;
    const int before = static_cast<int>(boundary - at);
    for (int i = 0; i < Op::params; ++i) p[i] = ops::first_lanes(before, p[i], ops::splat(sp.of(i, plane)));
  }
}

// `floats` (< W) elements of a span from `at`, as one zero-padded vector.
template <class Op>
void span_partial_vector(const input_element* const* in, float* out, std::int64_t at, std::int64_t floats,
                         const span_parameters& sp, std::int64_t plane, std::int64_t positions,
                         std::int64_t end) noexcept {
  vec p[Op::params];
  span_vector_parameters<Op>(sp, at, plane, positions, end, p);
  vec values[Op::inputs];
  for (int i = 0; i < Op::inputs; ++i) values[i] = load_row_vector<1, true>(in[i] + at, 0, static_cast<int>(floats));
  store_row_vector<1, true>(out + at, 0, static_cast<int>(floats), Op::apply(values, p));
}

// The planes of block b (walks_plane_span) as one span: the elements before the first vector-aligned output,
// whole vectors (non-temporal when `stream`), and what is left. Planes of whole vectors from an aligned output
// take their parameters plane by plane instead (with one lane, every span is such).
template <class Op>
void plane_span_elementwise(const input_element* const* in, float* out, const block_shape& b,
                            const float* const* params, bool stream) noexcept {
  const span_parameters sp(params, Op::params);
  const std::int64_t positions = b.positions;
  const input_element* source[Op::inputs];  // local copies, as in rows_elementwise
  for (int i = 0; i < Op::inputs; ++i) source[i] = in[i];
  const bool prefetch = stream && prefetches_next_unit(positions);
  auto write = [&](std::int64_t at, const vec* p) {
    vec values[Op::inputs];
    for (int i = 0; i < Op::inputs; ++i) values[i] = ops::load(source[i] + at);
    if (ops::has_streaming_store && stream) {
      if (prefetch) prefetch_ahead<Op::inputs>(source, at);
      ops::stream(out + at, Op::apply(values, p));
    } else {
      ops::store(out + at, Op::apply(values, p));
    }
  };
  if constexpr (W > 1) {
    const std::int64_t end = positions * b.channels;
    const auto misaligned = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(out) / sizeof(float) % W);
    if (misaligned != 0 || positions % W != 0) {
      const std::int64_t head = std::min<std::int64_t>(misaligned == 0 ? 0 : W - misaligned, end);
      if (head > 0) span_partial_vector<Op>(in, out, 0, head, sp, 0, positions, end);
      std::int64_t at = head;
      std::int64_t plane = head / positions;
      for (; at + W <= end; at += W) {
        while ((plane + 1) * positions <= at) ++plane;
        vec p[Op::params];
        span_vector_parameters<Op>(sp, at, plane, positions, end, p);
        write(at, p);
      }
      if (at < end) {
        while ((plane + 1) * positions <= at) ++plane;
        span_partial_vector<Op>(in, out, at, end - at, sp, plane, positions, end);
      }
      return;
    }
  }
  for (int plane = 0; plane < b.channels; ++plane) {
    vec p[Op::params];
    for (int i = 0; i < Op::params; ++i) p[i] = ops::splat(sp.of(i, plane));
    const std::int64_t first = plane * positions;
    for (std::int64_t v = 0; v < positions; v += W) write(first + v, p);
  }
}

template <class Op>
void block_elementwise(const input_element* const* in, float* out, const block_shape& b, const float* const* params,
                       bool stream) noexcept {
  if (walks_plane_span(b)) {
    plane_span_elementwise<Op>(in, out, b, params, stream);
    return;
  }
  elementwise_pass<Op> pass;  // its lanes are left unset: each run fills what it reads
  pass.in = in;
  pass.out = out;
  pass.params = params;
  pass.stream = stream;
  walk_block(pass, b);
}

// Channels [first, end) of output_coefficients, Ops::double_width at a time (end - first a multiple of it);
// returns whether a scale overflows float where scale_exact does not.
template <class Ops>
bool output_coefficients_by(const float* alpha, const double* rstd, const double* mean, int first, int end,
                            block_coefficients& out) noexcept {
  bool overflow = false;
  for (int i = first; i < end; i += Ops::double_width) {
    const auto scale = Ops::load_widened(alpha + i) * Ops::load(rstd + i);
    Ops::store(out.scale_exact + i, scale);
    Ops::store_narrowed(out.scale + i, scale);
    overflow = overflow || Ops::any(Ops::finite(scale) && !Ops::finite(Ops::load_widened(out.scale + i)));
    if (mean == nullptr) continue;
    // y = (x - center) * scale + (beta - scale * (mean - center)), center the float nearest the mean.
    const auto exact_mean = Ops::load(mean + i);
    Ops::store_narrowed(out.center + i, exact_mean);
    const auto shift = Ops::load_widened(out.shift + i) - scale * (exact_mean - Ops::load_widened(out.center + i));
    Ops::store_narrowed(out.shift + i, shift);
  }
  return overflow;
}

// Whole vectors of channels, then the rest one at a time, rounding as the scalar operations do.
void output_coefficients(const float* alpha, const float* beta, const double* rstd, const double* mean, int count,
                         block_coefficients& out) noexcept {
  if (beta != nullptr)
    std::copy_n(beta, count, out.shift);
  else
    std::fill_n(out.shift, count, 0.0f);
  out.shifted = beta != nullptr || mean != nullptr;
  out.centered = mean != nullptr;
  const int whole = count / ops::double_width * ops::double_width;
  const bool vectors = output_coefficients_by<ops>(alpha, rstd, mean, 0, whole, out);
  const bool rest = output_coefficients_by<vector_ops<scalar_arch>>(alpha, rstd, mean, whole, count, out);
  out.needs_exact = vectors || rest;
}

void block_scale(const input_element* x, float* y, block_shape b, const block_coefficients& c, bool stream) noexcept {
  const input_element* in[1] = {x};
  const float* params[kMaxParams] = {c.scale, c.shift, c.center, nullptr};
  if (c.centered)
    block_elementwise<centered_scale_op>(in, y, b, params, stream);
  else if (c.shifted)
    block_elementwise<scale_shift_op>(in, y, b, params, stream);
  else
    block_elementwise<scale_op>(in, y, b, params, stream);
}

void block_grad_apply(const input_element* x, const input_element* dy, float* dx, block_shape b, const float* a,
                      const float* bb, const float* mean, const float* constant, bool stream) noexcept {
  const input_element* in[2] = {x, dy};
  const float* params[kMaxParams] = {a, bb, mean, constant};
  if (constant != nullptr)
    block_elementwise<grad_constant_op>(in, dx, b, params, stream);
  else
    block_elementwise<grad_op>(in, dx, b, params, stream);
}
