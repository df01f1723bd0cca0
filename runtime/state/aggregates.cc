// aggregates.cc - incremental maintenance and reads of history aggregates.
#include "runtime/state/aggregates.h"

#include <algorithm>

#include "support/decimal.h"

namespace crm::state {

using bytecode::AggKind;
using bytecode::AggValue;
using bytecode::Window;

void Totals::add(int64_t v, bool has_field) {
  ++count;
  if (count == 1) { first = v; first_has = has_field; }
  last = v;
  last_has = has_field;
  if (!has_field) return;
  if (present == 0 || v < min) min = v;
  if (present == 0 || v > max) max = v;
  ++present;
  if (__builtin_add_overflow(sum, v, &sum)) overflow = true;
}

void Totals::remove_sum(int64_t v, bool has_field) {
  --count;
  if (!has_field) return;
  --present;
  sum -= v;
}

namespace {

bool fixed_point(bytecode::Kind k) { return k == bytecode::Kind::Decimal || k == bytecode::Kind::Money; }

AggValue overflowed() { return {0, AggValue::State::Overflow}; }

// avg as the VM computes a fixed-point quotient: rounded half-to-even to six decimals.
AggValue average(int64_t sum, int64_t n, bytecode::Kind k) {
  if (n == 0) return {};
  auto s = fixed_point(k) ? std::optional(support::Decimal::from_units(sum)) : support::Decimal::from_int(sum);
  if (!s) return overflowed();  // an Int sum too large for a Decimal
  auto r = support::Decimal::div(*s, *support::Decimal::from_int(n));
  return r ? AggValue::of(r->units()) : overflowed();
}

AggValue from_totals(const bytecode::AggSpec& spec, const Totals& t) {
  switch (spec.kind) {
    case AggKind::Count: return AggValue::of(t.count);
    case AggKind::Exists: return AggValue::of(t.count > 0);
    // A sum that does not fit is an evaluation error, never a wrong number or a missing one.
    case AggKind::Sum: return t.overflow ? overflowed() : AggValue::of(t.sum);
    case AggKind::Avg: return t.overflow ? overflowed() : average(t.sum, t.present, spec.value_kind);
    case AggKind::Min: return t.present ? AggValue::of(t.min) : AggValue{};
    case AggKind::Max: return t.present ? AggValue::of(t.max) : AggValue{};
    case AggKind::First: return t.count && t.first_has ? AggValue::of(t.first) : AggValue{};
    case AggKind::Last: return t.count && t.last_has ? AggValue::of(t.last) : AggValue{};
  }
  return {};
}

}  // namespace

void UserAggregates::add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field) {
  AggState& s = states_[g];
  if (!has_field) value = 0;
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
      s.window.push_back({time, value, has_field});
      s.totals.add(value, has_field);
      break;
    case Window::LastN:
    case Window::PreviousN: {
      // Keep N (or N + 1: the latest plus the N before it) values.
      size_t keep = static_cast<size_t>(spec.window_value) + (spec.window == Window::PreviousN ? 1 : 0);
      s.window.push_back({time, value, has_field});
      while (s.window.size() > keep) s.window.pop_front();
      break;
    }
  }
}

AggValue UserAggregates::value(const bytecode::AggSpec& spec, uint32_t g, int64_t now) {
  AggState& s = states_[g];
  switch (spec.window) {
    case Window::All:
    case Window::Since:
    case Window::Previous:
      return from_totals(spec, s.totals);
    case Window::Within: {
      // Events at or before now - D have left the window: drop them from the running totals.
      int64_t cutoff = now - spec.window_value;
      while (!s.window.empty() && s.window.front().time <= cutoff) {
        s.totals.remove_sum(s.window.front().value, s.window.front().has);
        s.window.pop_front();
      }
      // Events after `now` (only possible when a batch evaluates at an earlier time) are not
      // in the window either; they are excluded by rescanning below.
      bool future = !s.window.empty() && s.window.back().time > now;
      if (!future && spec.kind != AggKind::Min && spec.kind != AggKind::Max && spec.kind != AggKind::First) {
        Totals t = s.totals;
        if (!s.window.empty()) {
          t.first = s.window.front().value;
          t.first_has = s.window.front().has;
          t.last = s.window.back().value;
          t.last_has = s.window.back().has;
        }
        return from_totals(spec, t);
      }
      Totals t;
      for (const Entry& e : s.window)
        if (e.time <= now) t.add(e.value, e.has);
      return from_totals(spec, t);
    }
    case Window::LastN:
    case Window::PreviousN: {
      Totals t;
      size_t n = s.window.size();
      size_t end = spec.window == Window::PreviousN ? (n ? n - 1 : 0) : n;
      for (size_t i = 0; i < end; ++i) t.add(s.window[i].value, s.window[i].has);
      return from_totals(spec, t);
    }
  }
  return {};
}

}  // namespace crm::state
