// aggregates.h - per-user history aggregates, maintained incrementally as events arrive.
//
// The compiler lists exactly the aggregates a program needs (bytecode::AggSpec); each user holds
// one AggState per spec. Updates are O(1) (amortised for time windows), reads are O(1) except
// min/max over a sliding time window or the last N events, which scan that window. Nothing is
// ever recomputed from the full history. Whether a value is there is kept beside it, never in
// it: an event whose field holds INT64_MIN has a value.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "bytecode/program.h"

namespace crm::state {

// Running totals over a set of values.
struct Totals {
  int64_t count = 0;   // events
  int64_t present = 0; // events whose field was present (the avg denominator)
  int64_t sum = 0;
  int64_t min = 0, max = 0;       // valid when present > 0
  int64_t first = 0, last = 0;    // the first and last event's field, valid when count > 0 ...
  bool first_has = false, last_has = false;  // ... and the event had the field
  bool overflow = false;
  void add(int64_t v, bool has_field);
  void remove_sum(int64_t v, bool has_field);  // for sliding windows (min/max are rescanned)
};

struct Entry {
  int64_t time, value;
  bool has;  // the event had the field
};

struct AggState {
  Totals totals;                  // All, Since, Previous (over all but the latest)
  int64_t latest = 0;             // Previous: the latest value, not yet folded into totals
  bool has_latest = false;
  bool latest_has_field = false;
  std::deque<Entry> window;       // Within / LastN / PreviousN
};

class UserAggregates {
 public:
  explicit UserAggregates(const bytecode::Program& p) : states_(p.aggregates.size()) {}
  // Adds one event's value to aggregate g (the caller has applied the spec's filter).
  void add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field);
  bytecode::AggValue value(const bytecode::AggSpec& spec, uint32_t g, int64_t now);

 private:
  std::vector<AggState> states_;
};

}  // namespace crm::state
