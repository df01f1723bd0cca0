// aggregates.cc - incremental maintenance and reads of history aggregates.
#include "runtime/state/aggregates.h"

#include <algorithm>

#include "support/decimal.h"

namespace crm::state {

using bytecode::AggKind;
using bytecode::kNone;
using bytecode::Window;

void Totals::add(int64_t v, bool has_field) {
  ++count;
  if (count == 1) first = v;
  last = v;
  if (!has_field || v == kNone) return;
  ++present;
  if (__builtin_add_overflow(sum, v, &sum)) overflow = true;
  if (min == kNone || v < min) min = v;
  if (max == kNone || v > max) max = v;
}

void Totals::remove_sum(int64_t v, bool has_field) {
  --count;
  if (!has_field || v == kNone) return;
  --present;
  sum -= v;
}

namespace {

bool fixed_point(bytecode::Kind k) { return k == bytecode::Kind::Decimal || k == bytecode::Kind::Money; }

// avg as the VM computes a fixed-point quotient: rounded half-to-even to six decimals.
int64_t average(int64_t sum, int64_t n, bytecode::Kind k) {
  if (n == 0) return kNone;
  auto s = fixed_point(k) ? support::Decimal::from_units(sum) : support::Decimal::from_int(sum).value_or(support::Decimal{});
  auto r = support::Decimal::div(s, *support::Decimal::from_int(n));
  return r ? r->units() : kNone;
}

int64_t from_totals(const bytecode::AggSpec& spec, const Totals& t) {
  switch (spec.kind) {
    case AggKind::Count: return t.count;
    case AggKind::Exists: return t.count > 0;
    case AggKind::Sum: return t.overflow ? kNone : t.sum;
    case AggKind::Avg: return t.overflow ? kNone : average(t.sum, t.present, spec.value_kind);
    case AggKind::Min: return t.min;
    case AggKind::Max: return t.max;
    case AggKind::First: return t.count ? t.first : kNone;
    case AggKind::Last: return t.count ? t.last : kNone;
  }
  return kNone;
}

}  // namespace

void UserAggregates::add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field) {
  AggState& s = states_[g];
  switch (spec.window) {
    case Window::All: s.totals.add(value, has_field); break;
    case Window::Since: if (time >= spec.window_value) s.totals.add(value, has_field); break;
    case Window::Previous:
      if (s.has_latest) s.totals.add(s.latest, s.latest_has_field);
      s.latest = value;
      s.latest_has_field = has_field;
      s.has_latest = true;
      break;
    case Window::Within:
      s.window.emplace_back(time, value);
      s.totals.add(value, has_field);
      break;
    case Window::LastN:
    case Window::PreviousN: {
      // Keep N (or N + 1: the latest plus the N before it) values.
      size_t keep = static_cast<size_t>(spec.window_value) + (spec.window == Window::PreviousN ? 1 : 0);
      s.window.emplace_back(time, value);
      while (s.window.size() > keep) s.window.pop_front();
      break;
    }
  }
}

int64_t UserAggregates::value(const bytecode::AggSpec& spec, uint32_t g, int64_t now) {
  AggState& s = states_[g];
  bool field = spec.field >= 0;
  switch (spec.window) {
    case Window::All:
    case Window::Since:
    case Window::Previous:
      return from_totals(spec, s.totals);
    case Window::Within: {
      // Events at or before now - D have left the window: drop them from the running totals.
      int64_t cutoff = now - spec.window_value;
      while (!s.window.empty() && s.window.front().first <= cutoff) {
        s.totals.remove_sum(s.window.front().second, field);
        s.window.pop_front();
      }
      // Events after `now` (only possible when a batch evaluates at an earlier time) are not
      // in the window either; they are excluded by rescanning below.
      bool future = !s.window.empty() && s.window.back().first > now;
      if (!future && spec.kind != AggKind::Min && spec.kind != AggKind::Max && spec.kind != AggKind::First) {
        Totals t = s.totals;
        t.first = s.window.empty() ? kNone : s.window.front().second;
        t.last = s.window.empty() ? kNone : s.window.back().second;
        return from_totals(spec, t);
      }
      Totals t;
      for (auto& [time, v] : s.window)
        if (time <= now) t.add(v, field);
      return from_totals(spec, t);
    }
    case Window::LastN:
    case Window::PreviousN: {
      Totals t;
      size_t n = s.window.size();
      size_t end = spec.window == Window::PreviousN ? (n ? n - 1 : 0) : n;
      for (size_t i = 0; i < end; ++i) t.add(s.window[i].second, field);
      return from_totals(spec, t);
    }
  }
  return kNone;
}

}  // namespace crm::state
