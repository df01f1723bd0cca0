// ledger_rows_test.cc - the ledger's write path without a string per decision (issue 15 item 2):
// rows of views (state::LedgerRow) bound as they are, a worker's rows packed into one reused
// buffer (GroupLedger::PendingUnits), and the recorder's reused buffer of decision texts.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "runtime/state/group_ledger.h"
#include "runtime/state/ledger_names.h"
#include "runtime/state/state_store.h"

namespace {

using crm::state::LedgerEntry;
using crm::state::LedgerRow;
using crm::state::Unit;
using crm::state::UnitKind;

std::string fresh_path(const char* tag) {
  std::string path = ::testing::TempDir() + "crm_ledger_rows_" + tag + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

// An entry with every text set, each naming `tag` (so two entries differ in every column).
LedgerEntry sample(const std::string& unit, const std::string& tag) {
  LedgerEntry e;
  e.kind = UnitKind::Event;
  e.unit = unit;
  e.user = "user-" + tag;
  e.strategy = "strategy-" + tag;
  e.outcome = "granted";
  e.reason = "";
  e.resource = "resource-" + tag;
  e.channel = "channel-" + tag;
  e.code = "code-" + tag + std::string(40, 'c');  // longer than a string's inline capacity
  e.amount = 5'000'000;
  e.sales = 7;
  e.at = 1'700'000'000'000'000;
  e.granted_at = 0;
  e.json = R"({"event":")" + unit + R"(","user":"user-)" + tag + R"(")" + std::string(200, ' ') + "}";
  e.timer = "timer-" + tag;
  e.pool = "pool-" + tag;
  e.arm = "arm-" + tag;
  e.rollout = "rollout-" + tag;
  return e;
}

// Every column of the ledger (seq aside), from the one list of them: a column added there is
// compared here too.
void expect_same(const LedgerEntry& a, const LedgerEntry& b) {
#define CRM_LEDGER_TEXT(name, nullable, doc) EXPECT_EQ(a.name, b.name) << #name;
#define CRM_LEDGER_INT(name, zero_null, doc) EXPECT_EQ(a.name, b.name) << #name;
#define CRM_LEDGER_KIND(name, doc) EXPECT_EQ(a.name, b.name) << #name;
#include "runtime/state/ledger_columns.def"
}

}  // namespace

// SqliteStore binds views with SQLITE_STATIC: rows appended through append_rows read back as
// the same entries appended through append(), and a view of nothing in a NOT NULL column is ''.
TEST(LedgerRows, SqliteStoresRowsAsItStoresEntries) {
  std::string err;
  const std::string path = fresh_path("sqlite");
  std::vector<LedgerEntry> expected;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    int64_t first = 0;
    std::vector<LedgerEntry> a{sample("e1", "a"), sample("e1", "b")};
    ASSERT_TRUE(store->append(Unit(UnitKind::Event, "e1"), a, first, err)) << err;
    EXPECT_EQ(first, 1);
    expected.insert(expected.end(), a.begin(), a.end());
    // The same texts as rows of views, from buffers overwritten as soon as the call returns.
    std::vector<LedgerEntry> b{sample("e2", "c"), sample("e2", "d")};
    std::vector<LedgerRow> rows;
    for (const auto& e : b) rows.push_back(crm::state::row_of(e));
    ASSERT_TRUE(store->append_rows(Unit(UnitKind::Event, "e2"), rows.data(), rows.size(), first, err)) << err;
    EXPECT_EQ(first, 3);
    expected.insert(expected.end(), b.begin(), b.end());
    for (auto& e : b) std::fill(e.json.begin(), e.json.end(), 'x'), e.user.assign(e.user.size(), 'x');
    // Texts that are empty views (no data at all): '' where the column is NOT NULL.
    LedgerRow empty;
    empty.unit = "e3";
    empty.outcome = "granted";
    ASSERT_TRUE(store->append_rows(Unit(UnitKind::Event, "e3"), &empty, 1, first, err)) << err;
    LedgerEntry e3;
    e3.unit = "e3";
    e3.outcome = "granted";
    expected.push_back(e3);
    ASSERT_TRUE(store->commit(err)) << err;
  }
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<LedgerEntry> entries;
  std::vector<Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  ASSERT_EQ(entries.size(), expected.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(entries[i].seq, int64_t(i + 1));
    expect_same(entries[i], expected[i]);
  }
  ASSERT_EQ(units.size(), 3u);
  EXPECT_EQ(units[1].first, 3);
}

