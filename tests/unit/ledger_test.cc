// ledger_test.cc - what a ledger guarantees beyond restarts: one writer, one snapshot at load,
// consecutive unit rows, length-exact ids, separate key spaces for events and scheduled runs,
// and the identity of the program that wrote it (docs/semantics.md, "Durable state").
#include <crm/report.h>
#include <crm/runtime.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>
#include <fstream>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "runtime/engine/program_identity.h"
#include "runtime/state/redis_quotas.h"
#include "runtime/state/state_store.h"

namespace {

using crm::testing::Compiled;
using Replay = crm::testing::Harness;

Compiled compile(const std::string& text) {
  Compiled c = crm::testing::compile_text(text);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

// A fresh ledger path per test (ctest runs the tests of a binary as parallel processes).
std::string fresh_path(const char* tag) {
  std::string path = ::testing::TempDir() + "crm_ledger_" + tag + ".db";
  crm::testing::remove_ledger_files(path);
  return path;
}

std::string order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":10})";
}

size_t count_of(const std::vector<std::string>& decisions, const char* what) {
  size_t n = 0;
  for (const auto& d : decisions) n += d.find(what) != std::string::npos;
  return n;
}

const char* kStock = "event Order { amount: Money(CNY) }\n"
                     "resource coupon c { discount: 5 CNY }\n"
                     "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign, stock 3 }\n";

// Records `orders` in a fresh SQLite ledger at `path` and commits them.
void record_orders(const Compiled& c, const std::string& path, const std::vector<std::string>& orders) {
  std::string err;
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
  for (const auto& o : orders) run.feed(o);
  ASSERT_TRUE(run.engine.commit(err)) << err;
}

}  // namespace

// ---- one writer ---------------------------------------------------------------------------------

// The lock file is written (the owner's pid@host): a symbolic link planted at its name is not
// followed (the file it names was truncated and overwritten), nor is a FIFO or another
// non-regular file used; the error names the lock file, and the ledger opens once it is gone.
TEST(Ledger, TheLockFileIsNeverASymlink) {
  namespace fs = std::filesystem;
  std::string path = fresh_path("lock_symlink");
  std::string victim = ::testing::TempDir() + "crm_ledger_lock_victim";
  std::ofstream(victim) << "precious\n";
  fs::remove(path + ".lock");
  fs::create_symlink(victim, path + ".lock");
  std::string err;
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  EXPECT_NE(err.find("the lock file `" + path + ".lock` is a symbolic link"), std::string::npos) << err;
  std::ifstream in(victim);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "precious\n");
  // A dangling link would have been created through: the file it names is not made.
  fs::remove(path + ".lock");
  fs::create_symlink(victim + ".new", path + ".lock");
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  EXPECT_FALSE(fs::exists(victim + ".new"));
  fs::remove(path + ".lock");
  ASSERT_EQ(::mkfifo((path + ".lock").c_str(), 0600), 0);
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  EXPECT_NE(err.find("is not a regular file"), std::string::npos) << err;
  fs::remove(path + ".lock");
  auto store = crm::state::open_store("sqlite:" + path, err);
  EXPECT_NE(store, nullptr) << err;
  fs::remove(victim);
}

TEST(Ledger, ASecondWriterIsRefusedWhileReadersStillRead) {
  std::string path = fresh_path("writer");
  std::string err;
  auto first = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(first, nullptr) << err;
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  // This process holds it: the message says so instead of sending the user to look for another
  // process with this one's pid.
  EXPECT_NE(err.find("is already open in this process"), std::string::npos) << err;
  EXPECT_EQ(err.find("another crm process"), std::string::npos) << err;
  EXPECT_NE(err.find(path), std::string::npos) << err;
  // Another name for the same file is the same ledger.
  std::filesystem::path p(path);
  std::string other = (p.parent_path() / "." / p.filename()).string();
  std::filesystem::remove(p.parent_path() / "crm_ledger_writer_link");
  std::filesystem::create_directory_symlink(p.parent_path(), p.parent_path() / "crm_ledger_writer_link");
  std::string linked = (p.parent_path() / "crm_ledger_writer_link" / p.filename()).string();
  for (const auto& name : {other, linked}) {
    EXPECT_EQ(crm::state::open_store("sqlite:" + name, err), nullptr) << name;
    EXPECT_NE(err.find("is already open in this process"), std::string::npos) << err;
  }
  std::filesystem::remove(p.parent_path() / "crm_ledger_writer_link");
  // A hard link is another name with its own `.lock` file, but the same database file.
  std::filesystem::path hard = p.parent_path() / "crm_ledger_writer_hard.db";
  std::filesystem::remove(hard);
  std::filesystem::create_hard_link(p, hard);
  EXPECT_EQ(crm::state::open_store("sqlite:" + hard.string(), err), nullptr);
  EXPECT_NE(err.find("is already open in this process under another name for the same file"), std::string::npos) << err;
  std::filesystem::remove(hard);
  std::filesystem::remove(hard.string() + ".lock");
  // A reader (what sqlite3 or a report does) is not a writer: it reads while the writer runs.
  Compiled c = compile(kStock);
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(first.get(), err)) << err;
  run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  ASSERT_TRUE(run.engine.commit(err)) << err;
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT count(*) FROM crm_ledger", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(s, 0), 1);
  sqlite3_finalize(s);
  sqlite3_close(db);
  // The lock goes with its store: the next writer gets the ledger.
  first.reset();
  EXPECT_NE(crm::state::open_store("sqlite:" + path, err), nullptr) << err;
}

