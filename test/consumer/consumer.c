/* A C99 consumer of the installed (or add_subdirectory'd) libvarnorm: runs the layer on a small NCHW and a
 * small NHWC tensor and compares every output with a double-precision reference computed here.
 * Exit status 0 only if all values agree. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <varnorm/varnorm.h>

enum { kN = 2, kC = 3, kH = 5, kW = 7, kPlane = kH * kW, kCount = kN * kC * kPlane };

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;
static float uniform(float lo, float hi) {
  rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return lo + (hi - lo) * (float)((double)(rng_state >> 40) / 16777216.0);
}

/* Offset of element (n, c, plane position p) in the given layout. */
static size_t offset(varnorm_layout layout, int n, int c, int p) {
  return layout == VARNORM_LAYOUT_NCHW ? (size_t)((n * kC + c) * kPlane + p) : (size_t)((n * kPlane + p) * kC + c);
}

static int close_enough(double got, double expected) { return fabs(got - expected) <= 1e-5 * (1.0 + fabs(expected)); }

/* One forward call against the reference; returns the number of disagreeing values. */
static int check_forward(varnorm_layout layout, int correction, int per_sample_affine, int with_beta) {
  float x[kCount], y[kCount], alpha[kN * kC], beta[kN * kC], mean[kN * kC], rstd[kN * kC];
  for (int i = 0; i < kCount; ++i) x[i] = uniform(-2.0f, 3.0f);
  for (int i = 0; i < kN * kC; ++i) {
    alpha[i] = uniform(0.5f, 1.5f);
    beta[i] = uniform(-1.0f, 1.0f);
  }
  varnorm_desc desc = varnorm_desc_make(kN, kC, kH, kW, layout);
  desc.correction = correction;
  desc.per_sample_affine = per_sample_affine;
  const varnorm_status status = varnorm_forward(&desc, x, alpha, with_beta ? beta : NULL, y, mean, rstd);
  if (status != VARNORM_OK) {
    fprintf(stderr, "varnorm_forward: %s\n", varnorm_status_string(status));
    return 1;
  }
  int bad = 0;
  for (int n = 0; n < kN; ++n) {
    for (int c = 0; c < kC; ++c) {
      double sum = 0.0, squares = 0.0;
      for (int p = 0; p < kPlane; ++p) sum += x[offset(layout, n, c, p)];
      const double m = sum / kPlane;
      for (int p = 0; p < kPlane; ++p) squares += pow(x[offset(layout, n, c, p)] - m, 2.0);
      const double r = 1.0 / sqrt(squares / (kPlane - correction) + desc.eps);
      const int affine = per_sample_affine ? n * kC + c : c;
      bad += !close_enough(mean[n * kC + c], m) + !close_enough(rstd[n * kC + c], r);
      for (int p = 0; p < kPlane; ++p) {
        const size_t i = offset(layout, n, c, p);
        bad += !close_enough(y[i], alpha[affine] * x[i] * r + (with_beta ? beta[affine] : 0.0));
      }
    }
  }
  if (bad)
    fprintf(stderr, "layout %d correction %d per_sample %d beta %d: %d values differ\n", (int)layout, correction,
            per_sample_affine, with_beta, bad);
  return bad;
}

int main(void) {
  char header_version[32];
  snprintf(header_version, sizeof header_version, "%d.%d.%d", VARNORM_VERSION_MAJOR, VARNORM_VERSION_MINOR,
           VARNORM_VERSION_PATCH);
  if (strcmp(header_version, varnorm_version()) != 0) {
    fprintf(stderr, "header version %s, library version %s\n", header_version, varnorm_version());
    return 1;
  }
  /* The kernel set in use is one the library lists and this CPU runs. */
  int listed = 0;
  for (int i = 0; i < varnorm_isa_count(); ++i) listed += strcmp(varnorm_isa_name(i), varnorm_isa()) == 0;
  if (listed != 1 || varnorm_isa_supported(varnorm_isa()) != 1) {
    fprintf(stderr, "kernel set %s: listed %d times, supported %d\n", varnorm_isa(), listed,
            varnorm_isa_supported(varnorm_isa()));
    return 1;
  }
  const int bad = check_forward(VARNORM_LAYOUT_NCHW, 1, 0, 0) + check_forward(VARNORM_LAYOUT_NHWC, 0, 0, 1) +
                  check_forward(VARNORM_LAYOUT_NHWC, 1, 1, 1);
  printf("C consumer: varnorm %s, %s kernels: %s\n", varnorm_version(), varnorm_isa(), bad ? "FAILED" : "ok");
  return bad ? EXIT_FAILURE : EXIT_SUCCESS;
}
