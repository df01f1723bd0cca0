// aggregates_test.cc - the per-user aggregate state (runtime/state/aggregates.h): the ring buffer
// of windows at its edges, the layout sized per aggregate, and every kind over every window
// against a direct computation over the events the window holds.
#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <vector>

#include "runtime/state/aggregates.h"
#include "support/decimal.h"

namespace {

using crm::bytecode::AggKind;
using crm::bytecode::AggSpec;
using crm::bytecode::AggValue;
using crm::bytecode::Window;
using crm::state::AggLayout;
using crm::state::Entry;
using crm::state::Ring;
using crm::state::UserAggregates;

std::vector<int64_t> contents(const Ring<int64_t>& r) {
  std::vector<int64_t> v;
  for (size_t i = 0; i < r.size(); ++i) v.push_back(r[i]);
  return v;
}

TEST(Ring, EmptyHoldsNoBlockAndTheLastPopFreesIt) {
  Ring<int64_t> r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.capacity(), 0u);
  r.push_back(1);
  EXPECT_EQ(r.capacity(), 3u);
  r.pop_front();
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.capacity(), 0u);  // an emptied window costs nothing again
  r.push_back(2);
  EXPECT_EQ(contents(r), std::vector<int64_t>({2}));
}

// Capacities 2^k + 1 (3, 5, 9, 17): the ring wraps at a capacity that is not a power of two.
TEST(Ring, GrowsThroughCapacitiesOfTwoToTheKPlusOneWhileWrappedAndKeepsTheOrder) {
  Ring<int64_t> r;
  r.push_back(1);
  r.push_back(2);
  r.push_back(3);
  r.pop_front();
  r.pop_front();   // head 2
  r.push_back(4);  // wraps to slot 0
  r.push_back(5);  // slot 1: [3, 4, 5] in a full block of 3
  EXPECT_EQ(r.capacity(), 3u);
  EXPECT_EQ(r.front(), 3);
  EXPECT_EQ(r.back(), 5);
  EXPECT_EQ(contents(r), std::vector<int64_t>({3, 4, 5}));
  r.push_back(6);  // grows from a wrapped block
  EXPECT_EQ(r.capacity(), 5u);
  EXPECT_EQ(contents(r), std::vector<int64_t>({3, 4, 5, 6}));
  for (int64_t i = 7; i <= 11; ++i) r.push_back(i);
  EXPECT_EQ(r.capacity(), 9u);
  EXPECT_EQ(contents(r), std::vector<int64_t>({3, 4, 5, 6, 7, 8, 9, 10, 11}));
  // Wrap around many times at a steady size: the capacity stays, the order holds at every step.
  for (int64_t i = 12; i < 1000; ++i) {
    r.pop_front();
    r.push_back(i);
    ASSERT_EQ(r.front(), i - 8);
    ASSERT_EQ(r.back(), i);
    ASSERT_EQ(r[4], i - 4);
  }
  EXPECT_EQ(r.capacity(), 9u);
  EXPECT_EQ(contents(r), std::vector<int64_t>({991, 992, 993, 994, 995, 996, 997, 998, 999}));
  r.push_back(1000);
  EXPECT_EQ(r.capacity(), 17u);
  EXPECT_EQ(r.front(), 991);
  EXPECT_EQ(r.back(), 1000);
}

// Against a std::deque over random pushes and pops (sizes up to a few hundred, so the ring
// wraps at every capacity on the way and is emptied and made again).
TEST(Ring, AgreesWithADequeOverRandomPushesAndPops) {
  std::mt19937 rng(13);
  Ring<Entry> r;
  std::deque<Entry> want;
  for (int step = 0; step < 200000; ++step) {
    const bool push = want.empty() || rng() % 100 < (step / 20000 % 2 ? 45u : 55u);
    if (push) {
      const Entry e{int64_t(step), int64_t(rng()), bool(rng() % 2)};
      r.push_back(e);
      want.push_back(e);
    } else {
      r.pop_front();
      want.pop_front();
    }
    ASSERT_EQ(r.size(), want.size());
    if (!want.empty()) {
      ASSERT_EQ(r.front().time, want.front().time);
      ASSERT_EQ(r.back().time, want.back().time);
      const size_t i = rng() % want.size();
      ASSERT_EQ(r[i].time, want[i].time);
      ASSERT_EQ(r[i].value, want[i].value);
      ASSERT_EQ(r[i].has, want[i].has);
      // The capacity is 2^k + 1, at least the size.
      const size_t c = r.capacity();
      ASSERT_GE(c, want.size());
      ASSERT_EQ((c - 1) & (c - 2), 0u) << c;
    } else {
      ASSERT_EQ(r.capacity(), 0u);
    }
  }
}