TEST(Ledger, TheCppApiHasOneWriterToo) {
  std::string path = fresh_path("api_writer");
  std::string src = ::testing::TempDir() + "crm_ledger_api_writer.crm";
  std::ofstream(src) << kStock;
  auto out = crm::compile_files({src});
  ASSERT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  crm::Runtime a(out.program), b(out.program);
  std::string err;
  ASSERT_TRUE(a.open_state("sqlite:" + path, err)) << err;
  EXPECT_FALSE(b.open_state("sqlite:" + path, err));
  EXPECT_NE(err.find("is already open in this process"), std::string::npos) << err;
}

// ---- load is one snapshot -------------------------------------------------------------------------

namespace {
// Another writer (a connection that takes no crm lock) commits a unit and its decision at the
// moment the store starts reading its decisions, after it has read its units.
sqlite3* g_other = nullptr;
bool g_committed = false;
int commit_between_reads(unsigned, void*, void* stmt, void*) {
  const char* sql = sqlite3_sql(static_cast<sqlite3_stmt*>(stmt));
  if (g_committed || !g_other || !sql || !std::strstr(sql, "FROM crm_ledger") || std::strncmp(sql, "SELECT", 6) != 0)
    return 0;
  g_committed = true;
  sqlite3_exec(g_other,
               "BEGIN IMMEDIATE; INSERT INTO crm_units (unit) VALUES ('late');"
               "INSERT INTO crm_ledger (unit, user, strategy, outcome, amount, at, json) VALUES ('late', 'z', 's', 'rejected',"
               " 0, 0, '{}'); COMMIT;",
               nullptr, nullptr, nullptr);
  return 0;
}
int trace_connection(sqlite3* db, const char**, const sqlite3_api_routines*) {
  sqlite3_trace_v2(db, SQLITE_TRACE_STMT, commit_between_reads, nullptr);
  return SQLITE_OK;
}
}  // namespace

TEST(Ledger, LoadReadsOneSnapshot) {
  std::string path = fresh_path("snapshot");
  Compiled c = compile(kStock);
  std::string err;
  record_orders(c, path, {order("e1", "a", "2026-01-01T00:00:00Z")});
  ASSERT_EQ(sqlite3_open(path.c_str(), &g_other), SQLITE_OK);
  sqlite3_busy_timeout(g_other, 5000);
  g_committed = false;
  sqlite3_auto_extension(reinterpret_cast<void (*)()>(trace_connection));
  auto store = crm::state::open_store("sqlite:" + path, err);
  sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(trace_connection));
  ASSERT_NE(store, nullptr) << err;
  Replay run(c);
  bool attached = run.engine.attach(store.get(), err);
  sqlite3_close(g_other);
  g_other = nullptr;
  ASSERT_TRUE(g_committed) << "the other writer never ran";
  EXPECT_TRUE(attached) << err;  // not "a decision for a unit that was never completed"
}

// ---- a unit's rows are consecutive -----------------------------------------------------------------

