/* VarianceNorm2d in an audio host's block loop.
 *
 * A streaming STFT delivers kBlockFrames new spectrogram frames per block. The layer sees the last
 * kWindowFrames frames as one 1 x 2 x F x T NCHW tensor (channel 0: real parts, channel 1: imaginary parts,
 * F frequency bins by T frames), normalized per channel over the whole window. As in a real-time audio
 * callback, every buffer is allocated before the loop and the library runs on the calling thread only
 * (max_threads = 1: no allocation, locks or system calls inside the call).
 *
 * Prints the time of the varnorm_forward call per block (min / median / max) and checks every block's
 * output against a double-precision reference; exits non-zero on a mismatch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <varnorm/varnorm.h>

enum {
  kBins = 257,        /* a 512-point FFT */
  kWindowFrames = 64, /* frames the layer sees per block */
  kBlockFrames = 8,   /* frames arriving per block */
  kBlocks = 400,
  kChannels = 2 /* real, imaginary */
};

/* A deterministic stand-in for the STFT: each bin a rotating phasor whose amplitude follows a slowly
 * gliding partial, plus a little noise from a linear congruential generator. */
typedef struct spectrum_source {
  unsigned long long noise_state;
  long long next_frame;
} spectrum_source;

static float noise(spectrum_source* s) {
  s->noise_state = s->noise_state * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(s->noise_state >> 40) / 16777216.0 - 0.5) * 0.01f;
}

/* Writes one frame into column `frame` of the window (row stride kWindowFrames, one plane per channel). */
static void produce_frame(spectrum_source* s, float* window, int frame) {
  const double t = (double)s->next_frame++;
  const double partial_bin = 40.0 + 30.0 * sin(t * 0.01);
  for (int bin = 0; bin < kBins; ++bin) {
    const double distance = (bin - partial_bin) / 6.0;
    const double amplitude = 0.05 + 4.0 * exp(-distance * distance);
    const double phase = t * 0.3 * (bin + 1);
    window[bin * kWindowFrames + frame] = (float)(amplitude * cos(phase)) + noise(s);
    window[(kBins + bin) * kWindowFrames + frame] = (float)(amplitude * sin(phase)) + noise(s);
  }
}

/* Drops the oldest kBlockFrames frames of every row and appends the new block at the end. */
static void advance_window(spectrum_source* s, float* window) {
  for (int row = 0; row < kChannels * kBins; ++row) {
    float* r = window + (size_t)row * kWindowFrames;
    memmove(r, r + kBlockFrames, sizeof(float) * (kWindowFrames - kBlockFrames));
  }
  for (int f = kWindowFrames - kBlockFrames; f < kWindowFrames; ++f) produce_frame(s, window, f);
}

/* y = alpha * x / sqrt(var + eps) + beta per channel plane, var unbiased, all in double. Returns the number
 * of values of y farther from it than a float computation may be; prints the first one if `report`. */
static long count_mismatches(const varnorm_desc* desc, const float* x, const float* alpha, const float* beta,
                             const float* y, int report) {
  const long plane = kBins * kWindowFrames;
  long mismatches = 0;
  for (int c = 0; c < kChannels; ++c) {
    const float* xc = x + c * plane;
    const float* yc = y + c * plane;
    double sum = 0.0, squares = 0.0;
    for (long i = 0; i < plane; ++i) sum += xc[i];
    const double mean = sum / (double)plane;
    for (long i = 0; i < plane; ++i) squares += (xc[i] - mean) * (xc[i] - mean);
    const double rstd = 1.0 / sqrt(squares / (double)(plane - desc->correction) + desc->eps);
    for (long i = 0; i < plane; ++i) {
      const double expected = alpha[c] * xc[i] * rstd + beta[c];
      if (!(fabs(yc[i] - expected) <= 1e-5 * (1.0 + fabs(expected)))) {
        if (report && mismatches == 0)
          fprintf(stderr, "channel %d, value %ld: got %.9g, expected %.9g\n", c, i, yc[i], expected);
        ++mismatches;
      }
    }
  }
  return mismatches;
}

static double seconds_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

int main(void) {
  const size_t window_values = (size_t)kChannels * kBins * kWindowFrames;
  float* window = calloc(window_values, sizeof(float));
  float* normalized = malloc(window_values * sizeof(float));
  double* block_seconds = malloc(kBlocks * sizeof(double));
  if (window == NULL || normalized == NULL || block_seconds == NULL) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  const float alpha[kChannels] = {1.0f, 1.0f};
  const float beta[kChannels] = {0.0f, 0.0f};
  varnorm_desc desc = varnorm_desc_make(1, kChannels, kBins, kWindowFrames, VARNORM_LAYOUT_NCHW);
  desc.max_threads = 1;

  spectrum_source source = {12345u, 0};
  for (int f = 0; f < kWindowFrames; ++f) produce_frame(&source, window, f);

  long mismatches = 0;
  for (int block = 0; block < kBlocks; ++block) {
    if (block > 0) advance_window(&source, window);
    const double start = seconds_now();
    const varnorm_status status = varnorm_forward(&desc, window, alpha, beta, normalized, NULL, NULL);
    block_seconds[block] = seconds_now() - start;
    if (status != VARNORM_OK) {
      fprintf(stderr, "block %d: %s\n", block, varnorm_status_string(status));
      return 1;
    }
    const long block_mismatches = count_mismatches(&desc, window, alpha, beta, normalized, mismatches == 0);
    if (block_mismatches != 0 && mismatches == 0) fprintf(stderr, "(block %d)\n", block);
    mismatches += block_mismatches;
  }

  qsort(block_seconds, kBlocks, sizeof(double), compare_doubles);
  printf("varnorm %s, %s kernels: %d blocks of a 1x%dx%dx%d window (%d new frames each)\n", varnorm_version(),
         varnorm_isa(), kBlocks, kChannels, kBins, kWindowFrames, kBlockFrames);
  printf("per-block varnorm_forward time: min %.1f us, median %.1f us, max %.1f us\n", 1e6 * block_seconds[0],
         1e6 * block_seconds[kBlocks / 2], 1e6 * block_seconds[kBlocks - 1]);
  free(window);
  free(normalized);
  free(block_seconds);
  if (mismatches != 0) {
    fprintf(stderr, "FAILED: %ld values differ from the reference\n", mismatches);
    return 1;
  }
  printf("output matches the reference\n");
  return 0;
}