TEST(Ring, CopiesAndMovesAreIndependent) {
  Ring<int64_t> r;
  for (int64_t i = 0; i < 5; ++i) r.push_back(i);
  r.pop_front();
  r.pop_front();  // [2, 3, 4], head inside the block
  Ring<int64_t> c = r;
  EXPECT_EQ(contents(c), contents(r));
  c.push_back(5);
  c.pop_front();
  EXPECT_EQ(contents(r), std::vector<int64_t>({2, 3, 4}));
  EXPECT_EQ(contents(c), std::vector<int64_t>({3, 4, 5}));
  Ring<int64_t> m = std::move(c);
  EXPECT_EQ(contents(m), std::vector<int64_t>({3, 4, 5}));
  EXPECT_TRUE(c.empty());  // NOLINT(bugprone-use-after-move): a moved-from ring is empty
  c = m;
  EXPECT_EQ(contents(c), contents(m));
  Ring<int64_t> e;
  c = e;  // assigning an empty ring frees the block
  EXPECT_TRUE(c.empty());
  EXPECT_EQ(c.capacity(), 0u);
}

AggSpec spec(AggKind k, Window w, int64_t window_value = 0) {
  AggSpec s;
  s.kind = k;
  s.window = w;
  s.window_value = window_value;
  s.field = k == AggKind::Count || k == AggKind::Exists ? -1 : 0;
  return s;
}

TEST(AggLayout, EachAggregateKeepsWhatItsKindAndWindowNeed) {
  crm::bytecode::Program p;
  p.aggregates = {spec(AggKind::Exists, Window::All),          spec(AggKind::Count, Window::Within, 30),
                  spec(AggKind::Sum, Window::Within, 30),      spec(AggKind::Avg, Window::Previous),
                  spec(AggKind::Max, Window::LastN, 3),        spec(AggKind::Last, Window::Since, 5),
                  spec(AggKind::Exists, Window::Within, 30),   spec(AggKind::Exists, Window::Within, 31),
                  spec(AggKind::Count, Window::Previous),      spec(AggKind::Min, Window::All)};
  AggLayout l(p);
  EXPECT_EQ(l.store(0), AggLayout::Store::Count);
  EXPECT_EQ(l.store(1), AggLayout::Store::Times);
  EXPECT_EQ(l.store(2), AggLayout::Store::Values);
  EXPECT_EQ(l.store(3), AggLayout::Store::Previous);
  EXPECT_EQ(l.store(4), AggLayout::Store::Last);
  EXPECT_EQ(l.store(5), AggLayout::Store::Narrow);
  EXPECT_EQ(l.store(8), AggLayout::Store::Count);
  EXPECT_EQ(l.store(9), AggLayout::Store::Plain);
  // exists(X within 30 days) reads the times count(X within 30 days) keeps; so does a longer
  // window over the user's own events (the ring keeps the longest), and count(X previous)
  // reads the count exists(X) keeps.
  EXPECT_TRUE(l.shared(6));
  EXPECT_EQ(l.offset(6), l.offset(1));
  EXPECT_TRUE(l.shared(7));
  EXPECT_EQ(l.offset(7), l.offset(1));
  EXPECT_EQ(l.keep(1), 31);
  EXPECT_EQ(l.keep(6), 31);
  EXPECT_TRUE(l.shared(8));
  EXPECT_EQ(l.offset(8), l.offset(0));
  // The states, then one flag byte each for Previous (3), Narrow (5) and Plain (9).
  EXPECT_EQ(l.words(), 8u + 16 + 40 + 24 + 16 + 8 + 16);
  EXPECT_EQ(l.bytes(), l.words() + 3);
  for (uint32_t g = 0; g < l.size(); ++g) EXPECT_EQ(l.offset(g) % 8, 0u);
  EXPECT_EQ(l.flags_at(3), l.words());
  EXPECT_EQ(l.flags_at(5), l.words() + 1);
  EXPECT_EQ(l.flags_at(9), l.words() + 2);
  for (uint32_t g : {0u, 1u, 2u, 4u, 6u, 7u, 8u}) EXPECT_EQ(l.flags_at(g), UINT32_MAX) << g;
  // A filter may read aggregates: filtered windows and counts never share.
  p.aggregates[1].filter_unit = 0;
  p.aggregates[6].filter_unit = 0;
  p.aggregates[8].filter_unit = 0;
  EXPECT_FALSE(AggLayout(p).shared(6));
  EXPECT_FALSE(AggLayout(p).shared(8));
  // Delivery-history windows of different lengths keep their own rings (their times need not
  // come in order), as does a count since a time.
  p.aggregates[1].filter_unit = p.aggregates[6].filter_unit = p.aggregates[8].filter_unit = -1;
  for (uint32_t g : {1u, 6u, 7u}) p.aggregates[g].source = crm::bytecode::AggSource::Received;
  AggLayout h(p);
  EXPECT_TRUE(h.shared(6));
  EXPECT_FALSE(h.shared(7));
  EXPECT_EQ(h.keep(1), 30);
  p.aggregates[8].window = Window::Since;
  EXPECT_FALSE(AggLayout(p).shared(8));
}

