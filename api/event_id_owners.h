// event_id_owners.h - the reading thread's memory of event ids under `crm run --threads N` with a
// ledger (docs/scaling.md, "Threads in one process"): which thread each id was decided on, so
// that an id used again for a user of another thread, while the first thread still remembers it,
// is refused rather than decided twice (one engine would answer it from the ledger).
//
// Bounded by the dedup window H, by the rule the engines' recorder uses (runtime/engine/
// recorder.h, docs/semantics.md "Event order"): an id is filed in the generation of its event's
// time (generations of max(H/2, 1 s) of event time) and a generation is dropped, a whole table at
// a time, once start + width <= W - H, W the stream's watermark. The caller prunes with the
// watermark the owning engine will have at the line or an earlier one, so the reader never
// forgets an id before the engine that decided it does. An id claimed again by its owner at a
// later generation is filed there too (its engine may have forgotten it and decide it afresh).
//
// Ids the ledger held at attach (decided by earlier runs) are every worker's until it meets them
// itself (each worker's recorder keeps them until then): they are held for the whole run, owned
// by the first thread that claims one, so no other thread answers it from its own copy while one
// engine would have moved it into the window and forgotten it.
//
// Slots hold a 64-bit hash of the id (vm::stable_hash, never 0) and the owner apart (9 bytes a
// generation slot, 10 in the earlier runs' table): nothing is allocated per id, and a claim is
// one probe per live generation (about three). A hash collision can only refuse a line.
#pragma once

#include <cstdint>
#include <deque>
#include <string_view>
#include <vector>

namespace crm::detail {

class EventIdOwners {
 public:
  static constexpr int64_t kForever = INT64_MAX;  // engine::Recorder::kForever
  static constexpr uint32_t kMaxOwners = 256;     // owners are 0 .. 255 (--threads is at most 256)

  EventIdOwners();  // the engines' default window (7 days)
  // The window as the engines have it (Engine::dedup_window()); negative counts as 0. Set it
  // before the first claim.
  void set_window(int64_t micros);
  int64_t window() const { return window_; }
  int64_t width() const { return width_; }

  // The hash ids are filed under (computed by the workers while they parse).
  static uint64_t hash(std::string_view id);
  // An id decided in an earlier run (read from the ledger at attach).
  void add_earlier(uint64_t h);
  // Whether an earlier run decided the id of hash h (add_earlier).
  bool is_earlier(uint64_t h) { return earlier_.size && earlier_.find(h) != nullptr; }

  // Drops the generations whose every time is before watermark - H (Recorder::prune's rule).
  void prune(int64_t watermark);
  // The owner of the event id hashed `h` at time `t`: the one remembered, or `owner` after
  // recording it (in t's generation; an earlier run's id: for the whole run).
  uint32_t claim(uint64_t h, int64_t t, uint32_t owner);
  // Brings the slots a claim of `h` will read into the cache.
  void prefetch(uint64_t h) const;

  // Ids remembered now (the generations', and the earlier runs'), live generations, and the
  // bytes of their tables.
  size_t size() const;
  size_t generations() const { return generations_.size(); }
  size_t bytes() const;

 private:
  // Open addressing, linear probing, at most 3/4 full; `Owner` wide enough for kUnowned.
  template <class Owner>
  struct Table {
    std::vector<uint64_t> keys;  // 0: free
    std::vector<Owner> owners;
    size_t size = 0;
    size_t home(uint64_t h) const { return size_t((h * 0x9e3779b97f4a7c15ull) >> shift); }
    unsigned shift = 64;
    // The owner slot of `h`, or null.
    Owner* find(uint64_t h);
    // Adds `h` (not present) with `owner`; grows first when needed.
    Owner* insert(uint64_t h, Owner owner);
    void grow();
  };
  struct Generation {
    int64_t start;
    Table<uint8_t> ids;
  };
  static constexpr uint16_t kUnowned = 0xFFFF;  // an earlier run's id no thread claimed yet

  Generation& generation(int64_t start);

  int64_t window_ = 0, width_ = 1'000'000;
  std::deque<Generation> generations_;  // oldest first
  Table<uint16_t> earlier_;
};

}  // namespace crm::detail
