// aggregates.cc - incremental maintenance and reads of history aggregates.
#include "runtime/state/aggregates.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

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
  wide_sum::add(sum, sum_hi, v);
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
    case AggKind::Sum: return t.sum_overflows() ? overflowed() : AggValue::of(t.sum);
    case AggKind::Avg: return t.sum_overflows() ? overflowed() : average(t.sum, t.present, spec.value_kind);
    case AggKind::Min: return t.present ? AggValue::of(t.min) : AggValue{};
    case AggKind::Max: return t.present ? AggValue::of(t.max) : AggValue{};
    case AggKind::First: return t.count && t.first_has ? AggValue::of(t.first) : AggValue{};
    case AggKind::Last: return t.count && t.last_has ? AggValue::of(t.last) : AggValue{};
  }
  return {};
}

// What a user keeps per aggregate (AggLayout::Store). Flags of Plain, Narrow and Previous (one
// byte per state, kept apart from it: AggLayout::flags_at):
constexpr uint8_t kAny = 1;         // an event was added (count > 0, for first and last)
constexpr uint8_t kHas = 2;         // first / last: that event had the field
// sum / avg: the sum overflowed. It stays an error: these stores have no window (all events,
// since T, all but the latest), so no value ever leaves them, and keep the sum in one word. A sum
// of values that are never negative (amounts, counts, durations) that exceeded the range exceeds
// it forever; only a later negative value could bring the exact total back, which one word
// cannot follow (the windowed stores keep the exact total: Values, wide_sum).
constexpr uint8_t kOverflow = 4;
constexpr uint8_t kLatest = 8;      // Previous: a latest value is held
constexpr uint8_t kLatestHas = 16;  // Previous: and it had the field

// Totals of one kind only: x is the count, the sum, the min or max, or the first or last value;
// y (wide only: avg, min, max) the number of values present. Its flags are passed in.
struct NoY {};
template <bool kWide>
struct PlainT {
  int64_t x = 0;
  [[no_unique_address]] std::conditional_t<kWide, int64_t, NoY> y{};
  void add(AggKind k, int64_t v, bool has, uint8_t& flags) {
    switch (k) {
      case AggKind::Count:
      case AggKind::Exists: ++x; return;
      case AggKind::Sum:
        if (has && __builtin_add_overflow(x, v, &x)) flags |= kOverflow;
        return;
      case AggKind::Avg:
        if constexpr (kWide) {
          if (!has) return;
          ++y;
          if (__builtin_add_overflow(x, v, &x)) flags |= kOverflow;
        }
        return;
      case AggKind::Min:
      case AggKind::Max:
        if constexpr (kWide) {
          if (!has) return;
          if (y == 0 || (k == AggKind::Min ? v < x : v > x)) x = v;
          ++y;
        }
        return;
      case AggKind::First:
        if (flags & kAny) return;
        x = v;
        flags |= kAny | (has ? kHas : 0);
        return;
      case AggKind::Last:
        x = v;
        flags = uint8_t((flags & ~kHas) | kAny | (has ? kHas : 0));
        return;
    }
  }
  // The fields from_totals reads for kind k.
  Totals totals(AggKind k, uint8_t flags) const {
    Totals t;
    switch (k) {
      case AggKind::Count:
      case AggKind::Exists: t.count = x; break;
      case AggKind::Sum: t.sum = x, t.sum_hi = x < 0 ? -1 : 0; break;  // kOverflow says whether it fits
      case AggKind::Avg:
      case AggKind::Min:
      case AggKind::Max:
        if constexpr (kWide) {
          t.present = y;
          (k == AggKind::Avg ? t.sum : k == AggKind::Min ? t.min : t.max) = x;
          t.sum_hi = x < 0 ? -1 : 0;
        }
        break;
      case AggKind::First: t.count = flags & kAny ? 1 : 0, t.first = x, t.first_has = flags & kHas; break;
      case AggKind::Last: t.count = flags & kAny ? 1 : 0, t.last = x, t.last_has = flags & kHas; break;
    }
    t.overflow = flags & kOverflow;
    return t;
  }
};
using Plain = PlainT<true>;    // avg, min, max
using Narrow = PlainT<false>;  // count, exists, sum, first, last
static_assert(sizeof(Plain) == 16 && sizeof(Narrow) == 8);

