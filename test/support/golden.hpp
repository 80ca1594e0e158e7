// Reader for the reference vectors in test/data/golden (format: test/data/golden/README.md).
#pragma once

#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace varnorm_test {

struct golden_case {
  std::string name;
  std::int64_t n = 0, c = 0, h = 0, w = 0;
  int layout = 0;
  int correction = 1;
  bool per_sample_affine = false;
  bool has_beta = false;
  double eps = 1e-5;
  std::vector<float> x, alpha, beta, dy, y, mean, rstd, dx, dalpha, dbeta;
};

inline std::string golden_dir() { return VARNORM_TEST_DATA_DIR "/golden"; }

inline golden_case read_golden(const std::string& name) {
  const std::string path = golden_dir() + "/" + name + ".vng";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[8];
  in.read(magic, 8);
  if (std::memcmp(magic, "VNGOLD01", 8) != 0) throw std::runtime_error("bad magic in " + path);
  auto i64 = [&] {
    std::int64_t v = 0;
    in.read(reinterpret_cast<char*>(&v), sizeof v);
    return v;
  };
  golden_case g;
  g.name = name;
  g.n = i64();
  g.c = i64();
  g.h = i64();
  g.w = i64();
  g.layout = static_cast<int>(i64());
  g.correction = static_cast<int>(i64());
  g.per_sample_affine = i64() != 0;
  g.has_beta = i64() != 0;
  in.read(reinterpret_cast<char*>(&g.eps), sizeof g.eps);
  const auto total = static_cast<std::size_t>(g.n * g.c * g.h * g.w);
  const auto stats = static_cast<std::size_t>(g.n * g.c);
  const std::size_t affine = g.per_sample_affine ? stats : static_cast<std::size_t>(g.c);
  auto floats = [&](std::vector<float>& v, std::size_t count) {
    v.resize(count);
    in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(float)));
  };
  floats(g.x, total);
  floats(g.alpha, affine);
  if (g.has_beta) floats(g.beta, affine);
  floats(g.dy, total);
  floats(g.y, total);
  floats(g.mean, stats);
  floats(g.rstd, stats);
  floats(g.dx, total);
  floats(g.dalpha, affine);
  if (g.has_beta) floats(g.dbeta, affine);
  if (!in) throw std::runtime_error("truncated " + path);
  char extra;
  if (in.read(&extra, 1)) throw std::runtime_error("trailing bytes in " + path);
  return g;
}

// Every case in test/data/golden, by name (without .vng).
inline std::vector<std::string> golden_case_names() {
  return {"conditional_per_sample_affine_nhwc",
          "conditional_per_sample_scale",
          "eps_large_nhwc",
          "espnet_constant_plane",
          "espnet_dc_offset",
          "espnet_odd_channels",
          "espnet_small",
          "espnet_spectrogram",
          "espnet_two_element_planes",
          "layouts_nchw",
          "layouts_nhwc",
          "nhwc_unbiased_dc_offset",
          "scoresde_nhwc_bias",
          "scoresde_nhwc_wide"};
}

}  // namespace varnorm_test
