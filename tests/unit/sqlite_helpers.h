// sqlite_helpers.h - what unit tests do to a SQLite ledger by hand: a fresh path for one, a
// statement run on it (a hand edit, a downgrade), one integer read back. gtest assertions inside.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "runtime/state/state_store.h"

namespace crm::testing {

// Removes a ledger and its companion files (WAL, shared memory, the single-writer lock).
inline void remove_ledger_files(const std::string& path) {
  for (const char* ext : {"", "-wal", "-shm", ".lock"}) std::remove((path + ext).c_str());
}

// Runs `sql` (one or more statements) on the database at `path`; a failure is a fatal test
// failure naming SQLite's message (callers that go on use ASSERT_NO_FATAL_FAILURE).
inline void exec_sql(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  const int opened = sqlite3_open(path.c_str(), &db);
  char* msg = nullptr;
  const int rc = opened == SQLITE_OK ? sqlite3_exec(db, sql, nullptr, nullptr, &msg) : opened;
  const std::string why = msg ? msg : sqlite3_errmsg(db);
  sqlite3_free(msg);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << path << ": " << why;
}

// The first column of the first row of `sql` as an integer; -1 (and a test failure) when the
// query cannot be run or gives no row.
inline int64_t query_int(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  int64_t n = -1;
  const bool ran = sqlite3_prepare_v2(db, sql, -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW;
  EXPECT_TRUE(ran) << sql << ": " << sqlite3_errmsg(db);
  if (ran) n = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

// Makes every row of the ledger at `path` keep its whole record in `json`, as ledgers before
// schema version 9 did (narrow rows rendered whole through the store): for a test that sets a
// ledger written now back to an older version by hand.
inline void widen_ledger_rows(const std::string& path) {
  std::vector<state::LedgerEntry> entries;
  {
    std::string err;
    auto store = state::open_sqlite_store(path, err);
    ASSERT_TRUE(store) << err;
    std::vector<state::Unit> units;
    ASSERT_TRUE(store->load(entries, units, err)) << err;
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "UPDATE crm_ledger SET json = ?1 WHERE seq = ?2", -1, &s, nullptr), SQLITE_OK);
  for (const auto& e : entries) {
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, e.json.data(), int(e.json.size()), SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, e.seq);
    EXPECT_EQ(sqlite3_step(s), SQLITE_DONE) << sqlite3_errmsg(db);
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
}

}  // namespace crm::testing
