// aggregates.h - per-user history aggregates, maintained incrementally as events arrive.
//
// The compiler lists exactly the aggregates a program needs (bytecode::AggSpec); each user holds
// one state per spec, sized to what the spec's kind and window need (AggLayout), or reads the
// state of another spec given the same events: a count over all events is one word,
// `count(X within D)` a ring of event times. Updates are O(1) (amortised for time windows),
// reads are O(1) except min/max over a sliding time window, the last N events, and a count
// window shorter than the ring it shares, which scan that window. Nothing is ever recomputed from the full history. Whether a
// value is there is kept beside it, never in it: an event whose field holds INT64_MIN has a value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include "bytecode/program.h"

namespace crm::state {

// The exact sum of int64 values as two words: `lo` the sum modulo 2^64 (as int64), `hi` what is
// above it (the exact sum is hi * 2^64 + (uint64)lo). Adding and taking away values are O(1) and
// exact, so a window's sum is a function of the values in it: one that did not fit is a value
// again once the values that made it too large have left (it used to stay an error).
namespace wide_sum {
inline void add(int64_t& lo, int64_t& hi, int64_t v) {
  __int128 s = ((static_cast<__int128>(hi) << 64) | static_cast<uint64_t>(lo)) + v;
  lo = static_cast<int64_t>(static_cast<uint64_t>(s));
  hi = static_cast<int64_t>(s >> 64);
}
inline void remove(int64_t& lo, int64_t& hi, int64_t v) {
  __int128 s = ((static_cast<__int128>(hi) << 64) | static_cast<uint64_t>(lo)) - v;
  lo = static_cast<int64_t>(static_cast<uint64_t>(s));
  hi = static_cast<int64_t>(s >> 64);
}
// Whether the exact sum is an int64 (then it is `lo`).
inline bool fits(int64_t lo, int64_t hi) { return hi == (lo < 0 ? -1 : 0); }
}  // namespace wide_sum

// Running totals over a set of values (what a read computes; users keep less, see AggLayout).
struct Totals {
  int64_t count = 0;   // events
  int64_t present = 0; // events whose field was present (the avg denominator)
  int64_t sum = 0;
  int64_t sum_hi = 0;  // with `sum`, the exact sum of the values (wide_sum): add() keeps it
  int64_t min = 0, max = 0;       // valid when present > 0
  int64_t first = 0, last = 0;    // the first and last event's field, valid when count > 0 ...
  bool first_has = false, last_has = false;  // ... and the event had the field
  bool overflow = false;  // a store without a window whose running sum overflowed (see kOverflow)
  void add(int64_t v, bool has_field);
  // sum and avg are errors when this holds.
  bool sum_overflows() const { return overflow || !wide_sum::fits(sum, sum_hi); }
};

struct Entry {
  int64_t time, value;
  bool has;  // the event had the field
};

// The entries of a time window or of the last N events, oldest first: a ring buffer in one
// allocation that grows by about doubling and holds nothing while empty (it frees its block when
// the last entry leaves). 16 bytes, where a std::deque took 80 plus the map and the 512-byte
// node libstdc++ allocates even when empty. T is trivially copyable. Capacities are 2^k + 1
// (3, 5, 9, 17, ...), not powers of two: glibc's malloc hands out chunks of 16n bytes of which
// 16n - 8 are usable, and 2^k + 1 entries of 8 or 24 bytes fill them exactly, where 2^k entries
// left 8 bytes of each chunk unused and a ring of 3 or 5 event times took the chunk of 4 or 8
// (docs/performance.md §11, "Memory, session 13"). At most 2^27 + 1 entries (134M) of one user
// in one window: more is std::bad_alloc.
template <typename T>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring& o) { *this = o; }
  Ring& operator=(const Ring& o) {
    if (this == &o) return *this;
    release();
    if (o.size_) {
      grow_to(o.size_);
      for (size_t i = 0; i < size_t(o.size_); ++i) data_[i] = o[i];
      size_ = o.size_;
    }
    return *this;
  }
  Ring(Ring&& o) noexcept : data_(o.data_), size_(o.size_), head_(o.head_), shift_(o.shift_) {
    o.data_ = nullptr, o.size_ = 0, o.head_ = 0, o.shift_ = 0;
  }
  Ring& operator=(Ring&& o) noexcept {
    if (this != &o) {
      release();
      data_ = o.data_, size_ = o.size_, head_ = o.head_, shift_ = o.shift_;
      o.data_ = nullptr, o.size_ = 0, o.head_ = 0, o.shift_ = 0;
    }
    return *this;
  }
  ~Ring() { std::free(data_); }

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_t(size_); }
  size_t capacity() const { return data_ ? cap() : 0; }
  const T& operator[](size_t i) const { return data_[at(i)]; }
  const T& front() const { return data_[head_]; }
  const T& back() const { return (*this)[size() - 1]; }
  void push_back(const T& e) {
    if (size() == capacity()) grow_to(size() + 1);
    data_[at(size())] = e;
    ++size_;
  }
  void pop_front() {
    head_ = size_t(head_) + 1 == cap() ? 0 : head_ + 1;
    if (--size_ == 0) release();
  }

 private:
  static constexpr uint32_t kMaxShift = 27;
  size_t cap() const { return (size_t(1) << shift_) + 1; }
  // The block index of entry i (i <= size_ <= cap(), head_ < cap()).
  size_t at(size_t i) const {
    const size_t j = size_t(head_) + i, c = cap();
    return j < c ? j : j - c;
  }
  // A capacity 2^k + 1 of at least `want` (and about twice the current one); the live entries
  // move to the front of the new block.
  void grow_to(size_t want) {
    uint32_t shift = data_ ? uint32_t(shift_) + 1 : 1;
    while ((size_t(1) << shift) + 1 < want) ++shift;
    if (shift > kMaxShift) throw std::bad_alloc();
    auto* d = static_cast<T*>(std::malloc(sizeof(T) * ((size_t(1) << shift) + 1)));
    if (!d) throw std::bad_alloc();
    for (size_t i = 0; i < size_t(size_); ++i) d[i] = (*this)[i];
    std::free(data_);
    data_ = d, head_ = 0, shift_ = shift;
  }
  void release() {
    std::free(data_);
    data_ = nullptr, size_ = 0, head_ = 0, shift_ = 0;
  }

  T* data_ = nullptr;
  uint64_t size_ : 28 = 0;  // at most 2^27 + 1
  uint64_t head_ : 28 = 0;  // index of the oldest entry, below the capacity
  uint64_t shift_ : 5 = 0;  // capacity 2^shift_ + 1 while data_ is set
};
static_assert(sizeof(Ring<Entry>) == 16);

