// string_pool_test.cc - the VM's interned strings (ids are dense and stable, lookups never add,
// and the open-addressing table survives growth: every event interns into it) and its
// collections (equal sets share a handle, so a stream does not grow the store per event).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "runtime/vm/vm.h"

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

TEST(CollectionStore, EqualSetsShareAHandle) {
  crm::vm::CollectionStore sets;
  int64_t a = sets.add({3, 1, 2, 2});
  EXPECT_EQ(sets.add({1, 2, 3}), a);
  EXPECT_EQ(sets.add({2, 3, 1, 1, 3}), a);
  int64_t b = sets.add({1, 2});
  int64_t empty = sets.add({});
  EXPECT_NE(b, a);
  EXPECT_NE(empty, a);
  EXPECT_EQ(sets.add({}), empty);
  EXPECT_EQ(sets.items(a), (std::vector<int64_t>{1, 2, 3}));
  EXPECT_TRUE(sets.contains(b, 2));
  EXPECT_FALSE(sets.contains(b, 3));
  EXPECT_EQ(sets.size(empty), 0);
  // A long stream of events with a handful of distinct sets.
  for (int i = 0; i < 100000; ++i) sets.add({i % 7, (i * 3) % 7});
  // i % 7 = r gives {r, 3r % 7}: {0} and six pairs, none equal to the three sets above.
  EXPECT_EQ(sets.distinct(), 3u + 7u);
}