// A worker's rows are copied into its buffer when appended (the engine reuses what they view),
// a group's buffers stay as taken while the worker fills the buffers it got in exchange, and a
// reused buffer holds the new rows only: the ledger gets every row as it was appended.
TEST(LedgerRows, GroupBuffersKeepTheirRowsAcrossReuse) {
  crm::state::MemoryStore store;
  crm::state::GroupLedger group(store);
  std::string err;
  ASSERT_TRUE(group.load(err)) << err;
  group.make_workers(2);
  std::map<int64_t, LedgerEntry> expected;  // by position
  int unit = 0;
  // Appends `n` units of two rows on worker `w`; what the rows view is overwritten at once.
  auto append = [&](size_t w, int n, const std::string& tag) {
    for (int i = 0; i < n; ++i) {
      const std::string id = "e" + std::to_string(++unit);
      std::vector<LedgerEntry> kept;
      std::vector<LedgerRow> rows;
      for (int r = 0; r < 2; ++r) kept.push_back(sample(id, tag + std::to_string(i) + "." + std::to_string(r)));
      for (const auto& k : kept) rows.push_back(crm::state::row_of(k));
      int64_t first = 0;
      ASSERT_TRUE(group.worker(w).append_rows(Unit(UnitKind::Event, id), rows.data(), rows.size(), first, err)) << err;
      for (size_t r = 0; r < kept.size(); ++r) expected[first + int64_t(r)] = kept[r];
      // A worker's own unit not yet taken is read back from its buffer.
      std::vector<LedgerEntry> back;
      ASSERT_TRUE(group.worker(w).read(first, 2, back, err)) << err;
      ASSERT_EQ(back.size(), 2u);
      expect_same(back[1], kept[1]);
      EXPECT_EQ(back[1].seq, first + 1);
      for (auto& k : kept) k.json.assign(k.json.size(), '#'), k.code.assign(k.code.size(), '#'), k.user.assign(k.user.size(), '#');
    }
  };
  crm::state::GroupLedger::Units a, b;
  append(0, 3, "one/w0/");
  append(1, 2, "one/w1/");
  EXPECT_EQ(group.pending(), 5u);
  group.take(a);
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(group.pending(), 0u);
  append(0, 2, "two/w0/");  // into the buffers the worker got in exchange, before `a` is written
  ASSERT_TRUE(group.write(a, err)) << err;
  group.take(b);
  EXPECT_EQ(b.size(), 2u);
  ASSERT_TRUE(group.write(b, err)) << err;
  append(1, 4, "three/w1/");
  append(0, 1, "three/w0/");
  group.take(a);  // `a`'s buffers, cleared, went to the workers at the second take: reused now
  EXPECT_EQ(a.size(), 5u);
  ASSERT_TRUE(group.write(a, err)) << err;
  std::vector<LedgerEntry> entries;
  std::vector<Unit> units;
  ASSERT_TRUE(store.load(entries, units, err)) << err;
  ASSERT_EQ(entries.size(), expected.size());
  ASSERT_EQ(units.size(), 12u);
  for (const auto& e : entries) {
    SCOPED_TRACE(e.seq);
    ASSERT_TRUE(expected.count(e.seq));
    expect_same(e, expected[e.seq]);
  }
}

// The recorder renders each decision once into a buffer it reuses (a new epoch once it is
// full): a decision kept longer than that is rendered again, to the text the ledger holds.
TEST(LedgerRows, DecisionTextsOutliveTheRecordersBuffer) {
  crm::testing::Compiled c = crm::testing::compile_text(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per day }\n"
      "strategy t { who: amount > 5 CNY  when: on Order  what: grant c  how much: per user 2 per day }\n");
  ASSERT_TRUE(c.ok) << c.diagnostics;
  crm::state::MemoryStore store;
  crm::testing::Harness run(c);
  std::string err;
  ASSERT_TRUE(run.engine.attach(&store, err)) << err;
  std::vector<std::string> reported;  // as a caller reports them: right after each event
  for (int i = 0; i < 2000; ++i) {
    const std::string line = R"({"id":"ev)" + std::to_string(i) + R"(","type":"Order","user":"u)" + std::to_string(i % 37) +
                             R"(","time":"2026-01-01T00:)" + (i / 60 < 10 ? "0" : "") + std::to_string(i / 60) + ":" +
                             (i % 60 < 10 ? "0" : "") + std::to_string(i % 60) + R"(Z","amount":)" + std::to_string(i % 11) + "}";
    for (const auto& d : run.process(line)) {
      reported.push_back(run.engine.decision_json(d));
      std::string appended = "x";
      run.engine.append_decision_json(appended, d);
      EXPECT_EQ(appended, "x" + reported.back());
    }
  }
  ASSERT_TRUE(run.engine.commit(err)) << err;
  std::vector<LedgerEntry> entries;
  std::vector<Unit> units;
  ASSERT_TRUE(store.load(entries, units, err)) << err;
  // Well past the buffer's reuse (64 KiB): the early decisions are no longer in it.
  size_t bytes = 0;
  for (const auto& e : entries) bytes += e.json.size();
  ASSERT_GT(bytes, 4u * 64 * 1024);
  ASSERT_EQ(entries.size(), reported.size());
  ASSERT_EQ(run.decisions.size(), reported.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    ASSERT_EQ(entries[i].json, reported[i]) << i;
    // Kept (the harness copies every decision): rendered again once the buffer moved on.
    ASSERT_EQ(run.engine.decision_json(run.decisions[i]), reported[i]) << i;
  }
}

