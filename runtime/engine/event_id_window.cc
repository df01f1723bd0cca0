// event_id_window.cc - the dedup window's rule and the event-time parser (see event_id_window.h).
#include "runtime/engine/event_id_window.h"

#include <algorithm>
#include <iterator>

#include "support/civil_time.h"

namespace crm::engine {

int64_t DedupRule::width(int64_t window) {
  // Generations of half the window (at least a second): at most three are live at a time
  // (the window, plus the part of the oldest one that is already out of it).
  constexpr int64_t kSecond = 1'000'000;
  return window == kForever ? kForever : std::max(window / 2, kSecond);
}

int64_t DedupRule::start(int64_t t, int64_t width) {
  // floor(t / width) * width, for negative t too; one generation for everything when kForever.
  return width == kForever ? 0 : support::floor_div(t, width) * width;
}

bool DedupRule::forget_before(int64_t window, int64_t watermark, int64_t& floor) {
  if (window == kForever || watermark == INT64_MIN || watermark < INT64_MIN + window) return false;
  floor = watermark - window;
  return true;
}

std::optional<int64_t> parse_event_time(std::string_view text) { return support::parse_time(text, true); }

EventIdWindow::EventIdWindow(int64_t window) : window_(DedupRule::window(window)), width_(DedupRule::width(window_)) {}

void EventIdWindow::advance(int64_t watermark) {
  int64_t floor = 0;
  if (!DedupRule::forget_before(window_, watermark, floor)) return;
  while (!generations_.empty() && generations_.front().start + width_ <= floor) generations_.pop_front();
}

bool EventIdWindow::repeat(std::string_view id, int64_t t) {
  const std::string key(id);
  for (const auto& g : generations_)
    if (g.ids.count(key)) return true;
  const int64_t start = DedupRule::start(t, width_);
  auto it = generations_.end();
  while (it != generations_.begin() && std::prev(it)->start > start) --it;
  if (it == generations_.begin() || std::prev(it)->start != start) it = std::next(generations_.insert(it, Generation{start, {}}));
  std::prev(it)->ids.insert(key);
  return false;
}

}  // namespace crm::engine
