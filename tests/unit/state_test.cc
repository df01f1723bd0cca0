// state_test.cc - durable state: idempotent events, restart from a ledger, store errors.
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>

#include <fmt/format.h>

#include "sqlite_helpers.h"
#include "compile_helpers.h"
#include "runtime/state/state_store.h"
#include "support/civil_time.h"

namespace {

using crm::testing::Compiled;

const char* kProgram =
    "event Order { amount: Money(CNY) }\n"
    "resource coupon c { discount: 5 CNY }\n"
    "strategy s { who: true  when: on Order  what: grant c via App  how much: per user 2 per campaign, stock 3 }\n";

Compiled compile(const char* text) {
  Compiled c = crm::testing::compile_text(text);
  EXPECT_TRUE(c.ok) << c.diagnostics;
  return c;
}

std::string order(const std::string& id, const std::string& user, const std::string& time) {
  return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":10})";
}

using Replay = crm::testing::Harness;

}  // namespace

TEST(State, TheSameEventIdTwiceGivesTheSameDecisionsAndNoSecondGrant) {
  Compiled c = compile(kProgram);
  Replay run(c);
  crm::state::MemoryStore store;
  std::string err;
  ASSERT_TRUE(run.engine.attach(&store, err)) << err;
  auto first = run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  ASSERT_EQ(first.size(), 1u);
  auto again = run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
  EXPECT_EQ(again, first);
  // The per-user limit (2) still has room for exactly one more grant: the duplicate used none.
  auto second = run.feed(order("e2", "a", "2026-01-01T00:00:01Z"));
  EXPECT_NE(second[0].find("\"granted\""), std::string::npos);
  auto third = run.feed(order("e3", "a", "2026-01-01T00:00:02Z"));
  EXPECT_NE(third[0].find("per_user_limit"), std::string::npos);
}

TEST(State, ARestartedEngineContinuesFromTheLedger) {
  Compiled c = compile(kProgram);
  std::vector<std::string> events;
  for (int i = 0; i < 6; ++i)
    events.push_back(order("e" + std::to_string(i), i % 2 ? "a" : "b", "2026-01-01T00:00:0" + std::to_string(i) + "Z"));
  // Uninterrupted.
  std::vector<std::string> reference;
  {
    crm::state::MemoryStore store;
    Replay run(c);
    std::string err;
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (const auto& e : events) for (auto& d : run.feed(e)) reference.push_back(d);
  }
  // Killed after three events (their decisions committed), restarted on the whole input.
  crm::state::MemoryStore store;
  std::vector<std::string> restarted;
  std::string err;
  {
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (int i = 0; i < 3; ++i) run.feed(events[i]);
    ASSERT_TRUE(run.engine.commit(err));
  }
  {
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(&store, err)) << err;
    for (const auto& e : events) for (auto& d : run.feed(e)) restarted.push_back(d);
  }
  EXPECT_EQ(restarted, reference);  // stock 3 is honoured across the restart
  size_t granted = 0;
  for (const auto& d : restarted) granted += d.find("\"granted\"") != std::string::npos;
  EXPECT_EQ(granted, 3u);
}

TEST(State, SqliteStoreErrorsAreClear) {
  std::string err;
  EXPECT_EQ(crm::state::open_store("sqlite:/nonexistent-dir/x.db", err), nullptr);
  EXPECT_NE(err.find("/nonexistent-dir/x.db"), std::string::npos) << err;
  std::string corrupt = ::testing::TempDir() + "crm_corrupt.db";
  std::ofstream(corrupt) << std::string(4096, 'x');
  EXPECT_EQ(crm::state::open_store("sqlite:" + corrupt, err), nullptr);
  EXPECT_NE(err.find("not a database"), std::string::npos) << err;
  EXPECT_EQ(crm::state::open_store("redis:localhost", err), nullptr);
  EXPECT_NE(err.find("unknown state"), std::string::npos) << err;
}

TEST(State, SqliteLedgerRoundTrips) {
  std::string path = ::testing::TempDir() + "crm_ledger_test.db";
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());
  Compiled c = compile(kProgram);
  std::string err;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
    run.feed(order("e2", "b", "2026-01-01T00:00:01Z"));
    ASSERT_TRUE(run.engine.commit(err)) << err;
    run.feed(order("e3", "c", "2026-01-01T00:00:02Z"));  // never committed: lost with the process
  }
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  EXPECT_EQ(units, (std::vector<crm::state::Unit>{{crm::state::UnitKind::Event, "e1"}, {crm::state::UnitKind::Event, "e2"}}));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].outcome, "granted");
  EXPECT_EQ(entries[0].amount, 5'000'000);
  EXPECT_EQ(entries[0].channel, "App");
}