// SqliteStore writes ledger rows 32 to a statement; rows waiting for theirs are written before
// every read of the ledger and before the commit, in statements of 16, 8, 4, 2 and 1 rows, and
// dropped by a rollback. These tests append groups of every size from 1 to 70 rows (each
// remainder 1..31 alone and after one or two whole statements) and check that reads, commits,
// positions and rollbacks see exactly the rows appended, as when each row had its own statement.
namespace {

// Row `i` of a test: columns that vary with it (NULL or not, equal to the previous row's or not,
// a whole record as TEXT, a record crm never renders as a BLOB, a narrow row's tail), so that
// every parameter kind is written from every slot of every statement.
LedgerRow varied_row(const std::string& unit, int i, std::vector<std::string>& texts) {
  texts.clear();
  texts.reserve(8);
  auto keep = [&](std::string s) -> std::string_view { return texts.emplace_back(std::move(s)); };
  LedgerRow r;
  r.unit = unit;
  r.user = keep("u" + std::to_string(i % 7));
  r.strategy = i % 2 ? "flash" : "vip";
  r.outcome = i % 5 == 0 ? "rejected" : "granted";
  r.reason = i % 5 == 0 ? "stock" : "";
  r.resource = i % 3 ? "c10" : "";
  r.code = i % 4 == 1 ? keep("code-" + std::to_string(i) + std::string(size_t(i % 40), 'k')) : std::string_view();
  r.amount = i % 6 == 0 ? 0 : 1'000'000 * (i % 6);
  r.at = 1'700'000'000'000'000 + i;
  r.sales = i % 9 == 0 ? 5 : 0;
  r.granted_at = i % 8 == 0 ? 1'600'000'000'000'000 + i : 0;
  r.pool = i % 10 == 3 ? "shared" : "";
  switch (i % 4) {
    case 0: r.json = keep(R"({"event":")" + unit + R"(","n":)" + std::to_string(i) + "}"); break;
    case 1: r.json = keep("not a record " + std::to_string(i)); break;  // kept as a BLOB
    case 2: r.json = keep(R"(,"extra":)" + std::to_string(i) + "}"), r.json_tail = true; break;
    default: r.json = "}", r.json_tail = true; break;
  }
  return r;
}

// Appends a unit of `rows` rows (varied from row number `next`), recording what the ledger must
// then hold by position.
void append_unit(crm::state::StateStore& store, const std::string& id, int rows, int& next,
                 std::vector<LedgerEntry>& expected, std::vector<Unit>& units) {
  std::vector<LedgerRow> r;
  std::vector<std::vector<std::string>> texts(static_cast<size_t>(rows));
  for (int k = 0; k < rows; ++k) r.push_back(varied_row(id, next + k, texts[size_t(k)]));
  const Unit unit(rows % 3 == 2 ? UnitKind::Timer : UnitKind::Event, id, 1'700'000'000'000'000 + next);
  int64_t first = 0;
  std::string err;
  ASSERT_TRUE(store.append_rows(unit, r.data(), r.size(), first, err)) << err;
  ASSERT_EQ(first, int64_t(expected.size()) + 1) << id;
  for (const auto& row : r) {
    expected.push_back(crm::state::entry_of(row, unit.kind));
    expected.back().seq = int64_t(expected.size());
  }
  units.push_back(unit);
  units.back().first = first;
  next += rows;
  // What the rows viewed is overwritten at once: a waiting row must hold its own copy.
  for (auto& t : texts)
    for (auto& s : t) s.assign(s.size(), '#');
}

void expect_rows(crm::state::StateStore& store, int64_t first, size_t count, const std::vector<LedgerEntry>& expected) {
  std::vector<LedgerEntry> back;
  std::string err;
  ASSERT_TRUE(store.read(first, count, back, err)) << err;
  ASSERT_EQ(back.size(), count);
  for (size_t k = 0; k < count; ++k) {
    SCOPED_TRACE(first + int64_t(k));
    EXPECT_EQ(back[k].seq, first + int64_t(k));
    expect_same(back[k], expected[size_t(first - 1) + k]);
  }
}

void expect_ledger(const std::string& path, const std::vector<LedgerEntry>& expected, const std::vector<Unit>& units) {
  std::string err;
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<LedgerEntry> entries;
  std::vector<Unit> loaded;
  ASSERT_TRUE(store->load(entries, loaded, err)) << err;
  ASSERT_EQ(entries.size(), expected.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(entries[i].seq, int64_t(i + 1));
    expect_same(entries[i], expected[i]);
  }
  ASSERT_EQ(loaded.size(), units.size());
  for (size_t i = 0; i < units.size(); ++i) {
    SCOPED_TRACE(units[i].id);
    EXPECT_EQ(loaded[i].id, units[i].id);
    EXPECT_EQ(loaded[i].kind, units[i].kind);
    EXPECT_EQ(loaded[i].first, units[i].first);
    EXPECT_EQ(loaded[i].at, units[i].at);
  }
}

}  // namespace

// Groups of 1..70 rows, three ways: read back before the commit (the read writes the rows
// waiting, the commit nothing more), committed without a read (the commit writes them), and
// read after each unit (rows written a few at a time, then whole statements again after them).
TEST(LedgerRows, RowsWaitingForTheirStatementAreReadCommittedAndNumbered) {
  std::string err;
  const std::string path = fresh_path("batched");
  std::vector<LedgerEntry> expected;
  std::vector<Unit> units;
  int next = 0, id = 0;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    for (int way = 0; way < 3; ++way)
      for (int n = 1; n <= 70; ++n) {
        SCOPED_TRACE(::testing::Message() << "way " << way << ", " << n << " rows");
        const int64_t first = int64_t(expected.size()) + 1;
        for (int left = n, cycle = 0; left > 0;) {
          const int size = way == 1 ? 1 : std::min(cycle++ % 5 + 1, left);
          left -= size;
          ASSERT_NO_FATAL_FAILURE(append_unit(*store, "e" + std::to_string(++id), size, next, expected, units));
          if (id % 4 == 0) {  // a unit without decisions starts where the next decision will
            ASSERT_NO_FATAL_FAILURE(append_unit(*store, "e" + std::to_string(++id), 0, next, expected, units));
          }
          if (way == 2) {
            ASSERT_NO_FATAL_FAILURE(expect_rows(*store, int64_t(expected.size()) - size + 1, size_t(size), expected));
          }
        }
        if (way == 0) {
          ASSERT_NO_FATAL_FAILURE(expect_rows(*store, first, size_t(n), expected));
        }
        ASSERT_TRUE(store->commit(err)) << err;
        if (way != 0) {
          ASSERT_NO_FATAL_FAILURE(expect_rows(*store, first, size_t(n), expected));
        }
      }
  }
  ASSERT_NO_FATAL_FAILURE(expect_ledger(path, expected, units));
  EXPECT_EQ(crm::testing::query_int(path, "SELECT count(*) FROM crm_ledger"), int64_t(expected.size()));
}