TEST(Ledger, InterleavedUnitRowsAreAnErrorNotAnotherEventsDecisions) {
  std::string path = fresh_path("interleaved");
  Compiled c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "resource coupon d { discount: 1 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App, grant d via App }\n");
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    ASSERT_EQ(run.feed(order("e1", "a", "2026-01-01T00:00:00Z")).size(), 2u);
    ASSERT_EQ(run.feed(order("e2", "b", "2026-01-01T00:00:01Z")).size(), 2u);
    ASSERT_TRUE(run.engine.commit(err)) << err;
  }
  // Rows 1,2 are e1's and 3,4 e2's; swap rows 2 and 3: e1 = {1, 3}, e2 = {2, 4}.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "UPDATE crm_ledger SET seq = 100 WHERE seq = 2; UPDATE crm_ledger SET seq = 2 WHERE seq = 3;"
                         "UPDATE crm_ledger SET seq = 3 WHERE seq = 100;",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  Replay run(c);
  EXPECT_FALSE(run.engine.attach(store.get(), err));
  EXPECT_NE(err.find("not consecutive"), std::string::npos) << err;
  EXPECT_NE(err.find("event \"e1\""), std::string::npos) << err;
  EXPECT_NE(err.find(path), std::string::npos) << err;
}

// ---- every row is one crm could have written ---------------------------------------------------------

// A granted row whose outcome was edited by hand would count for no stock when the counters are
// rebuilt (an overgrant after the restart), so opening the ledger refuses it and names the row;
// the same for a reason or a unit kind outside the table. The ledger is left as it was.
TEST(Ledger, RowsCrmNeverWritesAreRefusedAtOpen) {
  Compiled c = compile(kStock);
  struct Case {
    const char* tag;
    const char* sql;
    const char* message;
  };
  for (const Case& k : {Case{"outcome", "UPDATE crm_ledger SET outcome = 'grantd' WHERE seq = 2",
                             "ledger row 2 has outcome `grantd`, which crm never writes"},
                        Case{"reason", "UPDATE crm_ledger SET reason = 'stock ' WHERE seq = 1",
                             "ledger row 1 has reason `stock `, which crm never writes"},
                        Case{"kind", "UPDATE crm_ledger SET kind = 7 WHERE seq = 2",
                             "ledger row 2 has kind `7`, which crm never writes"},
                        Case{"textkind", "UPDATE crm_ledger SET kind = '1x' WHERE seq = 1",
                             "ledger row 1 has kind `1x`, which crm never writes"},
                        Case{"unitkind", "UPDATE crm_units SET kind = 9 WHERE seq = 2",
                             "unit row 2 has kind `9`, which crm never writes"},
                        Case{"escape", "UPDATE crm_ledger SET outcome = 'granted' || char(27) || '[31m' WHERE seq = 2",
                             "ledger row 2 has outcome `granted\\u001b[31m`, which crm never writes"}}) {
    SCOPED_TRACE(k.tag);
    std::string path = fresh_path(k.tag);
    std::string err;
    record_orders(c, path, {order("e1", "a", "2026-01-01T00:00:00Z"), order("e2", "b", "2026-01-01T00:00:01Z")});
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, k.sql, nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_stmt* s = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT group_concat(outcome || ':' || coalesce(reason, '') || ':' || kind, ',') FROM crm_ledger",
                                 -1, &s, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    std::string before = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    sqlite3_close(db);

    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    EXPECT_FALSE(run.engine.attach(store.get(), err));
    EXPECT_NE(err.find(k.message), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << err;
    store.reset();

    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT group_concat(outcome || ':' || coalesce(reason, '') || ':' || kind, ',') FROM crm_ledger",
                                 -1, &s, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
    EXPECT_EQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), before);
    sqlite3_finalize(s);
    sqlite3_close(db);
  }
}

