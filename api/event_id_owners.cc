// event_id_owners.cc - the reading thread's window of event ids under --threads (see event_id_owners.h).
#include "api/event_id_owners.h"

#include <algorithm>

#include "runtime/engine/recorder.h"
#include "runtime/vm/vm.h"
#include "support/civil_time.h"

namespace crm::detail {

static_assert(EventIdOwners::kForever == engine::Recorder::kForever);

EventIdOwners::EventIdOwners() { set_window(engine::Recorder::kDefaultDedupWindow); }

// Recorder::set_dedup_window's widths, exactly: generations of half the window, at least a second.
void EventIdOwners::set_window(int64_t micros) {
  window_ = engine::DedupRule::window(micros);
  width_ = engine::DedupRule::width(window_);
}

uint64_t EventIdOwners::hash(std::string_view id) {
  const uint64_t h = vm::stable_hash(id);
  return h ? h : 1;  // 0 marks a free slot
}

template <class Owner>
Owner* EventIdOwners::Table<Owner>::find(uint64_t h) {
  if (keys.empty()) return nullptr;
  const size_t mask = keys.size() - 1;
  for (size_t at = home(h);; at = (at + 1) & mask) {
    if (keys[at] == h) return &owners[at];
    if (!keys[at]) return nullptr;
  }
}

template <class Owner>
Owner* EventIdOwners::Table<Owner>::insert(uint64_t h, Owner owner) {
  if (4 * (size + 1) > 3 * keys.size()) grow();
  const size_t mask = keys.size() - 1;
  size_t at = home(h);
  while (keys[at]) at = (at + 1) & mask;
  keys[at] = h, owners[at] = owner, ++size;
  return &owners[at];
}

template <class Owner>
void EventIdOwners::Table<Owner>::grow() {
  std::vector<uint64_t> old_keys(std::max<size_t>(256, 2 * keys.size()), 0);
  std::vector<Owner> old_owners(old_keys.size(), 0);
  old_keys.swap(keys);
  old_owners.swap(owners);
  shift = 64 - unsigned(__builtin_ctzll(keys.size()));
  const size_t mask = keys.size() - 1;
  for (size_t i = 0; i < old_keys.size(); ++i)
    if (old_keys[i]) {
      size_t at = home(old_keys[i]);
      while (keys[at]) at = (at + 1) & mask;
      keys[at] = old_keys[i], owners[at] = old_owners[i];
    }
}

void EventIdOwners::add_earlier(uint64_t h) {
  if (!earlier_.find(h)) earlier_.insert(h, kUnowned);
}

// Recorder::generation: floor(t / width) * width (one generation for everything when kForever),
// kept in order of start. Generations are few (the window spans two or three).
EventIdOwners::Generation& EventIdOwners::generation(int64_t start) {
  auto it = generations_.end();
  while (it != generations_.begin() && std::prev(it)->start > start) --it;
  if (it != generations_.begin() && std::prev(it)->start == start) return *std::prev(it);
  return *generations_.insert(it, Generation{start, {}});
}

// Recorder::prune's condition, exactly (the caller's watermark is never above the engine's).
void EventIdOwners::prune(int64_t watermark) {
  int64_t floor = 0;
  if (!engine::DedupRule::forget_before(window_, watermark, floor)) return;
  while (!generations_.empty() && generations_.front().start + width_ <= floor) generations_.pop_front();
}

uint32_t EventIdOwners::claim(uint64_t h, int64_t t, uint32_t owner) {
  if (earlier_.size)
    if (uint16_t* o = earlier_.find(h)) {
      if (*o == kUnowned) *o = uint16_t(owner);
      return *o;
    }
  const int64_t start = engine::DedupRule::start(t, width_);
  // Newest first: every live entry of an id has one owner (another's claim is refused, not filed).
  for (auto it = generations_.rbegin(); it != generations_.rend(); ++it)
    if (uint8_t* o = it->ids.find(h)) {
      if (*o != owner) return *o;
      // Its owner again: remembered as long as its engine's record if that is in this generation
      // or a later one; else the engine may decide it afresh at `t` (it forgot it), and keeps that
      // record until t's generation goes.
      if (it->start >= start) return owner;
      break;
    }
  generation(start).ids.insert(h, uint8_t(owner));
  return owner;
}

void EventIdOwners::prefetch(uint64_t h) const {
  for (const auto& g : generations_)
    if (!g.ids.keys.empty()) __builtin_prefetch(&g.ids.keys[g.ids.home(h)]);
  if (earlier_.size) __builtin_prefetch(&earlier_.keys[earlier_.home(h)]);
}

size_t EventIdOwners::size() const {
  size_t n = earlier_.size;
  for (const auto& g : generations_) n += g.ids.size;
  return n;
}

size_t EventIdOwners::bytes() const {
  size_t n = earlier_.keys.size() * (sizeof(uint64_t) + sizeof(uint16_t));
  for (const auto& g : generations_) n += g.ids.keys.size() * (sizeof(uint64_t) + sizeof(uint8_t));
  return n;
}

}  // namespace crm::detail