// retail.crm's aggregates (docs/performance.md, "Memory, session 12"): the three first/last
// states are a word each and their flags three bytes after the states, so with the 24-byte
// header, two profile fields and their presence a user is 118 bytes, a 128-byte malloc chunk.
TEST(AggLayout, FirstAndLastKeepOneWordAndAFlagByte) {
  crm::bytecode::Program p;
  p.aggregates = {spec(AggKind::Exists, Window::All),       spec(AggKind::Exists, Window::Within, 30),
                  spec(AggKind::Count, Window::Within, 30), spec(AggKind::First, Window::All),
                  spec(AggKind::Count, Window::Previous),   spec(AggKind::Last, Window::All),
                  spec(AggKind::Avg, Window::Previous),     spec(AggKind::Exists, Window::Within, 120),
                  spec(AggKind::Last, Window::All)};
  p.aggregates[5].field = 1;
  p.aggregates[6].field = 1;
  p.aggregates[8].field = 2;
  AggLayout l(p);
  EXPECT_EQ(l.store(3), AggLayout::Store::Narrow);
  EXPECT_EQ(l.store(6), AggLayout::Store::Previous);
  EXPECT_EQ(l.words(), 8u + 16 + 8 + 8 + 24 + 8);
  EXPECT_EQ(l.bytes(), l.words() + 4);
  EXPECT_EQ(24 + 2 * 8 + l.bytes() + 2, 118u);
}

struct Ev {
  int64_t time, value;
  bool has;
};