// How each aggregate of a program is kept per user: its storage class and its place in the
// user's block. Built once per program (Users owns it).
class AggLayout {
 public:
  enum class Store : uint8_t {
    Count,     // All, Since, Previous, count or exists: the count (8 bytes); count or exists over
               // all events or `previous` share one count of the same events
    Plain,     // All, Since, avg, min or max: the value and how many were present (16 bytes + flags)
    Narrow,    // All, Since, sum, first or last: the value (8 bytes + flags)
    Previous,  // Previous, avg, min or max: Plain over all but the latest, and the latest (24 + flags)
    PreviousNarrow,  // Previous, sum, first or last: Narrow over all but the latest, and the latest (16 + flags)
    Times,     // Within, count or exists: the times of the events in the window (16 bytes),
               // shared by the aggregates over the same events and window (count and exists),
               // and over a user's own events by every window: the ring keeps the longest
    Values,    // Within, other kinds: the window's entries, their sum and present count (40 bytes)
    Last,      // LastN, PreviousN: the last N (N + 1) entries (16 bytes)
  };
  AggLayout() = default;
  explicit AggLayout(const bytecode::Program& p);
  Store store(uint32_t g) const { return slots_[g].store; }
  uint32_t offset(uint32_t g) const { return slots_[g].offset; }
  // Aggregate g reads the state of an earlier aggregate that is given the same events (added
  // to once, through that one).
  bool shared(uint32_t g) const { return slots_[g].shared; }
  // Times: how long the ring aggregate g reads keeps an entry (its group's longest window).
  int64_t keep(uint32_t g) const { return slots_[g].keep; }
  // Plain, Narrow, Previous and PreviousNarrow: where aggregate g's flag byte is (whether an
  // event was added, whether it had the field, an overflow, the latest). The flags of all of a
  // user's states are bytes after the last state (words()), not a padded word in each state:
  // three first/last states cost 8 bytes and three flag bytes, not 16 bytes each. Other stores:
  // UINT32_MAX.
  uint32_t flags_at(uint32_t g) const { return slots_[g].flags; }
  size_t size() const { return slots_.size(); }
  // Of one user's block: the states (a multiple of 8; every state is 8-aligned), then one flag
  // byte per state that has flags. bytes() need not be a multiple of 8.
  size_t words() const { return words_; }
  size_t bytes() const { return bytes_; }

