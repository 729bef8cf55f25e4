// Multinomial logistic regression as the USCL authors' linear evaluation fits it (train_USCL/linear_eval.py:
// scikit-learn's StandardScaler, then LogisticRegression(solver='lbfgs', C=1)): features standardised with
// the fit rows' mean and population SD (a constant feature keeps scale 1, as StandardScaler does), then
// W, b minimising C x sum_i cross-entropy_i + ||W||^2 / 2 (the intercept unpenalised), solved in double
// precision with L-BFGS (strong Wolfe line search) until the gradient's largest entry is below `tolerance`
// relative to the number of rows. The answer is unique (the objective is strictly convex in W), so it can
// be compared with scikit-learn's (tests/test_authors_reference.cpp).
#pragma once
#include "harness/torch_pch.h"

namespace usbench {

struct LogisticFit {
  torch::Tensor mean, scale;   // [D] the standardisation fitted on the rows
  torch::Tensor weight, bias;  // [K, D], [K] on standardised features
  int iterations = 0;          // L-BFGS rounds (each up to 20,000 iterations) until the tolerance held
  double objective = 0;        // C x sum of cross-entropies + ||W||^2 / 2 at the solution
  double gradient_max = 0;     // largest |gradient| entry at the solution
  // Weight and bias acting on the raw features (the standardisation folded in): logits = x W'^T + b'.
  torch::Tensor raw_weight() const;
  torch::Tensor raw_bias() const;
};

// `x` [N, D] (any float type), `y` [N] class indices in [0, classes). RunFailure when it does not converge.
LogisticFit fit_logistic_regression(const torch::Tensor& x, const torch::Tensor& y, int classes, double c,
                                    double tolerance = 1e-8);

}  // namespace usbench
