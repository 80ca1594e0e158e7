// The one walk over a block (part of kernel_source.inl). Every pass (statistics, gradient sums, elementwise
// output) is walked by walk_block, which owns the branching: interleaved channels or a group of planes,
// contiguous rows or channel sub-groups, shared rows or plane by plane (the elementwise pass, which keeps nothing per
// lane, walks some groups of planes as one span instead: elementwise.inl). A pass supplies what differs, as members:
//
//   bool shares_rows()                         whether a group's small planes may be walked in shared rows
//   void lanes(run)                            what the lanes of `run` hold; precedes everything done with them
//   bool whole_block(b, run, g)                takes over a contiguous block itself (true), else the walk goes on
//   void rows<V, Partial>(run, at)             the row kernel over the run's rows, vector v at at.offset(v)
//   void after(run)                            after the rows of a run (only runs of at least one row): its
//                                              channels' results from their rows
//   void empty(first, channels)                instead, for channels [first, first + channels) without whole rows
//   void tail(offset, first, channels, positions, stride, g)   the positions after the last whole row, if any
//   void finish(offset, first, channels, positions, stride)    once channels are walked completely
//
// Offsets are relative to the block's first element: element (p, c) of a tail or finish is at
// offset + p * stride + c, and channel c is the pass's channel first + c; g is the channels' contiguous geometry.

// What the lanes of a run hold.
enum class lane_layout {
  channel_cycle,     // contiguous rows: lane l of vector v holds channel (v * W + l) % channels
  channel_per_lane,  // a channel sub-group: lane l of vector v holds channel v * W + l
  plane_per_vector,  // shared rows: vector v holds plane v % channels
};

// `rows` whole rows of `step` floats from `offset`, each of `vectors` vectors, the last one using `used` lanes.
// Vectors v and v + period hold the same channels.
struct row_run {
  lane_layout layout;
  std::int64_t offset;
  std::int64_t step;
  std::int64_t rows;
  int vectors;
  int period;
  int used;
  int first;     // the pass's first channel in the run
  int channels;  // channels (planes) the run holds
};

// The whole rows of a run, then what the pass does after them.
template <class Pass>
void walk_rows(Pass& pass, const row_run& run) noexcept {
  with_vectors(run.vectors, run.used, [&](auto v, auto partial) {
    pass.template rows<decltype(v)::value, decltype(partial)::value>(run, packed_vectors{});
  });
  pass.after(run);
}

// The channels of block b at `offset` (its channel 0 being the pass's channel `first`) in sub-groups of up to
// kMaxLanes, one position per row: lane l of vector v holds channel v * W + l, so each channel's values pass
// through one lane, whatever the sub-group's width.
template <class Pass>
void walk_subgroups(Pass& pass, const block_shape& b, std::int64_t offset, int first) noexcept {
  for (int sub = 0; sub < b.channels; sub += kMaxLanes) {
    const int count = std::min(b.channels - sub, kMaxLanes);
    const row_geometry g = subgroup_geometry(b, count);
    const row_run run{lane_layout::channel_per_lane,
                      offset + sub,
                      g.step,
                      b.positions,
                      g.vectors,
                      g.period,
                      g.used_lanes,
                      first + sub,
                      count};
    pass.lanes(run);
    walk_rows(pass, run);
  }
}

// A block whose channels are interleaved (stride == channels or channel sub-groups), at `offset`, its channel 0
// being the pass's channel `first`.
template <class Pass>
void walk_interleaved(Pass& pass, const block_shape& b, std::int64_t offset, int first) noexcept {
  if (walks_contiguously(b)) {
    const row_geometry g = contiguous_geometry(b);
    const std::int64_t rows = b.positions / g.positions;
    const row_run run{
        lane_layout::channel_cycle, offset, g.step, rows, g.vectors, g.period, g.used_lanes, first, b.channels};
    pass.lanes(run);
    if (pass.whole_block(b, run, g)) return;
    if (rows > 0)
      walk_rows(pass, run);
    else
      pass.empty(first, b.channels);
    const std::int64_t done = rows * g.positions;
    if (done < b.positions) pass.tail(offset + done * b.stride, first, b.channels, b.positions - done, b.stride, g);
  } else {
    walk_subgroups(pass, b, offset, first);
  }
  pass.finish(offset, first, b.channels, b.positions, b.stride);
}

// A group of planes that share rows (planes_share_rows), as many planes per pass as a row holds. Per plane, the
// lanes see what they see in the plane's own contiguous walk, in the same order, so every plane keeps its bits.
template <class Pass>
void walk_shared_rows(Pass& pass, const block_shape& b) noexcept {
  const shared_rows s = shared_rows_of(b.positions);
  // A plane's own contiguous walk: rows of s.plane_vectors vectors of one channel.
  const row_geometry plane_geometry{s.plane_vectors, 1, s.step, s.step, W};
  for (int first = 0; first < b.channels; first += s.planes) {
    const int count = std::min(b.channels - first, s.planes);
    const std::int64_t group = first * b.plane_stride;
    const row_run run{
        lane_layout::plane_per_vector, group, s.step, s.rows, count * s.plane_vectors, count, W, first, count};
    pass.lanes(run);
    if (s.rows > 0) {
      with_planar_vectors(count, s.plane_vectors, [&](auto v, auto p) {
        pass.template rows<decltype(v)::value, false>(run, planar_vectors<decltype(p)::value>{b.plane_stride});
      });
      pass.after(run);
    } else {
      pass.empty(first, count);
    }
    if (s.done < b.positions) {
      for (int v = 0; v < count; ++v)
        pass.tail(group + v * b.plane_stride + s.done, first + v, 1, b.positions - s.done, 1, plane_geometry);
    }
    for (int v = 0; v < count; ++v) pass.finish(group + v * b.plane_stride, first + v, 1, b.positions, 1);
  }
}

// Walks block b for `pass`.
template <class Pass>
void walk_block(Pass& pass, const block_shape& b) noexcept {
  if (b.plane_stride == 0) {
    walk_interleaved(pass, b, 0, 0);
  } else if (pass.shares_rows() && planes_share_rows(b.positions)) {
    walk_shared_rows(pass, b);
  } else {
    for (int ch = 0; ch < b.channels; ++ch)
      walk_interleaved(pass, block_shape{b.positions, 1, 1, 0}, ch * b.plane_stride, ch);
  }
}
