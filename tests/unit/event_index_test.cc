// event_index_test.cc - the index of decided event ids without their text (issue 15 item 3):
// a fingerprint and the unit's handle, confirmed against the ledger (StateStore::find_unit).
// A duplicate is answered from the ledger, never decided twice; distinct ids whose fingerprints
// collide are each decided; restarts and ledgers written before the index still resume.
#include <gtest/gtest.h>

#include <sqlite3.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "compile_helpers.h"
#include "sqlite_helpers.h"
#include "runtime/state/state_store.h"
#include "support/civil_time.h"
#include "support/fingerprint_table.h"

namespace {

using crm::testing::Compiled;

// Orders of 50 users, one a minute: every third is too small for the strategy (a unit without
// decisions), the rest are granted until the user's limit or the stock runs out (then rejected).
const char* kProgram =
    "event Order { amount: Money(CNY) }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy s { who: amount > 50 CNY  when: on Order  what: grant c via App  how much: per user 2 per campaign, stock 120 }\n";

std::string order(int i) {
  const int64_t t = 1'767'225'600LL + 60LL * i;  // 2026-01-01T00:00:00Z + i minutes
  return fmt::format(R"({{"id":"e{}","type":"Order","user":"u{}","time":"{}","amount":{}}})", i, i % 50,
                     crm::support::format_time(t * 1'000'000), i % 3 == 0 ? 10 : 100);
}

// A store that forwards to another and counts find_unit calls (how often a fingerprint was
// confirmed against the ledger).
class CountingStore : public crm::state::StateStore {
 public:
  explicit CountingStore(crm::state::StateStore& s) : s_(s) {}
  bool load(std::vector<crm::state::LedgerEntry>& e, std::vector<crm::state::Unit>& u, std::string& err) override {
    return s_.load(e, u, err);
  }
  bool last_program(crm::state::ProgramIdentity& out, std::string& err) override { return s_.last_program(out, err); }
  bool begin_program(const crm::state::ProgramIdentity& p, std::string& err) override { return s_.begin_program(p, err); }
  bool append(const crm::state::Unit& u, const std::vector<crm::state::LedgerEntry>& e, int64_t& first,
              std::string& err) override {
    return s_.append(u, e, first, err);
  }
  bool append_rows(const crm::state::Unit& u, const crm::state::LedgerRow* rows, size_t n, int64_t& first,
                   std::string& err) override {
    return s_.append_rows(u, rows, n, first, err);
  }
  bool read(int64_t first, size_t n, std::vector<crm::state::LedgerEntry>& out, std::string& err) override {
    return s_.read(first, n, out, err);
  }
  int64_t unit_handle() const override { return s_.unit_handle(); }
  bool find_unit(int64_t h, crm::state::Unit& out, uint32_t& count, bool& found, std::string& err) override {
    ++finds;
    return s_.find_unit(h, out, count, found, err);
  }
  bool commit(std::string& err) override { return s_.commit(err); }
  bool rollback(std::string& err) override { return s_.rollback(err); }
  std::string describe() const override { return s_.describe(); }
  crm::state::Quotas& quotas() override { return s_.quotas(); }
  size_t finds = 0;

 private:
  crm::state::StateStore& s_;
};

// The stream entry point (submit: late events refused or answered, ids pruned), as crm run calls it.
struct Stream {
  explicit Stream(const Compiled& c) : engine(c.program()) {}
  crm::engine::Engine engine;
  std::string error;
  std::optional<std::vector<std::string>> submit(const std::string& line) {
    crm::engine::Event ev;
    error.clear();
    if (!engine.parse_event(line, ev, error)) return std::nullopt;
    std::vector<crm::engine::Decision> out;
    if (!engine.submit(ev, out, error)) return std::nullopt;
    std::vector<std::string> json;
    for (const auto& d : out) json.push_back(engine.decision_json(d));
    return json;
  }
};

std::string temp_ledger(const char* name) {
  std::string path = ::testing::TempDir() + name;
  crm::testing::remove_ledger_files(path);
  return path;
}

int64_t count_rows(const std::string& path, const char* table) {
  return crm::testing::query_int(path, fmt::format("SELECT count(*) FROM {}", table).c_str());
}

constexpr int kEvents = 300;

// Each event's decisions in a run that decides each once (a memory store, the default index).
std::vector<std::vector<std::string>> reference(const Compiled& c) {
  crm::state::MemoryStore store;
  Stream s(c);
  std::string err;
  EXPECT_TRUE(s.engine.attach(&store, err)) << err;
  std::vector<std::vector<std::string>> out;
  for (int i = 0; i < kEvents; ++i) out.push_back(s.submit(order(i)).value_or(std::vector<std::string>{"refused"}));
  return out;
}

uint64_t one_hash(std::string_view) { return 0x9e3779b97f4a7c15ULL; }   // every id collides
uint64_t length_hash(std::string_view id) { return uint64_t(id.size()) << 40; }  // a few fingerprints

}  // namespace

