// Exact statistics and sums in double precision (part of kernel_source.inl): for the positions after a block's
// last whole row, and for channels whose float results cannot stand; and the sum of a vector's lanes.

// An input value in double: exact for every input type.
double exact_value(const input_element* x, std::int64_t i) noexcept { return static_cast<double>(x[i]); }

moments exact_moments(const input_element* x, std::int64_t positions, std::int64_t stride) noexcept {
  moments m{};
  if (positions <= 0) return m;
  double sum = 0.0;
  for (std::int64_t p = 0; p < positions; ++p) sum += exact_value(x, p * stride);
  m.count = static_cast<double>(positions);
  m.mean = sum / m.count;
  m.sum = sum;
  for (std::int64_t p = 0; p < positions; ++p) {
    const double d = exact_value(x, p * stride) - m.mean;
    m.m2 += d * d;
  }
  return m;
}

bool all_equal(const input_element* x, std::int64_t positions, std::int64_t stride) noexcept {
  bool equal = true;
  for (std::int64_t p = 1; p < positions; ++p) equal &= x[p * stride] == x[0];
  return equal;
}

// Whether float statistics of a channel can stand. Squares of deviations below 2^-63 fall under float's
// normal range (|x| near 1e-19 and below, or subnormal data) and overflow above 2^64: M2 is then recomputed in
// double. M2 == 0 stands only for a channel whose values are really all equal (silence, constants), not for
// one whose squares all underflowed.
bool float_moments_trusted(const moments& m, const input_element* x, std::int64_t positions,
                           std::int64_t stride) noexcept {
  if (!__builtin_isfinite(m.mean) || !__builtin_isfinite(m.m2)) return false;
  constexpr double kSmallestExactSquare = 0x1p-102;  // float's smallest normal, 2^-126, divided by 2^-24
  if (m.m2 >= m.count * kSmallestExactSquare) return true;
  return m.m2 == 0.0 && all_equal(x, positions, stride);
}

// sum(dy * (x - shift)) and sum(dy).
void exact_grad_sums(const input_element* x, const input_element* dy, float shift, std::int64_t positions,
                     std::int64_t stride, double* sum_dyx, double* sum_dy) noexcept {
  double a = 0.0, b = 0.0;
  for (std::int64_t p = 0; p < positions; ++p) {
    const double g = exact_value(dy, p * stride);
    a += g * (exact_value(x, p * stride) - static_cast<double>(shift));
    b += g;
  }
  *sum_dyx = a;
  *sum_dy = b;
}

// The W lanes at `lanes`, widened to double and added a vector at a time, then as a tree (the kernel set's
// order): one plane's partial sums in plane_per_vector runs and single-channel contiguous runs.
double lane_total(const float* lanes) noexcept {
  ops::dvec total = ops::load_widened(lanes);
  for (int j = ops::double_width; j < W; j += ops::double_width) total = total + ops::load_widened(lanes + j);
  return ops::reduce_add(total);
}