// The numbers the counters are rebuilt from are checked at open as `crm report` checks them (one
// rule: state::foreign_number, foreign_unit_number): a granted row whose amount was edited to a
// text (read as 0), a REAL (read cut) or a negative number gave budget back, and the run went on
// to overspend it. Each is refused naming the table, the row and the column, the ledger left as
// it was; `crm report` and `crm shared reconcile`'s totals refuse the same rows.
TEST(Ledger, NumbersCrmNeverWritesAreRefusedAtOpen) {
  Compiled c = compile(kStock);
  struct Case {
    const char* tag;
    const char* sql;
    const char* message;
  };
  for (const Case& k :
       {Case{"text_amount", "UPDATE crm_ledger SET amount = 'abc' WHERE seq = 2", "ledger row 2 has amount `abc`, which crm never writes"},
        Case{"real_amount", "UPDATE crm_ledger SET amount = 2.5 WHERE seq = 2", "ledger row 2 has amount `2.5`, which crm never writes"},
        Case{"negative_amount", "UPDATE crm_ledger SET amount = -5000000 WHERE seq = 1",
             "ledger row 1 has amount `-5000000`, which crm never writes"},
        Case{"text_at", "UPDATE crm_ledger SET at = '2026-01-01' WHERE seq = 2",
             "ledger row 2 has at `2026-01-01`, which crm never writes"},
        Case{"far_at", "UPDATE crm_ledger SET at = 9223372036854775807 WHERE seq = 2",
             "ledger row 2 has at `9223372036854775807`, which crm never writes"},
        Case{"real_sales", "UPDATE crm_ledger SET sales = 1.5 WHERE seq = 1", "ledger row 1 has sales `1.5`, which crm never writes"},
        Case{"text_granted_at", "UPDATE crm_ledger SET granted_at = 'x' WHERE seq = 2",
             "ledger row 2 has granted_at `x`, which crm never writes"},
        Case{"text_first_seq", "UPDATE crm_units SET first_seq = 'one' WHERE seq = 2",
             "unit row 2 has first_seq `one`, which crm never writes"},
        Case{"zero_first_seq", "UPDATE crm_units SET first_seq = 0 WHERE seq = 1",
             "unit row 1 has first_seq `0`, which crm never writes"},
        Case{"real_unit_at", "UPDATE crm_units SET at = 1.5 WHERE seq = 2", "unit row 2 has at `1.5`, which crm never writes"}}) {
    SCOPED_TRACE(k.tag);
    std::string path = fresh_path(k.tag);
    std::string err;
    record_orders(c, path, {order("e1", "a", "2026-01-01T00:00:00Z"), order("e2", "b", "2026-01-01T00:00:01Z")});
    auto dump = [&] {
      sqlite3* db = nullptr;
      EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
      sqlite3_stmt* s = nullptr;
      EXPECT_EQ(sqlite3_prepare_v2(db,
                                   "SELECT (SELECT group_concat(quote(seq) || quote(outcome) || quote(amount) || quote(at) || "
                                   "quote(sales) || quote(granted_at), ',') FROM crm_ledger) || ';' || (SELECT "
                                   "group_concat(quote(seq) || quote(unit) || quote(first_seq) || quote(at), ',') FROM crm_units)",
                                   -1, &s, nullptr),
                SQLITE_OK);
      std::string out;
      if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) out = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
      sqlite3_finalize(s);
      sqlite3_close(db);
      return out;
    };
    {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
      ASSERT_EQ(sqlite3_exec(db, k.sql, nullptr, nullptr, nullptr), SQLITE_OK);
      ASSERT_EQ(sqlite3_changes(db), 1);
      sqlite3_close(db);
    }
    const std::string before = dump();

    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    EXPECT_FALSE(run.engine.attach(store.get(), err));
    EXPECT_NE(err.find(k.message), std::string::npos) << err;
    EXPECT_NE(err.find(path), std::string::npos) << err;
    store.reset();
    EXPECT_EQ(dump(), before);

    // The report refuses the same row with the same words.
    crm::report::Options ro;
    ro.state = "sqlite:" + path;
    crm::report::Report r = crm::report::build(ro);
    EXPECT_FALSE(r.ok);
    EXPECT_NE(r.error.find(k.message), std::string::npos) << r.error;

    // So do the totals `crm shared reconcile` counts from a ledger.
    std::map<std::string, crm::state::Quota> totals;
    EXPECT_FALSE(crm::state::ledger_totals(path, totals, err));
    EXPECT_NE(err.find(k.message), std::string::npos) << err;
  }
}

// ---- ids round-trip exactly -------------------------------------------------------------------------

