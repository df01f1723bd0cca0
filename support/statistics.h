// statistics.h - the interval estimates and tests of crm's experiment report
// (docs/indicators.md, "Experiments") and of the engine's automatic roll-out, which must decide
// with the very numbers the report shows (so they live in the bottom layer). Distributions come
// from Boost.Math; nothing here hand-writes a quantile.
//
// Every function is pure and thread-safe. Results that are undefined for the inputs (no users
// in a group, a zero control rate for a relative uplift, zero variance in both groups) are NaN.
#pragma once

#include <cstdint>
#include <vector>

namespace crm::support {

// A two-sided confidence interval; NaN ends when undefined.
struct Interval {
  double low = 0, high = 0;
};

// z such that P(|Z| <= z) = confidence for a standard normal Z (1.959964 for 0.95).
double normal_quantile_two_sided(double confidence);

// Wilson's score interval for x successes of n (Newcombe 1998, method 3). NaN when n == 0.
Interval wilson(int64_t x, int64_t n, double confidence);

// p1 - p2 = x1/n1 - x2/n2 with Newcombe's hybrid score interval (1998, method 10), built from
// the two Wilson intervals.
struct ProportionDifference {
  double p1 = 0, p2 = 0, difference = 0;
  Interval interval;
  double p_value = 0;  // two-sided pooled z test of p1 == p2 (Pearson's chi-square, 1 df)
};
ProportionDifference newcombe(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double confidence);

// mean1 - mean2 with Welch's t interval and test; variances are sample variances (n - 1).
struct MeanDifference {
  double mean1 = 0, mean2 = 0, difference = 0;
  Interval interval;
  double df = 0;       // Welch-Satterthwaite degrees of freedom
  double t = 0;
  double p_value = 0;  // two-sided
};
MeanDifference welch(double mean1, double var1, int64_t n1, double mean2, double var2, int64_t n2, double confidence);

// The relative uplift mean1 / mean2 - 1 with the delta-method interval on the ratio
// (variance var1/(n1 m2^2) + m1^2 var2/(n2 m2^4)) and Student's t at the Welch degrees of
// freedom, as GrowthBook's frequentist engine does. For proportions pass var = p(1 - p).
struct Relative {
  double uplift = 0;
  Interval interval;
};
Relative relative_uplift(double mean1, double var1, int64_t n1, double mean2, double var2, int64_t n2, double confidence);

// Pearson's chi-square goodness of fit of observed counts to expected shares (summing to 1):
// the sample-ratio-mismatch check.
struct ChiSquare {
  double statistic = 0;
  int df = 0;
  double p_value = 0;
};
ChiSquare chi_square_fit(const std::vector<int64_t>& observed, const std::vector<double>& shares);

}  // namespace crm::support
