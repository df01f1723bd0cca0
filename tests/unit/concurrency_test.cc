// concurrency_test.cc - several threads feed one crm::Runtime (issue 4): events of overlapping
// users arrive from 8 threads at once, with a durable SQLite ledger and group commit. The ledger
// is then read back with SQLite and checked against every limit: per user per day, per user per
// campaign, stock and budget; every grant a thread was told about is in the ledger, and none
// more. CRM_CONCURRENCY_ROUNDS makes the run longer (default 3 days of traffic).
#include <crm/runtime.h>
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <barrier>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kThreads = 8;
constexpr int kUsers = 60;

const char* kProgram = R"(
event Visit { page: String }
resource coupon c5 { discount: 5 CNY }
strategy visit_gift for business "mall" {
    who: true
    when: on Visit
    what: grant c5 via App code "V5"
    how much: per user 2 per day, 5 per campaign, stock 300, budget 1400 CNY
}
)";

int64_t query(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr), SQLITE_OK) << sql;
  int64_t v = -1;
  if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return v;
}

}  // namespace

TEST(Concurrency, EightThreadsNeverExceedALimitAndEveryGrantIsInTheLedger) {
  namespace fs = std::filesystem;
  const char* env = std::getenv("CRM_CONCURRENCY_ROUNDS");
  const int days = env ? std::max(1, std::atoi(env)) : 3;
  fs::path dir = fs::path(::testing::TempDir()) / "crm_concurrency";
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "p.crm") << kProgram;
  auto out = crm::compile_files({(dir / "p.crm").string()});
  ASSERT_TRUE(out.diagnostics.ok()) << out.diagnostics.render_text();
  std::string db_path = (dir / "state.db").string();
  size_t reported_grants = 0, reported = 0;
  {
    crm::Runtime rt(out.program);
    std::string err;
    ASSERT_TRUE(rt.open_state("sqlite:" + db_path, err)) << err;
    // Every thread sends one event per user per day, all at the day's same instant (so each
    // user's events are in time order whatever the interleaving); a barrier starts each day.
    std::barrier day_start(kThreads);
    std::mutex mu;
    std::vector<std::string> failures;
    auto feed = [&](int t) {
      size_t granted = 0, decisions = 0;
      for (int day = 0; day < days; ++day) {
        day_start.arrive_and_wait();
        for (int i = 0; i < kUsers; ++i) {
          int user = (i * 7 + t * 13) % kUsers;  // threads visit the users in different orders
          std::string line = "{\"type\":\"Visit\",\"id\":\"t" + std::to_string(t) + "-d" + std::to_string(day) + "-u" +
                             std::to_string(user) + "\",\"user\":\"u" + std::to_string(user) + "\",\"time\":\"2026-06-" +
                             (day < 9 ? "0" : "") + std::to_string(day + 1) + "T10:00:00Z\",\"page\":\"home\"}";
          std::vector<std::string> got;
          std::string e;
          if (!rt.process_event(line, got, e)) {
            std::lock_guard lk(mu);
            failures.push_back(e);
            continue;
          }
          // A retried delivery of the same id (from another thread's point of view) repeats
          // the decisions and grants nothing more.
          if (i % 10 == 0) {
            std::vector<std::string> again;
            if (!rt.process_event(line, again, e) || again != got) {
              std::lock_guard lk(mu);
              failures.push_back("retry of " + line + " differs: " + e);
            }
          }
          decisions += got.size();
          for (const auto& d : got) granted += d.find("\"outcome\":\"granted\"") != std::string::npos;
        }
      }
      std::lock_guard lk(mu);
      reported_grants += granted;
      reported += decisions;
    };
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) threads.emplace_back(feed, t);
    for (auto& th : threads) th.join();
    EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  }

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  const int64_t day = 86'400'000'000;
  // Each event was decided exactly once, and what the threads were told is what was recorded.
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_units"), int64_t(kThreads) * kUsers * days);
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger"), int64_t(reported));
  EXPECT_EQ(query(db, "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'"), int64_t(reported_grants));
  // No limit exceeded.
  EXPECT_EQ(query(db, "SELECT count(*) FROM (SELECT user, at / " + std::to_string(day) +
                          " FROM crm_ledger WHERE outcome = 'granted' GROUP BY 1, 2 HAVING count(*) > 2)"),
            0);
  EXPECT_EQ(query(db, "SELECT count(*) FROM (SELECT user FROM crm_ledger WHERE outcome = 'granted' GROUP BY 1 "
                      "HAVING count(*) > 5)"),
            0);
  int64_t grants = query(db, "SELECT count(*) FROM crm_ledger WHERE outcome = 'granted'");
  EXPECT_LE(grants, 300);
  EXPECT_LE(query(db, "SELECT coalesce(sum(amount), 0) FROM crm_ledger WHERE outcome = 'granted'"), 1400'000'000);
  // And the limits were reached, not merely respected: every user could have 2 a day up to 5,
  // so the budget (280 coupons of 5 CNY) is what stops the third day.
  int64_t possible = std::min<int64_t>(std::min<int64_t>(2 * days, 5) * kUsers, 280);
  EXPECT_EQ(grants, possible);
  sqlite3_close(db);
}
