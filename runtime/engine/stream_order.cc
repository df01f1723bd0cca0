// stream_order.cc - the stream contract's ordering (see stream_order.h).
#include "runtime/engine/stream_order.h"

#include <fmt/format.h>

#include <tuple>

#include "support/civil_time.h"

namespace crm::engine {

bool StreamOrder::Held::operator>(const Held& o) const {
  return std::tie(ev.time, ev.id, seq) > std::tie(o.ev.time, o.ev.id, o.seq);
}

std::string StreamOrder::late_message(int64_t t) const {
  return fmt::format("late event: {} is before the watermark {} (the latest event time {} minus the allowed lateness {})",
                     support::format_time(t), support::format_time(watermark()), support::format_time(latest_seen_),
                     lateness_ ? support::format_duration(lateness_) : "0");
}

bool StreamOrder::move_to(int64_t t, std::string& error) {
  if (latest_seen_ != INT64_MIN && t < latest_seen_) {
    error = fmt::format("cannot move the clock back to {}: events up to {} were already seen", support::format_time(t),
                        support::format_time(latest_seen_));
    return false;
  }
  latest_seen_ = t;
  return true;
}

bool StreamOrder::next_before(int64_t upto, Event& ev) {
  if (held_.empty() || held_.top().ev.time >= upto) return false;
  ev = held_.top().ev;
  held_.pop();
  return true;
}

}  // namespace crm::engine
