// Every reference case, both algorithms, every kernel set this machine has, max_threads 1, 2 and 0.
#include <varnorm/varnorm.h>

#include <catch2/catch.hpp>

#include "support/cases.hpp"
#include "support/compare.hpp"
#include "support/golden.hpp"
#include "support/isa.hpp"

using namespace varnorm_test;

namespace {

varnorm_desc desc_for(const golden_case& g, varnorm_algorithm algorithm, int max_threads) {
  varnorm_desc d = varnorm_desc_make(g.n, g.c, g.h, g.w, static_cast<varnorm_layout>(g.layout));
  d.algorithm = algorithm;
  d.eps = static_cast<float>(g.eps);
  d.correction = g.correction;
  d.per_sample_affine = g.per_sample_affine ? 1 : 0;
  d.max_threads = max_threads;
  return d;
}

}  // namespace

TEST_CASE("golden: forward and backward match PyTorch float64 on every case, algorithm, ISA and thread count",
          "[golden]") {
  const auto isas = supported_isas();
  for (const std::string& name : golden_case_names()) {
    const golden_case g = read_golden(name);
    for (varnorm_algorithm algorithm : kAllAlgorithms) {
      for (const std::string& isa : isas) {
        isa_scope scope(isa);
        REQUIRE(scope.ok());
        for (int threads : {1, 2, 0}) {
          CAPTURE(name, algorithm, isa, threads);
          const varnorm_desc d = desc_for(g, algorithm, threads);
          std::vector<float> y(g.x.size()), mean(g.mean.size()), rstd(g.rstd.size());
          REQUIRE(varnorm_forward(&d, g.x.data(), g.alpha.data(), g.has_beta ? g.beta.data() : nullptr, y.data(),
                                  mean.data(), rstd.data()) == VARNORM_OK);
          CHECK(normalized_max_error(y, g.y) <= 2e-6);
          CHECK(normalized_max_error(mean, g.mean) <= 2e-6);
          CHECK(normalized_max_error(rstd, g.rstd) <= 2e-6);

          std::vector<float> dx(g.x.size()), dalpha(g.dalpha.size()), dbeta(g.alpha.size());
          REQUIRE(varnorm_backward(&d, g.x.data(), g.alpha.data(), g.dy.data(), mean.data(), rstd.data(), dx.data(),
                                   dalpha.data(), dbeta.data()) == VARNORM_OK);
          CHECK(normalized_max_error(dx, g.dx) <= 2e-5);
          CHECK(normalized_max_error(dalpha, g.dalpha) <= 5e-6);
          if (g.has_beta) CHECK(normalized_max_error(dbeta, g.dbeta) <= 5e-6);

          // Recomputing the statistics gives the same bits as passing the saved ones.
          std::vector<float> dx2(g.x.size()), dalpha2(g.dalpha.size()), dbeta2(g.alpha.size());
          REQUIRE(varnorm_backward(&d, g.x.data(), g.alpha.data(), g.dy.data(), nullptr, nullptr, dx2.data(),
                                   dalpha2.data(), dbeta2.data()) == VARNORM_OK);
          CHECK(bitwise_equal(dx, dx2));
          CHECK(bitwise_equal(dalpha, dalpha2));
          CHECK(bitwise_equal(dbeta, dbeta2));
        }
      }
    }
  }
}
