// draw.h - random rewards (docs/semantics.md, "Random rewards"): whether an action `with chance
// P%` is given, and which amount a drawn discount (`random 1 CNY .. 8 CNY step 0.5 CNY`, or a
// table) pays. Every draw is a function of (user, unit, salt, purpose) through the stable hash of
// the A/B split (bytecode::ops::stable_hash: FNV-1a 64 and a splitmix64 finaliser), so a replay,
// a restart or another machine draws the same; nothing here keeps state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bytecode/program.h"

namespace crm::engine {

// The draw's 64-bit value: stable_hash(user "\x1f" unit "\x1f" salt "\x1f" purpose), where unit
// is the trigger event's id (or `schedule:<strategy>@<micros>` at a scheduled instant) and
// purpose is "chance" or "amount", so the two draws of one action are independent.
uint64_t draw_hash(std::string_view user, std::string_view unit, std::string_view salt, std::string_view purpose);

// `with chance P%` (P in millionths): the value is hash mod 1,000,000 and the action is given
// when it is below P.
struct ChanceDraw {
  int64_t value = 0;  // 0 .. 999,999
  bool won = true;
};
ChanceDraw draw_chance(int64_t chance, uint64_t hash);

// A drawn discount: a range of n = (hi - lo) / step + 1 values pays lo + (hash mod n) * step; a
// table pays the first value whose cumulative probability (millionths) exceeds hash mod 1,000,000.
struct AmountDraw {
  int64_t amount = 0;  // millionths of the resource's currency
  int64_t index = 0;   // which value, from 0
  int64_t of = 0;      // how many values there are
};
AmountDraw draw_amount(const bytecode::Resource& r, uint64_t hash);

}  // namespace crm::engine
