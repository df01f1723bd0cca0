// fingerprint_table.h - a set of keys kept as fingerprints, for an index whose keys' text lives
// elsewhere: the engine's index of decided event ids with a ledger that can find a unit by a
// handle (state::StateStore::find_unit). Each entry is one 8-byte word: the upper 30 bits of the
// key's 64-bit hash and a 34-bit payload (the unit's handle, 1 .. 2^34 - 1). No key text is
// kept, so a word whose bits equal the key's is only a candidate: find() asks the caller's
// predicate about each candidate's payload (the engine reads the unit back and compares its id),
// so distinct keys whose fingerprints collide stay distinct. Slots are picked by the hash's top
// bits, so growing the table needs only the stored bits (no key is hashed again); it holds at most
// 2^30 slots. Linear probing, load factor at most 7/8, no erase. Not thread-safe.
// docs/performance.md §11, "Memory, session 14".
#pragma once

#include <cstdint>
#include <vector>

namespace crm::support {

class FingerprintTable {
 public:
  static constexpr unsigned kPayloadBits = 34;
  static constexpr uint64_t kMaxPayload = (uint64_t(1) << kPayloadBits) - 1;
  static constexpr unsigned kMaxSlotBits = 30;  // the stored hash bits pick the slot

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t slots() const { return slots_.size(); }

  // The word of the key with hash `h` whose payload `is_key(payload)` accepts (each candidate
  // with the key's fingerprint is asked, in probe order), or null.
  template <class IsKey>
  uint64_t* find(uint64_t h, IsKey&& is_key) {
    if (slots_.empty()) return nullptr;
    const uint64_t f = fingerprint(h);
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(f); slots_[i] != 0; i = (i + 1) & mask)
      if ((slots_[i] >> kPayloadBits) == f && is_key(slots_[i] & kMaxPayload)) return &slots_[i];
    return nullptr;
  }
  static uint64_t payload(const uint64_t* word) { return *word & kMaxPayload; }
  // Gives a found word another payload (1 .. kMaxPayload).
  static void set_payload(uint64_t* word, uint64_t payload) { *word = (*word & ~kMaxPayload) | payload; }

  // Adds key `h` with `payload` (the caller knows it is absent); false when the payload does not
  // fit or the table is at its largest (the caller keeps the key elsewhere).
  bool insert(uint64_t h, uint64_t payload) {
    if (payload == 0 || payload > kMaxPayload) return false;
    if ((size_ + 1) * 8 > slots_.size() * 7) {
      size_t c = slots_.empty() ? 16 : slots_.size();
      while (c < (size_ + 1) * 2) c *= 2;  // at most half full after growing (twice the slots)
      if (c > (size_t(1) << kMaxSlotBits)) return false;
      rehash(c);
    }
    place((fingerprint(h) << kPayloadBits) | payload);
    ++size_;
    return true;
  }

 private:
  static uint64_t fingerprint(uint64_t h) { return h >> kPayloadBits; }  // the top 30 bits
  size_t home(uint64_t f) const { return size_t(f >> (64 - kPayloadBits - bits_)); }
  void place(uint64_t word) {
    const size_t mask = slots_.size() - 1;
    size_t i = home(word >> kPayloadBits);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = word;
  }
  void rehash(size_t capacity) {
    std::vector<uint64_t> old = std::move(slots_);
    slots_.assign(capacity, 0);
    bits_ = 0;
    while ((size_t(1) << bits_) < capacity) ++bits_;
    for (uint64_t w : old)
      if (w) place(w);
  }

  std::vector<uint64_t> slots_;  // 0: empty
  unsigned bits_ = 0;            // slots_.size() == 1 << bits_
  size_t size_ = 0;
};

}  // namespace crm::support
