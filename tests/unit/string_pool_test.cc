// string_pool_test.cc - the VM's interned strings (ids are dense and stable, lookups never add,
// and the open-addressing table survives growth: every event interns into it) and its
// collections (equal sets share a handle, so a stream does not grow the store per event).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/vm/vm.h"
#include "support/decimal.h"

TEST(StringPool, InternedIdsAreStableAcrossGrowthAndFindNeverAdds) {
  crm::vm::StringPool pool({"a", "b"});
  EXPECT_EQ(pool.intern("a"), 0);
  EXPECT_EQ(pool.intern("b"), 1);
  EXPECT_EQ(pool.find("c"), -1);
  EXPECT_EQ(pool.size(), 2u);
  // Enough strings to grow the table many times, one longer than a storage chunk, and the
  // empty string.
  std::vector<std::string> texts;
  for (int i = 0; i < 100000; ++i) texts.push_back("user-" + std::to_string(i * 7919));
  texts.push_back(std::string(200000, 'x'));
  texts.push_back("");
  std::vector<int64_t> ids;
  for (const auto& t : texts) ids.push_back(pool.intern(t));
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(ids[i], static_cast<int64_t>(i + 2));
    ASSERT_EQ(pool.intern(texts[i]), ids[i]);
    ASSERT_EQ(pool.find(texts[i]), ids[i]);
    ASSERT_EQ(pool.text(ids[i]), texts[i]);
  }
  EXPECT_EQ(pool.size(), texts.size() + 2);
  EXPECT_EQ(pool.find("user-1"), -1);
  EXPECT_EQ(pool.text(-1), "");
  EXPECT_EQ(pool.text(static_cast<int64_t>(pool.size())), "");
}

// Texts are kept by a 4-byte place (chunk, position) with their length before them: lengths
// whose prefix takes 1, 2 and 3 bytes, a text that fills a 64 KiB chunk exactly, texts one byte
// too long for a chunk and much longer (blocks of their own, spanning several chunks' places),
// each followed by short ones; views stay valid (and the same bytes) while the pool grows.
TEST(StringPool, TextsOfEveryLengthKeepTheirBytesAndPlaces) {
  crm::vm::StringPool pool;
  std::vector<std::string> texts;
  std::vector<size_t> lengths = {0, 1, 127, 128, 129, 16383, 16384, 65533, 65534, 65535, 65536, 200000, 1 << 20, 3};
  for (size_t i = 0; i < lengths.size(); ++i) {
    std::string t(lengths[i], 'a');
    for (size_t j = 0; j < t.size(); ++j) t[j] = char('a' + (j * 7 + i) % 26);  // no two alike
    texts.push_back(t);
    texts.push_back("short-" + std::to_string(i));
    texts.push_back(std::string(65000, char('A' + i)));  // leaves the chunk too full for the next long one
  }
  std::vector<int64_t> ids;
  std::vector<std::string_view> views;
  for (const auto& t : texts) {
    ids.push_back(pool.intern(t));
    views.push_back(pool.text(ids.back()));
  }
  for (int i = 0; i < 200000; ++i) pool.intern("grow-" + std::to_string(i));  // many rehashes
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_EQ(ids[i], static_cast<int64_t>(i));
    ASSERT_EQ(pool.text(ids[i]), texts[i]) << i;
    ASSERT_EQ(pool.text(ids[i]).data(), views[i].data()) << i;  // never moved
    ASSERT_EQ(views[i], texts[i]) << i;
    ASSERT_EQ(pool.find(texts[i]), ids[i]) << i;
    ASSERT_EQ(pool.intern(texts[i]), ids[i]) << i;
  }
  for (int i = 0; i < 200000; i += 997) ASSERT_EQ(pool.text(pool.find("grow-" + std::to_string(i))), "grow-" + std::to_string(i));
  EXPECT_EQ(pool.size(), texts.size() + 200000);
  // A prefix of a text, or the text and one more byte, is another string.
  EXPECT_EQ(pool.find(texts[2].substr(0, 126)), -1);
  EXPECT_EQ(pool.find(texts[2] + "a"), -1);
}