TEST(FingerprintTable, FindsEveryKeyThroughGrowthAndAsksAboutEachCandidate) {
  crm::support::FingerprintTable t;
  auto mix = [](uint64_t x) {  // splitmix64
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
  };
  for (uint64_t k = 1; k <= 100'000; ++k) ASSERT_TRUE(t.insert(mix(k), k));
  EXPECT_EQ(t.size(), 100'000u);
  // Grows by doubling, at most 7/8 full: 100k keys in 2^17 slots (8 bytes each). (It grew 4x at
  // a time before, to 2^18 slots here.)
  EXPECT_EQ(t.slots(), 131'072u);
  for (uint64_t k = 1; k <= 100'000; ++k) {
    const uint64_t* w = t.find(mix(k), [&](uint64_t p) { return p == k; });
    ASSERT_NE(w, nullptr) << k;
    EXPECT_EQ(crm::support::FingerprintTable::payload(w), k);
  }
  EXPECT_EQ(t.find(mix(100'001), [](uint64_t) { return true; }) == nullptr, true) << "an absent key's fingerprint matched";
  // Keys with one hash: each is a candidate, the predicate tells them apart.
  crm::support::FingerprintTable same;
  for (uint64_t k = 1; k <= 50; ++k) ASSERT_TRUE(same.insert(42, k));
  size_t asked = 0;
  const uint64_t* w = same.find(42, [&](uint64_t p) { return ++asked, p == 37; });
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(crm::support::FingerprintTable::payload(w), 37u);
  EXPECT_EQ(asked, 37u);
  EXPECT_FALSE(same.insert(43, 0));  // payloads are 1 .. kMaxPayload
  EXPECT_FALSE(same.insert(43, crm::support::FingerprintTable::kMaxPayload + 1));
}

// Every id again, after the commits of its group and with later groups open: the recorded
// decisions, read back through the ledger (find_unit), and the ledger unchanged; then a restart
// on the same ledger replays the input and answers its duplicates, and decides new ids once.
TEST(EventIndex, DuplicatesAcrossCommitsAndARestartAreAnsweredFromTheLedgerNeverDecidedTwice) {
  Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto ref = reference(c);
  const std::string path = temp_ledger("crm_event_index.db");
  std::string err;
  int64_t units = 0, rows = 0;
  {
    auto sqlite = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(sqlite, nullptr) << err;
    CountingStore store(*sqlite);
    Stream s(c);
    ASSERT_TRUE(s.engine.attach(&store, err)) << err;
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
      if (i % 40 == 39) {
        ASSERT_TRUE(s.engine.commit(err)) << err;
      }
    }
    EXPECT_EQ(store.finds, 0u);  // no fingerprint met twice: nothing read back
    EXPECT_EQ(s.engine.remembered_events(), size_t(kEvents));
    // Duplicates of every id: committed ones, and (from 280 on) those of the open group.
    for (int i = 0; i < kEvents; ++i) {
      auto again = s.submit(order(i));
      ASSERT_TRUE(again) << i << ": " << s.error;
      EXPECT_EQ(*again, ref[i]) << i;
      if (i % 70 == 69) {
        ASSERT_TRUE(s.engine.commit(err)) << err;
      }
    }
    EXPECT_GE(store.finds, size_t(kEvents));  // each duplicate confirmed against the ledger
    ASSERT_TRUE(s.engine.commit(err)) << err;
    EXPECT_EQ(s.engine.decided_units(), size_t(kEvents));
  }
  units = count_rows(path, "crm_units");
  rows = count_rows(path, "crm_ledger");
  EXPECT_EQ(units, kEvents);
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Stream s(c);
    ASSERT_TRUE(s.engine.attach(store.get(), err)) << err;
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;  // the replay
    for (int i = 0; i < kEvents; i += 7) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;  // and duplicates
    // New ids after the restart: decided once, then answered.
    std::vector<std::vector<std::string>> fresh;
    for (int i = kEvents; i < kEvents + 20; ++i) fresh.push_back(s.submit(order(i)).value());
    for (int i = kEvents; i < kEvents + 20; ++i) EXPECT_EQ(s.submit(order(i)), fresh[size_t(i - kEvents)]) << i;
    ASSERT_TRUE(s.engine.commit(err)) << err;
    EXPECT_EQ(s.engine.decided_units(), 20u);
  }
  EXPECT_EQ(count_rows(path, "crm_units"), units + 20);
  EXPECT_GE(count_rows(path, "crm_ledger"), rows);
}

// Ids whose fingerprints collide (a test hash: every id the same, or one per id length) are
// each decided, exactly as with the default hash, and each duplicate gets its own decisions.
TEST(EventIndex, IdsWhoseFingerprintsCollideAreEachDecided) {
  Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto ref = reference(c);
  for (auto* hash : {&one_hash, &length_hash}) {
    for (bool sqlite : {false, true}) {
      SCOPED_TRACE(fmt::format("{} hash, {} store", hash == &one_hash ? "one" : "length", sqlite ? "sqlite" : "memory"));
      const std::string path = temp_ledger("crm_event_index_collide.db");
      std::string err;
      crm::state::MemoryStore memory;
      std::unique_ptr<crm::state::StateStore> file;
      if (sqlite) {
        ASSERT_NE(file = crm::state::open_store("sqlite:" + path, err), nullptr) << err;
      }
      CountingStore store(sqlite ? *file : memory);
      Stream s(c);
      s.engine.set_event_id_hash_for_testing(hash);
      ASSERT_TRUE(s.engine.attach(&store, err)) << err;
      for (int i = 0; i < kEvents; ++i) {
        ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
        if (i % 64 == 63) {
        ASSERT_TRUE(s.engine.commit(err)) << err;
      }
      }
      EXPECT_GT(store.finds, 0u);  // the collisions were confirmed against the ledger
      EXPECT_EQ(s.engine.decided_units(), size_t(kEvents));
      for (int i = kEvents - 1; i >= 0; i -= 3) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
      EXPECT_EQ(s.engine.decided_units(), size_t(kEvents));
      ASSERT_TRUE(s.engine.commit(err)) << err;
      if (sqlite) {
        EXPECT_EQ(count_rows(path, "crm_units"), kEvents);
      }
    }
  }
}

// A ledger written before this index (units without a recorded start, as schema version 7 left
// them, and crm_units rowids with a gap) resumes: its units are answered, new units are given
// the rowids after the largest and found again by them.
TEST(EventIndex, ALedgerFromBeforeTheIndexResumes) {
  Compiled c = crm::testing::compile_text(kProgram);
  ASSERT_TRUE(c.ok) << c.diagnostics;
  const auto ref = reference(c);
  const std::string path = temp_ledger("crm_event_index_old.db");
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Stream s(c);
    ASSERT_TRUE(s.engine.attach(store.get(), err)) << err;
    for (int i = 0; i < kEvents / 2; ++i) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
    ASSERT_TRUE(s.engine.commit(err)) << err;
  }
  ASSERT_NO_FATAL_FAILURE(crm::testing::widen_ledger_rows(path));  // whole records, as before schema 9
  crm::testing::exec_sql(path,
       "UPDATE crm_units SET first_seq = NULL, at = NULL;"
       "UPDATE crm_units SET seq = seq + 1000 WHERE seq = (SELECT max(seq) FROM crm_units);"
       "UPDATE crm_meta SET value = '7' WHERE key = 'schema_version';");
  {
    auto sqlite = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(sqlite, nullptr) << err;
    CountingStore store(*sqlite);
    Stream s(c);
    ASSERT_TRUE(s.engine.attach(&store, err)) << err;
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
    EXPECT_EQ(s.engine.decided_units(), size_t(kEvents / 2));
    ASSERT_TRUE(s.engine.commit(err)) << err;
    const size_t finds = store.finds;
    for (int i = 0; i < kEvents; ++i) ASSERT_EQ(s.submit(order(i)), ref[i]) << i << ": " << s.error;
    EXPECT_GE(store.finds, finds + kEvents / 2);  // the new half through their handles
    EXPECT_EQ(s.engine.decided_units(), size_t(kEvents / 2));
    ASSERT_TRUE(s.engine.commit(err)) << err;
  }
  EXPECT_EQ(count_rows(path, "crm_units"), kEvents);
  EXPECT_EQ(crm::testing::query_int(path, "SELECT min(seq) FROM crm_units WHERE first_seq IS NOT NULL"),
            kEvents / 2 + 1000 + 1);  // after the largest rowid
}
