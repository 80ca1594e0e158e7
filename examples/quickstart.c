/* VarianceNorm2d on one 1x2x4x4 NCHW tensor from C: y = alpha * x / sqrt(var + eps), per channel. */
#include <stdio.h>
#include <varnorm/varnorm.h>

int main(void) {
  float x[2 * 4 * 4], y[2 * 4 * 4], rstd[2];
  const float alpha[2] = {1.0f, 2.0f};
  for (int i = 0; i < 2 * 4 * 4; ++i) x[i] = (float)(i % 7) - 2.0f;

  varnorm_desc desc = varnorm_desc_make(1, 2, 4, 4, VARNORM_LAYOUT_NCHW);
  desc.max_threads = 1; /* run on the calling thread */
  const varnorm_status status = varnorm_forward(&desc, x, alpha, NULL, y, NULL, rstd);
  if (status != VARNORM_OK) {
    fprintf(stderr, "varnorm_forward: %s\n", varnorm_status_string(status));
    return 1;
  }
  printf("varnorm %s, %s kernels\n", varnorm_version(), varnorm_isa());
  printf("rstd = %.5f %.5f, y[0] = %.5f, y[31] = %.5f\n", rstd[0], rstd[1], y[0], y[31]);
  return 0;
}
