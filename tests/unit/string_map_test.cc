// string_map_test.cc - support::StringMap, the engine's index of decided units, against
// std::unordered_map over random operations (inserts, lookups, erases, overwrites, clears),
// with empty, long and colliding-prefix keys; and values that never move.
#include "support/string_map.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

using crm::support::StringMap;

std::string key_of(std::mt19937& rng) {
  switch (rng() % 10) {
    case 0: return "";
    case 1: return std::string(300000 + rng() % 5, 'k') + std::to_string(rng() % 4);  // longer than a quarter block
    default: return "e" + std::to_string(rng() % 5000);  // many repeats: finds, overwrites
  }
}

}  // namespace

TEST(StringMap, AgreesWithUnorderedMapOverRandomOperations) {
  std::mt19937 rng(7);
  StringMap<int64_t> map;
  std::unordered_map<std::string, int64_t> want;
  size_t finds = 0, hits = 0;
  for (int step = 0; step < 200000; ++step) {
    std::string k = key_of(rng);
    switch (rng() % 8) {
      case 0:
      case 1: {
        bool inserted = false;
        int64_t* v = map.try_emplace(k, step, &inserted);
        auto [it, fresh] = want.try_emplace(k, step);
        ASSERT_EQ(inserted, fresh) << k.substr(0, 20);
        ASSERT_EQ(*v, it->second);
        break;
      }
      case 2:
        map.insert_or_assign(k, -step);
        want.insert_or_assign(k, -step);
        break;
      case 3:
        map.erase(k);
        want.erase(k);
        break;
      case 4:
        if (rng() % 2000 == 0) {
          map.clear();
          want.clear();
        }
        break;
      default: {
        ++finds;
        const int64_t* v = map.find(k);
        auto it = want.find(k);
        ASSERT_EQ(v != nullptr, it != want.end()) << k.substr(0, 20);
        if (v) {
          ++hits;
          ASSERT_EQ(*v, it->second);
        }
      }
    }
    ASSERT_EQ(map.size(), want.size());
  }
  // Every key both ways at the end.
  for (const auto& [k, v] : want) {
    const int64_t* got = map.find(k);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(*got, v);
  }
  EXPECT_GT(hits, finds / 4);  // lookups found keys, not only missed them
  EXPECT_LT(hits, finds);
}

TEST(StringMap, ValuesDoNotMoveWhenTheTableGrows) {
  StringMap<int> map;
  int* first = map.try_emplace("first", 1);
  for (int i = 0; i < 100000; ++i) map.try_emplace("id-" + std::to_string(i), i);
  map.erase("id-5");
  EXPECT_EQ(map.find("first"), first);
  EXPECT_EQ(*first, 1);
  EXPECT_EQ(map.find("id-5"), nullptr);
  EXPECT_EQ(*map.find("id-99999"), 99999);
  EXPECT_EQ(map.size(), 100000u);
  // An erased key comes back as a new entry.
  bool inserted = false;
  EXPECT_EQ(*map.try_emplace("id-5", 42, &inserted), 42);
  EXPECT_TRUE(inserted);
}

// The overloads with a given hash (the engine asks several generations for one id with one
// hash) find and insert the same entries as the plain ones, and a map moved (a generation in
// the engine's deque) keeps its values where they were.
TEST(StringMap, GivenHashesAndMovedMapsFindTheSameEntries) {
  StringMap<int> a;
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "e" + std::to_string(i);
    if (i % 2) a.try_emplace(k, i);
    else a.try_emplace(k, StringMap<int>::hash(k), i);
  }
  int* e7 = a.find("e7");
  StringMap<int> b = std::move(a);
  EXPECT_EQ(b.find("e7"), e7);
  for (int i = 0; i < 1000; ++i) {
    const std::string k = "e" + std::to_string(i);
    ASSERT_NE(b.find(k, StringMap<int>::hash(k)), nullptr) << k;
    EXPECT_EQ(*b.find(k, StringMap<int>::hash(k)), i);
    EXPECT_EQ(b.find(k), b.find(k, StringMap<int>::hash(k)));
  }
  EXPECT_EQ(b.find("e1000", StringMap<int>::hash("e1000")), nullptr);
  bool inserted = true;
  EXPECT_EQ(*b.try_emplace("e3", StringMap<int>::hash("e3"), 99, &inserted), 3);  // found, not replaced
  EXPECT_FALSE(inserted);
}

// Keys are stored after their length (LEB128: one byte below 128, two below 16,384, three
// below 2^21), in 1 MiB blocks, and a key longer than a quarter block in a block of its own:
// keys at each of those edges, keys that are prefixes of each other, and enough keys to fill
// many blocks keep their text, and are found again after the table grew (which hashes each
// key's text again: the slots keep only 32 bits of the hash).
TEST(StringMap, KeysAtEveryLengthEdgeKeepTheirTextAcrossBlocksAndGrowth) {
  StringMap<int64_t> map;
  std::vector<std::string> keys;
  for (size_t n : {0, 1, 2, 126, 127, 128, 129, 16383, 16384, 16385, 262143, 262144, 262145, 2097151, 2097152})
    keys.push_back(std::string(n, 'x'));
  keys.push_back("e1"), keys.push_back("e10"), keys.push_back("e100");
  // About 3,000 keys of 1,000 bytes fill three blocks, so keys end at or near a block's end.
  for (int i = 0; i < 3000; ++i) {
    std::string k(1000 + i % 3, char('a' + i % 26));
    k += std::to_string(i);
    keys.push_back(k);
  }
  for (int i = 0; i < 100000; ++i) keys.push_back("e" + std::to_string(i) + "-" + std::to_string(i * 7919));
  for (size_t i = 0; i < keys.size(); ++i) {
    bool inserted = false;
    EXPECT_EQ(*map.try_emplace(keys[i], int64_t(i), &inserted), int64_t(i));
    ASSERT_TRUE(inserted) << i;
  }
  ASSERT_EQ(map.size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const int64_t* v = map.find(keys[i]);
    ASSERT_NE(v, nullptr) << "key " << i << " of " << keys[i].size() << " bytes";
    EXPECT_EQ(*v, int64_t(i));
  }
  // Neighbours of stored keys are not found: one byte shorter, longer, or changed at the end.
  EXPECT_EQ(map.find(std::string(125, 'x')), nullptr);
  EXPECT_EQ(map.find(std::string(130, 'x')), nullptr);
  EXPECT_EQ(map.find(std::string(16386, 'x')), nullptr);
  EXPECT_EQ(map.find("e1000"), nullptr);
  EXPECT_EQ(map.find(std::string(127, 'x') + "y"), nullptr);
  EXPECT_EQ(map.find("e5-39594"), nullptr);
  EXPECT_NE(map.find("e5-39595"), nullptr);
}