// The engine keeps no copy of its decisions: a repeated event id is answered from the ledger,
// whether its group is committed or still open, and a ledger with a unit's rows apart is an
// error naming the state rather than a wrong answer.
TEST(State, RepeatedEventsAreAnsweredFromTheLedger) {
  std::string path = ::testing::TempDir() + "crm_replay_test.db";
  crm::testing::remove_ledger_files(path);
  Compiled c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "resource coupon d { discount: 1 CNY }\n"
      "strategy s { who: true  when: on Order  what: grant c via App, grant d via App  how much: stock 3 }\n");
  std::string err;
  std::vector<std::string> first, second;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    first = run.feed(order("e1", "a", "2026-01-01T00:00:00Z"));
    second = run.feed(order("e2", "b", "2026-01-01T00:00:01Z"));
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(run.feed(order("e1", "a", "2026-01-01T00:00:00Z")), first);  // group still open
    ASSERT_TRUE(run.engine.commit(err)) << err;
    EXPECT_EQ(run.feed(order("e2", "b", "2026-01-01T00:00:01Z")), second);  // committed
  }
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Replay run(c);
    ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
    EXPECT_EQ(run.feed(order("e1", "a", "2026-01-01T00:00:00Z")), first);  // after a restart
    EXPECT_EQ(run.feed(order("e1", "a", "2026-01-01T00:00:00Z")), first);  // and again
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  // e2's second decision moves away from its first: the unit's rows are no longer consecutive.
  ASSERT_EQ(sqlite3_exec(db, "UPDATE crm_ledger SET seq = seq + 10 WHERE seq = (SELECT max(seq) FROM crm_ledger WHERE unit = 'e2')",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  crm::engine::Engine engine(c.program());
  EXPECT_FALSE(engine.attach(store.get(), err));
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("not consecutive"), std::string::npos) << err;
}

// Redemptions and expiries are ledger rows too: a restart at every point of a stream with
// grants, a refused and an accepted redemption and an expiry gives the uninterrupted output,
// and nothing is redeemed or expired twice.
TEST(State, RedemptionsAndExpiriesSurviveARestartAtEveryPoint) {
  Compiled c = compile(
      "event Order { amount: Money(CNY)  coupon: String? }\n"
      "resource coupon c { discount: 5 CNY  threshold: 50 CNY  use: within 2 days after claim }\n"
      "strategy s { who: true  when: on Order  what: grant c via App code \"C5\"  how much: per user 1 per day }\n");
  auto ord = [](const std::string& id, const std::string& user, const std::string& time, const std::string& amount,
                const std::string& coupon) {
    return R"({"id":")" + id + R"(","type":"Order","user":")" + user + R"(","time":")" + time + R"(","amount":)" +
           amount + (coupon.empty() ? "" : R"(,"coupon":")" + coupon + "\"") + "}";
  };
  std::vector<std::string> events = {
      ord("e1", "a", "2026-01-01T00:00:00Z", "10", ""),     // grant a#1
      ord("e2", "b", "2026-01-01T01:00:00Z", "10", ""),     // grant b#1
      ord("e3", "a", "2026-01-01T02:00:00Z", "20", "C5"),   // below threshold
      ord("e4", "a", "2026-01-01T03:00:00Z", "60", "C5"),   // redeemed
      ord("e5", "a", "2026-01-01T04:00:00Z", "60", "C5"),   // already redeemed
      ord("e6", "b", "2026-01-04T00:00:00Z", "60", "C5"),   // b#1 expires first, then refused; grant b#2
      ord("e7", "a", "2026-01-04T01:00:00Z", "60", "C5"),   // a#1 already redeemed; grant a#2
  };
  auto run_all = [&](crm::state::StateStore& store, size_t from, size_t to, std::vector<std::string>* out) {
    Replay run(c);
    std::string err;
    EXPECT_TRUE(run.engine.attach(&store, err)) << err;
    for (size_t i = from; i < to; ++i)
      for (auto& d : run.feed(events[i])) if (out) out->push_back(d);
    EXPECT_TRUE(run.engine.commit(err)) << err;
  };
  crm::state::MemoryStore reference_store;
  std::vector<std::string> reference;
  run_all(reference_store, 0, events.size(), &reference);
  auto count = [&](const char* outcome) {
    return std::count_if(reference.begin(), reference.end(),
                         [&](const std::string& d) { return d.find(std::string("\"outcome\":\"") + outcome + "\"") != std::string::npos; });
  };
  EXPECT_EQ(count("granted"), 4);
  EXPECT_EQ(count("redeemed"), 1);
  EXPECT_EQ(count("redeem_rejected"), 4);
  EXPECT_EQ(count("expired"), 1);
  for (size_t cut = 0; cut <= events.size(); ++cut) {
    SCOPED_TRACE("restart after " + std::to_string(cut) + " events");
    crm::state::MemoryStore store;
    run_all(store, 0, cut, nullptr);
    std::vector<std::string> restarted;
    run_all(store, 0, events.size(), &restarted);
    EXPECT_EQ(restarted, reference);
    std::vector<crm::state::LedgerEntry> a, b;
    std::vector<crm::state::Unit> ua, ub;
    std::string err;
    store.load(a, ua, err);
    reference_store.load(b, ub, err);
    EXPECT_EQ(a.size(), b.size());
    EXPECT_EQ(ua, ub);
  }
}