// Event ids and user ids may hold any character, NUL and other control characters included
// (JSON escapes them). Read back from the ledger they are the same ids: a restart repeats the
// decisions of an event it has seen and keeps a user's claims.
TEST(Ledger, IdsWithControlCharactersRoundTripThroughTheLedger) {
  std::string path = fresh_path("control_ids");
  Compiled c = compile(kStock);
  // Two events whose ids differ only after a NUL, and users that differ only after a NUL or
  // by a control character.
  std::vector<std::string> events = {order("e\\u0000x", "u\\u0000a", "2026-01-01T00:00:00Z"),
                                     order("e\\u0000y", "u\\u0000b", "2026-01-01T00:00:01Z")};
  std::string err;
  std::vector<std::string> first;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    for (const auto& e : events) for (auto& d : run.feed(e)) first.push_back(d);
    ASSERT_TRUE(run.engine.commit(err)) << err;
  }
  ASSERT_EQ(count_of(first, "\"granted\""), 2u);
  EXPECT_EQ(count_of(first, R"("user":"u\u0000a")"), 1u);
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].id, std::string("e\0x", 3));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].user, std::string("u\0b", 3));
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
  std::vector<std::string> again;
  for (const auto& e : events) for (auto& d : run.feed(e)) again.push_back(d);
  EXPECT_EQ(again, first);  // repeated, not granted a second time
  // The users' claims were restored: `per user 1 per campaign` refuses a new event of either.
  auto more = run.feed(order("e3", "u\\u0000a", "2026-01-02T00:00:00Z"));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_NE(more[0].find("per_user_limit"), std::string::npos) << more[0];
  more = run.feed(order("e4", "u\\u0001", "2026-01-02T00:00:01Z"));  // a control character: a user of its own
  ASSERT_EQ(more.size(), 1u);
  EXPECT_NE(more[0].find("\"granted\""), std::string::npos) << more[0];
}

// ---- internal units have their own key space -------------------------------------------------------

namespace {
const char* kScheduled = "event Order { amount: Money(CNY) }\n"
                         "resource coupon c { discount: 5 CNY }\n"
                         "strategy remind { who: true  when: at 2026-01-02T00:00Z  what: grant c via App }\n";
// The key a scheduled run of `remind` had in the one key space of version 2 ledgers.
const std::string kRunKey = "schedule:remind@1767312000000000";
}  // namespace

TEST(Ledger, AnEventIdShapedLikeAScheduledRunDoesNotCancelTheRun) {
  Compiled c = compile(kScheduled);
  std::string path = fresh_path("keyspace");
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    EXPECT_TRUE(run.feed(order(kRunKey, "a", "2026-01-01T00:00:00Z")).empty());
    std::vector<crm::engine::Decision> out;
    EXPECT_TRUE(run.engine.fire_schedules(crm::testing::T("2026-01-03T00:00:00Z"), out, err)) << err;
    ASSERT_EQ(out.size(), 1u);  // the run happened: the event was not taken for it
    EXPECT_EQ(out[0].outcome, crm::engine::Outcome::Granted);
    ASSERT_TRUE(run.engine.commit(err)) << err;
  }
  // The other way round, and after a restart: the run is recorded first, and an event with its
  // key is an event of its own (decided, not answered with the run's decisions).
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  ASSERT_EQ(units.size(), 2u);
  EXPECT_EQ(units[0].kind, crm::state::UnitKind::Event);
  EXPECT_EQ(units[1].kind, crm::state::UnitKind::Schedule);
  EXPECT_EQ(units[0].id, kRunKey);
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
  EXPECT_TRUE(run.feed(order(kRunKey, "a", "2026-01-01T00:00:00Z")).empty());  // the event: repeated
  std::vector<crm::engine::Decision> out;
  EXPECT_TRUE(run.engine.fire_schedules(crm::testing::T("2026-01-03T00:00:00Z"), out, err)) << err;
  ASSERT_EQ(out.size(), 1u);  // the run: repeated from the ledger, not decided again
  EXPECT_EQ(out[0].outcome, crm::engine::Outcome::Granted);
  EXPECT_TRUE(run.feed(order(kRunKey + "x", "a", "2026-01-04T00:00:00Z")).empty());
  // A scheduled run first, then a new event with its key.
  Compiled c2 = compile(kScheduled);
  crm::state::MemoryStore mem;
  Replay fresh(c2);
  ASSERT_TRUE(fresh.engine.attach(&mem, err)) << err;
  fresh.feed(order("o1", "a", "2026-01-01T00:00:00Z"));
  out.clear();
  EXPECT_TRUE(fresh.engine.fire_schedules(crm::testing::T("2026-01-03T00:00:00Z"), out, err)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(fresh.feed(order(kRunKey, "a", "2026-01-03T00:00:00Z")).empty());  // not the run's grant
}

// An empty id cannot be told from another empty id (every such event would be a repeat of the
// first) nor from a scheduled decision's `"event":null`: refused at ingest, as an empty user is.
TEST(Ledger, EmptyEventAndUserIdsAreRefused) {
  Compiled c = compile(kScheduled);
  crm::engine::Engine engine(c.program());
  crm::engine::Event ev;
  std::string err;
  EXPECT_FALSE(engine.parse_event(order("", "a", "2026-01-01T00:00:00Z"), ev, err));
  EXPECT_EQ(err, "`id` must not be empty");
  EXPECT_FALSE(engine.parse_event(order("e1", "", "2026-01-01T00:00:00Z"), ev, err));
  EXPECT_EQ(err, "`user` must not be empty");
}

