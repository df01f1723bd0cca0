// event_id_window.h - the dedup window's rule (docs/semantics.md, "Event order"), one definition
// for every reader of an event log: the engine's recorder (a retried id is answered from the
// ledger), the --threads reader (api/event_id_owners.h), and `crm report` and `crm forecast`,
// which read the same logs without a ledger and must count a retry once, as `crm run` with a
// ledger decides it once. Also the event-time parser every event reader uses.
//
// The rule: an event id is filed in the generation of its event's time (generations of
// max(H/2, 1 s) of event time; one generation for everything when H is kForever), and a
// generation is forgotten, a whole one at a time, once start + width <= W - H, W the stream's
// watermark. An id met again while its generation is remembered is a retry.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace crm::engine {

struct DedupRule {
  static constexpr int64_t kForever = INT64_MAX;
  static constexpr int64_t kDefaultWindow = 7LL * 86400 * 1'000'000;  // 7 days
  // A window as given (negative counts as 0).
  static int64_t window(int64_t micros) { return micros < 0 ? 0 : micros; }
  // The width of a generation of window `window`.
  static int64_t width(int64_t window);
  // The start of the generation of event time `t`.
  static int64_t start(int64_t t, int64_t width);
  // The time before which whole generations are forgotten at watermark `watermark`
  // (start + width <= the result); false when nothing is forgotten yet.
  static bool forget_before(int64_t window, int64_t watermark, int64_t& floor);
};

// The parse of an event's `time` (docs/runtime.md, "Events"): ISO-8601, UTC without an offset,
// a bare date midnight UTC. The decoder's, so `crm report` and `crm forecast` read every time
// `crm run` reads.
std::optional<int64_t> parse_event_time(std::string_view text);

// Event ids met in a log, by the dedup window's rule: for readers without a ledger (`crm report`,
// `crm forecast`). Ids are kept as text (no hash can make two events one).
class EventIdWindow {
 public:
  explicit EventIdWindow(int64_t window = DedupRule::kDefaultWindow);
  // Moves the watermark (the latest event time minus the allowed lateness); forgets what the
  // rule forgets.
  void advance(int64_t watermark);
  // True when `id` at `t` is a retry of an id still remembered; otherwise remembers it.
  bool repeat(std::string_view id, int64_t t);
  int64_t window() const { return window_; }

 private:
  struct Generation {
    int64_t start;
    std::unordered_set<std::string> ids;
  };
  int64_t window_, width_;
  std::deque<Generation> generations_;  // oldest first
};

}  // namespace crm::engine