// Faults of the state file are clear errors, and a decision is never reported as durable when
// its commit failed (the API refuses to go on).
TEST(State, ReadOnlyAndFullDatabasesAreClearErrors) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(::testing::TempDir()) / "crm_state_faults";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string path = (dir / "ro.db").string();
  std::string err;
  { ASSERT_NE(crm::state::open_store("sqlite:" + path, err), nullptr) << err; }
  // A read-only file. Root ignores file modes, so then the check runs in a child process that
  // has dropped to an unprivileged user.
  fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  fs::permissions(dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read |
                           fs::perms::others_exec);
  auto open_read_only = [&]() -> std::string {
    std::string e;
    if (crm::state::open_store("sqlite:" + path, e) != nullptr) return "opened";
    return e;
  };
  std::string ro_error;
  if (::geteuid() != 0) {
    ro_error = open_read_only();
  } else {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      std::string e = ::setgid(65534) == 0 && ::setuid(65534) == 0 ? open_read_only() : "cannot drop privileges";
      ssize_t w = ::write(fds[1], e.data(), e.size());
      (void)w;
      ::_exit(0);
    }
    ::close(fds[1]);
    char buf[512];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0) ro_error.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    ::waitpid(pid, nullptr, 0);
  }
  EXPECT_NE(ro_error, "opened");
  EXPECT_NE(ro_error.find(path), std::string::npos) << ro_error;
  fs::permissions(path, fs::perms::owner_all);

  // A full disk: SQLite's page limit makes the database full after a few pages, as a full
  // file system would; the commit fails with SQLITE_FULL and the error says so.
  Compiled c = compile(kProgram);
  std::string full = (dir / "full.db").string();
  auto store = crm::state::open_store("sqlite:" + full + "?max_pages=12", err);
  ASSERT_NE(store, nullptr) << err;
  Replay run(c);
  ASSERT_TRUE(run.engine.attach(store.get(), err)) << err;
  bool failed = false;
  for (int i = 0; i < 2000 && !failed; ++i) {
    crm::engine::Event ev;
    ASSERT_TRUE(run.engine.parse_event(order("e" + std::to_string(i), "u" + std::to_string(i), "2026-01-01T00:00:00Z"), ev, err));
    std::vector<crm::engine::Decision> out;
    failed = !run.engine.process(ev, out, err) || !run.engine.commit(err);
  }
  ASSERT_TRUE(failed) << "the page limit was never reached";
  EXPECT_NE(err.find("full"), std::string::npos) << err;
  EXPECT_NE(err.find(full), std::string::npos) << err;
}