// Version 2 ledgers had one key space; migrated in place, a unit with the shape of a scheduled
// run's key is one, and the rest are events.
TEST(Ledger, VersionTwoLedgersAreMigratedWithTheirUnitKinds) {
  std::string path = fresh_path("v2");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE crm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "INSERT INTO crm_meta VALUES ('schema_version', '2');"
                         "CREATE TABLE crm_units (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL);"
                         "CREATE TABLE crm_ledger (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, user TEXT NOT NULL,"
                         " strategy TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT, resource TEXT, channel TEXT,"
                         " code TEXT, amount INTEGER NOT NULL, at INTEGER NOT NULL, json TEXT NOT NULL,"
                         " sales INTEGER NOT NULL DEFAULT 0, granted_at INTEGER);"
                         "INSERT INTO crm_units (unit) VALUES ('e1'), ('schedule:remind@1767312000000000');"
                         "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, amount, at, json)"
                         " VALUES ('schedule:remind@1767312000000000', 'a', 'remind', 'granted', 'c', 'App', 5000000,"
                         " 1767312000000000, '{\"recorded\":1}');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  Compiled c = compile(kScheduled);
  std::string err;
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
  ASSERT_EQ(run.engine.notices().size(), 1u);  // which program wrote it is not known
  EXPECT_NE(run.engine.notices()[0].find("before ledgers kept the identity"), std::string::npos);
  run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  std::vector<crm::engine::Decision> out;
  EXPECT_TRUE(run.engine.fire_schedules(crm::testing::T("2026-01-03T00:00:00Z"), out, err)) << err;
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].json, "{\"recorded\":1}");  // the recorded run, repeated
}

// ---- program identity --------------------------------------------------------------------------------

namespace {
// Records e1..e3 (three grants of stock 3) with `program`, then attaches `next` to the ledger.
struct TwoPrograms {
  explicit TwoPrograms(std::string p) : path(std::move(p)) {}
  std::string path;
  std::string err;
  std::unique_ptr<crm::state::StateStore> store;
  bool attach(const Compiled& first, const Compiled& next, bool allow, Replay& run) {
    {
      auto s = crm::state::open_store("sqlite:" + path, err);
      EXPECT_NE(s, nullptr) << err;
      Replay r(first);
      EXPECT_TRUE(r.engine.attach(s.get(), err)) << err;
      for (int i = 1; i <= 3; ++i) r.feed(order("e" + std::to_string(i), "u" + std::to_string(i), "2026-01-01T00:00:0" + std::to_string(i) + "Z"));
      EXPECT_TRUE(r.engine.commit(err)) << err;
    }
    store = crm::state::open_store("sqlite:" + path, err);
    EXPECT_NE(store, nullptr) << err;
    run.engine.allow_program_change(allow);
    return run.engine.attach(store.get(), err);
  }
};
const char* kStock5 = "event Order { amount: Money(CNY) }\n"
                      "resource coupon c { discount: 5 CNY }\n"
                      "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign, stock 5 }\n";
}  // namespace

TEST(Ledger, TheSameProgramContinuesSilently) {
  Compiled a = compile(kStock);
  TwoPrograms t(fresh_path("same_program"));
  Replay run(a);
  ASSERT_TRUE(t.attach(a, a, false, run)) << t.err;
  EXPECT_TRUE(run.engine.notices().empty());
}

TEST(Ledger, AnotherProgramWithTheSameStrategiesContinuesWithANotice) {
  Compiled a = compile(kStock);
  Compiled b = compile(std::string(kStock) + "segment unused = true\n");
  TwoPrograms t(fresh_path("same_strategies"));
  Replay run(b);
  ASSERT_TRUE(t.attach(a, b, false, run)) << t.err;
  ASSERT_EQ(run.engine.notices().size(), 1u);
  EXPECT_NE(run.engine.notices()[0].find("strategies are all the same"), std::string::npos) << run.engine.notices()[0];
}