// The aggregate computed directly from the events its window holds at `now`.
AggValue direct(const AggSpec& s, const std::vector<Ev>& all, int64_t now) {
  std::vector<Ev> in;
  size_t n = all.size();
  for (size_t i = 0; i < n; ++i) {
    const Ev& e = all[i];
    bool keep = false;
    switch (s.window) {
      case Window::All: keep = true; break;
      case Window::Since: keep = e.time >= s.window_value; break;
      case Window::Previous: keep = i + 1 < n; break;
      case Window::Within: keep = e.time > now - s.window_value && e.time <= now; break;
      case Window::LastN: keep = i + size_t(s.window_value) >= n; break;
      case Window::PreviousN: keep = i + 1 < n && i + size_t(s.window_value) + 1 >= n; break;
    }
    if (keep) in.push_back({e.time, e.has ? e.value : 0, e.has});
  }
  int64_t count = int64_t(in.size()), present = 0, sum = 0;
  bool overflow = false;
  __int128 exact = 0;
  const Ev* lo = nullptr;
  const Ev* hi = nullptr;
  for (const Ev& e : in) {
    if (!e.has) continue;
    ++present;
    overflow |= __builtin_add_overflow(sum, e.value, &sum);
    exact += e.value;
    if (!lo || e.value < lo->value) lo = &e;
    if (!hi || e.value > hi->value) hi = &e;
  }
  // A window's sum is an error while the exact total of the values in it does not fit; without
  // a window (all, since, previous) no value ever leaves and a sum that overflowed stays an error.
  const bool windowed = s.window == Window::Within || s.window == Window::LastN || s.window == Window::PreviousN;
  if (windowed) overflow = exact < INT64_MIN || exact > INT64_MAX;
  switch (s.kind) {
    case AggKind::Count: return AggValue::of(count);
    case AggKind::Exists: return AggValue::of(count > 0);
    case AggKind::Sum: return overflow ? AggValue{0, AggValue::State::Overflow} : AggValue::of(sum);
    case AggKind::Avg: {
      if (overflow) return {0, AggValue::State::Overflow};
      if (!present) return {};
      auto total = crm::support::Decimal::from_int(sum);  // an Int sum too large for a Decimal
      if (!total) return {0, AggValue::State::Overflow};
      auto q = crm::support::Decimal::div(*total, *crm::support::Decimal::from_int(present));
      if (!q) return {0, AggValue::State::Overflow};
      return AggValue::of(q->units());
    }
    case AggKind::Min: return lo ? AggValue::of(lo->value) : AggValue{};
    case AggKind::Max: return hi ? AggValue::of(hi->value) : AggValue{};
    case AggKind::First: return count && in.front().has ? AggValue::of(in.front().value) : AggValue{};
    case AggKind::Last: return count && in.back().has ? AggValue::of(in.back().value) : AggValue{};
  }
  return {};
}

// Every kind over every window, read after each event at times that move forward (as a user's
// decisions do), with missing fields, equal times, INT64_MIN as a value and empty windows.
TEST(UserAggregates, EveryKindOverEveryWindowEqualsTheDirectComputation) {
  const AggKind kinds[] = {AggKind::Count, AggKind::Sum, AggKind::Avg,   AggKind::Min,
                           AggKind::Max,   AggKind::First, AggKind::Last, AggKind::Exists};
  crm::bytecode::Program p;
  for (AggKind k : kinds) {
    p.aggregates.push_back(spec(k, Window::All));
    p.aggregates.push_back(spec(k, Window::Since, 40));
    p.aggregates.push_back(spec(k, Window::Previous));
    p.aggregates.push_back(spec(k, Window::Within, 25));
    p.aggregates.push_back(spec(k, Window::Within, 60));  // count and exists: one ring for both
    p.aggregates.push_back(spec(k, Window::LastN, 3));
    p.aggregates.push_back(spec(k, Window::PreviousN, 2));
  }
  AggLayout layout(p);
  std::mt19937_64 rng(15);
  for (int round = 0; round < 40; ++round) {
    UserAggregates a(layout);
    std::vector<Ev> events;
    int64_t t = 0;
    for (int i = 0; i < 60; ++i) {
      t += int64_t(rng() % 12);  // equal times too
      // Odd rounds hold INT64_MIN as a value (a value, not a missing one): sums over it
      // overflow, and over a window become values again once it has left. Some rounds also
      // hold INT64_MAX, so a window's total can be back in range with both in it.
      int64_t v = round % 2 && rng() % 10 == 0 ? INT64_MIN
                  : round % 4 == 3 && rng() % 10 == 0 ? INT64_MAX
                                                       : int64_t(rng() % 200) - 100;
      bool has = rng() % 5 != 0;
      events.push_back({t, v, has});
      for (uint32_t g = 0; g < p.aggregates.size(); ++g) a.add(p.aggregates[g], g, t, v, has);
      // Read at the event's time, or later (windows emptied by time alone).
      int64_t now = t + (rng() % 4 == 0 ? int64_t(rng() % 40) : 0);
      UserAggregates copy = a;  // copies read alike and do not share windows
      // A read-only read, at `now` or after it (an audience ahead of the stream), before the
      // engine's own read: it gives the direct value there and changes nothing the next reads see.
      const int64_t ahead = now + (rng() % 3 == 0 ? int64_t(rng() % 100) : 0);
      for (uint32_t g = 0; g < p.aggregates.size(); ++g) {
        AggValue want = direct(p.aggregates[g], events, ahead);
        AggValue got = a.peek(p.aggregates[g], g, ahead);
        ASSERT_EQ(int(got.state), int(want.state)) << "peek: round " << round << " event " << i << " aggregate " << g;
        ASSERT_EQ(got.value, want.value) << "peek: round " << round << " event " << i << " aggregate " << g;
      }
      for (uint32_t g = 0; g < p.aggregates.size(); ++g) {
        AggValue want = direct(p.aggregates[g], events, now);
        AggValue got = a.value(p.aggregates[g], g, now);
        ASSERT_EQ(int(got.state), int(want.state)) << "round " << round << " event " << i << " aggregate " << g;
        ASSERT_EQ(got.value, want.value) << "round " << round << " event " << i << " aggregate " << g;
        AggValue again = copy.value(p.aggregates[g], g, now);
        ASSERT_EQ(again.value, want.value);
      }
      t = now;
    }
  }
}