// A rollback drops the group's rows, those already written and those still waiting, and the
// next rows take the positions after the last committed one.
TEST(LedgerRows, ARollbackDropsTheRowsWaitingAndWritten) {
  std::string err;
  const std::string path = fresh_path("rollback");
  std::vector<LedgerEntry> expected;
  std::vector<Unit> units;
  int next = 0, id = 0;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    ASSERT_NO_FATAL_FAILURE(append_unit(*store, "kept" + std::to_string(++id), 3, next, expected, units));
    ASSERT_TRUE(store->commit(err)) << err;
    for (int n : {1, 5, 31, 32, 33, 45, 64, 70}) {
      SCOPED_TRACE(n);
      std::vector<LedgerEntry> dropped = expected;
      std::vector<Unit> dropped_units = units;
      int dropped_next = next;
      for (int left = n; left > 0; left -= std::min(left, 7))
        ASSERT_NO_FATAL_FAILURE(
            append_unit(*store, "dropped" + std::to_string(++id), std::min(left, 7), dropped_next, dropped, dropped_units));
      if (n % 2) {
        ASSERT_NO_FATAL_FAILURE(expect_rows(*store, int64_t(expected.size()) + 1, size_t(n), dropped));
      }
      ASSERT_TRUE(store->rollback(err)) << err;
      ASSERT_NO_FATAL_FAILURE(append_unit(*store, "kept" + std::to_string(++id), 2, next, expected, units));
      ASSERT_TRUE(store->commit(err)) << err;
    }
  }
  ASSERT_NO_FATAL_FAILURE(expect_ledger(path, expected, units));
}

