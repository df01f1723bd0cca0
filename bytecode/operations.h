// operations.h - the one definition of what every operation computes.
//
// Each opcode of opcodes.def and each built-in overload of builtins.def is written here once, as
// a small inline function over the value representation (every value an int64 slot: Int, Decimal
// and Money in millionths, Time and Duration in microseconds, Date in days, Bool 0/1; strings as
// text), its faults included: overflow, division by zero, a bad argument. The checker folds
// constants with these functions, the scalar VM and the batch VM (per lane) compute with them,
// and a JIT is to call or inline them too; so a folded constant, a VM result and a batch lane
// cannot disagree. The reference evaluator (tests/reference) is written separately on purpose:
// it is the oracle the differential test compares the VMs with.
//
// Conventions: an operation that can fault returns a Fault and writes its value to `out` only
// when it returns Fault::None (the batch VM's lanes rely on `out` being written either way by the
// integer operations, which is why they take it by reference and always assign). Operations
// that cannot fault return their value.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

#include "bytecode/program.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/text.h"
#include "support/time_zone.h"

namespace crm::bytecode::ops {

// Why an evaluation stopped. The texts are what run output and error records show; they are
// part of the observable behaviour, so a fault keeps its text across releases.
enum class Fault : uint8_t {
  None,
  Overflow,             // a result does not fit (checked add/sub/mul, negation, Int -> Decimal)
  DivisionByZero,
  MissingProfileField,  // a required profile field the user has no value for
  DecimalOverflow,      // decimal(i) of an Int too large for a Decimal
  AbsOverflow,          // abs() of the smallest value
  BadBucketCount,       // hash_bucket() with buckets <= 0
  UnknownBuiltin,       // a CALL whose overload id the VM does not know (the verifier stops these)
  NotArithmetic,        // apply_arith() of an instruction that is not arithmetic (a caller bug)
  TimeRange,            // Time +/- Duration outside crm's time (support::in_time_range)
  DateRange,            // Date +/- Duration outside the years 0001-9999 (support::in_date_range)
};

constexpr const char* fault_text(Fault f) {
  switch (f) {
    case Fault::None: return nullptr;
    case Fault::Overflow: return "arithmetic overflow";
    case Fault::DivisionByZero: return "division by zero";
    case Fault::MissingProfileField: return "the user has no value for a required profile field";
    case Fault::DecimalOverflow: return "overflow in decimal()";
    case Fault::AbsOverflow: return "overflow in abs()";
    case Fault::BadBucketCount: return "hash_bucket() needs a positive bucket count";
    case Fault::UnknownBuiltin: return "unknown builtin";
    case Fault::NotArithmetic: return "not an arithmetic instruction";
    case Fault::TimeRange: return "time outside 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";
    case Fault::DateRange: return "date outside 0001-01-01 to 9999-12-31";
  }
  return "unknown fault";
}

// ---- logic and comparison (Bool results are 0/1) -------------------------------------------

inline int64_t logical_not(int64_t a) { return a == 0; }
inline int64_t logical_and(int64_t a, int64_t b) { return (a != 0) & (b != 0); }
inline int64_t logical_or(int64_t a, int64_t b) { return (a != 0) | (b != 0); }
// `if` and `??`: every operand already computed, pick one.
inline int64_t select(int64_t cond, int64_t a, int64_t b) { return cond ? a : b; }

// Values of one type compare as their slots: numbers (both sides already at the same scale),
// money of one currency, times, durations, dates, enum indices, Bools.
inline int64_t eq(int64_t a, int64_t b) { return a == b; }
inline int64_t ne(int64_t a, int64_t b) { return a != b; }
inline int64_t lt(int64_t a, int64_t b) { return a < b; }
inline int64_t le(int64_t a, int64_t b) { return a <= b; }
inline int64_t gt(int64_t a, int64_t b) { return a > b; }
inline int64_t ge(int64_t a, int64_t b) { return a >= b; }
// Strings order by their UTF-8 bytes, i.e. by code point.
inline int64_t str_lt(std::string_view a, std::string_view b) { return a < b; }
inline int64_t str_le(std::string_view a, std::string_view b) { return a <= b; }

// ---- arithmetic ----------------------------------------------------------------------------

// Ints, Decimals and Money at one scale, Duration + Duration, Time - Time: exact, and an
// overflow is a fault, never a wrapped value.
inline Fault add(int64_t a, int64_t b, int64_t& out) {
  return __builtin_add_overflow(a, b, &out) ? Fault::Overflow : Fault::None;
}
inline Fault sub(int64_t a, int64_t b, int64_t& out) {
  return __builtin_sub_overflow(a, b, &out) ? Fault::Overflow : Fault::None;
}
// Anything times an Int: the exact integer product of the units (Int * Int, Decimal * Int,
// Money * Int, Duration * Int).
inline Fault mul_int(int64_t a, int64_t b, int64_t& out) {
  return __builtin_mul_overflow(a, b, &out) ? Fault::Overflow : Fault::None;
}
// Fixed-point product a * b / 10^6, rounded half-to-even (support::Decimal::mul).
inline Fault mul_fix(int64_t a, int64_t b, int64_t& out) {
  auto r = support::Decimal::mul(support::Decimal::from_units(a), support::Decimal::from_units(b));
  out = r ? r->units() : 0;
  return r ? Fault::None : Fault::Overflow;
}
// Fixed-point quotient a * 10^6 / b, rounded half-to-even. Every `/` is this one (Ints are
// widened first, so 7 / 2 is 3.5); b = 0 is a fault.
inline Fault div_fix(int64_t a, int64_t b, int64_t& out) {
  if (b == 0) {
    out = 0;
    return Fault::DivisionByZero;
  }
  auto r = support::Decimal::div(support::Decimal::from_units(a), support::Decimal::from_units(b));
  out = r ? r->units() : 0;
  return r ? Fault::None : Fault::Overflow;
}
inline Fault neg(int64_t a, int64_t& out) {
  bool of = a == INT64_MIN;
  out = of ? 0 : -a;
  return of ? Fault::Overflow : Fault::None;
}
// Int -> Decimal: a * 10^6, an overflow when the Int is too large for a Decimal. This is also
// where an Int meets a Decimal in arithmetic, comparison and `in`.
inline Fault int_to_fix(int64_t a, int64_t& out) {
  return __builtin_mul_overflow(a, support::Decimal::kScale, &out) ? Fault::Overflow : Fault::None;
}
// Time + Duration (Time - Duration is the negated duration added, Duration + Time the operands
// exchanged): a fault when the instant leaves crm's time, 0001-01-01T00:00:00Z through
// 9999-12-31T23:59:59.999999Z, which no reader of crm's (events, --at, the ledger) takes back;
// before, such an instant was written as year 0 or 10000.
inline Fault time_add(int64_t time, int64_t micros, int64_t& out) {
  if (__builtin_add_overflow(time, micros, &out) || !support::in_time_range(out)) {
    out = 0;
    return Fault::TimeRange;
  }
  return Fault::None;
}
// Date + Duration: whole days, rounded toward the past (a date plus -1 hour is the day before);
// a fault when the day leaves the years 0001-9999 (as time_add).
inline Fault date_add(int64_t days, int64_t micros, int64_t& out) {
  if (__builtin_add_overflow(days, support::floor_div(micros, support::kMicrosPerDay), &out) ||
      !support::in_date_range(out)) {
    out = 0;
    return Fault::DateRange;
  }
  return Fault::None;
}
// Date - Date: a whole number of days as a Duration; an overflow when that many days do not fit
// a Duration (about 106 million days: only dates far outside the calendar, e.g. a date plus the
// largest Duration, get there).
inline Fault date_diff(int64_t a, int64_t b, int64_t& out) {
  int64_t days = 0;
  if (__builtin_sub_overflow(a, b, &days) || __builtin_mul_overflow(days, support::kMicrosPerDay, &out)) {
    out = 0;
    return Fault::Overflow;
  }
  return Fault::None;
}
inline std::string concat(std::string_view a, std::string_view b) {
  std::string s;
  s.reserve(a.size() + b.size());
  s.append(a);
  s.append(b);
  return s;
}

// The arithmetic instruction `op` on two slots (what constant folding calls for the opcode an
// operator compiles to): ADD, SUB, MUL_INT, MUL_FIX, DIV_FIX, TIME_ADD, DATE_ADD, DATE_DIFF.
inline Fault apply_arith(Op op, int64_t a, int64_t b, int64_t& out) {
  switch (op) {
    case Op::TIME_ADD: return time_add(a, b, out);
    case Op::ADD: return add(a, b, out);
    case Op::SUB: return sub(a, b, out);
    case Op::MUL_INT: return mul_int(a, b, out);
    case Op::MUL_FIX: return mul_fix(a, b, out);
    case Op::DIV_FIX: return div_fix(a, b, out);
    case Op::DATE_ADD: return date_add(a, b, out);
    case Op::DATE_DIFF: return date_diff(a, b, out);
    default: out = 0; return Fault::NotArithmetic;
  }
}

// ---- membership ----------------------------------------------------------------------------

// v in a sorted set of slots. Small sets are scanned (branch-free), larger ones searched.
inline bool in_sorted(const int64_t* begin, const int64_t* end, int64_t v) {
  if (end - begin <= 8) {
    bool found = false;
    for (const int64_t* p = begin; p != end; ++p) found |= *p == v;
    return found;
  }
  return std::binary_search(begin, end, v);
}
// Decimal v in a sorted set of Ints, compared as `==` compares them: each Int widened to a
// Decimal, so only a whole number can match, and an element too large to widen is an overflow
// (checked on the extremes, which the sorting makes enough).
inline Fault in_sorted_widened(const int64_t* begin, const int64_t* end, int64_t v, bool& found) {
  found = false;
  if (begin == end) return Fault::None;
  constexpr int64_t kMax = INT64_MAX / support::Decimal::kScale;
  if (*begin < -kMax || *(end - 1) > kMax) return Fault::Overflow;
  found = v % support::Decimal::kScale == 0 && std::binary_search(begin, end, v / support::Decimal::kScale);
  return Fault::None;
}

// ---- built-in functions (one function per overload of builtins.def) ------------------------

// The local calendar day of an instant in `zone` (UTC when null): days since 1970-01-01.
inline int64_t local_day(int64_t t, const support::ZoneRules* zone) {
  return zone ? zone->local_day(t) : support::floor_div(t, support::kMicrosPerDay);
}

inline int64_t today(int64_t now, const support::ZoneRules* zone) { return local_day(now, zone); }
inline int64_t date_of(int64_t t, const support::ZoneRules* zone) { return local_day(t, zone); }

// The hour on the local clock: the time of day plus the zone's offset then (offsets are under
// 26 hours, so this cannot overflow even at the ends of the range).
inline int64_t hour(int64_t t, const support::ZoneRules* zone) {
  int64_t local = t % support::kMicrosPerDay + (zone ? zone->offset_at(t) : 0);
  local %= support::kMicrosPerDay;
  if (local < 0) local += support::kMicrosPerDay;
  return local / support::kMicrosPerHour;
}

// ISO weekday of a day number, 1 = Monday .. 7 = Sunday (1970-01-01 was a Thursday).
inline int64_t weekday_of_date(int64_t days) {
  int64_t w = (days + 3) % 7;
  if (w < 0) w += 7;
  return w + 1;
}
inline int64_t weekday_of_time(int64_t t, const support::ZoneRules* zone) { return weekday_of_date(local_day(t, zone)); }

// Whole days of a duration, rounded toward zero.
inline int64_t days(int64_t micros) { return micros / support::kMicrosPerDay; }

inline Fault decimal_of_int(int64_t i, int64_t& out) {
  return __builtin_mul_overflow(i, support::Decimal::kScale, &out) ? Fault::DecimalOverflow : Fault::None;
}
inline int64_t decimal_of_money(int64_t units) { return units; }

// Days from `today` to the next yearly recurrence of `date` (0 when it is today); 29 February
// counts as 28 February in other years.
inline int64_t days_to_anniversary(int64_t date, int64_t today) {
  int64_t y, ty;
  unsigned m, d, tm, td;
  support::civil_from_days(static_cast<int32_t>(date), y, m, d);
  support::civil_from_days(today, ty, tm, td);
  auto occurrence = [&](int64_t year) {
    unsigned dd = d;
    if (m == 2 && d == 29 && !support::valid_civil_date(year, 2, 29)) dd = 28;
    return support::days_from_civil(year, m, dd);
  };
  int64_t next = occurrence(ty);
  if (next < today) next = occurrence(ty + 1);
  return next - today;
}

inline bool contains(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }
inline bool starts_with(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }
// Simple (one-to-one) Unicode case mappings, code point by code point (utf8proc).
inline std::string lower(std::string_view s) { return support::utf8_lower(s); }
inline std::string upper(std::string_view s) { return support::utf8_upper(s); }
// Code points, not bytes.
inline int64_t len_of_string(std::string_view s) { return support::utf8_length(s); }

inline Fault abs(int64_t x, int64_t& out) {
  bool of = x == INT64_MIN;
  out = of ? 0 : x < 0 ? -x : x;
  return of ? Fault::AbsOverflow : Fault::None;
}

// The hash of the A/B split and of hash_bucket(): FNV-1a 64 with a final splitmix64 avalanche
// so nearby keys spread over buckets. Stable across builds and machines (it decides who is in a
// control group).
inline uint64_t stable_hash(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) { h ^= c; h *= 1099511628211ull; }
  h ^= h >> 30; h *= 0xbf58476d1ce4e5b9ull; h ^= h >> 27; h *= 0x94d049bb133111ebull; h ^= h >> 31;
  return h;
}

inline Fault hash_bucket(std::string_view key, int64_t buckets, int64_t& out) {
  if (buckets <= 0) {
    out = 0;
    return Fault::BadBucketCount;
  }
  out = static_cast<int64_t>(stable_hash(key) % static_cast<uint64_t>(buckets));
  return Fault::None;
}

}  // namespace crm::bytecode::ops