TEST(Ledger, AnotherProgramWithOtherStrategiesIsRefused) {
  Compiled a = compile(kStock);
  Compiled b = compile(std::string(kStock) +
                       "strategy t { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign }\n");
  TwoPrograms t(fresh_path("added_strategy"));
  Replay run(b);
  EXPECT_FALSE(t.attach(a, b, false, run));
  EXPECT_NE(t.err.find("recorded by another program"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("strategy `t` added"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("--allow-program-change"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find(t.path), std::string::npos) << t.err;
  // Refused means untouched: the recorded program still continues it.
  t.store.reset();
  Replay same(a);
  auto store = crm::state::open_store("sqlite:" + t.path, t.err);
  ASSERT_NE(store, nullptr) << t.err;
  EXPECT_TRUE(same.engine.attach(store.get(), t.err)) << t.err;
  EXPECT_TRUE(same.engine.notices().empty());
}

// Allowed, a changed strategy keeps its counters: stock 3 -> 5 after 3 grants leaves 2, and the
// new strategy is decided for new events.
TEST(Ledger, AnAllowedChangeKeepsTheCountersOfAChangedStrategy) {
  Compiled a = compile(kStock);
  Compiled b = compile(std::string(kStock5) +
                       "strategy t { who: true  when: on Order  what: grant c via App  how much: per user 1 per campaign }\n");
  TwoPrograms t(fresh_path("allowed_change"));
  Replay run(b);
  ASSERT_TRUE(t.attach(a, b, true, run)) << t.err;
  ASSERT_EQ(run.engine.notices().size(), 1u);
  EXPECT_NE(run.engine.notices()[0].find("strategy `s` changed"), std::string::npos) << run.engine.notices()[0];
  EXPECT_NE(run.engine.notices()[0].find("strategy `t` added"), std::string::npos) << run.engine.notices()[0];
  std::vector<std::string> out;
  for (int i = 4; i <= 7; ++i)
    for (auto& d : run.feed(order("e" + std::to_string(i), "u" + std::to_string(i), "2026-01-02T00:00:0" + std::to_string(i) + "Z")))
      out.push_back(d);
  EXPECT_EQ(count_of(out, R"("strategy":"s","outcome":"granted")"), 2u);
  EXPECT_EQ(count_of(out, R"("strategy":"s","outcome":"rejected","reason":"stock")"), 2u);
  EXPECT_EQ(count_of(out, R"("strategy":"t","outcome":"granted")"), 4u);
}

// A strategy declared before `s` shifts the string table (its "Web" and set come first); `s`
// itself is the same strategy, with the same hash.
TEST(Ledger, AddingAStrategyBeforeAnotherLeavesItsHashAlone) {
  const char* schema = "profile { city: String  nick: String? }\n"
                       "event Order { amount: Money(CNY)  channel: String }\n"
                       "resource coupon c { discount: 5 CNY }\n";
  const char* s = "strategy s { who: city in {\"Beijing\", \"Shanghai\"} and (nick ?? \"anon\") != \"Bob\"  when: on Order  "
                  "where: channel == \"App\" or "
                  "channel + \"x\" == \"Webx\"  what: grant c via App }\n";
  const char* t = "strategy t { who: city in {\"Wuhan\", \"Shanghai\"} or city == \"Chengdu\"  when: on Order  "
                  "where: channel == \"Web\"  what: grant c via App }\n";
  Compiled a = compile(std::string(schema) + s);
  Compiled b = compile(std::string(schema) + t + s);
  auto ia = crm::engine::program_identity(a.program()), ib = crm::engine::program_identity(b.program());
  ASSERT_EQ(ia.strategies.size(), 1u);
  ASSERT_EQ(ib.strategies.size(), 2u);
  EXPECT_NE(a.program().strings, b.program().strings);  // the ids did move
  EXPECT_EQ(ib.strategies[0].name, "s");
  EXPECT_EQ(ib.strategies[0].hash, ia.strategies[0].hash);
  // And a real change of `s` is seen: another text, another set member, another channel.
  for (auto [from, to] : {std::pair{"\"App\"", "\"Ap\""}, std::pair{"\"Beijing\"", "\"Beijin\""}, std::pair{"\"anon\"", "\"anom\""},
                          std::pair{"via App", "via SMS"}}) {
    std::string changed = s;
    changed.replace(changed.find(from), std::strlen(from), to);
    Compiled d = compile(std::string(schema) + changed);
    EXPECT_NE(crm::engine::program_identity(d.program()).strategies[0].hash, ia.strategies[0].hash) << changed;
  }
}

TEST(Ledger, AChangedStrategyWhoseCountersCannotCarryOverIsRefused) {
  Compiled a = compile(kStock);
  // `c` is gone: the grants recorded for `s` can no longer be redeemed or expire.
  Compiled b = compile("event Order { amount: Money(CNY) }\n"
                       "resource coupon d { discount: 5 CNY }\n"
                       "strategy s { who: true  when: on Order  what: grant d via App  how much: stock 3 }\n");
  TwoPrograms t(fresh_path("incompatible"));
  Replay run(b);
  EXPECT_FALSE(t.attach(a, b, true, run));
  EXPECT_NE(t.err.find("cannot be continued"), std::string::npos) << t.err;
  EXPECT_NE(t.err.find("c:coupon:CNY"), std::string::npos) << t.err;
}

TEST(Ledger, TheCppApiChecksTheProgramToo) {
  std::string path = fresh_path("api_program");
  auto compile_file = [](const std::string& name, const std::string& text) {
    std::string src = ::testing::TempDir() + name;
    std::ofstream(src) << text;
    return crm::compile_files({src});
  };
  auto a = compile_file("crm_ledger_api_a.crm", kStock);
  auto b = compile_file("crm_ledger_api_b.crm", kStock5);
  ASSERT_TRUE(a.diagnostics.ok() && b.diagnostics.ok());
  std::string err;
  std::vector<std::string> decisions;
  {
    crm::Runtime rt(a.program);
    ASSERT_TRUE(rt.open_state("sqlite:" + path, err)) << err;
    ASSERT_TRUE(rt.process_event(order("e1", "a", "2026-01-01T00:00:00Z"), decisions, err)) << err;
  }
  {
    crm::Runtime rt(b.program);
    EXPECT_FALSE(rt.open_state("sqlite:" + path, err));
    EXPECT_NE(err.find("strategy `s` changed"), std::string::npos) << err;
  }
  crm::Runtime rt(b.program);
  ASSERT_TRUE(rt.open_state("sqlite:" + path, err, crm::Runtime::Commit::OnReturn, true)) << err;
  ASSERT_EQ(rt.state_notices().size(), 1u);
  EXPECT_NE(rt.state_notices()[0].find("strategy `s` changed"), std::string::npos);
}

// Version 4 ledgers (before delayed triggers) gain the empty `timer` column in place and keep
// their units; a ledger of a version this crm does not know is refused, naming its version.
TEST(Ledger, VersionFourLedgersGainTheTimerColumn) {
  std::string path = fresh_path("v4");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE crm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "INSERT INTO crm_meta VALUES ('schema_version', '4');"
                         "CREATE TABLE crm_units (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, kind INTEGER NOT NULL"
                         " DEFAULT 0, program INTEGER);"
                         "CREATE TABLE crm_programs (id INTEGER PRIMARY KEY, hash TEXT NOT NULL);"
                         "CREATE TABLE crm_strategies (program INTEGER NOT NULL, name TEXT NOT NULL, hash TEXT NOT NULL,"
                         " budget_currency TEXT NOT NULL, resources TEXT NOT NULL, split TEXT,"
                         " PRIMARY KEY (program, name));"
                         "CREATE TABLE crm_ledger (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, user TEXT NOT NULL,"
                         " strategy TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT, resource TEXT, channel TEXT,"
                         " code TEXT, amount INTEGER NOT NULL, at INTEGER NOT NULL, json TEXT NOT NULL,"
                         " sales INTEGER NOT NULL DEFAULT 0, granted_at INTEGER, kind INTEGER NOT NULL DEFAULT 0);"
                         "INSERT INTO crm_units (unit) VALUES ('e1');"
                         "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, amount, at, json)"
                         " VALUES ('e1', 'a', 'remind', 'granted', 'c', 'App', 5000000, 1767225600000000,"
                         " '{\"recorded\":1}');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    std::vector<crm::state::LedgerEntry> entries;
    std::vector<crm::state::Unit> units;
    ASSERT_TRUE(store->load(entries, units, err)) << err;
    ASSERT_EQ(entries.size(), 1u);
    EXPECT_EQ(entries[0].json, "{\"recorded\":1}");
    EXPECT_TRUE(entries[0].timer.empty());
  }
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "SELECT value FROM crm_meta WHERE key = 'schema_version'", -1, &s, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "9");  // on to the current version
  sqlite3_finalize(s);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE crm_meta SET value = '99' WHERE key = 'schema_version'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  EXPECT_NE(err.find("schema version 99, this crm reads versions 1 to 9"), std::string::npos) << err;
}
