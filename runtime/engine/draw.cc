// draw.cc - deterministic draws of random rewards (see draw.h).
#include "runtime/engine/draw.h"

#include "bytecode/operations.h"

namespace crm::engine {

uint64_t draw_hash(std::string_view user, std::string_view unit, std::string_view salt, std::string_view purpose) {
  std::string key;
  key.reserve(user.size() + unit.size() + salt.size() + purpose.size() + 3);
  key.append(user).push_back('\x1f');
  key.append(unit).push_back('\x1f');
  key.append(salt).push_back('\x1f');
  key.append(purpose);
  return bytecode::ops::stable_hash(key);
}

ChanceDraw draw_chance(int64_t chance, uint64_t hash) {
  ChanceDraw d;
  d.value = static_cast<int64_t>(hash % static_cast<uint64_t>(bytecode::kCertain));
  d.won = d.value < chance;
  return d;
}

AmountDraw draw_amount(const bytecode::Resource& r, uint64_t hash) {
  AmountDraw d;
  if (r.draw == bytecode::Resource::Draw::Range) {
    d.of = (r.draw_hi - r.draw_lo) / r.draw_step + 1;
    d.index = static_cast<int64_t>(hash % static_cast<uint64_t>(d.of));
    d.amount = r.draw_lo + d.index * r.draw_step;
  } else if (r.draw == bytecode::Resource::Draw::Table) {
    d.of = static_cast<int64_t>(r.draw_values.size());
    int64_t u = static_cast<int64_t>(hash % static_cast<uint64_t>(bytecode::kCertain)), cumulative = 0;
    d.index = d.of - 1;
    for (int64_t i = 0; i < d.of; ++i) {
      cumulative += r.draw_weights[i];
      if (u < cumulative) {
        d.index = i;
        break;
      }
    }
    d.amount = r.draw_values[d.index];
  } else {
    d.amount = r.discount;
    d.of = 1;
  }
  return d;
}

}  // namespace crm::engine
