// stream_order.h - the stream contract (docs/semantics.md, "Event order"), one part of the
// engine on an event's path before decoding's output is decided: the allowed lateness L, the
// watermark (the latest event time seen minus L), and the events held until the watermark
// passes them, handed back in time order. The engine decides what the contract releases
// (Engine::submit, release, advance_to); this part only orders.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "runtime/engine/event.h"

namespace crm::engine {

class StreamOrder {
 public:
  // Microseconds; a negative lateness is 0 (nothing is held: events are decided as they come).
  void set_lateness(int64_t micros) { lateness_ = micros < 0 ? 0 : micros; }
  int64_t lateness() const { return lateness_; }
  // The latest event time seen (submitted here or, with several engines, by another: see()).
  int64_t latest_seen() const { return latest_seen_; }
  // latest_seen() - lateness(); INT64_MIN before any event. Saturated: a lateness longer than
  // the time since the start of the int64 range (106751990d with events of year 1) leaves the
  // watermark at its lowest, where nothing is late, rather than wrapping to year 292278.
  int64_t watermark() const {
    if (latest_seen_ == INT64_MIN) return INT64_MIN;
    return latest_seen_ < INT64_MIN + 1 + lateness_ ? INT64_MIN + 1 : latest_seen_ - lateness_;
  }
  // Whether an event at `t` comes too late: before the watermark.
  bool late(int64_t t) const { return t < watermark(); }
  // Why an event at `t` is late (late(t) holds), for the error the engine reports.
  std::string late_message(int64_t t) const;
  // An event at `t` was accepted: the watermark follows it.
  void see(int64_t t) { latest_seen_ = t > latest_seen_ ? t : latest_seen_; }
  // A heartbeat: the clock moves to `t` without an event. False with `error` when events after
  // `t` were seen already (the clock never goes back).
  bool move_to(int64_t t, std::string& error);

  // Holds `ev` until the watermark passes it.
  void hold(const Event& ev) { held_.push({ev, arrivals_++}); }
  size_t held() const { return held_.size(); }
  // The time of the earliest held event; INT64_MAX when none is held.
  int64_t earliest_held() const { return held_.empty() ? INT64_MAX : held_.top().ev.time; }
  // Takes the earliest held event before `upto` into `ev`; false when there is none. Events
  // come in time order, ties by id then arrival (as audience and explain sort them), so any
  // order of the same events within the lateness gives the same decisions.
  bool next_before(int64_t upto, Event& ev);

 private:
  struct Held {
    Event ev;
    uint64_t seq;
    bool operator>(const Held& o) const;
  };
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held_;
  int64_t lateness_ = 0;
  int64_t latest_seen_ = INT64_MIN;
  uint64_t arrivals_ = 0;
};

}  // namespace crm::engine
