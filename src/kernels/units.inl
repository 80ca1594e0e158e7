// A whole unit in one call (part of kernel_source.inl): the passes of a unit that is one block, in turn, with the
// arithmetic of the kernel table's call for each and of exec's steps between them, without those calls through
// the table and the work around them (per unit, a visible share of small units' time: bench/README.md, "Where the
// time goes").

void unit_forward(const input_element* x, float* y, block_shape b, const unit_forward_args& args,
                  finished_statistics& stats, block_coefficients& c) noexcept {
  moments m[kMaxGroupChannels];
  block_moments(x, b, args.algorithm, m);
  finish_statistics(m, b.channels, args.dof, args.eps, stats);
  output_coefficients(args.alpha, args.beta, stats.rstd_exact, args.center ? stats.mean_exact : nullptr, b.channels, c);
  if (!c.needs_exact) block_scale(x, y, b, c, args.stream);
}

void unit_backward(const input_element* x, const input_element* dy, float* dx, block_shape b,
                   const unit_backward_args& args, double* dalpha_terms, double* dbeta_terms) noexcept {
  double sum_dyx[kMaxGroupChannels], sum_dy[kMaxGroupChannels], slope[kMaxGroupChannels];
  double constant[kMaxGroupChannels];
  block_grad_sums(x, dy, nullptr, b, sum_dyx, sum_dy);
  float a[kMaxGroupChannels], rounded_slope[kMaxGroupChannels], rounded_constant[kMaxGroupChannels];
  for (int ch = 0; ch < b.channels; ++ch) {
    const double alpha = static_cast<double>(args.alpha[ch]), r = static_cast<double>(args.rstd[ch]);
    const double centred = args.center ? centred_sum(sum_dyx[ch], args.mean[ch], sum_dy[ch]) : sum_dyx[ch];
    slope[ch] = slope_term(alpha, r, centred);
    constant[ch] = constant_term(alpha, r, sum_dy[ch]);
    dalpha_terms[ch] = dalpha_term(centred, r);
    dbeta_terms[ch] = sum_dy[ch];
    a[ch] = dy_scale(args.alpha[ch], args.rstd[ch]);
  }
  divide_by(slope, b.channels, args.dof, slope);
  for (int ch = 0; ch < b.channels; ++ch) rounded_slope[ch] = static_cast<float>(slope[ch]);
  if (args.center) {
    divide_by(constant, b.channels, args.values, constant);
    for (int ch = 0; ch < b.channels; ++ch) rounded_constant[ch] = static_cast<float>(constant[ch]);
  }
  block_grad_apply(x, dy, dx, b, a, rounded_slope, args.mean, args.center ? rounded_constant : nullptr, args.stream);
}