  // A user's block, bytes() at an 8-byte aligned address, wherever its owner keeps it:
  // constructed empty, copied into a constructed block (throws std::bad_alloc when a window's
  // copy cannot be allocated; `to` stays valid, partly copied), destroyed (frees the windows).
  void construct(std::byte* block) const;
  void copy(std::byte* to, const std::byte* from) const;
  void destroy(std::byte* block) const;

 private:
  struct Slot {
    Store store;
    bool shared;
    uint32_t offset;
    int64_t keep;
    uint32_t flags = UINT32_MAX;
  };
  std::vector<Slot> slots_;
  size_t words_ = 0, bytes_ = 0;
};

// A user's aggregates in a block laid out by an AggLayout and owned elsewhere (an engine User's
// block, or a UserAggregates): what an event adds and what a read computes.
class AggregatesRef {
 public:
  AggregatesRef(const AggLayout& layout, std::byte* block) : layout_(&layout), block_(block) {}
  // Adds one event's value to aggregate g (the caller has applied the spec's filter).
  void add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field);
  // The engine's own read, on its time line (an event's, a scheduled instant's): it drops the
  // entries that have left the window at `now`, so it writes too, and a later read at an instant
  // before `now` no longer sees them. Only for instants no later read of this user goes below.
  bytecode::AggValue value(const bytecode::AggSpec& spec, uint32_t g, int64_t now);
  // The same value, changing nothing: the entries value() would drop are skipped (a scan of them,
  // not O(1)). For reads off the time line, at any instant: an audience, an evaluation, the
  // reference evaluator. Exact at any `now` at or after the latest instant value() was read at;
  // before it, entries value() dropped are missing (Engine::clock() refuses such reads).
  bytecode::AggValue peek(const bytecode::AggSpec& spec, uint32_t g, int64_t now) const;

 private:
  bytecode::AggValue running(const bytecode::AggSpec& spec, uint32_t g) const;  // stores with no window
  template <typename T>
  T& at(uint32_t g) const {
    return *std::launder(reinterpret_cast<T*>(block_ + layout_->offset(g)));
  }
  uint8_t& flags(uint32_t g) const { return *reinterpret_cast<uint8_t*>(block_ + layout_->flags_at(g)); }

  const AggLayout* layout_;
  std::byte* block_;
};

// A block of its own: an empty history (a user the engine has not met), tests.
class UserAggregates {
 public:
  // The layout outlives every UserAggregates made with it.
  explicit UserAggregates(const AggLayout& layout);
  UserAggregates(const UserAggregates& o);
  UserAggregates& operator=(const UserAggregates& o);
  UserAggregates(UserAggregates&& o) noexcept : layout_(o.layout_), block_(o.block_) { o.block_ = nullptr; }
  UserAggregates& operator=(UserAggregates&& o) noexcept;
  ~UserAggregates() { destroy(); }

  void add(const bytecode::AggSpec& spec, uint32_t g, int64_t time, int64_t value, bool has_field) {
    AggregatesRef(*layout_, block_).add(spec, g, time, value, has_field);
  }
  bytecode::AggValue value(const bytecode::AggSpec& spec, uint32_t g, int64_t now) {
    return AggregatesRef(*layout_, block_).value(spec, g, now);
  }
  bytecode::AggValue peek(const bytecode::AggSpec& spec, uint32_t g, int64_t now) const {
    return AggregatesRef(*layout_, block_).peek(spec, g, now);
  }

 private:
  void destroy();

  const AggLayout* layout_;
  std::byte* block_ = nullptr;  // null when the program has no aggregates
};

}  // namespace crm::state
