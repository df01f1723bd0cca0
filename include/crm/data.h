// crm/data.h - public API: events and profiles as typed values, for hosts that hold their data
// as values rather than JSON text.
//
// A typed event or profile is written in the JSON Lines contract (docs/runtime.md, "Events",
// "Profiles") by event_json() / profile_json() and then read by the same decoder as a line, so
// the two forms cannot disagree: a value that does not fit its field is the same Input error
// ("`amount` must be a money amount") whichever form it came in.
//
// Units: money and decimals are millionths (139.12 CNY is 139'120'000, the engine's exact unit;
// no double ever holds money); times are microseconds since the Unix epoch (UTC); durations are
// microseconds; dates are days since 1970-01-01. Nothing here throws (an out-of-memory
// std::bad_alloc aside, as for any std::string). Every function is thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace crm {

// One field value. Make values with the named constructors; `kind` says which member holds it.
struct Value {
  enum class Kind { Null, Bool, Int, Decimal, String, Time, Date, Duration, List };
  Kind kind = Kind::Null;
  bool boolean = false;   // Bool
  int64_t number = 0;     // Int: the integer; Decimal: millionths (money too); Time and Duration:
                          // microseconds; Date: days since 1970-01-01
  std::string text;       // String: UTF-8 text, also an enum value's name ("Gold")
  std::vector<Value> items;  // List: the elements of a Set or List field (scalars)

  static Value null() { return Value(); }  // an optional field without a value
  static Value boolean_value(bool b) { Value v; v.kind = Kind::Bool; v.boolean = b; return v; }
  static Value integer(int64_t i) { Value v; v.kind = Kind::Int; v.number = i; return v; }
  // A Decimal or Money field: 10.5 CNY is decimal(10'500'000).
  static Value decimal(int64_t millionths) { Value v; v.kind = Kind::Decimal; v.number = millionths; return v; }
  static Value string(std::string s) { Value v; v.kind = Kind::String; v.text = std::move(s); return v; }
  static Value time(int64_t micros) { Value v; v.kind = Kind::Time; v.number = micros; return v; }
  static Value date(int32_t days) { Value v; v.kind = Kind::Date; v.number = days; return v; }
  static Value duration(int64_t micros) { Value v; v.kind = Kind::Duration; v.number = micros; return v; }
  static Value list(std::vector<Value> elements) { Value v; v.kind = Kind::List; v.items = std::move(elements); return v; }
};

using Fields = std::vector<std::pair<std::string, Value>>;  // field name -> value, in any order

// One event (docs/runtime.md, "Events"): `type` names an event type of the program; `fields`
// are the type's own fields (id, type, user and time are the members here).
struct Event {
  std::string id;    // unique per event: a retried id is answered from the ledger
  std::string type;  // e.g. "Order"
  std::string user;
  int64_t time_micros = 0;
  Fields fields;
};

// One user's profile (docs/runtime.md, "Profiles"): fields of the program's `profile` block.
struct Profile {
  std::string user;
  Fields fields;
};

// The JSON Lines form (one object, no newline) that `crm run` reads for the same data. A decimal
// is written exactly as the shortest JSON number (10'500'000 millionths as 10.5); a Date as
// "2026-11-11"; a Duration as seconds (90 s as 90); a Time as "2026-11-11T00:00:00Z". Field
// order is kept. No check against the program is made here: that is the reader's.
std::string event_json(const Event& event);
std::string profile_json(const Profile& profile);

}  // namespace crm