// A million short ids (what bench/memory.sh interns): each is found again after every growth
// of the table, and the ids of equal texts never change.
TEST(StringPool, AMillionIdsAreFoundAfterRehashing) {
  crm::vm::StringPool pool({"United Kingdom", "France"});
  for (int i = 0; i < 1000000; ++i) ASSERT_EQ(pool.intern("c" + std::to_string(i)), i + 2);
  for (int i = 0; i < 1000000; i += 7) {
    const std::string t = "c" + std::to_string(i);
    ASSERT_EQ(pool.find(t), i + 2);
    ASSERT_EQ(pool.text(i + 2), t);
  }
  EXPECT_EQ(pool.find("c1000000"), -1);
  EXPECT_EQ(pool.intern("France"), 1);
  EXPECT_EQ(pool.text(0), "United Kingdom");
}

TEST(CollectionStore, EqualSetsShareAHandle) {
  crm::vm::CollectionStore sets;
  int64_t a = sets.add({3, 1, 2, 2}, false);
  EXPECT_EQ(sets.add({1, 2, 3}, false), a);
  EXPECT_EQ(sets.add({2, 3, 1, 1, 3}, false), a);
  int64_t b = sets.add({1, 2}, false);
  int64_t empty = sets.add({}, false);
  EXPECT_NE(b, a);
  EXPECT_NE(empty, a);
  EXPECT_EQ(sets.add({}, false), empty);
  EXPECT_EQ(sets.items(a), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(sets.contains(b, 2));
  EXPECT_FALSE(sets.contains(b, 3));
  EXPECT_EQ(sets.size(empty), 0);
  // A long stream of events with a handful of distinct sets.
  for (int i = 0; i < 100000; ++i) sets.add({i % 7, (i * 3) % 7}, false);
  // i % 7 = r gives {r, 3r % 7}: {0} and six pairs, none equal to the three sets above.
  EXPECT_EQ(sets.distinct(), 3u + 7u);
}

// A list keeps its elements as given, duplicates included; `in` still finds them. A list shares a
// handle with an equal list, and with a set only when it reads the same (sorted and distinct).
TEST(CollectionStore, ListsKeepOrderAndDuplicates) {
  crm::vm::CollectionStore c;
  int64_t set = c.add({3, 1, 2, 3}, false);
  int64_t list = c.add({3, 1, 2, 3}, true);
  EXPECT_NE(list, set);
  EXPECT_EQ(c.items(list), (std::vector<int64_t>{3, 1, 2, 3}));
  EXPECT_EQ(c.size(list), 4);
  EXPECT_EQ(c.items(set), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(c.size(set), 3);
  EXPECT_EQ(c.add({3, 1, 2, 3}, true), list);
  EXPECT_NE(c.add({1, 3, 2, 3}, true), list);
  EXPECT_EQ(c.add({1, 2, 3}, true), set);  // sorted and distinct: the same elements either way
  for (int64_t v : {1, 2, 3}) EXPECT_TRUE(c.contains(list, v)) << v;
  EXPECT_FALSE(c.contains(list, 4));
  bool overflow = true;
  EXPECT_TRUE(c.contains_widened(list, 2 * crm::support::Decimal::kScale, overflow));
  EXPECT_FALSE(overflow);
  // Constant lists seeded from a program keep their order too.
  crm::vm::CollectionStore seeded;
  seeded.seed({{1, 2}, {5, 5, 4}}, {0, 1});
  EXPECT_EQ(seeded.items(1), (std::vector<int64_t>{5, 5, 4}));
  EXPECT_EQ(seeded.size(1), 3);
  EXPECT_TRUE(seeded.contains(1, 4));
  EXPECT_TRUE(seeded.contains(1, 5));
  EXPECT_EQ(seeded.add({5, 5, 4}, true), 1);
}
