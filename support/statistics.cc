// statistics.cc - Wilson, Newcombe, Welch, delta-method ratio and chi-square with Boost.Math.
#include "support/statistics.h"

#include <boost/math/distributions/chi_squared.hpp>
#include <boost/math/distributions/normal.hpp>
#include <boost/math/distributions/students_t.hpp>

#include <cmath>
#include <limits>

namespace crm::support {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Student's t quantile for a two-sided interval; the normal one when df is not finite.
double t_quantile_two_sided(double df, double confidence) {
  if (!(df > 0) || !std::isfinite(df)) return normal_quantile_two_sided(confidence);
  boost::math::students_t t(df);
  return boost::math::quantile(boost::math::complement(t, (1 - confidence) / 2));
}

double t_p_two_sided(double df, double t) {
  if (std::isnan(t)) return kNaN;
  if (!(df > 0) || !std::isfinite(df)) {
    boost::math::normal z;
    return 2 * boost::math::cdf(boost::math::complement(z, std::fabs(t)));
  }
  boost::math::students_t dist(df);
  return 2 * boost::math::cdf(boost::math::complement(dist, std::fabs(t)));
}

}  // namespace

double normal_quantile_two_sided(double confidence) {
  boost::math::normal z;
  return boost::math::quantile(boost::math::complement(z, (1 - confidence) / 2));
}

Interval wilson(int64_t x, int64_t n, double confidence) {
  if (n <= 0) return {kNaN, kNaN};
  const double z = normal_quantile_two_sided(confidence);
  const double nn = double(n), p = double(x) / nn, z2 = z * z;
  const double centre = p + z2 / (2 * nn);
  const double half = z * std::sqrt(p * (1 - p) / nn + z2 / (4 * nn * nn));
  const double den = 1 + z2 / nn;
  Interval r{(centre - half) / den, (centre + half) / den};
  // Exact at the ends (rounding must not put 0/n above 0 or n/n below 1).
  if (x == 0) r.low = 0;
  if (x == n) r.high = 1;
  return r;
}

ProportionDifference newcombe(int64_t x1, int64_t n1, int64_t x2, int64_t n2, double confidence) {
  ProportionDifference r;
  if (n1 <= 0 || n2 <= 0) {
    r.p1 = n1 > 0 ? double(x1) / double(n1) : kNaN;
    r.p2 = n2 > 0 ? double(x2) / double(n2) : kNaN;
    r.difference = r.p_value = kNaN;
    r.interval = {kNaN, kNaN};
    return r;
  }
  r.p1 = double(x1) / double(n1);
  r.p2 = double(x2) / double(n2);
  r.difference = r.p1 - r.p2;
  const Interval w1 = wilson(x1, n1, confidence), w2 = wilson(x2, n2, confidence);
  r.interval.low = r.difference - std::sqrt((r.p1 - w1.low) * (r.p1 - w1.low) + (w2.high - r.p2) * (w2.high - r.p2));
  r.interval.high = r.difference + std::sqrt((w1.high - r.p1) * (w1.high - r.p1) + (r.p2 - w2.low) * (r.p2 - w2.low));
  const double pooled = double(x1 + x2) / double(n1 + n2);
  const double se = std::sqrt(pooled * (1 - pooled) * (1.0 / double(n1) + 1.0 / double(n2)));
  if (se > 0) {
    boost::math::normal z;
    r.p_value = 2 * boost::math::cdf(boost::math::complement(z, std::fabs(r.difference) / se));
  } else {
    r.p_value = kNaN;  // both groups all successes or all failures: nothing to test
  }
  return r;
}

MeanDifference welch(double m1, double v1, int64_t n1, double m2, double v2, int64_t n2, double confidence) {
  MeanDifference r;
  r.mean1 = m1;
  r.mean2 = m2;
  r.difference = m1 - m2;
  if (n1 < 2 || n2 < 2) {
    r.interval = {kNaN, kNaN};
    r.df = r.t = r.p_value = kNaN;
    return r;
  }
  const double a = v1 / double(n1), b = v2 / double(n2);
  const double se = std::sqrt(a + b);
  if (!(se > 0)) {
    r.interval = {kNaN, kNaN};
    r.df = r.t = r.p_value = kNaN;
    return r;
  }
  r.df = (a + b) * (a + b) / (a * a / double(n1 - 1) + b * b / double(n2 - 1));
  r.t = r.difference / se;
  const double q = t_quantile_two_sided(r.df, confidence);
  r.interval = {r.difference - q * se, r.difference + q * se};
  r.p_value = t_p_two_sided(r.df, r.t);
  return r;
}

Relative relative_uplift(double m1, double v1, int64_t n1, double m2, double v2, int64_t n2, double confidence) {
  Relative r;
  if (n1 < 2 || n2 < 2 || !(m2 != 0)) {
    r.uplift = n1 > 0 && n2 > 0 && m2 != 0 ? m1 / m2 - 1 : kNaN;
    r.interval = {kNaN, kNaN};
    return r;
  }
  r.uplift = m1 / m2 - 1;
  const double a = v1 / double(n1), b = v2 / double(n2);
  const double var = a / (m2 * m2) + m1 * m1 * b / (m2 * m2 * m2 * m2);
  if (!(var > 0)) {
    r.interval = {kNaN, kNaN};
    return r;
  }
  const double df = (a + b) * (a + b) / (a * a / double(n1 - 1) + b * b / double(n2 - 1));
  const double q = t_quantile_two_sided(df, confidence);
  const double se = std::sqrt(var);
  r.interval = {r.uplift - q * se, r.uplift + q * se};
  return r;
}

ChiSquare chi_square_fit(const std::vector<int64_t>& observed, const std::vector<double>& shares) {
  ChiSquare r;
  int64_t total = 0;
  for (int64_t o : observed) total += o;
  if (observed.size() < 2 || observed.size() != shares.size() || total <= 0) {
    r.statistic = r.p_value = kNaN;
    return r;
  }
  for (size_t i = 0; i < observed.size(); ++i) {
    const double e = shares[i] * double(total);
    if (!(e > 0)) {
      r.statistic = r.p_value = kNaN;
      return r;
    }
    const double d = double(observed[i]) - e;
    r.statistic += d * d / e;
  }
  r.df = static_cast<int>(observed.size()) - 1;
  boost::math::chi_squared dist(r.df);
  r.p_value = boost::math::cdf(boost::math::complement(dist, r.statistic));
  return r;
}

}  // namespace crm::support