// A version 1 ledger (before redemption columns) is migrated in place and keeps its rows.
TEST(State, VersionOneLedgersAreMigrated) {
  std::string path = ::testing::TempDir() + "crm_v1.db";
  std::remove(path.c_str());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db,
                         "CREATE TABLE crm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
                         "INSERT INTO crm_meta VALUES ('schema_version', '1');"
                         "CREATE TABLE crm_units (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL);"
                         "CREATE TABLE crm_ledger (seq INTEGER PRIMARY KEY, unit TEXT NOT NULL, user TEXT NOT NULL,"
                         " strategy TEXT NOT NULL, outcome TEXT NOT NULL, reason TEXT, resource TEXT, channel TEXT,"
                         " code TEXT, amount INTEGER NOT NULL, at INTEGER NOT NULL, json TEXT NOT NULL);"
                         "INSERT INTO crm_units (unit) VALUES ('e1');"
                         "INSERT INTO crm_ledger (unit, user, strategy, outcome, resource, channel, amount, at, json)"
                         " VALUES ('e1', 'a', 's', 'granted', 'c', 'App', 5000000, 1767225600000000, '{}');",
                         nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  std::string err;
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  ASSERT_TRUE(store->load(entries, units, err)) << err;
  ASSERT_EQ(entries.size(), 1u);
  EXPECT_EQ(entries[0].amount, 5000000);
  EXPECT_EQ(entries[0].sales, 0);
}

