// string_map.h - a map from strings to values for very many short keys: the engine's index of
// decided units (one entry per event id of a run with a ledger, millions of them). Compared with
// std::unordered_map<std::string, V> it makes no allocation per key (keys are copied into large
// blocks, each after its length; values into a deque). A slot is 8 bytes: 32 bits of the key's
// hash (the upper half; the lower bits pick the slot) and the entry's number; a key's text is
// compared only when those 32 bits are equal, and growing the table hashes each key's text
// again (it keeps no full hash). An entry is the pointer to its key and the value (24 bytes for
// the engine's 16-byte record). Clearing or destroying it frees a few blocks instead of one node
// per key. Values never move: a pointer returned by find() or try_emplace() stays valid until
// clear() or the map's destruction, also across later inserts (the engine holds the slot of the
// unit it is deciding). Not thread-safe. docs/performance.md §11, "Memory, session 13".
#pragma once

#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

namespace crm::support {

template <class V>
class StringMap {
 public:
  StringMap() { rehash(16); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Room for n keys without growing the slot table.
  void reserve(size_t n) {
    if (n * 8 > slots_.size() * 7) rehash(capacity_for(n));
  }

  // The hash every lookup starts from: a caller asking several maps for one key (the engine's
  // generations of event ids) computes it once and passes it to the overloads taking `h`.
  static uint64_t hash(std::string_view key) { return std::hash<std::string_view>{}(key); }

  V* find(std::string_view key) { return find(key, hash(key)); }
  V* find(std::string_view key, uint64_t h) {
    const size_t i = locate(key, h);
    return live(i) ? &entries_[slots_[i].entry - 1].value : nullptr;
  }
  const V* find(std::string_view key) const { return const_cast<StringMap*>(this)->find(key); }
  const V* find(std::string_view key, uint64_t h) const { return const_cast<StringMap*>(this)->find(key, h); }

  // The value of `key`, inserted as `value` when absent; `inserted` says which.
  V* try_emplace(std::string_view key, const V& value, bool* inserted = nullptr) {
    return try_emplace(key, hash(key), value, inserted);
  }
  // The same with the key's hash(key) given.
  V* try_emplace(std::string_view key, uint64_t h, const V& value, bool* inserted = nullptr) {
    size_t i = locate(key, h);
    if (live(i)) {
      if (inserted) *inserted = false;
      return &entries_[slots_[i].entry - 1].value;
    }
    if ((used_ + 1) * 8 > slots_.size() * 7) {  // load factor at most 7/8, tombstones included
      rehash(capacity_for(size_ + 1));
      i = locate(key, h);
    }
    if (slots_[i].entry == 0) ++used_;  // an empty slot, not a reused tombstone
    entries_.push_back(Entry{store(key), value});
    slots_[i] = Slot{tag(h), uint32_t(entries_.size())};
    ++size_;
    if (inserted) *inserted = true;
    return &entries_.back().value;
  }
  void insert_or_assign(std::string_view key, const V& value) {
    bool inserted = false;
    V* v = try_emplace(key, value, &inserted);
    if (!inserted) *v = value;
  }
  // Drops `key`; its value's storage is kept until clear() (erasing is rare: a refused event).
  void erase(std::string_view key) {
    const size_t i = locate(key, hash(key));
    if (!live(i)) return;
    slots_[i].entry = kTombstone;
    --size_;
  }
  void clear() {
    entries_.clear();
    blocks_.clear();
    block_used_ = kBlockBytes;
    size_ = used_ = 0;
    slots_.assign(16, Slot{});
  }

 private:
  static constexpr uint32_t kTombstone = UINT32_MAX;  // an erased entry: probing goes on past it
  static constexpr size_t kBlockBytes = size_t(1) << 20;
  struct Slot {
    uint32_t tag = 0;    // tag(hash) of the key
    uint32_t entry = 0;  // 0 empty, kTombstone erased, else the entry's number + 1
  };
  static_assert(sizeof(Slot) == 8);
  struct Entry {
    const char* key;  // the key's length (LEB128), then its bytes
    V value;
  };
  static uint32_t tag(uint64_t h) { return uint32_t(h >> 32); }
  // The text of a key stored at `p`.
  static std::string_view text(const char* p) {
    size_t n = 0;
    unsigned shift = 0;
    uint8_t b;
    do {
      b = uint8_t(*p++);
      n |= size_t(b & 0x7f) << shift;
      shift += 7;
    } while (b & 0x80);
    return {p, n};
  }
  static size_t prefix_bytes(size_t n) {
    size_t k = 1;
    while (n >= 0x80) n >>= 7, ++k;
    return k;
  }

  // Whether slot i holds a key (locate() may answer a tombstone, where an insert would go).
  bool live(size_t i) const { return slots_[i].entry != 0 && slots_[i].entry != kTombstone; }
  static size_t capacity_for(size_t n) {
    size_t c = 16;
    while (c * 7 < n * 8 * 2) c *= 2;  // half full after growing
    return c;
  }
  // The slot holding `key`, or the slot an insert of it should take (the first tombstone
  // passed, else the empty slot that ended the probe). Linear probing over a power of two.
  size_t locate(std::string_view key, uint64_t h) const {
    const size_t mask = slots_.size() - 1;
    const uint32_t t = tag(h);
    size_t i = size_t(h) & mask, free = SIZE_MAX;
    for (;;) {
      const Slot& s = slots_[i];
      if (s.entry == 0) return free != SIZE_MAX ? free : i;
      if (s.entry == kTombstone) {
        if (free == SIZE_MAX) free = i;
      } else if (s.tag == t && text(entries_[s.entry - 1].key) == key) {
        return i;
      }
      i = (i + 1) & mask;
    }
  }
  // The slots keep 32 bits of each hash: the rest is computed again from the key's text.
  void rehash(size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    used_ = 0;
    const size_t mask = capacity - 1;
    for (const Slot& s : old) {
      if (s.entry == 0 || s.entry == kTombstone) continue;
      size_t i = size_t(hash(text(entries_[s.entry - 1].key))) & mask;
      while (slots_[i].entry != 0) i = (i + 1) & mask;
      slots_[i] = s;
      ++used_;
    }
  }
  // Copies the key, after its length, into the blocks; returns where it starts.
  const char* store(std::string_view key) {
    static constexpr char kEmpty[1] = {0};
    if (key.empty()) return kEmpty;
    const size_t need = prefix_bytes(key.size()) + key.size();
    char* at;
    if (key.size() > kBlockBytes / 4) {  // a long key gets a block of its own
      blocks_.push_back(std::make_unique<char[]>(need));
      at = blocks_.back().get();
      block_used_ = kBlockBytes;  // and the next short key starts a new block
    } else {
      if (block_used_ + need > kBlockBytes) {
        blocks_.push_back(std::make_unique<char[]>(kBlockBytes));
        block_used_ = 0;
      }
      at = blocks_.back().get() + block_used_;
      block_used_ += need;
    }
    char* p = at;
    for (size_t n = key.size();; n >>= 7) {
      *p++ = char(n < 0x80 ? n : (n & 0x7f) | 0x80);
      if (n < 0x80) break;
    }
    std::memcpy(p, key.data(), key.size());
    return at;
  }

  std::vector<Slot> slots_;
  std::deque<Entry> entries_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t block_used_ = kBlockBytes;
  size_t size_ = 0, used_ = 0;  // keys; slots not empty (keys and tombstones)
};

}  // namespace crm::support
