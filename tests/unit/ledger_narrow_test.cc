// ledger_narrow_test.cc - the SQLite ledger's cheaper writes (issue 15 item 2, session 17):
// SQLite's memory statistics turned off once per process, and harmless when the embedding
// program initialized SQLite first.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdlib>
#include <string>
#include <unistd.h>
#include <vector>

#include "sqlite_helpers.h"
#include "runtime/state/state_store.h"

namespace {

using crm::state::LedgerEntry;
using crm::state::Unit;
using crm::state::UnitKind;

std::string fresh_path(const char* tag) {
  std::string path = ::testing::TempDir() + "crm_ledger_narrow_" + tag + "_" + std::to_string(::getpid()) + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

// Opens a ledger, appends and commits a few decisions and reads them back: 0 when all of that
// worked, else the step that failed (an exit code of the death test's child).
int write_and_read(const std::string& path) {
  std::string err;
  auto store = crm::state::open_sqlite_store(path, err);
  if (!store) return 10;
  std::vector<LedgerEntry> rows(3);
  for (size_t i = 0; i < rows.size(); ++i) {
    rows[i].unit = "e1";
    rows[i].user = "u" + std::to_string(i);
    rows[i].strategy = "s";
    rows[i].outcome = "granted";
    rows[i].at = 1'700'000'000'000'000 + int64_t(i);
    rows[i].json = "{\"n\":" + std::to_string(i) + "}";
  }
  int64_t first = 0;
  if (!store->append(Unit(UnitKind::Event, "e1"), rows, first, err) || !store->commit(err)) return 11;
  std::vector<LedgerEntry> back;
  if (!store->read(first, rows.size(), back, err) || back.size() != rows.size()) return 12;
  for (size_t i = 0; i < rows.size(); ++i)
    if (back[i].json != rows[i].json || back[i].user != rows[i].user) return 13;
  return 0;
}

// The most SQLite's statistics ever counted as allocated (0 when they are off).
sqlite3_int64 memory_highwater() {
  sqlite3_int64 now = 0, high = 0;
  sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &now, &high, 0);
  return high;
}

// Each case runs in a new process (the death test's "threadsafe" style executes the test
// binary again for it), where SQLite is not initialized yet: the setting is process-wide.
class SqliteConfig : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

// A process whose first use of SQLite is a ledger: the statistics are off (sqlite3_memory_used
// never counted anything while the ledger allocated), the setting took once, and asking again changes nothing.
TEST_F(SqliteConfig, MemoryStatisticsAreOffWhenALedgerIsSQLitesFirstUse) {
  const std::string path = fresh_path("first");
  EXPECT_EXIT(
      {
        if (int rc = write_and_read(path)) std::_Exit(rc);
        if (memory_highwater() != 0) std::_Exit(20);
        if (!crm::state::configure_sqlite() || !crm::state::configure_sqlite()) std::_Exit(21);
        if (int rc = write_and_read(path + "2")) std::_Exit(rc);  // a second ledger: the same
        std::_Exit(memory_highwater() == 0 ? 0 : 22);
      },
      ::testing::ExitedWithCode(0), "");
  crm::testing::remove_ledger_files(path);
  crm::testing::remove_ledger_files(path + "2");
}

// The embedding program initialized SQLite (and reads its statistics) before opening a ledger:
// the setting is refused without harm, the statistics keep counting and the ledger works.
TEST_F(SqliteConfig, AnEmbedderWhoInitializedSQLiteFirstKeepsItsSettings) {
  const std::string path = fresh_path("embedder");
  EXPECT_EXIT(
      {
        if (sqlite3_initialize() != SQLITE_OK) std::_Exit(30);
        sqlite3* db = nullptr;
        if (sqlite3_open(":memory:", &db) != SQLITE_OK) std::_Exit(31);
        const sqlite3_int64 before = sqlite3_memory_used();
        if (before <= 0) std::_Exit(32);  // the embedder's statistics are on
        if (crm::state::configure_sqlite()) std::_Exit(33);  // refused: SQLite is initialized
        if (int rc = write_and_read(path)) std::_Exit(rc);
        if (sqlite3_memory_used() <= 0) std::_Exit(34);  // still counting
        sqlite3_close(db);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
  crm::testing::remove_ledger_files(path);
}

}  // namespace