// Another application's SQLite database is no ledger: the store refuses it naming the file, and
// leaves it byte for byte as it was, with no lock file beside it (crm's tables used to be added
// to it). A database without tables becomes one.
TEST(State, AnotherApplicationsDatabaseIsRefusedUntouched) {
  const std::string path = ::testing::TempDir() + "crm_foreign.db";
  std::remove(path.c_str());
  std::remove((path + ".lock").c_str());
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders VALUES (7);", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  const std::string before = bytes(path);
  std::string err;
  EXPECT_FALSE(crm::state::check_ledger_file(path, err));
  err.clear();
  EXPECT_EQ(crm::state::open_store("sqlite:" + path, err), nullptr);
  EXPECT_NE(err.find("state `" + path + "` is not a crm ledger"), std::string::npos) << err;
  EXPECT_NE(err.find("`orders`"), std::string::npos) << err;
  EXPECT_EQ(bytes(path), before);
  EXPECT_FALSE(std::filesystem::exists(path + ".lock"));

  const std::string bare = ::testing::TempDir() + "crm_bare.db";
  std::remove(bare.c_str());
  ASSERT_EQ(sqlite3_open(bare.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "VACUUM", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_NE(crm::state::open_store("sqlite:" + bare, err), nullptr) << err;
}

// ---- the dedup window (docs/semantics.md, "Event order") ----------------------------------------

namespace {

constexpr int64_t kHour = 3600LL * 1'000'000;

// The stream entry point (submit: late events refused, ids pruned), as crm run calls it.
struct Stream {
  explicit Stream(const Compiled& c, int64_t window) : run(c) { run.engine.set_dedup_window(window); }
  Replay run;
  std::string error;
  // The decisions as JSON, or nullopt when the event was refused (error says why).
  std::optional<std::vector<std::string>> submit(const std::string& line) {
    crm::engine::Event ev = run.parse(line);
    std::vector<crm::engine::Decision> out;
    error.clear();
    if (!run.engine.submit(ev, out, error)) return std::nullopt;
    std::vector<std::string> json;
    for (const auto& d : out) json.push_back(run.engine.decision_json(d));
    return json;
  }
};

std::string at(int minutes) {
  return fmt::format("2026-01-01T{:02}:{:02}:00Z", minutes / 60, minutes % 60);
}

size_t ledger_rows(crm::state::StateStore& store) {
  std::vector<crm::state::LedgerEntry> entries;
  std::vector<crm::state::Unit> units;
  std::string err;
  EXPECT_TRUE(store.load(entries, units, err)) << err;
  return entries.size();
}

}  // namespace

// A retry whose time is within H of the watermark is answered from the ledger, in the run
// that decided it and after a restart (the restart replays its input, then the retry comes).
TEST(DedupWindow, ARetryWithinTheWindowIsAnsweredFromTheLedgerAlsoAfterARestart) {
  std::string path = ::testing::TempDir() + "crm_dedup_window.db";
  crm::testing::remove_ledger_files(path);
  Compiled c = compile(kProgram);
  std::string err;
  std::vector<std::string> input = {order("e1", "a", at(0)), order("e2", "b", at(30))};
  std::vector<std::string> first;
  {
    auto store = crm::state::open_store("sqlite:" + path, err);
    ASSERT_NE(store, nullptr) << err;
    Stream s(c, kHour);
    ASSERT_TRUE(s.run.engine.attach(store.get(), err)) << err;
    first = s.submit(input[0]).value();
    ASSERT_EQ(first.size(), 1u);
    EXPECT_NE(first[0].find("\"granted\""), std::string::npos);
    ASSERT_TRUE(s.submit(input[1]));
    // 30 minutes late (the lateness is 0), within the hour: the recorded decision again.
    auto retry = s.submit(order("e1", "a", at(0)));
    ASSERT_TRUE(retry) << s.error;
    EXPECT_EQ(*retry, first);
    ASSERT_TRUE(s.run.engine.commit(err)) << err;
  }
  auto store = crm::state::open_store("sqlite:" + path, err);
  ASSERT_NE(store, nullptr) << err;
  const size_t rows = ledger_rows(*store);
  Stream s(c, kHour);
  ASSERT_TRUE(s.run.engine.attach(store.get(), err)) << err;
  EXPECT_EQ(s.run.engine.remembered_events(), 2u);  // read from the ledger, not met yet
  EXPECT_EQ(s.submit(input[0]), first);             // the replay of the input
  ASSERT_TRUE(s.submit(input[1]));
  ASSERT_TRUE(s.submit(order("e3", "c", at(50))));
  auto retry = s.submit(order("e1", "a", at(0)));  // 50 minutes late, still within the hour
  ASSERT_TRUE(retry) << s.error;
  EXPECT_EQ(*retry, first);
  ASSERT_TRUE(s.run.engine.commit(err)) << err;
  EXPECT_EQ(ledger_rows(*store), rows + 1);  // e3's grant only
}

// A retry older than W - H: its id is forgotten, so it is refused as a late event (the message
// says the window was exceeded) and changes nothing: no second grant, no row, the user's
// per-user limit untouched. With the window forever the same retry is answered.
TEST(DedupWindow, ARetryBeyondTheWindowIsRefusedAsLateAndChangesNothing) {
  Compiled c = compile(kProgram);  // per user 2 per campaign, stock 3
  std::string err;
  crm::state::MemoryStore store;
  Stream s(c, kHour);
  ASSERT_TRUE(s.run.engine.attach(&store, err)) << err;
  auto first = s.submit(order("e1", "a", at(0)));
  ASSERT_TRUE(first && first->size() == 1u);
  ASSERT_TRUE(s.submit(order("e2", "b", at(180))));  // the watermark moves 3 hours on
  const size_t rows = ledger_rows(store);
  EXPECT_FALSE(s.submit(order("e1", "a", at(0))));
  EXPECT_NE(s.error.find("late event: 2026-01-01T00:00:00Z is before the watermark"), std::string::npos) << s.error;
  EXPECT_NE(s.error.find("older than the dedup window 1 hour (events before 2026-01-01T02:00:00Z)"), std::string::npos) << s.error;
  EXPECT_EQ(ledger_rows(store), rows);
  // Late but within the window, and never decided: the plain late message.
  EXPECT_FALSE(s.submit(order("e9", "c", at(170))));
  EXPECT_EQ(s.error.find("dedup window"), std::string::npos) << s.error;
  // a had one grant: exactly one more fits its limit of 2, and stock (3) has room for it.
  auto next = s.submit(order("e3", "a", at(181)));
  ASSERT_TRUE(next && next->size() == 1u);
  EXPECT_NE((*next)[0].find("\"granted\""), std::string::npos) << (*next)[0];
  auto over = s.submit(order("e4", "a", at(182)));
  ASSERT_TRUE(over && over->size() == 1u);
  EXPECT_NE((*over)[0].find("per_user_limit"), std::string::npos) << (*over)[0];

  crm::state::MemoryStore store2;
  Stream forever(c, crm::engine::Recorder::kForever);
  ASSERT_TRUE(forever.run.engine.attach(&store2, err)) << err;
  auto again = forever.submit(order("e1", "a", at(0)));
  ASSERT_TRUE(forever.submit(order("e2", "b", at(180))));
  auto retry = forever.submit(order("e1", "a", at(0)));
  ASSERT_TRUE(retry) << forever.error;
  EXPECT_EQ(*retry, *again);
}

// Memory: over a long stream the remembered ids stay within about 1.5 H of events, while a
// window of forever keeps them all; after a restart the ids read from the ledger are let go
// once the replay has met them all.
TEST(DedupWindow, TheRememberedIdsStayBoundedOverALongStream) {
  Compiled c = compile(
      "event Order { amount: Money(CNY) }\n"
      "resource coupon c { discount: 5 CNY }\n"
      "strategy s { who: amount > 1000 CNY  when: on Order  what: grant c via App }\n");
  auto event = [](int i) {
    // One event every 10 seconds, over 100 users: 20,000 events span 55 hours.
    int64_t t = 1'767'225'600LL + 10LL * i;  // 2026-01-01T00:00:00Z
    return fmt::format(R"({{"id":"e{}","type":"Order","user":"u{}","time":"{}","amount":10}})", i, i % 100,
                       crm::support::format_time(t * 1'000'000));
  };
  constexpr int kEvents = 20'000;
  constexpr size_t kPerHour = 360;  // events in an hour
  crm::state::MemoryStore store;
  std::string err;
  size_t most = 0;
  {
    Stream s(c, kHour);
    ASSERT_TRUE(s.run.engine.attach(&store, err)) << err;
    for (int i = 0; i < kEvents; ++i) {
      ASSERT_TRUE(s.submit(event(i))) << s.error;
      most = std::max(most, s.run.engine.remembered_events());
    }
    ASSERT_TRUE(s.run.engine.commit(err)) << err;
    EXPECT_GE(s.run.engine.remembered_events(), kPerHour);  // at least the window
    EXPECT_LE(most, kPerHour * 3 / 2 + 1);                  // at most 1.5 windows
  }
  {
    Stream forever(c, crm::engine::Recorder::kForever);
    crm::state::MemoryStore other;
    ASSERT_TRUE(forever.run.engine.attach(&other, err)) << err;
    for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(forever.submit(event(i))) << forever.error;
    EXPECT_EQ(forever.run.engine.remembered_events(), size_t(kEvents));
  }
  // A restart on the same input: all 20,000 ids are read back, then let go as the replay
  // meets them; the replay's answers are the recorded ones (no unit is added).
  Stream s(c, kHour);
  ASSERT_TRUE(s.run.engine.attach(&store, err)) << err;
  EXPECT_EQ(s.run.engine.remembered_events(), size_t(kEvents));
  const size_t rows = ledger_rows(store);
  for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(s.submit(event(i))) << s.error;
  EXPECT_LE(s.run.engine.remembered_events(), kPerHour * 3 / 2 + 1);
  EXPECT_EQ(s.run.engine.decided_units(), 0u);
  EXPECT_EQ(ledger_rows(store), rows);
}

// A retry refused as beyond the window stays refused after a restart on the same input: the
// ids read back from the ledger are only for the replay to meet once, in order; one already
// met (and pruned from its generation since) must not answer the retry (a restart would then
// report decisions for a line the first run refused).
TEST(DedupWindow, ARetryRefusedBeyondTheWindowIsRefusedAgainAfterARestart) {
  Compiled c = compile(kProgram);
  std::string err;
  crm::state::MemoryStore store;
  const std::vector<std::string> input = {order("a1", "a", at(0)), order("b1", "b", at(180)), order("a1", "a", at(0)),
                                          order("c1", "c", at(240))};
  std::vector<std::optional<std::vector<std::string>>> first;
  std::vector<std::string> errors;
  {
    Stream s(c, kHour);
    ASSERT_TRUE(s.run.engine.attach(&store, err)) << err;
    for (const auto& line : input) first.push_back(s.submit(line)), errors.push_back(s.error);
    ASSERT_TRUE(s.run.engine.commit(err)) << err;
  }
  ASSERT_TRUE(first[0] && first[1] && first[3]);
  ASSERT_FALSE(first[2]);  // the retry, three hours late: forgotten, refused
  EXPECT_NE(errors[2].find("older than the dedup window"), std::string::npos) << errors[2];
  const size_t rows = ledger_rows(store);
  Stream s(c, kHour);
  ASSERT_TRUE(s.run.engine.attach(&store, err)) << err;
  for (size_t i = 0; i < input.size(); ++i) {
    auto again = s.submit(input[i]);
    EXPECT_EQ(again, first[i]) << "line " << i + 1 << ": " << s.error;
    EXPECT_EQ(s.error, errors[i]) << "line " << i + 1;
  }
  EXPECT_EQ(s.run.engine.decided_units(), 0u);
  EXPECT_EQ(ledger_rows(store), rows);
}