// Over all but the latest, and the latest; the totals' flags also hold kLatest and kLatestHas.
template <typename P>
struct PreviousT {
  P totals;
  int64_t latest = 0;
};
using Previous = PreviousT<Plain>;
using PreviousNarrow = PreviousT<Narrow>;
static_assert(sizeof(Previous) == 24 && sizeof(PreviousNarrow) == 16);

// `previous`: the value held as the latest joins the totals when the next one comes.
template <typename P>
void add_previous(P& s, uint8_t& f, AggKind k, int64_t value, bool has_field) {
  if (f & kLatest) s.totals.add(k, s.latest, f & kLatestHas, f);
  s.latest = value;
  f = uint8_t((f & ~kLatestHas) | kLatest | (has_field ? kLatestHas : 0));
}

// Whether kind k needs the wide totals.
bool wide(AggKind k) { return k == AggKind::Avg || k == AggKind::Min || k == AggKind::Max; }

using Times = Ring<int64_t>;

struct Values {
  Ring<Entry> window;
  int64_t sum = 0, present = 0;  // over the window's entries (count is its size)
  int64_t sum_hi = 0;            // with `sum`, their exact sum (wide_sum): an error only while
                                 // the values in the window do not fit
};
static_assert(sizeof(Values) == 40);

using Last = Ring<Entry>;

size_t store_bytes(AggLayout::Store s) {
  switch (s) {
    case AggLayout::Store::Count: return sizeof(int64_t);
    case AggLayout::Store::Plain: return sizeof(Plain);
    case AggLayout::Store::Narrow: return sizeof(Narrow);
    case AggLayout::Store::Previous: return sizeof(Previous);
    case AggLayout::Store::PreviousNarrow: return sizeof(PreviousNarrow);
    case AggLayout::Store::Times: return sizeof(Times);
    case AggLayout::Store::Values: return sizeof(Values);
    case AggLayout::Store::Last: return sizeof(Last);
  }
  return 0;
}

// Drops the entries at or before `cutoff` (they have left the window).
template <typename R, typename Drop>
void expire(R& ring, int64_t cutoff, Drop&& drop) {
  while (!ring.empty()) {
    int64_t t;
    if constexpr (std::is_same_v<R, Times>) t = ring.front();
    else t = ring.front().time;
    if (t > cutoff) break;
    drop(ring.front());
    ring.pop_front();
  }
}

// Whether two aggregates are given exactly the same events: the same source, and no filter (a
// filter may read aggregates, so two runs of it could differ).
bool same_events(const bytecode::AggSpec& a, const bytecode::AggSpec& b) {
  return a.source == b.source && a.event == b.event && a.filter_unit < 0 && b.filter_unit < 0 &&
         a.strategy == b.strategy && a.resource == b.resource && a.channel == b.channel && a.code == b.code;
}

// Whether aggregate b can read the times a's ring keeps: count or exists within a window over
// the same events, the same window, or any window when the events are the user's own (their
// times only go forward: Engine::observe_event), so the ring is in time order and a shorter
// window is the ring's newest entries.
bool same_times(const bytecode::AggSpec& a, const bytecode::AggSpec& b) {
  return same_events(a, b) && (a.window_value == b.window_value || a.source == bytecode::AggSource::Events);
}

}  // namespace

