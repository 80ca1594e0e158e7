// The pairwise merge of a run's segments (part of kernel_source.inl). Each lane accumulates at most kSegmentRows
// values in float; segment results are merged pairwise, as a binary counter, so that the rounding error grows
// with log2 of the run's length rather than with the length.
//
// A `Kernel` supplies segment(s, rows, out), the per-lane results (`Lanes`) of segment s (rows rows, the last
// one possibly shorter), and merge(left, left_count, right, right_count, out), the union of two adjacent results
// (out may be right).
template <class Lanes, class Kernel>
struct segment_merge {
  Lanes level[kMergeLevels];  // level k holds 2^k segments
  Lanes current;
  Lanes acc;

  // The run's per-lane result over `rows` rows, and the count of values behind each lane in *count.
  Lanes& merge_rows(Kernel& kernel, std::int64_t rows, double* count) noexcept {
    const std::int64_t full = rows / kSegmentRows;
    const int rest = static_cast<int>(rows % kSegmentRows);
    // Equal halves merge as soon as both exist: segment s ends in level k, k the number of trailing ones of s,
    // and is written there directly (copies of these arrays would cost as much as a short run's arithmetic).
    for (std::int64_t s = 0; s < full; ++s) {
      int k = 0;
      while ((s >> k) & 1) ++k;
      Lanes& segment = k == 0 ? level[0] : current;
      kernel.segment(s, kSegmentRows, segment);
      for (int j = 0; j < k; ++j) {
        const double half = static_cast<double>(kSegmentRows) * static_cast<double>(std::int64_t{1} << j);
        kernel.merge(level[j], half, current, half, j + 1 == k ? level[k] : current);
      }
    }
    // Fold what is left from the right: the last segment, then the levels from small to large.
    Lanes* folded = nullptr;
    double folded_count = 0.0;
    if (rest > 0) {
      kernel.segment(full, rest, acc);
      folded = &acc;
      folded_count = rest;
    }
    for (int k = 0; k < kMergeLevels && (full >> k) != 0; ++k) {
      if (((full >> k) & 1) == 0) continue;
      const double level_count = static_cast<double>(kSegmentRows) * static_cast<double>(std::int64_t{1} << k);
      if (folded == nullptr) {
        folded = &level[k];
      } else {
        kernel.merge(level[k], level_count, *folded, folded_count, acc);
        folded = &acc;
      }
      folded_count += level_count;
    }
    *count = folded_count;
    return *folded;  // rows > 0: at least one segment exists
  }
};