// The defect a tester found through crm_runtime_audience: an audience at day 40, after the
// stream's latest event (day 0), read the windows with value(), which dropped the event of day 0
// for good, and an event of day 0 + 1 h then counted 1 order within 30 days, not 2. A read off the
// engine's time line is peek(): it counts the same and drops nothing.
TEST(UserAggregates, APeekAfterTheLatestEventDropsNothingALaterEventStillCounts) {
  constexpr int64_t kHour = 3600'000'000LL, kDay = 24 * kHour;
  crm::bytecode::Program p;
  // A ring of times (and a shorter window sharing it) and a window of values.
  p.aggregates = {spec(AggKind::Count, Window::Within, 30 * kDay), spec(AggKind::Sum, Window::Within, 30 * kDay),
                  spec(AggKind::Count, Window::Within, 2 * kHour)};
  AggLayout layout(p);
  ASSERT_TRUE(layout.shared(2));
  auto add = [&](UserAggregates& a, int64_t t, int64_t v) {
    for (uint32_t g = 0; g < 3; ++g) a.add(p.aggregates[g], g, t, v, true);
  };
  UserAggregates a(layout);
  add(a, 0, 5);
  const UserAggregates& ro = a;  // peek() is const: it cannot write
  EXPECT_EQ(ro.peek(p.aggregates[0], 0, 40 * kDay).value, 0);
  EXPECT_EQ(ro.peek(p.aggregates[1], 1, 40 * kDay).value, 0);
  EXPECT_EQ(ro.peek(p.aggregates[2], 2, 40 * kDay).value, 0);
  EXPECT_EQ(ro.peek(p.aggregates[0], 0, 20 * kDay).value, 1);  // still in the window then
  add(a, kHour, 7);
  EXPECT_EQ(a.value(p.aggregates[0], 0, kHour).value, 2);
  EXPECT_EQ(a.value(p.aggregates[1], 1, kHour).value, 12);
  EXPECT_EQ(a.value(p.aggregates[2], 2, kHour).value, 2);
  // Entries that have left the window at the read's instant are skipped, those after it too.
  add(a, 20 * kDay, 11);
  EXPECT_EQ(ro.peek(p.aggregates[0], 0, 35 * kDay).value, 1);
  EXPECT_EQ(ro.peek(p.aggregates[1], 1, 35 * kDay).value, 11);
  EXPECT_EQ(ro.peek(p.aggregates[0], 0, 10 * kDay).value, 2);
  EXPECT_EQ(ro.peek(p.aggregates[1], 1, 10 * kDay).value, 12);
  EXPECT_EQ(a.value(p.aggregates[0], 0, 20 * kDay).value, 3);
  EXPECT_EQ(a.value(p.aggregates[1], 1, 20 * kDay).value, 23);
  // value() is the engine's read on its time line: at day 40 it drops the event of day 0, which a
  // later read before day 30 no longer sees (what an audience did before it read with peek()).
  UserAggregates b(layout);
  add(b, 0, 5);
  EXPECT_EQ(b.value(p.aggregates[0], 0, 40 * kDay).value, 0);
  add(b, kHour, 7);
  EXPECT_EQ(b.value(p.aggregates[0], 0, kHour).value, 1);
}

