// A whole unit in one call (part of kernel_source.inl): the passes of a unit that is one block, in turn, with the
// arithmetic of the kernel table's call for each, without those calls through the table and the work around them
// (per unit, a visible share of small units' time: bench/README.md, "Where the time goes").

void unit_forward(const input_element* x, float* y, block_shape b, const unit_forward_args& args,
                  finished_statistics& stats, block_coefficients& c) noexcept {
  moments m[kMaxGroupChannels];
  block_moments(x, b, args.algorithm, m);
  finish_statistics(m, b.channels, args.dof, args.eps, stats);
  output_coefficients(args.alpha, args.beta, stats.rstd_exact, args.center ? stats.mean_exact : nullptr, b.channels, c);
  if (!c.needs_exact) block_scale(x, y, b, c, args.stream);
}
