/* torch.nn.GroupNorm(2, 4) on one 1x4x3x3 NCHW tensor from C: per group of 2 channels, y = weight * (x - mean) *
 * rstd + bias. */
#include <stdio.h>
#include <varnorm/varnorm.h>

int main(void) {
  float x[4 * 3 * 3], y[4 * 3 * 3], mean[2], rstd[2];
  const float weight[4] = {1.0f, 0.5f, 2.0f, 1.0f}, bias[4] = {0.0f, 0.1f, 0.0f, -0.1f};
  for (int i = 0; i < 4 * 3 * 3; ++i) x[i] = (float)(i % 5) + 0.25f * (float)(i / 9);

  varnorm_desc desc = varnorm_desc_make(1, 4, 3, 3, VARNORM_LAYOUT_NCHW);
  desc.groups = 2;     /* 2 groups of 2 channels (0 would be one group per channel: InstanceNorm2d) */
  desc.center = 1;     /* subtract the mean, as GroupNorm does */
  desc.correction = 0; /* population variance, as torch.nn.GroupNorm */
  desc.max_threads = 1;
  const varnorm_status status = varnorm_forward(&desc, x, weight, bias, y, mean, rstd);
  if (status != VARNORM_OK) {
    fprintf(stderr, "varnorm_forward: %s\n", varnorm_status_string(status));
    return 1;
  }
  printf("mean = %.5f %.5f, rstd = %.5f %.5f, y[0] = %.4f, y[35] = %.4f\n", mean[0], mean[1], rstd[0], rstd[1], y[0],
         y[35]);
  return 0;
}
