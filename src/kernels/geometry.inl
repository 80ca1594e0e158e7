// Rows of vectors (part of kernel_source.inl). A block is `positions` x `channels` values, element (p, ch) at
// x[p * stride + ch]. It is cut into rows of V vectors of W lanes, each lane always holding the same channel:
//  - contiguous blocks (stride == channels, as NCHW planes and NHWC groups spanning all C) take R positions
//    per row with R * channels a multiple of W, so a vector may hold several positions of few channels
//    (C = 2: eight positions of two channels in a 16-lane vector); positions left over (< R) form the tail;
//  - otherwise channels are taken in sub-groups of up to kernel_max_vectors * W, one position per row, the
//    last vector of a row loaded and stored through a zero-padded copy when the sub-group is not a
//    multiple of W;
//  - a group of small NCHW planes (plane_stride set), whose rows alone hold fewer than kernel_max_vectors
//    vectors, walks shared rows holding those vectors of several planes side by side (planes_share_rows).

using ops = vector_ops<kernel_arch>;
using vec = ops::vec;
using dvec = ops::dvec;
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

struct row_geometry {
  int vectors = 1;             // V
  int period = 1;              // vector v holds the same channels, lane by lane, as vector v + period
  std::int64_t positions = 1;  // positions per row (R)
  std::int64_t step = 1;       // floats from one row to the next
  int used_lanes = W;          // lanes of the last vector that hold data
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

// The contiguous walk of every channel count a block can have, computed at compile time, so that a block's
// geometry costs no integer division (a dozen of them per unit otherwise, a visible share of a small plane).
struct contiguous_walk {
  int vectors;  // 0: channel counts whose pattern does not repeat within kMaxVectors vectors
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

// Planes of at most this many values go one to a lane, a group of NCHW planes or a plane alone: for the
// statistics (lane_plane_moments), and for the gradient sums (lane_plane_grad_sums), whose lanes cost less to
// combine, so that the copy into lanes pays for fewer of them.
constexpr std::int64_t kLanePlaneMomentPositions = 64;
constexpr std::int64_t kLanePlaneSumPositions = 32;
constexpr std::int64_t kLanePlaneValues = 1024;  // a chunk of planes, copied: 4 KiB of stack per array
static_assert(kLanePlaneValues / kLanePlaneMomentPositions >= W, "a chunk holds a vector of the largest planes");
bool takes_lane_planes(const block_shape& b, std::int64_t max_positions) noexcept {
  return b.positions <= max_positions && (b.plane_stride != 0 || b.channels == 1);
}

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
constexpr bool planes_share_rows(std::int64_t positions) noexcept { return plane_row_vectors(positions) < kMaxVectors; }

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

// Calls f(std::integral_constant<int, V>, std::integral_constant<bool, Partial>) for rows of `vectors` vectors
// whose last one uses `used_lanes` lanes.
template <class F>
void with_vectors(int vectors, int used_lanes, F&& f) noexcept {
  const bool partial = used_lanes != W;
  auto pick = [&](auto v) {
    if (partial)
      f(v, std::true_type{});
    else
      f(v, std::false_type{});
  };
  switch (vectors) {
    case 1: pick(std::integral_constant<int, 1>{}); break;
    case 2: pick(std::integral_constant<int, 2>{}); break;
    case 3: pick(std::integral_constant<int, 3>{}); break;
    case 4: pick(std::integral_constant<int, 4>{}); break;
    default:
      if constexpr (kMaxVectors >= 8) {
        switch (vectors) {
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

// Planes a row of vectors holds: one (packed_vectors walk one channel's rows or interleaved channels), or P.
template <class Vectors>
struct planes_per_row : std::integral_constant<int, 1> {};
template <int P>
struct planes_per_row<planar_vectors<P>> : std::integral_constant<int, P> {};

// Vector v of a row; the last one of a partial row reads only `used` floats.
template <int V, bool Partial, class Vectors = packed_vectors>
vec load_row_vector(const input_element* row, int v, int used, Vectors at = {}) noexcept {
  if (Partial && v == V - 1) {
    input_element padded[W] = {};
    std::memcpy(padded, row + at.offset(v), static_cast<std::size_t>(used) * sizeof(input_element));
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

// A chunk of planes copied one to a lane: `count` planes in whole vectors, as many as kLanePlaneValues holds, or
// the last fewer than W, padded with zero planes to one vector (`lanes`): a partial vector would be loaded
// through a padded copy in every row. Lanes never mix, so each plane's bits are the same in any chunk.
struct lane_chunk {
  int count;
  int lanes;
};
lane_chunk lane_chunk_of(int planes_left, std::int64_t positions) noexcept {
  const int per_chunk = static_cast<int>(std::min<std::int64_t>(kMaxLanes, kLanePlaneValues / positions)) / W * W;
  const int count = std::min(planes_left, per_chunk);
  if (count < W) return {count, W};
  return {count / W * W, count / W * W};
}
// Rows of W planes' positions [p, p + W) that pass the planes' or the block's end: through a copy, zero past it.
__attribute__((noinline)) void load_partial_plane_rows(const input_element* x, const block_shape& b, int first,
                                                       lane_chunk chunk, int c, std::int64_t p,
                                                       const input_element* end, input_element* rows) noexcept {
  for (int i = 0; i < W; ++i) {
    const input_element* from = x + b.element(p, first + c + i);
    if (c + i >= chunk.count)
      ops::store(rows + i * W, ops::splat(0.0f));
    else
      ops::store(rows + i * W,
                 end - from >= W ? ops::load(from) : load_row_vector<1, true>(from, 0, static_cast<int>(end - from)));
  }
}

// Planes [first, first + chunk.count) of block b into `planes`, one to a lane: value p of plane c at
// p * chunk.lanes + c, the lanes past chunk.count zero. Adjacent positions go W planes by W positions through a
// transpose in registers; loads past the planes or the block's end, and stores past the last position of planes
// shorter than W, go through copies, so that the rows of whole tiles stay in registers.
void copy_planes_to_lanes(const input_element* x, const block_shape& b, int first, lane_chunk chunk,
                          input_element* planes) noexcept {
  const int lanes = chunk.lanes;
  if (b.plane_stride == 0 && b.stride != 1) {
    for (std::int64_t p = 0; p < b.positions; ++p)
      for (int c = 0; c < lanes; ++c) planes[p * lanes + c] = c < chunk.count ? x[b.element(p, first + c)] : 0.0f;
    return;
  }
  const input_element* const end = x + b.element(b.positions - 1, b.channels - 1) + 1;
  for (int c = 0; c < lanes; c += W) {
    for (std::int64_t tile = 0; tile < b.positions; tile += W) {
      // A last tile that would pass the planes' end starts W positions before it instead, copying some positions
      // again (the same values); only planes shorter than W take the partial stores.
      const std::int64_t p = b.positions >= W ? std::min(tile, b.positions - W) : tile;
      vec rows[W];
      const input_element* from = x + b.element(p, first + c);
      if (c + W <= chunk.count && end - (from + (W - 1) * b.plane_stride) >= W) {
        for (int i = 0; i < W; ++i) rows[i] = ops::load(from + i * b.plane_stride);
      } else {
        alignas(64) input_element copied[W * W];
        load_partial_plane_rows(x, b, first, chunk, c, p, end, copied);
        for (int i = 0; i < W; ++i) rows[i] = ops::load(copied + i * W);
      }
      ops::transpose(rows);
      float* to = planes + p * lanes + c;
      if (p + W <= b.positions) {
        for (int i = 0; i < W; ++i) ops::store(to + i * lanes, rows[i]);
      } else {
        alignas(64) float transposed[W * W];
        for (int i = 0; i < W; ++i) ops::store(transposed + i * W, rows[i]);
        for (std::int64_t i = 0; i < b.positions - p; ++i) ops::store(to + i * lanes, ops::load(transposed + i * W));
      }
    }
  }
}