// A process that ends without committing (killed: no destructor, no rollback) leaves none of
// its group, neither the rows written by whole statements nor those waiting; one that
// committed leaves all of them.
TEST(LedgerRows, AnEndBeforeTheCommitKeepsNoneOfTheGroup) {
  for (bool commit : {false, true}) {
    SCOPED_TRACE(commit ? "committed" : "not committed");
    std::string err;
    const std::string path = fresh_path(commit ? "end_committed" : "end_uncommitted");
    std::vector<LedgerEntry> expected, all;
    std::vector<Unit> units, all_units;
    int next = 0, id = 0;
    fflush(nullptr);
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = crm::state::open_store("sqlite:" + path, err);
      if (!store) _exit(2);
      append_unit(*store, "e" + std::to_string(++id), 3, next, all, all_units);
      if (!store->commit(err)) _exit(3);
      for (int rows : {20, 20, 13, 1}) append_unit(*store, "e" + std::to_string(++id), rows, next, all, all_units);
      if (::testing::Test::HasFailure()) _exit(4);
      if (commit && !store->commit(err)) _exit(5);
      _exit(0);  // as a kill would: the store is neither destroyed nor rolled back
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    crm::state::MemoryStore mem;  // only numbers the units the ledger must hold
    next = id = 0;
    ASSERT_NO_FATAL_FAILURE(append_unit(mem, "e" + std::to_string(++id), 3, next, expected, units));
    if (commit) {
      for (int rows : {20, 20, 13, 1}) {
        ASSERT_NO_FATAL_FAILURE(append_unit(mem, "e" + std::to_string(++id), rows, next, expected, units));
      }
    }
    ASSERT_NO_FATAL_FAILURE(expect_ledger(path, expected, units));
  }
}

// The ledger readers' verdict on a row whose only unusual number might be its `at`.
static const char* foreign_at(int64_t at) {
  using N = crm::state::LedgerNumber;
  return crm::state::foreign_number(N{N::Type::Integer, at}, N{N::Type::Integer, 0}, N{N::Type::Integer, 0},
                                    N{N::Type::Null, 0});
}

// The ledger's reader refuses a row whose `at` is outside crm's time (state::foreign_number: the
// ledger "changed outside crm"), so the writer never writes one: such a unit is refused whole,
// nothing of it on disk, and the ledger stays readable. Every way an instant enters is checked
// before this; before, an event at 0001-01-01T00:00:00+01:00 was written as year 0.
TEST(LedgerRows, SqliteNeverWritesATimeItsReaderRefuses) {
  std::string err;
  const std::string path = fresh_path("range");
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    int64_t first = 0;
    ASSERT_TRUE(store->append(Unit(UnitKind::Event, "e1"), {sample("e1", "a")}, first, err)) << err;
    for (int64_t at : {crm::support::kFirstInstant - 1, crm::support::kLastInstant + 1}) {
      LedgerEntry bad = sample("e2", "b");
      bad.at = at;
      err.clear();
      EXPECT_FALSE(store->append(Unit(UnitKind::Event, "e2"), {sample("e2", "c"), bad}, first, err));
      EXPECT_NE(err.find("is outside crm's time (0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z): not written"),
                std::string::npos)
          << err;
      EXPECT_EQ(foreign_at(at), std::string("at"));
    }
    LedgerEntry edge = sample("e3", "d");
    edge.at = crm::support::kFirstInstant;
    ASSERT_TRUE(store->append(Unit(UnitKind::Event, "e3"), {edge}, first, err)) << err;
    edge.unit = "e4", edge.at = crm::support::kLastInstant;
    ASSERT_TRUE(store->append(Unit(UnitKind::Event, "e4"), {edge}, first, err)) << err;
    ASSERT_TRUE(store->commit(err)) << err;
  }
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<LedgerEntry> entries;
  std::vector<Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  ASSERT_EQ(entries.size(), 3u);  // e1, e3, e4: nothing of e2
  for (const auto& e : entries) {
    EXPECT_NE(e.unit, "e2");
    EXPECT_EQ(foreign_at(e.at), nullptr) << e.unit;
  }
}