AggLayout::AggLayout(const bytecode::Program& p) {
  uint32_t flag_count = 0;
  for (uint32_t g = 0; g < p.aggregates.size(); ++g) {
    const auto& spec = p.aggregates[g];
    const bool counts = spec.kind == AggKind::Count || spec.kind == AggKind::Exists;
    Store s = Store::Plain;
    switch (spec.window) {
      case Window::All:
      case Window::Since: s = counts ? Store::Count : wide(spec.kind) ? Store::Plain : Store::Narrow; break;
      case Window::Previous: s = counts ? Store::Count : wide(spec.kind) ? Store::Previous : Store::PreviousNarrow; break;
      case Window::Within: s = counts ? Store::Times : Store::Values; break;
      case Window::LastN:
      case Window::PreviousN: s = Store::Last; break;
    }
    // count(X previous) is the count of X less the latest: the count over all events, shared
    // with count(X) or exists(X) when the program has one.
    const bool total = s == Store::Count && spec.window != Window::Since;
    if (s == Store::Times || total) {
      uint32_t h = 0;
      auto joins = [&](const Slot& o, const bytecode::AggSpec& os) {
        if (o.shared || o.store != s) return false;
        return s == Store::Times ? same_times(os, spec) : os.window != Window::Since && same_events(os, spec);
      };
      while (h < g && !joins(slots_[h], p.aggregates[h])) ++h;
      if (h < g) {
        slots_.push_back({s, true, slots_[h].offset, 0, UINT32_MAX});
        // The ring keeps what the group's longest window needs.
        if (s == Store::Times) slots_[h].keep = std::max(slots_[h].keep, spec.window_value);
        continue;
      }
    }
    const bool flagged = s == Store::Plain || s == Store::Narrow || s == Store::Previous || s == Store::PreviousNarrow;
    slots_.push_back({s, false, uint32_t(words_), s == Store::Times ? spec.window_value : 0, flagged ? flag_count++ : UINT32_MAX});
    words_ += store_bytes(s);  // every store is a multiple of 8 bytes: all stay aligned
  }
  // The flag bytes follow the states.
  for (Slot& slot : slots_)
    if (slot.flags != UINT32_MAX) slot.flags += uint32_t(words_);
  bytes_ = words_ + flag_count;
  for (Slot& slot : slots_)  // shared rings read how long their group keeps entries
    if (slot.shared && slot.store == Store::Times)
      for (const Slot& o : slots_)
        if (!o.shared && o.store == Store::Times && o.offset == slot.offset) slot.keep = o.keep;
}

namespace {
template <typename T>
T& slot(std::byte* block, const AggLayout& l, uint32_t g) {
  return *std::launder(reinterpret_cast<T*>(block + l.offset(g)));
}
}  // namespace

void AggLayout::construct(std::byte* block) const {
  for (uint32_t g = 0; g < size(); ++g) {
    if (shared(g)) continue;
    std::byte* at = block + offset(g);
    switch (store(g)) {
      case Store::Count: new (at) int64_t(0); break;
      case Store::Plain: new (at) Plain(); break;
      case Store::Narrow: new (at) Narrow(); break;
      case Store::Previous: new (at) Previous(); break;
      case Store::PreviousNarrow: new (at) PreviousNarrow(); break;
      case Store::Times: new (at) Times(); break;
      case Store::Values: new (at) Values(); break;
      case Store::Last: new (at) Last(); break;
    }
  }
  std::memset(block + words_, 0, bytes_ - words_);  // the flags
}

void AggLayout::copy(std::byte* to, const std::byte* from) const {
  auto* src = const_cast<std::byte*>(from);  // read only: slot() gives references into it
  for (uint32_t g = 0; g < size(); ++g) {
    if (shared(g)) continue;
    switch (store(g)) {
      case Store::Count: slot<int64_t>(to, *this, g) = slot<int64_t>(src, *this, g); break;
      case Store::Plain: slot<Plain>(to, *this, g) = slot<Plain>(src, *this, g); break;
      case Store::Narrow: slot<Narrow>(to, *this, g) = slot<Narrow>(src, *this, g); break;
      case Store::Previous: slot<Previous>(to, *this, g) = slot<Previous>(src, *this, g); break;
      case Store::PreviousNarrow: slot<PreviousNarrow>(to, *this, g) = slot<PreviousNarrow>(src, *this, g); break;
      case Store::Times: slot<Times>(to, *this, g) = slot<Times>(src, *this, g); break;
      case Store::Values: slot<Values>(to, *this, g) = slot<Values>(src, *this, g); break;
      case Store::Last: slot<Last>(to, *this, g) = slot<Last>(src, *this, g); break;
    }
  }
  std::memcpy(to + words_, from + words_, bytes_ - words_);  // the flags
}

void AggLayout::destroy(std::byte* block) const {
  for (uint32_t g = 0; g < size(); ++g) {
    if (shared(g)) continue;
    switch (store(g)) {
      case Store::Times: slot<Times>(block, *this, g).~Times(); break;
      case Store::Values: slot<Values>(block, *this, g).~Values(); break;
      case Store::Last: slot<Last>(block, *this, g).~Last(); break;
      case Store::Count:
      case Store::Plain:
      case Store::Narrow:
      case Store::Previous:
      case Store::PreviousNarrow: break;  // trivially destructible
    }
  }
}

