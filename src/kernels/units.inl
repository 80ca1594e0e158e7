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
  const int per_group = args.channels_per_group;
  const int groups = per_group == 1 ? b.channels : b.channels / per_group;
  float a[kMaxGroupChannels];
  // Channel ch's terms, the first of group g's sums or added to them (in channel order, as exec's steps add them
  // to -0, which gives the first term exactly).
  auto add_channel = [&](int ch, int g, bool first) {
    const double alpha = static_cast<double>(args.alpha[ch]), r = static_cast<double>(args.rstd[g]);
    const double centred = args.center ? centred_sum(sum_dyx[ch], args.mean[g], sum_dy[ch]) : sum_dyx[ch];
    const double slope_part = slope_term(alpha, r, centred);
    slope[g] = first ? slope_part : slope[g] + slope_part;
    if (args.center) {
      const double constant_part = constant_term(alpha, r, sum_dy[ch]);
      constant[g] = first ? constant_part : constant[g] + constant_part;
    }
    dalpha_terms[ch] = dalpha_term(centred, r);
    dbeta_terms[ch] = sum_dy[ch];
    a[ch] = dy_scale(args.alpha[ch], args.rstd[g]);
  };
  if (per_group == 1) {
    for (int ch = 0; ch < b.channels; ++ch) add_channel(ch, ch, true);
  } else {
    for (int g = 0, ch = 0; g < groups; ++g)
      for (const int end = ch + per_group; ch < end; ++ch) add_channel(ch, g, ch == end - per_group);
  }
  divide_by(slope, groups, args.dof, slope);
  if (args.center) divide_by(constant, groups, args.values, constant);
  // Per channel: its group's b, mean and k (where a group is a channel, the mean is the groups' own array).
  float channel_slope[kMaxGroupChannels], channel_constant[kMaxGroupChannels], group_mean[kMaxGroupChannels];
  const float* channel_mean = args.mean;
  if (per_group == 1) {
    for (int ch = 0; ch < b.channels; ++ch) channel_slope[ch] = static_cast<float>(slope[ch]);
    if (args.center)
      for (int ch = 0; ch < b.channels; ++ch) channel_constant[ch] = static_cast<float>(constant[ch]);
  } else {
    for (int g = 0, ch = 0; g < groups; ++g) {
      for (const int end = ch + per_group; ch < end; ++ch) {
        channel_slope[ch] = static_cast<float>(slope[g]);
        if (args.center) channel_constant[ch] = static_cast<float>(constant[g]);
        group_mean[ch] = args.mean[g];
      }
    }
    channel_mean = group_mean;
  }
  block_grad_apply(x, dy, dx, b, a, channel_slope, channel_mean, args.center ? channel_constant : nullptr, args.stream);
}
