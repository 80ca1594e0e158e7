// Reader for the reference vectors in test/data/golden (formats VNGOLD01 and VNGOLD02:
// test/data/golden/README.md).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
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
  int groups = 0;  // as in varnorm_desc: 0 is one group per channel (VNGOLD01 files: always 0)
  int center = 0;  // 1: the mean is subtracted (VNGOLD01 files: always 0)
  double eps = 1e-5;
  std::vector<float> x, alpha, beta, dy, y, mean, rstd, dx, dalpha, dbeta;

  std::int64_t group_count() const { return groups > 0 ? groups : c; }  // G: mean and rstd have n*G values
};

inline std::string golden_dir() { return VARNORM_TEST_DATA_DIR "/golden"; }

inline golden_case read_golden(const std::string& name) {
  const std::string path = golden_dir() + "/" + name + ".vng";
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path);
  char magic[8] = {};
  in.read(magic, 8);
  const bool v2 = std::memcmp(magic, "VNGOLD02", 8) == 0;
  if (!v2 && std::memcmp(magic, "VNGOLD01", 8) != 0) throw std::runtime_error("bad magic in " + path);
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
  if (v2) {
    g.groups = static_cast<int>(i64());
    g.center = static_cast<int>(i64());
  }
  in.read(reinterpret_cast<char*>(&g.eps), sizeof g.eps);
  if (!in || g.n < 0 || g.c <= 0 || g.h < 0 || g.w < 0 || g.groups < 0 || g.c % g.group_count() != 0)
    throw std::runtime_error("bad header in " + path);
  const auto total = static_cast<std::size_t>(g.n * g.c * g.h * g.w);
  const auto stats = static_cast<std::size_t>(g.n * g.group_count());
  const std::size_t affine = static_cast<std::size_t>(g.per_sample_affine ? g.n * g.c : g.c);
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

// Every case in test/data/golden, by name (without .vng): the VNGOLD01 cases (VarianceNorm2d), then the
// VNGOLD02 ones (the family with groups and center) that test/data/golden/generate.py writes.
inline std::vector<std::string> golden_case_names() {
  return {"conditional_per_sample_affine_nhwc", "conditional_per_sample_scale", "eps_large_nhwc",
          "espnet_constant_plane", "espnet_dc_offset", "espnet_odd_channels", "espnet_small", "espnet_spectrogram",
          "espnet_two_element_planes", "layouts_nchw", "layouts_nhwc", "nhwc_unbiased_dc_offset", "scoresde_nhwc_bias",
          "scoresde_nhwc_wide",
          // VNGOLD02
          "groupnorm_c64_g32_nchw", "groupnorm_c64_g32_nhwc", "groupnorm_c64_g16_nchw", "groupnorm_c128_g32_nhwc",
          "groupnorm_c32_g2_nchw", "groupnorm_c32_g2_nhwc", "layernorm_nchw", "layernorm_nhwc",
          "instancenorm_affine_nchw", "instancenorm_affine_nhwc", "instancenorm_noaffine_nchw",
          "instancenorm_noaffine_groups_c_nhwc", "groupnorm_odd_c12_g3_nchw", "groupnorm_odd_c12_g3_nhwc",
          "groupnorm_two_value_groups_eps_large_nhwc", "groupnorm_large_offset_nchw", "groupnorm_large_offset_nhwc",
          "groupnorm_constant_group_nchw", "groupnorm_constant_group_nhwc", "groupnorm_per_sample_affine_nhwc",
          "instancenorm_per_sample_affine_nchw", "varnorm_groups_unbiased_nchw", "varnorm_groups_unbiased_nhwc",
          "varnorm_groups_population_nhwc", "groupnorm_unbiased_nhwc"};
}

// The names of the .vng files actually in test/data/golden, sorted (to check that the list above misses none).
inline std::vector<std::string> golden_files_on_disk() {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(golden_dir()))
    if (entry.path().extension() == ".vng") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace varnorm_test