UserAggregates::UserAggregates(const AggLayout& layout) : layout_(&layout) {
  if (layout_->bytes() == 0) return;
  block_ = static_cast<std::byte*>(::operator new(layout_->bytes()));
  layout_->construct(block_);
}

// The delegated constructor has made every slot empty before a copy that can throw (a ring's
// allocation), so a failed copy is destroyed by ~UserAggregates like any other block.
UserAggregates::UserAggregates(const UserAggregates& o) : UserAggregates(*o.layout_) {
  if (o.block_) layout_->copy(block_, o.block_);
}

// Copy first: a failed copy leaves *this as it was.
UserAggregates& UserAggregates::operator=(const UserAggregates& o) {
  if (this != &o) *this = UserAggregates(o);
  return *this;
}

UserAggregates& UserAggregates::operator=(UserAggregates&& o) noexcept {
  if (this != &o) {
    destroy();
    layout_ = o.layout_, block_ = o.block_;
    o.block_ = nullptr;
  }
  return *this;
}

void UserAggregates::destroy() {
  if (!block_) return;
  layout_->destroy(block_);
  ::operator delete(block_);
  block_ = nullptr;
}

void AggregatesRef::add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field) {
  if (!has_field) value = 0;
  switch (layout_->store(g)) {
    case AggLayout::Store::Count:
      if (layout_->shared(g)) return;  // the first of its group counted the event
      if (spec.window != Window::Since || time >= spec.window_value) ++at<int64_t>(g);
      return;
    case AggLayout::Store::Plain:
      if (spec.window == Window::All || time >= spec.window_value) at<Plain>(g).add(spec.kind, value, has_field, flags(g));
      return;
    case AggLayout::Store::Narrow:
      if (spec.window == Window::All || time >= spec.window_value) at<Narrow>(g).add(spec.kind, value, has_field, flags(g));
      return;
    case AggLayout::Store::Previous: add_previous(at<Previous>(g), flags(g), spec.kind, value, has_field); return;
    case AggLayout::Store::PreviousNarrow: add_previous(at<PreviousNarrow>(g), flags(g), spec.kind, value, has_field); return;
    case AggLayout::Store::Times:
      if (!layout_->shared(g)) at<Times>(g).push_back(time);  // else the first of its group did
      return;
    case AggLayout::Store::Values: {
      Values& s = at<Values>(g);
      s.window.push_back({time, value, has_field});
      if (has_field) {
        ++s.present;
        wide_sum::add(s.sum, s.sum_hi, value);
      }
      return;
    }
    case AggLayout::Store::Last: {
      // Keep N (or N + 1: the latest plus the N before it) values.
      Last& s = at<Last>(g);
      size_t keep = static_cast<size_t>(spec.window_value) + (spec.window == Window::PreviousN ? 1 : 0);
      s.push_back({time, value, has_field});
      while (s.size() > keep) s.pop_front();
      return;
    }
  }
}

namespace {

// A time window's value over its entries from `lo` on: those before `lo` have left the window,
// which value() has dropped and peek() skips, so the two share one reading. Entries at or before
// now - D are out of the window; entries after `now` (a read at an instant before some of the
// user's events: a batch, the reference evaluator) are not in it either: they are not counted.
AggValue times_value(const bytecode::AggSpec& spec, const Times& w, size_t lo, int64_t keep, int64_t now) {
  Totals t;
  if (spec.window_value == keep) {
    t.count = int64_t(w.size() - lo);
    if (w.size() > lo && w.back() > now)
      for (size_t i = lo; i < w.size(); ++i) t.count -= w[i] > now;
  } else {  // a shorter window than the shared ring keeps: the newest of its entries
    for (size_t i = w.size(); i-- > lo && w[i] > now - spec.window_value;) t.count += w[i] <= now;
  }
  return from_totals(spec, t);
}

// The same for a window of values; `sum` (with `sum_hi`) and `present` are over the entries
// from `lo` on.
AggValue values_value(const bytecode::AggSpec& spec, const Values& s, size_t lo, int64_t sum, int64_t sum_hi,
                      int64_t present, int64_t now) {
  const Ring<Entry>& w = s.window;
  const bool future = w.size() > lo && w.back().time > now;
  if (!future && spec.kind != AggKind::Min && spec.kind != AggKind::Max && spec.kind != AggKind::First) {
    Totals t;
    t.count = int64_t(w.size() - lo);
    t.present = present;
    t.sum = sum;
    t.sum_hi = sum_hi;
    if (w.size() > lo) {
      t.first = w[lo].value;
      t.first_has = w[lo].has;
      t.last = w.back().value;
      t.last_has = w.back().has;
    }
    return from_totals(spec, t);
  }
  Totals t;
  for (size_t i = lo; i < w.size(); ++i)
    if (const Entry& e = w[i]; e.time <= now) t.add(e.value, e.has);
  return from_totals(spec, t);
}

}  // namespace