TEST(UserAggregates, AWindowReadBeforeItsLatestEventLeavesThatEventOut) {
  crm::bytecode::Program p;
  p.aggregates = {spec(AggKind::Count, Window::Within, 100), spec(AggKind::Sum, Window::Within, 100)};
  AggLayout layout(p);
  UserAggregates a(layout);
  for (int64_t t : {10, 20, 30})
    for (uint32_t g = 0; g < 2; ++g) a.add(p.aggregates[g], g, t, t, true);
  EXPECT_EQ(a.value(p.aggregates[0], 0, 25).value, 2);
  EXPECT_EQ(a.value(p.aggregates[1], 1, 25).value, 30);
  EXPECT_EQ(a.value(p.aggregates[0], 0, 30).value, 3);
  // The window's edge: an event exactly D before `now` has left it.
  EXPECT_EQ(a.value(p.aggregates[0], 0, 110).value, 2);
  EXPECT_EQ(a.value(p.aggregates[1], 1, 110).value, 50);
  EXPECT_EQ(a.value(p.aggregates[0], 0, 130).value, 0);
  EXPECT_EQ(a.value(p.aggregates[1], 1, 130).value, 0);
}

// A windowed sum that overflowed stayed an error for good (a sticky flag), though the values
// that made it too large had left the window: `sum(Order.amount within 10)` was an error for
// the user forever. It is an error exactly while the values in the window do not fit.
TEST(UserAggregates, AWindowedSumIsAnErrorOnlyWhileItsValuesDoNotFit) {
  crm::bytecode::Program p;
  p.aggregates = {spec(AggKind::Sum, Window::Within, 10), spec(AggKind::Avg, Window::Within, 10),
                  spec(AggKind::Sum, Window::LastN, 2), spec(AggKind::Sum, Window::All)};
  AggLayout layout(p);
  UserAggregates a(layout);
  auto add = [&](int64_t t, int64_t v) {
    for (uint32_t g = 0; g < p.aggregates.size(); ++g) a.add(p.aggregates[g], g, t, v, true);
  };
  auto state = [&](uint32_t g, int64_t now) { return a.value(p.aggregates[g], g, now).state; };
  add(1, INT64_MAX);
  add(2, INT64_MAX);
  for (uint32_t g = 0; g < 4; ++g) EXPECT_EQ(int(state(g, 2)), int(AggValue::State::Overflow)) << g;
  // The first INT64_MAX leaves the 10-unit window at 11; the second at 12.
  const UserAggregates& ro = a;
  EXPECT_EQ(ro.peek(p.aggregates[0], 0, 11).value, INT64_MAX);  // peek() agrees, changing nothing
  EXPECT_EQ(int(ro.peek(p.aggregates[0], 0, 10).state), int(AggValue::State::Overflow));
  EXPECT_EQ(a.value(p.aggregates[0], 0, 11).value, INT64_MAX);
  EXPECT_EQ(int(state(0, 11)), int(AggValue::State::Present));
  EXPECT_EQ(a.value(p.aggregates[0], 0, 12).value, 0);
  add(13, 5);
  EXPECT_EQ(a.value(p.aggregates[0], 0, 13).value, 5);
  EXPECT_EQ(int(state(1, 13)), int(AggValue::State::Present));  // avg too
  // The last 2 values: INT64_MAX and 5 overflow; after one more small value they fit.
  EXPECT_EQ(int(state(2, 13)), int(AggValue::State::Overflow));
  add(14, 7);
  EXPECT_EQ(a.value(p.aggregates[2], 2, 14).value, 12);
  // Over all events no value ever leaves: the overflow is for good.
  EXPECT_EQ(int(state(3, 14)), int(AggValue::State::Overflow));
  // Values of both signs whose total fits: a value, in whatever order they came.
  UserAggregates b(layout);
  for (auto [t, v] : {std::pair<int64_t, int64_t>{20, INT64_MIN}, {21, -1}, {22, INT64_MAX}, {23, 2}})
    for (uint32_t g = 0; g < 2; ++g) b.add(p.aggregates[g], g, t, v, true);
  EXPECT_EQ(b.value(p.aggregates[0], 0, 23).value, 0);
  EXPECT_EQ(int(b.value(p.aggregates[0], 0, 23).state), int(AggValue::State::Present));
  EXPECT_EQ(int(b.value(p.aggregates[1], 1, 23).state), int(AggValue::State::Present));
}

}  // namespace