// The stores whose value does not depend on `now`: what both reads return.
inline AggValue AggregatesRef::running(const bytecode::AggSpec& spec, uint32_t g) const {
  switch (layout_->store(g)) {
    case AggLayout::Store::Count: {
      Totals t;
      t.count = at<int64_t>(g);
      if (spec.window == Window::Previous && t.count > 0) --t.count;  // all but the latest
      return from_totals(spec, t);
    }
    case AggLayout::Store::Plain: return from_totals(spec, at<Plain>(g).totals(spec.kind, flags(g)));
    case AggLayout::Store::Narrow: return from_totals(spec, at<Narrow>(g).totals(spec.kind, flags(g)));
    case AggLayout::Store::Previous: return from_totals(spec, at<Previous>(g).totals.totals(spec.kind, flags(g)));
    case AggLayout::Store::PreviousNarrow:
      return from_totals(spec, at<PreviousNarrow>(g).totals.totals(spec.kind, flags(g)));
    case AggLayout::Store::Last: {
      const Last& s = at<Last>(g);
      Totals t;
      size_t n = s.size();
      size_t end = spec.window == Window::PreviousN ? (n ? n - 1 : 0) : n;
      for (size_t i = 0; i < end; ++i) t.add(s[i].value, s[i].has);
      return from_totals(spec, t);
    }
    case AggLayout::Store::Times:
    case AggLayout::Store::Values: break;  // value() and peek()
  }
  return {};
}

AggValue AggregatesRef::value(const bytecode::AggSpec& spec, uint32_t g, int64_t now) {
  switch (layout_->store(g)) {
    case AggLayout::Store::Times: {
      // Entries at or before now - keep have left every window of the ring: dropped.
      Times& w = at<Times>(g);
      const int64_t keep = layout_->keep(g);
      expire(w, now - keep, [](int64_t) {});
      return times_value(spec, w, 0, keep, now);
    }
    case AggLayout::Store::Values: {
      Values& s = at<Values>(g);
      expire(s.window, now - spec.window_value, [&](const Entry& e) {
        if (!e.has) return;
        --s.present;
        wide_sum::remove(s.sum, s.sum_hi, e.value);
      });
      return values_value(spec, s, 0, s.sum, s.sum_hi, s.present, now);
    }
    default: return running(spec, g);
  }
}

// What value() would return, with the entries it would drop skipped instead: the same front of
// the ring (the entries are in time order), so the same number.
AggValue AggregatesRef::peek(const bytecode::AggSpec& spec, uint32_t g, int64_t now) const {
  switch (layout_->store(g)) {
    case AggLayout::Store::Times: {
      const Times& w = at<Times>(g);
      const int64_t keep = layout_->keep(g);
      size_t lo = 0;
      while (lo < w.size() && w[lo] <= now - keep) ++lo;
      return times_value(spec, w, lo, keep, now);
    }
    case AggLayout::Store::Values: {
      const Values& s = at<Values>(g);
      size_t lo = 0;
      int64_t sum = s.sum, sum_hi = s.sum_hi, present = s.present;
      for (; lo < s.window.size() && s.window[lo].time <= now - spec.window_value; ++lo)
        if (const Entry& e = s.window[lo]; e.has) {
          --present;
          wide_sum::remove(sum, sum_hi, e.value);
        }
      return values_value(spec, s, lo, sum, sum_hi, present, now);
    }
    default: return running(spec, g);
  }
}

}  // namespace crm::state
