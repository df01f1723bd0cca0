// redis_quotas_test.cc - state::RedisQuotas against a real redis-server that each test starts
// on a free port of 127.0.0.1 with its own directory, and stops by pid: the reservation rule
// (the same answers as check_quota), fail closed (not ready, down, stopped = timed out),
// reconnection, NOSCRIPT, reconcile (max or exact), two clients racing for the last unit, the
// ledger totals a reconcile reads, and budget pools (a strategy and its pool reserved in one step,
// counted in both or neither; two runtimes sharing a pool), and leases (--shared-lease: a client
// alone decides as without them, never an overgrant, give-back, money leases, the last units,
// generations, settling from another thread, strict mode). Skipped when redis-server is not installed.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <hiredis.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <crm/run.h>
#include <crm/shared.h>

#include "runtime/state/redis_quotas.h"

namespace {

using crm::state::Quota;
using crm::state::QuotaCheck;
using crm::state::QuotaLimits;
using crm::state::RedisQuotas;
namespace fs = std::filesystem;

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

// One private redis-server; no persistence (a test saves a snapshot with SAVE: dump.rdb in its
// --dir, loaded again when start() follows stop()); without one a restart loses every key (as a failover to a
// replica that missed the writes would).
class RedisServer {
 public:
  RedisServer() : port_(free_port()) {
    dir_ = fs::temp_directory_path() / ("crm_redis_test_" + std::to_string(::getpid()) + "_" + std::to_string(port_));
    fs::create_directories(dir_);
  }
  ~RedisServer() {
    stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  static bool installed() { return std::system("command -v redis-server >/dev/null 2>&1") == 0; }
  // `more`: further options, e.g. {"--replicaof", "127.0.0.1", "PORT"}.
  bool start(const std::vector<std::string>& more = {}) {
    std::string port = std::to_string(port_), dir = dir_.string(), log = dir + "/redis.log";
    std::vector<const char*> argv{"redis-server", "--port", port.c_str(), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no", "--dir", dir.c_str(), "--logfile", log.c_str()};
    for (const auto& m : more) argv.push_back(m.c_str());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      ::execvp("redis-server", const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    for (int i = 0; i < 200; ++i) {
      if (ping()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }
  bool ping() { return command("PING") == "PONG"; }
  // Commands of the test itself (checks of counters, replication, WAIT 1 100): 5 s, for the
  // same reason as open()'s default.
  std::string command(const char* cmd) {
    timeval tv{5, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    std::string out;
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      if (auto* r = static_cast<redisReply*>(redisCommand(c, cmd))) {
        if (r->str) out.assign(r->str, r->len);
        else if (r->type == REDIS_REPLY_INTEGER) out = std::to_string(r->integer);
        freeReplyObject(r);
      }
    }
    if (c) redisFree(c);
    return out;
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
  fs::path dir_;
};

class RedisQuotasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed";
    ASSERT_TRUE(server.start());
  }
  // The default timeout is far above any answer's time: tests that are not about timeouts
  // must not depend on the machine's load (4 threads' reservations once took over 300 ms on a
  // busy 2-core machine and were refused as Unavailable). Tests of timeouts pass their own.
  std::unique_ptr<RedisQuotas> open(int timeout_ms = 5000, int retry_ms = 0) {
    crm::state::SharedOptions o;
    o.url = server.url();
    o.campaign = "test";
    o.command_timeout_ms = timeout_ms;
    o.connect_timeout_ms = timeout_ms;
    o.retry_ms = retry_ms;
    o.on_notice = [this](const std::string& m) { notices.push_back(m); };
    std::string err;
    auto q = RedisQuotas::create(o, err);
    EXPECT_TRUE(q) << err;
    return q;
  }
  void start_campaign(RedisQuotas& q) {
    std::string err;
    ASSERT_TRUE(q.reconcile({}, false, err)) << err;
  }
  RedisServer server;
  std::vector<std::string> notices;
};

QuotaLimits limits(int64_t stock, int64_t budget, int64_t paced_stock = -1, int64_t paced_budget = -1) {
  QuotaLimits l;
  l.stock = stock, l.budget = budget, l.paced_stock = paced_stock, l.paced_budget = paced_budget;
  return l;
}

TEST(SharedOptions, RedisUrlsAndPartitions) {
  std::string host, err;
  int port = 0;
  EXPECT_TRUE(crm::state::parse_redis_url("redis://10.0.0.5:7001", host, port, err));
  EXPECT_EQ(host, "10.0.0.5");
  EXPECT_EQ(port, 7001);
  EXPECT_TRUE(crm::state::parse_redis_url("redis://cache", host, port, err));
  EXPECT_EQ(port, 6379);
  for (const char* bad : {"http://x:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:1x", "redis://u@h:1"})
    EXPECT_FALSE(crm::state::parse_redis_url(bad, host, port, err)) << bad;
  crm::Partition p;
  EXPECT_TRUE(crm::parse_partition("2/4", p, err));
  EXPECT_EQ(p.index, 1u);
  EXPECT_EQ(p.count, 4u);
  for (const char* bad : {"0/4", "5/4", "1/0", "4", "a/b", "1/4x", ""}) EXPECT_FALSE(crm::parse_partition(bad, p, err)) << bad;
  // Every user is in exactly one of N partitions, and the shares are about even.
  std::vector<size_t> per(4);
  for (int u = 0; u < 4000; ++u) {
    int in = 0;
    for (uint32_t k = 0; k < 4; ++k)
      if (crm::in_partition({k, 4}, "user" + std::to_string(u))) ++in, ++per[k];
    ASSERT_EQ(in, 1);
  }
  for (size_t n : per) EXPECT_NEAR(double(n), 1000.0, 150.0);
}

TEST_F(RedisQuotasTest, ReservesExactlyAsCheckQuotaDecides) {
  auto q = open();
  start_campaign(*q);
  crm::state::LocalQuotas local;
  uint32_t h = q->handle("s"), lh = local.handle("s");
  std::mt19937 rng(7);
  for (int i = 0; i < 400; ++i) {
    int64_t amount = int64_t(rng() % 5) * 1'000'000;
    QuotaLimits l = limits(rng() % 3 ? 150 : -1, rng() % 3 ? 250'000'000 : -1, rng() % 4 ? -1 : int64_t(i / 3),
                           rng() % 4 ? -1 : int64_t(i) * 600'000);
    ASSERT_EQ(q->reserve(h, amount, l), local.reserve(lh, amount, l)) << "reservation " << i;
    ASSERT_EQ(q->used(h).deliveries, local.used(lh).deliveries);
    ASSERT_EQ(q->used(h).reserved, local.used(lh).reserved);
  }
  EXPECT_GT(local.used(lh).deliveries, 50);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), std::to_string(local.used(lh).deliveries));
  // A second client sees the counters at handle().
  auto other = open();
  EXPECT_EQ(other->used(other->handle("s")).reserved, local.used(lh).reserved);
}

TEST_F(RedisQuotasTest, ANewCampaignIsRefusedUntilReconciled) {
  auto q = open();
  uint32_t h = q->handle("s");
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_STREQ(crm::state::quota_reason(QuotaCheck::Unavailable), "shared_unavailable");
  ASSERT_EQ(notices.size(), 1u);
  EXPECT_NE(notices[0].find("not ready"), std::string::npos) << notices[0];
  // Without a limit nothing can overgrant: not refused.
  EXPECT_EQ(q->reserve(h, 0, limits(-1, -1)), QuotaCheck::Fits);
  start_campaign(*q);
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Fits);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");
}

TEST_F(RedisQuotasTest, RedisDownFailsClosedAndResumesAfterReconcile) {
  auto q = open();
  start_campaign(*q);
  uint32_t h = q->handle("s");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Fits);
  server.stop();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(1));
  EXPECT_EQ(q->stats().unavailable, 1u);
  ASSERT_TRUE(server.start());  // empty: it lost the counters
  EXPECT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Unavailable) << "counters lost: must wait for reconcile";
  std::string err;
  ASSERT_TRUE(q->reconcile({{"s", Quota{3, 3}}}, false, err)) << err;
  EXPECT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Fits);
  EXPECT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Fits);
  EXPECT_EQ(q->reserve(h, 1, limits(5, -1)), QuotaCheck::Stock);  // 3 from the ledgers + 2: no overgrant
  EXPECT_GE(q->stats().reconnects, 1u);
}

// Redis restarted from an older RDB snapshot (its default persistence; likewise an AOF that lost
// its last second, or a promoted replica that missed writes): the counters go back while the
// campaign's `ready` key survives. The snapshot is taken just after the reconcile; 5 deliveries are
// granted after it; the restart loads it (counters 0, ready kept). Without the server check a new
// process and the running one both granted the whole stock again (13 of 8). Now both are refused
// until a reconcile records the new server, and then only the rest of the stock fits.
TEST_F(RedisQuotasTest, ARestartFromAnOlderSnapshotIsRefusedUntilReconciled) {
  auto a = open();
  start_campaign(*a);
  ASSERT_EQ(server.command("SAVE"), "OK");  // dump.rdb in the server's --dir, loaded at its restart
  uint32_t ha = a->handle("s");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(a->reserve(ha, 1, limits(8, -1)), QuotaCheck::Fits);
  server.stop();  // kill -9: nothing saved since the snapshot
  ASSERT_TRUE(server.start());
  ASSERT_EQ(server.command("EXISTS crm:{test}:ready"), "1") << "the snapshot keeps the campaign ready";
  ASSERT_EQ(server.command("HGET crm:{test}:counters d:s"), "") << "and its counters from before the grants";
  auto b = open();  // a process started after the restart (another partition)
  uint32_t hb = b->handle("s");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(b->reserve(hb, 1, limits(8, -1)), QuotaCheck::Unavailable) << i;
    EXPECT_EQ(a->reserve(ha, 1, limits(8, -1)), QuotaCheck::Unavailable) << i;  // the first: its old connection
  }
  EXPECT_EQ(b->reserve(hb, 1, limits(-1, -1)), QuotaCheck::Fits) << "no limit: nothing to overgrant";
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "") << "nothing counted in the rolled-back counters";
  bool said = false;
  for (const auto& n : notices) said = said || n.find("Redis restarted") != std::string::npos;
  EXPECT_TRUE(said) << ::testing::PrintToString(notices);
  std::map<std::string, Quota> seen;
  bool ready = true;
  std::string err;
  ASSERT_TRUE(b->read(seen, ready, err)) << err;
  EXPECT_FALSE(ready) << "crm shared show: not the counters the campaign was reconciled on";
  // The reconcile (max with the ledgers: a's 5) records this server; both resume.
  ASSERT_TRUE(b->reconcile({{"s", Quota{5, 5}}}, false, err)) << err;
  ASSERT_TRUE(b->read(seen, ready, err)) << err;
  EXPECT_TRUE(ready);
  int fits = 0;
  for (int i = 0; i < 6; ++i) {
    if (a->reserve(ha, 1, limits(8, -1)) == QuotaCheck::Fits) ++fits;
    if (b->reserve(hb, 1, limits(8, -1)) == QuotaCheck::Fits) ++fits;
  }
  EXPECT_EQ(fits, 3) << "5 granted before the restart + 3 = the stock of 8";
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "8");
  // A campaign reconciled by a crm that did not record the server: refused the same way.
  server.command("DEL crm:{test}:server");
  auto c = open();
  EXPECT_EQ(c->reserve(c->handle("s"), 1, limits(-1, -1)), QuotaCheck::Fits);
  EXPECT_EQ(c->reserve(c->handle("t"), 1, limits(8, -1)), QuotaCheck::Unavailable);
}

TEST_F(RedisQuotasTest, AStalledServerTimesOutAndIsRefused) {
  auto q = open(/*timeout_ms=*/150, /*retry_ms=*/50);
  start_campaign(*q);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Fits);
  server.pause();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Unavailable);
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_GE(took, std::chrono::milliseconds(140));
  EXPECT_LT(took, std::chrono::milliseconds(1000));
  EXPECT_NE(q->stats().last_error.find("timed out"), std::string::npos) << q->stats().last_error;
  // Within the retry interval the next one is refused at once.
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(50));
  server.resume();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Fits);
  // The timed-out reservation may or may not have run on the server; never more than 5 in all.
  for (int i = 0; i < 5; ++i) q->reserve(h, 0, limits(5, -1));
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "5");
}

TEST_F(RedisQuotasTest, ScriptsAreLoadedAgainAfterNoscript) {
  auto q = open();
  start_campaign(*q);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Fits);
  EXPECT_EQ(server.command("SCRIPT FLUSH"), "OK");
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Fits);
  EXPECT_EQ(q->used(h).deliveries, 2);
}

TEST_F(RedisQuotasTest, ClientsRacingForTheLastUnitsNeverOvergrant) {
  {
    auto q = open();
    start_campaign(*q);
  }
  std::atomic<int> granted{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      auto q = open();
      uint32_t h = q->handle("s");
      for (int i = 0; i < 100; ++i)
        if (q->reserve(h, 2'000'000, limits(1000, 150'000'000)) == QuotaCheck::Fits) ++granted;
    });
  for (auto& t : ts) t.join();
  EXPECT_EQ(granted.load(), 75);  // budget 150 at 2 each
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), "150000000");
}

// A delivery from a budget pool draws on two counters: the strategy's and the pool's. Clients
// racing for them through the one script never overgrant either, and a delivery is counted in
// both or in neither (the same answers as LocalQuotas::reserve_parts).
TEST_F(RedisQuotasTest, APoolIsReservedWithItsStrategyInOneStep) {
  {
    auto q = open();
    start_campaign(*q);
  }
  const std::string pool = crm::state::pool_counter("shared");
  EXPECT_EQ(pool, "pool:shared");
  std::atomic<int> granted[2] = {0, 0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&, t] {
      auto q = open();
      int s = t % 2;  // two strategies share the pool; `s0` has its own budget as well
      std::vector<crm::state::QuotaPart> parts{{q->handle(s ? "s1" : "s0"), limits(-1, s ? -1 : 40'000'000)},
                                               {q->handle(pool), limits(-1, 150'000'000)}};
      for (int i = 0; i < 100; ++i) {
        size_t failed = 9;
        QuotaCheck c = q->reserve_parts(parts, 2'000'000, failed);
        if (c == QuotaCheck::Fits) ++granted[s];
        else ASSERT_EQ(c, QuotaCheck::Budget) << "failed part " << failed;
      }
    });
  for (auto& t : ts) t.join();
  // `s0` gets at most its own budget (40 at 2 each); how much of it, depends on how the threads
  // interleave before the pool runs out, so only the bound and the sum are fixed.
  EXPECT_LE(granted[0].load(), 20);
  EXPECT_EQ(granted[0].load() + granted[1].load(), 75);  // the pool's: 150 at 2 each
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:pool:shared"), "150000000");
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:pool:shared"), "75");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s0"), std::to_string(granted[0].load() * 2'000'000));
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s1"), std::to_string(granted[1].load()));
  // The same answers as the local rule, part by part, for random limits.
  auto q = open();
  crm::state::LocalQuotas local;
  std::mt19937 rng(11);
  std::vector<crm::state::QuotaPart> remote{{q->handle("a"), {}}, {q->handle("pool:p"), {}}},
      here{{local.handle("a"), {}}, {local.handle("pool:p"), {}}};
  for (int i = 0; i < 300; ++i) {
    int64_t amount = int64_t(rng() % 4) * 1'000'000;
    for (size_t k = 0; k < 2; ++k)
      remote[k].limits = here[k].limits = limits(rng() % 3 ? 100 + int64_t(k) * 20 : -1, rng() % 3 ? 200'000'000 : -1);
    size_t fr = 0, fl = 0;
    QuotaCheck cr = q->reserve_parts(remote, amount, fr), cl = local.reserve_parts(here, amount, fl);
    ASSERT_EQ(cr, cl) << "reservation " << i;
    if (cl != QuotaCheck::Fits) {
      ASSERT_EQ(fr, fl);
    }
    for (size_t k = 0; k < 2; ++k) ASSERT_EQ(q->used(remote[k].handle).reserved, local.used(here[k].handle).reserved);
  }
}

// The script's answer when one part does not fit: nothing is counted in any part, whichever
// part refused (the strategy's own budget, or the pool's stock), as LocalQuotas::reserve_parts.
TEST_F(RedisQuotasTest, AReservationRefusedByOnePartCountsInNone) {
  auto q = open();
  start_campaign(*q);
  const uint32_t s = q->handle("s"), pool = q->handle(crm::state::pool_counter("p"));
  std::vector<crm::state::QuotaPart> parts{{s, limits(-1, 25'000'000)}, {pool, limits(2, -1)}};
  size_t failed = 9;
  ASSERT_EQ(q->reserve_parts(parts, 10'000'000, failed), QuotaCheck::Fits);
  // The strategy's budget refuses: the pool's stock is not taken.
  EXPECT_EQ(q->reserve_parts(parts, 20'000'000, failed), QuotaCheck::Budget);
  EXPECT_EQ(failed, 0u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:pool:p"), "1");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:pool:p"), "10000000");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), "10000000");
  ASSERT_EQ(q->reserve_parts(parts, 5'000'000, failed), QuotaCheck::Fits);
  // The pool's stock refuses: the strategy's budget, with room left, is not taken.
  EXPECT_EQ(q->reserve_parts(parts, 10'000'000, failed), QuotaCheck::Stock);
  EXPECT_EQ(failed, 1u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "2");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), "15000000");
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:pool:p"), "2");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:pool:p"), "15000000");
  EXPECT_EQ(q->used(s).deliveries, 2);  // what the answer said the counters hold
  EXPECT_EQ(q->used(pool).reserved, 15'000'000);
  // Another strategy of the pool: refused by it, nothing of its own counted.
  EXPECT_EQ(q->reserve_parts({{q->handle("t"), {}}, {pool, limits(2, -1)}}, 1'000'000, failed), QuotaCheck::Stock);
  EXPECT_EQ(server.command("HEXISTS crm:{test}:counters d:t"), "0");
}

// Through the public API: two runtimes (partitions 1/2 and 2/2, a ledger each) whose two
// strategies draw from one pool share its counters in Redis: the pool's stock holds across
// both, every grant names the pool, and an exact reconcile from the two ledgers recounts the
// pool's counters to what Redis holds.
TEST_F(RedisQuotasTest, RuntimesShareABudgetPool) {
  auto program = crm::compile_sources({{"pooled.crm", R"(
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY }
resource coupon c5 { discount: 5 CNY }
pool launch { budget 400 CNY  stock 50 }
strategy big for business "mall" {
    who: amount >= 50 CNY
    when: on Order
    what: grant c10
    how much: from pool launch, budget 300 CNY, per user 1 per day
}
strategy small for business "mall" {
    who: amount < 50 CNY
    when: on Order
    what: grant c5
    how much: from pool launch, per user 1 per day
}
)"}});
  ASSERT_TRUE(program.program.valid()) << program.diagnostics.render_text() << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_pool_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "pool";
  crm::Runtime rt[2] = {crm::Runtime(program.program), crm::Runtime(program.program)};
  std::string err;
  std::vector<std::string> ledgers;
  for (uint32_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(rt[k].set_partition({k, 2}, err)) << err;
    ASSERT_TRUE(rt[k].share_counters(shared, err)) << err;
    ledgers.push_back((dir / ("p" + std::to_string(k) + ".db")).string());
    ASSERT_TRUE(rt[k].open_state("sqlite:" + ledgers.back(), err)) << err;
  }
  crm::ReconcileResult r;
  crm::Error e;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  // In event order: users 0, 3, 6... order 20 CNY (small), the others 80 CNY (big). By user 44
  // big has spent its own 300 CNY; user 57's grant is the pool's 50th, and its 400 CNY are spent.
  int granted = 0, big = 0, refused_by_pool = 0, refused_by_budget = 0;
  int64_t spent = 0;
  for (int i = 0; i < 120; ++i) {
    std::string user = "u" + std::to_string(i);
    std::string event = "{\"id\":\"e" + std::to_string(i) + "\",\"type\":\"Order\",\"user\":\"" + user +
                        "\",\"time\":\"2026-11-11T00:01:00Z\",\"amount\":" + (i % 3 ? "80" : "20") + "}";
    std::vector<crm::Decision> out;
    for (int k = 0; k < 2; ++k) ASSERT_TRUE(rt[k].process_event(event, out, e)) << e.message;
    ASSERT_EQ(out.size(), 1u) << event;  // exactly one runtime owns the user
    const auto& d = out[0];
    EXPECT_EQ(d.pool, "launch") << d.json;
    if (d.outcome == crm::Decision::Outcome::Granted) {
      ++granted;
      big += d.strategy == "big";
      spent += d.amount_millionths;
    } else {
      refused_by_pool += d.reason == "pool_stock";
      refused_by_budget += d.reason == "budget";
    }
  }
  EXPECT_EQ(granted, 50);  // the pool's stock, across both processes
  EXPECT_EQ(big, 30);      // big's own budget: 300 CNY at 10 CNY
  EXPECT_EQ(spent, 400'000'000);
  EXPECT_EQ(refused_by_budget, 50);  // big after user 44: its own budget, checked before the pool's
  EXPECT_EQ(refused_by_pool, 20);    // small after user 57
  EXPECT_EQ(server.command("HGET crm:{pool}:counters d:pool:launch"), "50");
  EXPECT_EQ(server.command("HGET crm:{pool}:counters r:pool:launch"), std::to_string(spent));
  for (auto& x : rt) ASSERT_TRUE(x.commit(err)) << err;
  // Every process stopped (an exact reconcile takes each ledger's writer lock): the exact sums of
  // the ledgers are what Redis holds, the pool's too.
  for (auto& x : rt) x = crm::Runtime(program.program);
  server.command("DEL crm:{pool}:counters");
  ASSERT_TRUE(crm::reconcile_shared(shared, ledgers, true, r, e)) << e.message;
  EXPECT_EQ(server.command("HGET crm:{pool}:counters d:pool:launch"), "50");
  EXPECT_EQ(server.command("HGET crm:{pool}:counters r:pool:launch"), std::to_string(spent));
  bool row = false;
  for (const auto& x : r.rows) row = row || x.strategy == "pool:launch";
  EXPECT_TRUE(row);
  fs::remove_all(dir);
}

TEST_F(RedisQuotasTest, ReconcileTakesTheMaximumOrTheExactSums) {
  auto q = open();
  std::string err;
  ASSERT_TRUE(q->reconcile({{"a", Quota{5, 50}}, {"b", Quota{1, 0}}}, false, err)) << err;
  ASSERT_TRUE(q->reconcile({{"a", Quota{3, 70}}}, false, err)) << err;
  std::map<std::string, Quota> now;
  bool ready = false;
  ASSERT_TRUE(q->read(now, ready, err)) << err;
  EXPECT_TRUE(ready);
  EXPECT_EQ(now["a"].deliveries, 5);  // never lowered while processes may hold reservations
  EXPECT_EQ(now["a"].reserved, 70);
  EXPECT_EQ(now["b"].deliveries, 1);
  ASSERT_TRUE(q->reconcile({{"a", Quota{3, 30}}}, true, err)) << err;
  ASSERT_TRUE(q->read(now, ready, err)) << err;
  EXPECT_EQ(now["a"].deliveries, 3);
  EXPECT_EQ(now["a"].reserved, 30);
  EXPECT_EQ(now.count("b"), 0u);
}

TEST_F(RedisQuotasTest, StrictModeRefusesWhenNoReplicaAcknowledges) {
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.wait_replicas = 1;
  o.wait_timeout_ms = 20;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;  // the refusal must be WAIT's, not a timeout's
  std::string err;
  auto q = RedisQuotas::create(o, err);
  ASSERT_TRUE(q) << err;
  start_campaign(*q);
  uint32_t h = q->handle("s");
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Unavailable);  // this server has no replica
  EXPECT_NE(q->stats().last_error.find("0 of 1 replicas"), std::string::npos) << q->stats().last_error;
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");  // counted, not granted: undergrant only
}

// WAIT blocks for up to --shared-wait-timeout, which may exceed the per-command timeout: the
// client must wait that long for WAIT's answer instead of timing out, dropping the connection and
// refusing the next deliveries unasked (--shared-retry) as if Redis were down.
TEST_F(RedisQuotasTest, StrictModeWaitsLongerThanTheCommandTimeout) {
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.command_timeout_ms = 200;  // far above a script's time, far below WAIT's
  o.retry_ms = 60000;
  o.wait_replicas = 1;
  o.wait_timeout_ms = 1000;
  std::string err;
  auto q = RedisQuotas::create(o, err);
  ASSERT_TRUE(q) << err;
  start_campaign(*q);
  uint32_t h = q->handle("s");
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_NE(q->stats().last_error.find("0 of 1 replicas acknowledged within 1000 ms"), std::string::npos)
      << q->stats().last_error;
  // The connection was kept: the next delivery is asked again (not refused for the 60 s retry).
  EXPECT_EQ(q->reserve(h, 0, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "2");
  EXPECT_EQ(q->stats().reconnects, 0u);
}

// Order `id` at second `i` (0..59) of 2026-11-11, 100 CNY.
std::string order(int id, int i, const std::string& user) {
  return "{\"id\":\"e" + std::to_string(id) + "\",\"type\":\"Order\",\"user\":\"" + user +
         "\",\"time\":\"2026-11-11T00:00:" + (i < 10 ? "0" : "") + std::to_string(i) + "Z\",\"amount\":100}";
}

// The public API: two runtimes, partitions 1/2 and 2/2, one ledger each, one campaign in Redis.
TEST_F(RedisQuotasTest, RuntimesInPartitionsShareOneCampaign) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_api_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "api";
  std::vector<std::string> notes;
  shared.on_notice = [&](const std::string& m) { notes.push_back(m); };
  crm::Runtime rt[2] = {crm::Runtime(program.program), crm::Runtime(program.program)};
  std::string err;
  for (uint32_t k = 0; k < 2; ++k) {
    ASSERT_TRUE(rt[k].set_partition({k, 2}, err)) << err;
    ASSERT_TRUE(rt[k].share_counters(shared, err)) << err;
    ASSERT_TRUE(rt[k].open_state("sqlite:" + (dir / ("p" + std::to_string(k) + ".db")).string(), err)) << err;
  }
  crm::SharedCounters bad = shared;
  bad.url = "http://x";
  EXPECT_FALSE(rt[0].share_counters(bad, err));
  // Not reconciled yet: `flash` (limited) is refused, whichever process owns the user.
  std::vector<crm::Decision> out;
  crm::Error e;
  int owner = crm::in_partition({0, 2}, "first") ? 0 : 1;
  ASSERT_TRUE(rt[owner].process_event(order(0, 0, "first"), out, e)) << e.message;
  ASSERT_FALSE(out.empty());
  for (const auto& d : out) {
    if (d.strategy == "flash") { EXPECT_EQ(d.reason, "shared_unavailable") << d.json; }
  }
  ASSERT_FALSE(notes.empty());
  out.clear();
  ASSERT_TRUE(rt[1 - owner].process_event(order(1, 1, "first"), out, e)) << e.message;
  EXPECT_TRUE(out.empty()) << "another partition's user: skipped";
  crm::ReconcileResult r;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  // 240 users over both runtimes: each decided by its own; flash's budget (200 at 10 CNY) holds.
  int granted = 0;
  for (int i = 2; i < 60; ++i)
    for (int u = 0; u < 4; ++u) {
      std::string user = "u" + std::to_string(i * 4 + u);
      out.clear();
      for (int k = 0; k < 2; ++k) ASSERT_TRUE(rt[k].process_event(order(i * 4 + u, i, user), out, e)) << e.message;
      for (const auto& d : out) granted += d.strategy == "flash" && d.outcome == crm::Decision::Outcome::Granted;
    }
  EXPECT_EQ(granted, 200);
  EXPECT_EQ(server.command("HGET crm:{api}:counters d:flash"), "200");
  fs::remove_all(dir);
}

// Per strategy the campaign keeps one partition count and one ledger per partition (crm:{NAME}:
// partitions): a process with another N, or another ledger for a partition already served, would
// decide the same users twice (a tester ran 1/2, 2/2 and 1/3: 13,094 events decided twice). The
// same ledger restarting is its own; a program sharing no strategy with the others may run in
// its own partitions; and a process that attached while Redis did not answer registers before
// its first reservation and, in conflict, is refused every one.
TEST_F(RedisQuotasTest, EachStrategyIsDecidedInOnePartitionCountByOneLedgerPerPartition) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  auto other = crm::compile_modules({{"main", R"(
event Order { amount: Money(CNY) }
resource points p5 { amount: 5 }
strategy own { who: true  when: on Order  what: grant p5 }
)"}});
  ASSERT_TRUE(other.program.valid()) << other.diagnostics.render_text();
  fs::path dir = fs::temp_directory_path() / ("crm_shared_parts_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "parts";
  std::vector<std::string> notes;
  shared.on_notice = [&](const std::string& m) { notes.push_back(m); };
  crm::Error e;
  crm::ReconcileResult r;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  auto attach = [&](crm::Runtime& rt, std::optional<crm::Partition> part, const std::string& ledger, std::string& err) {
    if (part && !rt.set_partition(*part, err)) return false;
    if (!rt.share_counters(shared, err)) return false;
    return rt.open_state("sqlite:" + (dir / ledger).string(), err);
  };
  std::string err;
  auto a = std::make_unique<crm::Runtime>(program.program);
  crm::Runtime b(program.program);
  ASSERT_TRUE(attach(*a, crm::Partition{0, 2}, "a.db", err)) << err;
  ASSERT_TRUE(attach(b, crm::Partition{1, 2}, "b.db", err)) << err;
  {
    crm::Runtime c(program.program);
    EXPECT_FALSE(attach(c, crm::Partition{0, 3}, "c.db", err));
    EXPECT_NE(err.find("strategy `flash` of campaign `parts` is decided in 2 partition(s) (field `n:flash` of "
                       "`crm:{parts}:partitions`, set by the first process that decided it), and this process has "
                       "--partition 1/3"),
              std::string::npos)
        << err;
  }
  {
    crm::Runtime d(program.program);
    EXPECT_FALSE(attach(d, crm::Partition{0, 2}, "d.db", err));
    EXPECT_NE(err.find("strategy `flash` of campaign `parts` is decided for partition 1/2 by another ledger (id "),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("first attached as sqlite:" + (dir / "a.db").string() + " on "), std::string::npos) << err;
  }
  {
    crm::Runtime whole(program.program);
    EXPECT_FALSE(attach(whole, std::nullopt, "w.db", err));
    EXPECT_NE(err.find("and this process runs without --partition"), std::string::npos) << err;
  }
  // Refused attaches wrote nothing: the fields are the two processes' own.
  EXPECT_EQ(server.command("HLEN crm:{parts}:partitions"), "6");  // n: and p:..:1, p:..:2 of flash and side
  // The same ledger again (a restart), and a program of its own in its own partitions.
  a.reset();
  a = std::make_unique<crm::Runtime>(program.program);
  ASSERT_TRUE(attach(*a, crm::Partition{0, 2}, "a.db", err)) << err;
  crm::Runtime own(other.program);
  ASSERT_TRUE(attach(own, std::nullopt, "own.db", err)) << err;
  // Attached while Redis does not answer: registered at the first reservation, refused there.
  notes.clear();
  shared.connect_timeout_ms = shared.timeout_ms = 200;
  shared.retry_ms = 0;  // the reservation below tries Redis again at once
  server.pause();
  crm::Runtime late(program.program);
  bool attached = attach(late, crm::Partition{0, 4}, "late.db", err);
  server.resume();
  ASSERT_TRUE(attached) << err;
  std::vector<crm::Decision> out;
  std::string user;
  for (int i = 0; user.empty(); ++i)
    if (crm::in_partition({0, 4}, "v" + std::to_string(i))) user = "v" + std::to_string(i);
  // The conflict found at its first reservation stops it: the event is refused as a ledger
  // failure, not recorded as rejections beside the other ledger's decisions.
  EXPECT_FALSE(late.process_event(order(1, 1, user), out, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::State) << e.message;
  EXPECT_NE(e.message.find("is decided in 2 partition(s)"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("this process stops"), std::string::npos) << e.message;
  bool said = false;
  for (const auto& n : notes) said = said || n.find("is decided in 2 partition(s)") != std::string::npos;
  EXPECT_TRUE(said) << (notes.empty() ? "no notes" : notes.back());
  const std::string flash = server.command("HGET crm:{parts}:counters d:flash");
  EXPECT_TRUE(flash.empty() || flash == "0") << flash;
  fs::remove_all(dir);
}

// The partition's registration fails closed and is made again: a registration Redis answers
// with an error (here the hash is a list) leaves the process attached but refuses every
// reservation, also of a delivery without a limit, until one succeeds; a Redis that restarted
// empty gets the registration again at the process's next reservation; a start refused by Redis
// records no partition in its ledger.
TEST_F(RedisQuotasTest, APartitionsRegistrationFailsClosedAndIsMadeAgainOnANewConnection) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_reg_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "reg";
  shared.retry_ms = 0;
  std::vector<std::string> notes;
  shared.on_notice = [&](const std::string& m) { notes.push_back(m); };
  crm::Error e;
  crm::ReconcileResult r;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  auto attach = [&](crm::Runtime& rt, crm::Partition part, const std::string& ledger, std::string& err) {
    return rt.set_partition(part, err) && rt.share_counters(shared, err) &&
           rt.open_state("sqlite:" + (dir / ledger).string(), err);
  };
  std::string user, second;  // two users of partition 1/2
  for (int i = 0; second.empty(); ++i)
    if (crm::in_partition({0, 2}, "w" + std::to_string(i))) (user.empty() ? user : second) = "w" + std::to_string(i);
  server.command("RPUSH crm:{reg}:partitions x");
  crm::Runtime a(program.program);
  std::string err;
  ASSERT_TRUE(attach(a, {0, 2}, "a.db", err)) << err;
  std::vector<crm::Decision> out;
  ASSERT_TRUE(a.process_event(order(1, 1, user), out, e)) << e.message;
  ASSERT_EQ(out.size(), 2u);
  for (const auto& d : out) EXPECT_EQ(d.reason, "shared_unavailable") << d.json;
  bool said = false;
  for (const auto& n : notes) said = said || n.find("WRONGTYPE") != std::string::npos;
  EXPECT_TRUE(said) << (notes.empty() ? "no notes" : notes.back());
  server.command("DEL crm:{reg}:partitions");
  out.clear();
  ASSERT_TRUE(a.process_event(order(2, 2, user), out, e)) << e.message;
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out[0].outcome, crm::Decision::Outcome::Granted) << out[0].json;
  EXPECT_EQ(server.command("HGET crm:{reg}:partitions n:flash"), "2");
  // Redis restarts empty: reconciled, and the running process registers again before reserving.
  server.stop();
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(crm::reconcile_shared(shared, {(dir / "a.db").string()}, false, r, e)) << e.message;
  EXPECT_EQ(server.command("HLEN crm:{reg}:partitions"), "0");
  out.clear();
  ASSERT_TRUE(a.process_event(order(3, 3, second), out, e)) << e.message;
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(server.command("HGET crm:{reg}:partitions n:flash"), "2");
  // A start Redis refuses records no partition in its (new) ledger: it opens later with another.
  crm::Runtime c(program.program);
  EXPECT_FALSE(attach(c, {0, 3}, "c.db", err));
  EXPECT_NE(err.find("is decided in 2 partition(s)"), std::string::npos) << err;
  crm::Run later(program.program);
  crm::Error le;
  ASSERT_TRUE(later.set_partition({1, 3}, le)) << le.message;
  EXPECT_TRUE(later.open_state("sqlite:" + (dir / "c.db").string(), false, le)) << le.message;
  fs::remove_all(dir);
}

// The registration is checked by every reservation's script (t23 follow-up): the partitions
// hash deleted (or FLUSHALL) while a process runs, without a reconnection, is registered again at
// its next reservation (before: only at its next reconnection, so another N could start
// meanwhile). A process of another N that registered in that gap is found at the next reservation,
// and the running process stops (its store refuses the unit, a State error) instead of deciding
// on with every reservation refused: what it decided before is committed (its ledger holds the
// two units it had not committed), the refused unit is in no ledger, nothing more is counted.
TEST_F(RedisQuotasTest, ARegistrationLostWhileRunningIsMadeAgainAndAConflictThenStopsTheRun) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_rereg_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (bool leased : {false, true}) {
    const std::string campaign = leased ? "rereg_l" : "rereg";
    const std::string key = "crm:{" + campaign + "}:partitions";
    crm::SharedCounters shared;
    shared.url = server.url();
    shared.campaign = campaign;
    shared.retry_ms = 0;
    if (leased) shared.lease = 1;  // every delivery runs the lease script
    std::vector<std::string> notes;
    shared.on_notice = [&](const std::string& m) { notes.push_back(m); };
    crm::Error e;
    crm::ReconcileResult r;
    ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
    std::vector<std::string> users;  // users of partition 1/2
    for (int i = 0; users.size() < 4; ++i)
      if (crm::in_partition({0, 2}, "x" + std::to_string(i))) users.push_back("x" + std::to_string(i));
    const std::string ledger = (dir / (campaign + "-a.db")).string();
    crm::Run a(program.program);
    ASSERT_TRUE(a.set_partition({0, 2}, e)) << e.message;
    ASSERT_TRUE(a.share_counters(shared, e)) << e.message;
    ASSERT_TRUE(a.open_state("sqlite:" + ledger, false, e)) << e.message;
    std::vector<std::string> out;
    ASSERT_TRUE(a.add_event(order(1, 1, users[0]), out, e)) << e.message;
    ASSERT_TRUE(a.commit(e)) << e.message;
    server.command(("DEL " + key).c_str());
    ASSERT_TRUE(a.add_event(order(2, 2, users[1]), out, e)) << e.message;
    EXPECT_EQ(server.command(("HGET " + key + " n:flash").c_str()), "2") << "registered again without a reconnection";
    EXPECT_FALSE(server.command(("HGET " + key + " p:flash:1").c_str()).empty());
    // Gone again, and a process of another N registers in the gap.
    server.command(("DEL " + key).c_str());
    crm::Runtime c(program.program);
    std::string err;
    ASSERT_TRUE(c.set_partition({0, 3}, err)) << err;
    ASSERT_TRUE(c.share_counters(shared, err)) << err;
    ASSERT_TRUE(c.open_state("sqlite:" + (dir / (campaign + "-c.db")).string(), err)) << err;
    ASSERT_EQ(server.command(("HGET " + key + " n:flash").c_str()), "3");
    out.clear();
    EXPECT_FALSE(a.add_event(order(3, 3, users[2]), out, e));
    EXPECT_EQ(e.kind, crm::ErrorKind::State) << e.message;
    EXPECT_NE(e.message.find("of campaign `" + campaign + "` is decided in 3 partition(s)"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("this process stops; what it decided before is committed"), std::string::npos) << e.message;
    bool said = false;
    for (const auto& n : notes) said = said || n.find("is decided in 3 partition(s)") != std::string::npos;
    EXPECT_TRUE(said) << (notes.empty() ? "no notes" : notes.back());
    EXPECT_FALSE(a.add_event(order(4, 4, users[3]), out, e));  // stopped for good
    EXPECT_EQ(e.kind, crm::ErrorKind::State) << e.message;
    // Units 1 and 2 in the ledger (2 committed by the refusal), 3 and 4 in none; Redis counted 2.
    std::map<std::string, Quota> totals;
    ASSERT_TRUE(crm::state::ledger_totals(ledger, totals, err)) << err;
    EXPECT_EQ(totals["flash"].deliveries, 2) << campaign;
    EXPECT_EQ(server.command(("HGET crm:{" + campaign + "}:counters d:flash").c_str()), "2") << campaign;
  }
  fs::remove_all(dir);
}

}  // namespace

namespace {

std::unique_ptr<RedisQuotas> open_leased(const std::string& url, int lease) {
  crm::state::SharedOptions o;
  o.url = url;
  o.campaign = "test";
  o.lease = lease;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;  // as open(): not a test of timeouts
  std::string err;
  auto q = RedisQuotas::create(o, err);
  EXPECT_TRUE(q) << err;
  return q;
}

}  // namespace

// One client alone decides with leases exactly as LocalQuotas (and so as without leases), for
// random limits that change from call to call, with far fewer scripts; after settle() Redis
// holds exactly what was counted (the lease given back).
// t23 F5: shared counters with a memory state are refused (Input), by both APIs and their reloads:
// the grants would die with the process, and no reconcile could count them after Redis lost the
// counters. A durable ledger is still taken after the refusal.
TEST_F(RedisQuotasTest, SharedCountersNeedADurableLedger) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_memory_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  crm::SharedCounters shared;
  shared.url = server.url();
  std::string err;
  crm::Runtime rt(program.program);
  ASSERT_TRUE(rt.share_counters(shared, err)) << err;
  EXPECT_FALSE(rt.open_state("memory", err));
  EXPECT_NE(err.find("durable ledger"), std::string::npos) << err;
  crm::Error e;
  EXPECT_FALSE(rt.enable_reload(e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input) << e.message;
  EXPECT_TRUE(rt.open_state("sqlite:" + (dir / "rt.db").string(), err)) << err;
  crm::Run run(program.program);
  shared.campaign = "run";  // the runtime above decides campaign `default`'s users with its own ledger
  ASSERT_TRUE(run.share_counters(shared, e)) << e.message;
  EXPECT_FALSE(run.open_state("memory", false, e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input);
  EXPECT_NE(e.message.find("durable ledger"), std::string::npos) << e.message;
  EXPECT_FALSE(run.enable_reload(e));
  EXPECT_EQ(e.kind, crm::ErrorKind::Input) << e.message;
  EXPECT_TRUE(run.open_state("sqlite:" + (dir / "run.db").string(), false, e)) << e.message;
  fs::remove_all(dir);
}

TEST_F(RedisQuotasTest, ALeasedClientAloneDecidesAsWithoutLeases) {
  start_campaign(*open());
  auto q = open_leased(server.url(), 8);
  crm::state::LocalQuotas local;
  uint32_t h = q->handle("s"), p = q->handle("pool:p"), lh = local.handle("s"), lp = local.handle("pool:p");
  std::mt19937 rng(9);
  for (int i = 0; i < 600; ++i) {
    int64_t amount = int64_t(rng() % 5) * 1'000'000;
    QuotaLimits l = limits(rng() % 3 ? 300 : -1, rng() % 3 ? 500'000'000 : -1, rng() % 4 ? -1 : int64_t(i / 2),
                           rng() % 4 ? -1 : int64_t(i) * 900'000);
    if (i % 2) {
      ASSERT_EQ(q->reserve(h, amount, l), local.reserve(lh, amount, l)) << "reservation " << i;
    } else {
      QuotaLimits pl = limits(rng() % 2 ? 200 : -1, -1);
      size_t fr = 0, fl = 0;
      QuotaCheck c = local.reserve_parts({{lh, l}, {lp, pl}}, amount, fl);
      ASSERT_EQ(q->reserve_parts({{h, l}, {p, pl}}, amount, fr), c) << "reservation " << i;
      if (c != QuotaCheck::Fits) {
        ASSERT_EQ(fr, fl);
      }
    }
    ASSERT_EQ(q->used(h).deliveries, local.used(lh).deliveries) << i;
    ASSERT_EQ(q->used(h).reserved, local.used(lh).reserved) << i;
    ASSERT_EQ(q->used(p).deliveries, local.used(lp).deliveries) << i;
  }
  EXPECT_GT(local.used(lh).deliveries, 100);
  // Limits and amounts that change at every call, and refusals (each asks Redis), save little.
  EXPECT_LT(q->stats().leases, q->stats().reservations) << q->stats().leases << " scripts";
  q->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), std::to_string(local.used(lh).deliveries));
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), std::to_string(local.used(lh).reserved));
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:pool:p"), std::to_string(local.used(lp).deliveries));
  // The same amount under limits far away: one script per 8 deliveries (1 and a lease of 7).
  uint64_t before = q->stats().leases;
  uint32_t st = q->handle("steady");
  for (int i = 0; i < 400; ++i) ASSERT_EQ(q->reserve(st, 1'000'000, limits(1000, 1'000'000'000)), QuotaCheck::Fits) << i;
  EXPECT_EQ(q->stats().leases - before, 50u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:steady"), "400");  // every lease used up
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:steady"), "400000000");
}

// Clients racing with leases never overgrant: a lease is taken in the script that checks the
// limit, so everything leased fits it. What others hold unused is an undergrant while they hold
// it; given back (settle), the counters equal the grants exactly.
TEST_F(RedisQuotasTest, LeasesNeverOvergrantAndGiveBackWhatTheyDoNotUse) {
  start_campaign(*open());
  std::atomic<int> granted{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      auto q = open_leased(server.url(), 10);
      uint32_t h = q->handle("s");
      for (int i = 0; i < 100; ++i)
        if (q->reserve(h, 2'000'000, limits(1000, 150'000'000)) == QuotaCheck::Fits) ++granted;
    });  // destroyed: settles
  for (auto& t : ts) t.join();
  EXPECT_LE(granted.load(), 75);       // budget 150 at 2 each
  EXPECT_GE(granted.load(), 75 - 4 * 10);  // at most each client's lease left unused at its end
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), std::to_string(granted.load() * 2'000'000));
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), std::to_string(granted.load()));
  // Step by step, on a counter of its own (`t`; deleting the hash while the campaign is ready is
  // refused): A's lease makes B's refusal come early (undergrant), A's give-back ends it.
  auto a = open_leased(server.url(), 10), b = open_leased(server.url(), 10);
  uint32_t ha = a->handle("t"), hb = b->handle("t");
  ASSERT_EQ(a->reserve(ha, 0, limits(12, -1)), QuotaCheck::Fits);  // 1 + a lease of min(9, (12 - 1) / 2) = 5
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:t"), "6");
  EXPECT_EQ(a->used(ha).deliveries, 1);
  int b_granted = 0;
  while (b->reserve(hb, 0, limits(12, -1)) == QuotaCheck::Fits) ++b_granted;
  EXPECT_EQ(b_granted, 6);  // the 6 A does not hold
  EXPECT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Stock);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(a->reserve(ha, 0, limits(12, -1)), QuotaCheck::Fits);  // from its lease
  EXPECT_EQ(a->stats().leases, 1u);
  a->settle();  // gives back the 2 it did not use
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:t"), "10");
  EXPECT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Fits);
  EXPECT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Fits);
  EXPECT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Stock);
  b->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:t"), "12");
}

// A process killed with a lease: its unused units stay counted (undergrant, at most the lease)
// until `reconcile --exact` from the ledgers. Redis losing the campaign: the leases are given up
// (refused until reconciled, nothing granted from a lease of the lost counters).
TEST_F(RedisQuotasTest, AKilledProcesssLeaseIsAnUndergrantOfAtMostTheLease) {
  start_campaign(*open());
  pid_t child = ::fork();
  if (child == 0) {
    auto q = open_leased(server.url(), 10);
    int rc = q->reserve(q->handle("s"), 1'000'000, limits(20, -1)) == QuotaCheck::Fits ? 0 : 1;
    ::_exit(rc);  // no destructor: the lease is not given back
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "10");  // 1 used + 9 leased (min(9, 19 / 2))
  auto q = open_leased(server.url(), 10);
  uint32_t h = q->handle("s");
  int granted = 0;
  while (q->reserve(h, 1'000'000, limits(20, -1)) == QuotaCheck::Fits) ++granted;
  EXPECT_EQ(granted, 10);  // 19 were free; 9 are in the killed process's lease
  q->settle();
  std::string err;
  ASSERT_TRUE(q->reconcile({{"s", Quota{1 + granted, (1 + granted) * 1'000'000}}}, true, err)) << err;
  while (q->reserve(h, 1'000'000, limits(20, -1)) == QuotaCheck::Fits) ++granted;
  EXPECT_EQ(granted, 19);
  q->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "20");
  // Redis loses everything while a lease is held and is reconciled from the ledgers: the lease
  // serves until the process's next script (at most the lease: the bound docs/scaling.md states),
  // and giving it back does not lower the new counters (they never contained it: the campaign's
  // generation changed).
  server.command("DEL crm:{test}:counters");
  ASSERT_TRUE(q->reconcile({}, true, err)) << err;
  ASSERT_EQ(q->reserve(h, 0, limits(20, -1)), QuotaCheck::Fits);  // 1 + a lease of 9
  server.command("FLUSHALL");
  EXPECT_EQ(q->reserve(h, 0, limits(20, -1)), QuotaCheck::Fits) << "from the lease: Redis is not asked";
  ASSERT_TRUE(q->reconcile({{"s", Quota{2, 0}}}, true, err)) << err;  // the ledgers: its 2 grants
  q->settle();  // the 8 unused belong to the lost counters
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "2");
  ASSERT_EQ(q->reserve(h, 0, limits(20, -1)), QuotaCheck::Fits);  // 3, and a lease of min(9, 17 / 2)
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "11");
  // Lost again and not reconciled: refused once the lease is used up, nothing given back.
  server.command("FLUSHALL");
  int more = 0;
  while (q->reserve(h, 0, limits(20, -1)) == QuotaCheck::Fits) ++more;
  EXPECT_EQ(more, 8);
  EXPECT_NE(q->stats().last_error.find("not ready"), std::string::npos) << q->stats().last_error;
  q->settle();
  EXPECT_EQ(server.command("EXISTS crm:{test}:counters"), "0");
}

// Money leases: a lease of money is this delivery's amount for each further delivery of the
// lease; a delivery that the money held does not cover (a larger amount) runs the script, which
// gives the lease back first and checks exactly. Near a limit a lease is at most half of what the
// limit leaves, so the last units still go out, one delivery at a time: a client alone spends a
// budget to its last unit, and two clients share a stock to its last unit.
TEST_F(RedisQuotasTest, MoneyLeasesFollowTheAmountAndTheLastUnitsGoOut) {
  start_campaign(*open());
  auto q = open_leased(server.url(), 5);
  uint32_t h = q->handle("s");
  auto counter = [&](const char* field) { return server.command((std::string("HGET crm:{test}:counters ") + field).c_str()); };
  ASSERT_EQ(q->reserve(h, 2'000'000, limits(-1, 100'000'000)), QuotaCheck::Fits);  // 2 + a lease of 4 x 2
  EXPECT_EQ(counter("r:s"), "10000000");
  EXPECT_EQ(counter("d:s"), "5");  // 1 + 4: a dimension without a limit is leased as well
  ASSERT_EQ(q->reserve(h, 3'000'000, limits(-1, 100'000'000)), QuotaCheck::Fits);  // from the lease: 3 of 8
  EXPECT_EQ(q->stats().leases, 1u);
  EXPECT_EQ(q->used(h).reserved, 5'000'000);
  ASSERT_EQ(q->reserve(h, 6'000'000, limits(-1, 100'000'000)), QuotaCheck::Fits);  // more than the 5 held
  EXPECT_EQ(q->stats().leases, 2u);
  // The 5 and 3 deliveries held went back; then 6 + a lease of 4 x 6, and 1 + 4 deliveries.
  EXPECT_EQ(counter("r:s"), "35000000");
  EXPECT_EQ(counter("d:s"), "7");
  EXPECT_EQ(q->used(h).reserved, 11'000'000);
  EXPECT_EQ(q->used(h).deliveries, 3);
  q->settle();
  EXPECT_EQ(counter("r:s"), "11000000");
  EXPECT_EQ(counter("d:s"), "3");
  // Budget 30: 11 + 6 = 17, and a lease of half of the 13 left (not the 24 wanted).
  ASSERT_EQ(q->reserve(h, 6'000'000, limits(-1, 30'000'000)), QuotaCheck::Fits);
  EXPECT_EQ(counter("r:s"), "23500000");
  ASSERT_EQ(q->reserve(h, 6'000'000, limits(-1, 30'000'000)), QuotaCheck::Fits);  // from the lease: 0.5 left
  EXPECT_EQ(q->stats().leases, 3u);
  ASSERT_EQ(q->reserve(h, 6'000'000, limits(-1, 30'000'000)), QuotaCheck::Fits);  // 29, a lease of 0.5
  EXPECT_EQ(counter("r:s"), "29500000");
  EXPECT_EQ(q->reserve(h, 6'000'000, limits(-1, 30'000'000)), QuotaCheck::Budget);  // 35 > 30, the 0.5 given back
  EXPECT_EQ(counter("r:s"), "29000000");
  EXPECT_EQ(q->used(h).reserved, 29'000'000);
  EXPECT_EQ(q->reserve(h, 1'000'000, limits(-1, 30'000'000)), QuotaCheck::Fits);  // the last unit
  EXPECT_EQ(q->reserve(h, 1'000'000, limits(-1, 30'000'000)), QuotaCheck::Budget);
  EXPECT_EQ(counter("r:s"), "30000000");
  // Two clients with large leases alternating for a stock of 7: all 7 go out, no more.
  auto a = open_leased(server.url(), 64), b = open_leased(server.url(), 64);
  uint32_t ha = a->handle("t"), hb = b->handle("t");
  int granted = 0;
  for (bool any = true; any;) {
    any = false;
    for (auto* c : {a.get(), b.get()})
      if (c->reserve(c == a.get() ? ha : hb, 0, limits(7, -1)) == QuotaCheck::Fits) ++granted, any = true;
  }
  EXPECT_EQ(granted, 7);
  EXPECT_EQ(counter("d:t"), "7");
  EXPECT_GT(a->stats().from_lease + b->stats().from_lease, 0u);
}

// Programs that share a counter may limit it differently (one with a stock, one without): what a
// process grants without a limit is counted in Redis before it goes out (it is leased like the
// rest), so the other program's stock holds for the sum of both.
TEST_F(RedisQuotasTest, ADeliveryWithoutALimitIsCountedBeforeItGoesOut) {
  start_campaign(*open());
  auto a = open_leased(server.url(), 10), b = open_leased(server.url(), 10);
  uint32_t ha = a->handle("m"), hb = b->handle("m");
  for (int i = 0; i < 3; ++i) ASSERT_EQ(a->reserve(ha, 1'000'000, limits(-1, -1)), QuotaCheck::Fits);
  EXPECT_EQ(a->stats().leases, 1u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:m"), "10");  // 1 + a lease of 9
  EXPECT_EQ(b->reserve(hb, 1'000'000, limits(5, -1)), QuotaCheck::Stock);  // a's lease fills it for now
  a->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:m"), "3");
  int granted = 0;
  while (b->reserve(hb, 1'000'000, limits(5, -1)) == QuotaCheck::Fits) ++granted;
  EXPECT_EQ(granted, 2);  // 5 - a's 3
  b->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:m"), "5");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:m"), "5000000");
}

// Redis loses the campaign just after a process took a lease, and a reconcile sets it again from
// the ledgers: the new generation is not the lost one (a new ready key starts from a random
// number, not from 1 again), so the process's give-back does not lower the new counters below
// the grants.
TEST_F(RedisQuotasTest, ALeaseIsNotGivenBackIntoTheCountersOfANewGeneration) {
  auto r = open();
  start_campaign(*r);
  auto q = open_leased(server.url(), 10);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 0, limits(100, -1)), QuotaCheck::Fits);  // 1 + a lease of 9
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "10");
  std::set<std::string> generations{server.command("GET crm:{test}:ready")};
  server.command("FLUSHALL");
  std::string err;
  ASSERT_TRUE(r->reconcile({{"s", Quota{1, 0}}}, false, err)) << err;  // its ledger: 1 grant
  generations.insert(server.command("GET crm:{test}:ready"));
  EXPECT_EQ(generations.size(), 2u);
  q->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");
  for (int i = 0; i < 20; ++i) {
    server.command("FLUSHALL");
    ASSERT_TRUE(r->reconcile({}, false, err)) << err;
    generations.insert(server.command("GET crm:{test}:ready"));
    ASSERT_TRUE(r->reconcile({}, false, err)) << err;  // an existing ready key: incremented
    generations.insert(server.command("GET crm:{test}:ready"));
  }
  EXPECT_EQ(generations.size(), 42u);
}

// What other processes give back is seen at the next settle (after each commit), even by a
// process that holds nothing: its engine's early look (used()) would otherwise go on refusing on
// counters that still contained the others' leases.
TEST_F(RedisQuotasTest, SettlingReadsWhatOthersGaveBack) {
  start_campaign(*open());
  auto a = open_leased(server.url(), 10), b = open_leased(server.url(), 10);
  uint32_t ha = a->handle("t"), hb = b->handle("t");
  ASSERT_EQ(a->reserve(ha, 0, limits(12, -1)), QuotaCheck::Fits);  // 6: 1 and a lease of 5
  ASSERT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Fits);  // 9: 1 and a lease of 2
  ASSERT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Fits);
  ASSERT_EQ(b->reserve(hb, 0, limits(12, -1)), QuotaCheck::Fits);
  EXPECT_EQ(b->used(hb).deliveries, 9);
  a->settle();  // 5 back
  EXPECT_EQ(b->used(hb).deliveries, 9);
  b->settle();  // holds nothing, reads the counter
  EXPECT_EQ(b->used(hb).deliveries, 4);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:t"), "4");
}

// crm run --threads: workers reserve through one lock (state::GroupLedger's LockedQuotas) while
// the ledger's writer thread settles after each group commit. Settling between reservations
// changes no decision of a process alone: exactly the stock goes out, and once everything is
// given back the counters equal the grants, in the strategy and in its pool.
TEST_F(RedisQuotasTest, SettlingWhileOtherThreadsReserve) {
  start_campaign(*open());
  auto q = open_leased(server.url(), 16);
  uint32_t h = q->handle("s"), p = q->handle("pool:p");
  std::atomic<int> granted{0};
  std::atomic<bool> done{false};
  std::mutex lock;
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 300; ++i) {
        size_t failed = 0;
        std::lock_guard lk(lock);
        if (q->reserve_parts({{h, limits(500, -1)}, {p, limits(-1, 900'000'000)}}, 1'000'000, failed) == QuotaCheck::Fits)
          ++granted;
      }
    });
  int settles = 0;
  std::thread writer([&] {
    while (!done) {
      q->settle();
      ++settles;
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  for (auto& t : ts) t.join();
  done = true;
  writer.join();
  EXPECT_EQ(granted.load(), 500);
  EXPECT_GT(settles, 2);
  EXPECT_GT(q->stats().from_lease, 50u);
  q->settle();
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "500");
  EXPECT_EQ(server.command("HGET crm:{test}:counters r:pool:p"), "500000000");
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:pool:p"), "500");
}

// Strict mode with leases: a lease is used only once the replicas have the script that took it.
// When they do not acknowledge in time, neither the delivery nor the lease is used (both stay
// counted: an undergrant), and the next delivery asks Redis again.
TEST_F(RedisQuotasTest, StrictModeUsesALeaseOnlyOnceReplicated) {
  RedisServer replica;
  ASSERT_TRUE(replica.start({"--replicaof", "127.0.0.1", std::to_string(server.port())}));
  // A replica's first full sync forks for an RDB; on a loaded 2-core machine that took over the
  // 5 s this loop used to allow, so it waits up to 60 s (it returns as soon as the replica is up).
  bool online = false;
  for (int i = 0; i < 6000 && !online; ++i) {
    online = server.command("INFO replication").find("state=online") != std::string::npos;
    if (!online) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(online) << server.command("INFO replication");
  // "online" is the primary's view after the sync; the replica's first acknowledgement of a WAIT
  // may still be slow on a loaded machine (CI once refused the very first reservation with 100 ms
  // to wait). Wait until a WAIT is answered, and give each reservation's WAIT 1 s: what is
  // tested is which lease gets used, not how fast an idle replica answers.
  bool acknowledging = false;
  for (int i = 0; i < 100 && !acknowledging; ++i) acknowledging = server.command("WAIT 1 100") == "1";
  ASSERT_TRUE(acknowledging) << server.command("INFO replication");
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.wait_replicas = 1;
  o.wait_timeout_ms = 1000;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;
  o.lease = 4;
  std::string err;
  auto q = RedisQuotas::create(o, err);
  ASSERT_TRUE(q) << err;
  start_campaign(*q);
  uint32_t h = q->handle("s");
  for (int i = 0; i < 4; ++i) ASSERT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Fits) << i;
  EXPECT_EQ(q->stats().leases, 1u);  // 1 and a lease of 3, replicated
  EXPECT_EQ(q->stats().from_lease, 3u);
  replica.pause();
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Unavailable);  // 5 and a lease of 2: not replicated
  EXPECT_NE(q->stats().last_error.find("0 of 1 replicas"), std::string::npos) << q->stats().last_error;
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Unavailable);  // not from that lease: asked again
  EXPECT_EQ(q->stats().leases, 3u);
  EXPECT_EQ(q->stats().from_lease, 3u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "9");  // 8 and a lease of 1, none of it used
  replica.resume();
  // The replica catches up before the next reservation's WAIT can count it: on a loaded
  // machine a resumed process may take a while, which is not what is tested.
  bool caught_up = false;
  for (int i = 0; i < 100 && !caught_up; ++i) caught_up = server.command("WAIT 1 100") == "1";
  ASSERT_TRUE(caught_up) << server.command("INFO replication");
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Fits);  // 10, the stock's last unit
  EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Stock);
  EXPECT_EQ(q->stats().granted, 5u);  // 5 of a stock of 10: the undergrant of strict mode
}

namespace {

bool has(const std::vector<std::string>& notes, const std::string& text) {
  for (const auto& n : notes)
    if (n.find(text) != std::string::npos) return true;
  return false;
}

std::string all_of(const std::vector<std::string>& notes) {
  std::string out;
  for (const auto& n : notes) out += n + "\n";
  return out;
}

}  // namespace

// Redis answers with an error (a key of the wrong type, out of memory): the user is told which
// command on which key and Redis's text, once, and nothing with a limit is granted; when Redis
// answers again, a note says so.
TEST_F(RedisQuotasTest, AnErrorReplyIsSaidAndFailsClosed) {
  auto q = open();
  start_campaign(*q);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  server.command("DEL crm:{test}:counters");
  server.command("LPUSH crm:{test}:counters x");
  notices.clear();
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  ASSERT_EQ(notices.size(), 1u) << all_of(notices);  // said once, not at every delivery
  EXPECT_NE(notices[0].find("the reservation script on `crm:{test}:counters`"), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("WRONGTYPE"), std::string::npos) << notices[0];
  EXPECT_NE(notices[0].find("`crm:{test}:counters` is a list, not a hash"), std::string::npos) << notices[0];
  EXPECT_NE(q->stats().last_error.find("WRONGTYPE"), std::string::npos) << q->stats().last_error;
  EXPECT_EQ(q->stats().granted, 1u);
  std::string err;
  EXPECT_FALSE(q->check_floors(err));  // what an attach would say
  EXPECT_NE(err.find("WRONGTYPE"), std::string::npos) << err;
  // The campaign reconciled (exact: the list goes), then out of memory with noeviction: the
  // script's first write is refused, so nothing is counted, and the user sees Redis's reply.
  ASSERT_TRUE(q->reconcile({}, true, err)) << err;
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  EXPECT_TRUE(has(notices, "answer reservations again")) << all_of(notices);
  server.command("CONFIG SET maxmemory-policy noeviction");
  server.command("CONFIG SET maxmemory 1");
  notices.clear();
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "OOM")) << all_of(notices);
  EXPECT_TRUE(has(notices, "deliveries with a limit are refused")) << all_of(notices);
  server.command("CONFIG SET maxmemory 0");
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");
  EXPECT_EQ(q->stats().granted, 2u);
  // The same through leases.
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.lease = 4;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;
  std::vector<std::string> leased_notes;
  o.on_notice = [&](const std::string& m) { leased_notes.push_back(m); };
  auto l = RedisQuotas::create(o, err);
  ASSERT_TRUE(l) << err;
  uint32_t lh = l->handle("s");
  server.command("DEL crm:{test}:ready");
  server.command("LPUSH crm:{test}:ready x");  // the ready key must be a string
  EXPECT_EQ(l->reserve(lh, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(leased_notes, "the lease script on `crm:{test}:counters`")) << all_of(leased_notes);
  EXPECT_TRUE(has(leased_notes, "`crm:{test}:ready` is a list, not a generation number")) << all_of(leased_notes);
  EXPECT_EQ(l->stats().granted, 0u);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");
}

// Counters edited by hand are checked before they are used: a value that is no count, a hash
// deleted while the campaign is marked ready, a counter below what this process's ledger granted
// (its floor), or below what it holds leased. Each is an error that names the key and the field,
// nothing is written, nothing with a limit is granted.
TEST_F(RedisQuotasTest, CountersThatCannotBeTrustedAreRefused) {
  auto q = open();
  start_campaign(*q);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 2'000'000, limits(10, -1)), QuotaCheck::Fits);
  // 2^53 + 1 too: Lua's tonumber reads it as 2^53, but show/reconcile call it no count (t23 F7).
  for (const char* bad : {"-5", "abc", "1.5", "9007199254740993", "00009007199254740993", "99999999999999999999"}) {
    notices.clear();
    server.command((std::string("HSET crm:{test}:counters d:s ") + bad).c_str());
    EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable) << bad;
    EXPECT_TRUE(has(notices, std::string("field `d:s` of `crm:{test}:counters` holds `") + bad + "`, not a count"))
        << bad << ": " << all_of(notices);
    EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), bad) << "nothing is written";
    EXPECT_EQ(server.command("HGET crm:{test}:counters r:s"), "2000000");
  }
  std::string err;
  // A reconcile that takes the maximum cannot take it of a value that is no count.
  EXPECT_FALSE(q->reconcile({{"s", Quota{1, 0}}}, false, err));
  EXPECT_NE(err.find("field `d:s` of `crm:{test}:counters` holds `99999999999999999999`"), std::string::npos) << err;
  EXPECT_NE(err.find("--exact"), std::string::npos) << err;
  server.command("HSET crm:{test}:counters d:s 1");
  server.command("HSET crm:{test}:counters r:s -1");
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "field `r:s` of `crm:{test}:counters` holds `-1`")) << all_of(notices);
  server.command("HSET crm:{test}:counters r:s 2000000");
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  // The hash deleted while the ready key stays: not counters at zero.
  server.command("DEL crm:{test}:counters");
  notices.clear();
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "`crm:{test}:counters` is missing or has no layout field `v`")) << all_of(notices);
  EXPECT_TRUE(has(notices, "crm shared reconcile")) << all_of(notices);
  EXPECT_FALSE(q->check_floors(err));
  EXPECT_NE(err.find("is missing"), std::string::npos) << err;
  EXPECT_EQ(server.command("EXISTS crm:{test}:counters"), "0");
  // Floors: this process's ledger granted 5 deliveries and 9 CNY of `s`.
  ASSERT_TRUE(q->reconcile({{"s", Quota{5, 9'000'000}}}, false, err)) << err;
  q->set_floors({{"s", Quota{5, 9'000'000}}});
  EXPECT_TRUE(q->check_floors(err)) << err;
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  server.command("HSET crm:{test}:counters d:s 3");
  notices.clear();
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "field `d:s` of `crm:{test}:counters` is 3, below the 5 deliveries this process's ledger "
                           "already granted")) << all_of(notices);
  EXPECT_FALSE(q->check_floors(err));
  EXPECT_NE(err.find("is 3, below the 5 deliveries"), std::string::npos) << err;
  EXPECT_NE(err.find("crm shared reconcile"), std::string::npos) << err;
  server.command("HSET crm:{test}:counters d:s 6");
  server.command("HSET crm:{test}:counters r:s 8000000");
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "is 8000000, below the 9000000 millionths")) << all_of(notices);
  EXPECT_EQ(q->reserve(h, 1, limits(-1, -1)), QuotaCheck::Fits);  // no limit: nothing to overgrant
  server.command("HSET crm:{test}:counters r:s 9000000");
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "7");
  // With leases: the floor, a value that is no count, and a counter below what is held leased
  // (giving it back would make it negative).
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.lease = 4;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;
  std::vector<std::string> notes;
  o.on_notice = [&](const std::string& m) { notes.push_back(m); };
  auto l = RedisQuotas::create(o, err);
  ASSERT_TRUE(l) << err;
  l->set_floors({{"s", Quota{7, 0}}});
  uint32_t lh = l->handle("s");
  server.command("HSET crm:{test}:counters d:s 2");
  EXPECT_EQ(l->reserve(lh, 0, limits(100, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notes, "is 2, below the 7 deliveries")) << all_of(notes);
  server.command("HSET crm:{test}:counters d:s 7");
  EXPECT_EQ(l->reserve(lh, 0, limits(100, -1)), QuotaCheck::Fits);  // 8, and a lease of 3: 11
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "11");
  server.command("HSET crm:{test}:counters d:s 1");  // below the 3 held
  notes.clear();
  l->settle();
  EXPECT_TRUE(has(notes, "field `d:s` of `crm:{test}:counters` is 1, below the 3 deliveries this process holds leased"))
      << all_of(notes);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1") << "not given back below zero";
  server.command("HSET crm:{test}:counters d:s x");
  EXPECT_EQ(l->reserve(lh, 0, limits(100, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notes, "holds `x`, not a count")) << all_of(notes);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "x");
}

// The ready key and the layout field judged as `crm shared reconcile` judges them (t23 F7): a
// `ready` that is no generation number (`abc`) or not a string (a list) refuses every reservation,
// with and without leases, with a note naming the key and why (before, `abc` reserved normally and a
// list did without leases); the attach and `crm shared show` say the same. A layout field `v` with
// another value is an unknown layout, not a missing hash.
TEST_F(RedisQuotasTest, AReadyKeyThatIsNoGenerationAndAnUnknownLayoutAreRefused) {
  auto q = open();
  start_campaign(*q);
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  crm::state::SharedOptions o;
  o.url = server.url();
  o.campaign = "test";
  o.lease = 4;
  o.command_timeout_ms = o.connect_timeout_ms = 5000;
  std::vector<std::string> leased_notes;
  o.on_notice = [&](const std::string& m) { leased_notes.push_back(m); };
  std::string err;
  auto l = RedisQuotas::create(o, err);
  ASSERT_TRUE(l) << err;
  uint32_t lh = l->handle("s");
  const std::string generation = server.command("GET crm:{test}:ready");
  struct Case {
    const char* setup;
    const char* said;
  };
  for (const Case& c : {Case{"SET crm:{test}:ready abc", "`crm:{test}:ready` holds `abc`, not a generation number"},
                        Case{"SET crm:{test}:ready 12x", "`crm:{test}:ready` holds `12x`, not a generation number"},
                        Case{"RPUSH crm:{test}:ready 1", "`crm:{test}:ready` is a list, not a generation number"}}) {
    server.command("DEL crm:{test}:ready");
    server.command(c.setup);
    notices.clear();
    leased_notes.clear();
    EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable) << c.setup;
    EXPECT_TRUE(has(notices, c.said)) << c.setup << ": " << all_of(notices);
    EXPECT_TRUE(has(notices, "redis-cli DEL crm:{test}:ready")) << all_of(notices);
    EXPECT_EQ(l->reserve(lh, 1, limits(10, -1)), QuotaCheck::Unavailable) << c.setup;
    EXPECT_TRUE(has(leased_notes, c.said)) << c.setup << ": " << all_of(leased_notes);
    EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1") << c.setup << ": nothing counted";
    EXPECT_FALSE(q->check_floors(err)) << c.setup;  // what an attach says
    EXPECT_NE(err.find(c.said), std::string::npos) << err;
    std::map<std::string, Quota> now;
    bool ready = false;
    EXPECT_FALSE(q->read(now, ready, err)) << c.setup;  // what `crm shared show` says
    EXPECT_NE(err.find(c.said), std::string::npos) << err;
  }
  server.command("DEL crm:{test}:ready");
  server.command(("SET crm:{test}:ready " + generation).c_str());
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Fits);
  EXPECT_EQ(l->reserve(lh, 1, limits(10, -1)), QuotaCheck::Fits);
  EXPECT_TRUE(q->check_floors(err)) << err;
  l->settle();  // its lease back: its next delivery asks Redis
  // Layout 2: present, but not this crm's.
  server.command("HSET crm:{test}:counters v 2");
  notices.clear();
  leased_notes.clear();
  EXPECT_EQ(q->reserve(h, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(notices, "`crm:{test}:counters` has an unknown layout (`v` = 2")) << all_of(notices);
  EXPECT_FALSE(has(notices, "is missing")) << all_of(notices);
  EXPECT_EQ(l->reserve(lh, 1, limits(10, -1)), QuotaCheck::Unavailable);
  EXPECT_TRUE(has(leased_notes, "has an unknown layout (`v` = 2")) << all_of(leased_notes);
  EXPECT_FALSE(q->check_floors(err));
  EXPECT_NE(err.find("`crm:{test}:counters` has an unknown layout (`v` = 2"), std::string::npos) << err;
  EXPECT_EQ(err.find("is missing"), std::string::npos) << err;
}

// At attach, a process compares the counters with its own ledger: counters below what it already
// granted (lowered or deleted by hand) refuse the attach and say to reconcile; a reconcile from
// the ledgers lifts them, and the attach succeeds.
TEST_F(RedisQuotasTest, AttachRefusesCountersBelowItsOwnLedger) {
  auto program = crm::compile_files({std::string(CRM_SOURCE_DIR) + "/tests/shared/campaign_b.crm"});
  ASSERT_TRUE(program.program.valid()) << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_shared_floor_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string ledger = (dir / "p.db").string();
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "floor";
  crm::ReconcileResult r;
  crm::Error e;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  std::string err;
  {
    crm::Runtime rt(program.program);
    ASSERT_TRUE(rt.share_counters(shared, err)) << err;
    ASSERT_TRUE(rt.open_state("sqlite:" + ledger, err)) << err;
    for (int i = 0; i < 6; ++i) {
      std::vector<crm::Decision> out;
      ASSERT_TRUE(rt.process_event(order(i, i, "u" + std::to_string(i)), out, e)) << e.message;
    }
    ASSERT_TRUE(rt.commit(err)) << err;
  }
  ASSERT_EQ(server.command("HGET crm:{floor}:counters d:flash"), "6");
  server.command("HSET crm:{floor}:counters d:flash 2");
  {
    crm::Runtime rt(program.program);
    ASSERT_TRUE(rt.share_counters(shared, err)) << err;
    EXPECT_FALSE(rt.open_state("sqlite:" + ledger, err));
    EXPECT_NE(err.find("field `d:flash` of `crm:{floor}:counters` is 2, below the 6 deliveries this process's ledger "
                       "already granted"),
              std::string::npos)
        << err;
    EXPECT_NE(err.find("crm shared reconcile"), std::string::npos) << err;
    EXPECT_NE(err.find(ledger), std::string::npos) << err;
  }
  // The hash deleted: refused the same way.
  server.command("DEL crm:{floor}:counters");
  {
    crm::Runtime rt(program.program);
    ASSERT_TRUE(rt.share_counters(shared, err)) << err;
    EXPECT_FALSE(rt.open_state("sqlite:" + ledger, err));
    EXPECT_NE(err.find("is missing or has no layout field `v`"), std::string::npos) << err;
  }
  ASSERT_TRUE(crm::reconcile_shared(shared, {ledger}, false, r, e)) << e.message;
  EXPECT_EQ(server.command("HGET crm:{floor}:counters d:flash"), "6");
  {
    crm::Runtime rt(program.program);
    ASSERT_TRUE(rt.share_counters(shared, err)) << err;
    EXPECT_TRUE(rt.open_state("sqlite:" + ledger, err)) << err;
  }
  fs::remove_all(dir);
}

// `crm shared show` read a counter that is no count as 0, so the operator an error had sent there
// to compare it with the ledgers saw a counter of 0. Now show (and a reconcile taking the
// maximum) name every such field with the ledgers' sum for it; --exact replaces them.
TEST_F(RedisQuotasTest, ShowNamesACounterThatIsNoCountInsteadOfShowingZero) {
  fs::path dir = fs::temp_directory_path() / ("crm_shared_show_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string ledger = (dir / "p.db").string();
  std::string err;
  ASSERT_TRUE(crm::state::open_sqlite_store(ledger, err)) << err;
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "show";
  crm::ReconcileResult r;
  crm::Error e;
  ASSERT_TRUE(crm::reconcile_shared(shared, {ledger}, true, r, e)) << e.message;
  server.command("HSET crm:{show}:counters d:s 4");
  server.command("HSET crm:{show}:counters r:s 7000000");
  ASSERT_TRUE(crm::show_shared(shared, {ledger}, r, e)) << e.message;
  ASSERT_EQ(r.rows.size(), 1u);
  EXPECT_EQ(r.rows[0].before_deliveries, 4);
  server.command("HSET crm:{show}:counters d:s abc");
  server.command("HSET crm:{show}:counters r:s -3");
  for (bool show : {true, false}) {
    e = crm::Error{};
    EXPECT_FALSE(show ? crm::show_shared(shared, {ledger}, r, e) : crm::reconcile_shared(shared, {ledger}, false, r, e));
    EXPECT_EQ(e.kind, crm::ErrorKind::State);
    EXPECT_NE(e.message.find("field `d:s` holds `abc`, not a count (the ledgers hold 0)"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("field `r:s` holds `-3`, not a count (the ledgers hold 0)"), std::string::npos)
        << e.message;
    EXPECT_NE(e.message.find("crm shared reconcile --exact"), std::string::npos) << e.message;
  }
  EXPECT_EQ(server.command("HGET crm:{show}:counters d:s"), "abc") << "nothing was written";
  ASSERT_TRUE(crm::reconcile_shared(shared, {ledger}, true, r, e)) << e.message;
  ASSERT_TRUE(crm::show_shared(shared, {ledger}, r, e)) << e.message;
  EXPECT_EQ(server.command("HGET crm:{show}:counters d:s"), "") << "no ledger granted any: --exact drops it";
  fs::remove_all(dir);
}

// `reconcile --exact` takes each ledger's single-writer lock (a running process refuses it, and
// names itself), and every reconcile or show counts each ledger once: the same path twice, or
// two names of one file, is refused.
TEST_F(RedisQuotasTest, ReconcileCountsEachLedgerOnceAndExactNeedsItsLock) {
  fs::path dir = fs::temp_directory_path() / ("crm_shared_lock_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::string ledger = (dir / "p.db").string();
  crm::SharedCounters shared;
  shared.url = server.url();
  shared.campaign = "lock";
  crm::ReconcileResult r;
  crm::Error e;
  std::string err;
  {
    auto writer = crm::state::open_sqlite_store(ledger, err);  // a process running on the ledger
    ASSERT_TRUE(writer) << err;
    EXPECT_FALSE(crm::reconcile_shared(shared, {ledger}, true, r, e));
    // The writer is in this process here (another process's is named by its pid: single_writer.sh).
    EXPECT_NE(e.message.find("reconcile --exact needs every process stopped: state `" + ledger +
                             "` is already open in this process"),
              std::string::npos)
        << e.message;
    EXPECT_EQ(server.command("EXISTS crm:{lock}:ready"), "0") << "nothing was set";
    EXPECT_TRUE(crm::reconcile_shared(shared, {ledger}, false, r, e)) << e.message;  // max: while it runs
    EXPECT_TRUE(crm::show_shared(shared, {ledger}, r, e)) << e.message;
  }
  EXPECT_TRUE(crm::reconcile_shared(shared, {ledger}, true, r, e)) << e.message;
  {
    // While the exact reconcile holds the locks no writer starts: the lock is the writer's.
    crm::state::LedgerLock held;
    ASSERT_TRUE(held.acquire(ledger, false, err)) << err;
    EXPECT_FALSE(crm::state::open_sqlite_store(ledger, err));
    EXPECT_NE(err.find("is already open in this process"), std::string::npos) << err;  // this process holds it
  }
  std::string other = (dir / "." / "p.db").string(), link = (dir / "link.db").string();
  fs::create_hard_link(ledger, link);
  for (bool exact : {false, true}) {
    EXPECT_FALSE(crm::reconcile_shared(shared, {ledger, ledger}, exact, r, e));
    EXPECT_NE(e.message.find("ledger `" + ledger + "` is given twice"), std::string::npos) << e.message;
    EXPECT_EQ(e.kind, crm::ErrorKind::Input);
    EXPECT_FALSE(crm::reconcile_shared(shared, {ledger, other}, exact, r, e));
    EXPECT_NE(e.message.find("ledgers `" + ledger + "` and `" + other + "` are the same file"), std::string::npos)
        << e.message;
    EXPECT_FALSE(crm::reconcile_shared(shared, {link, ledger}, exact, r, e));
    EXPECT_NE(e.message.find("are the same file"), std::string::npos) << e.message;
  }
  EXPECT_FALSE(crm::show_shared(shared, {ledger, link}, r, e));
  EXPECT_FALSE(crm::reconcile_shared(shared, {(dir / "none.db").string()}, false, r, e));
  EXPECT_NE(e.message.find("cannot open ledger"), std::string::npos) << e.message;
  fs::remove_all(dir);
}

namespace {

// A server on 127.0.0.1 that is not Redis (F4): it answers SCRIPT LOAD as Redis does (a SHA1),
// so a client connects, and every other command with `misbehave(fd, stop)`, which writes what it
// likes until `stop`. Each connection on its own thread; all stopped when it is destroyed.
class FakeRedis {
 public:
  using Misbehave = std::function<void(int fd, const std::atomic<bool>& stop)>;
  explicit FakeRedis(Misbehave misbehave) : misbehave_(std::move(misbehave)) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t n = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &n);
    port_ = ntohs(a.sin_port);
    ::listen(listen_, 16);
    accepter_ = std::thread([this] {
      while (!stop_) {
        pollfd p{listen_, POLLIN, 0};
        if (::poll(&p, 1, 20) <= 0) continue;
        int fd = ::accept(listen_, nullptr, nullptr);
        if (fd < 0) continue;
        std::lock_guard lock(mu_);
        conns_.emplace_back([this, fd] { serve(fd); });
      }
    });
  }
  ~FakeRedis() {
    stop_ = true;
    accepter_.join();
    std::lock_guard lock(mu_);
    for (auto& t : conns_) t.join();
    ::close(listen_);
  }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

 private:
  // The next whole command in `in` (RESP: an array of bulk strings), taken out of it; false
  // until one has arrived.
  static bool next_command(std::string& in, std::vector<std::string>& argv) {
    argv.clear();
    size_t at = 0;
    auto line = [&](char kind, long& v) {
      size_t end = in.find("\r\n", at);
      if (end == std::string::npos || in[at] != kind) return false;
      v = std::stol(in.substr(at + 1, end - at - 1));
      at = end + 2;
      return true;
    };
    long n = 0;
    if (!line('*', n)) return false;
    for (long i = 0; i < n; ++i) {
      long len = 0;
      if (!line('$', len) || in.size() < at + size_t(len) + 2) return false;
      argv.push_back(in.substr(at, size_t(len)));
      at += size_t(len) + 2;
    }
    in.erase(0, at);
    return true;
  }
  void serve(int fd) {
    std::string in;
    std::vector<std::string> argv;
    char buf[65536];
    while (!stop_) {
      while (next_command(in, argv)) {
        if (!argv.empty() && argv[0] == "SCRIPT") {
          std::string sha(40, 'a');
          std::string reply = "$40\r\n" + sha + "\r\n";
          (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        } else if (!argv.empty() && argv[0] == "INFO") {  // every connection asks whose server it reached
          std::string info = "# Server\r\nrun_id:" + std::string(40, 'f') + "\r\n";
          std::string reply = "$" + std::to_string(info.size()) + "\r\n" + info + "\r\n";
          (void)!::send(fd, reply.data(), reply.size(), MSG_NOSIGNAL);
        } else {
          misbehave_(fd, stop_);
          ::close(fd);
          return;
        }
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, size_t(n));
    }
    ::close(fd);
  }
  Misbehave misbehave_;
  int listen_ = -1, port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accepter_;
  std::mutex mu_;
  std::vector<std::thread> conns_;
};

// Writes `data` unless the peer is gone; false then.
bool send_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(size_t(n));
  }
  return true;
}

std::unique_ptr<RedisQuotas> open_fake(const FakeRedis& fake, int timeout_ms) {
  crm::state::SharedOptions o;
  o.url = fake.url();
  o.campaign = "test";
  o.command_timeout_ms = o.connect_timeout_ms = timeout_ms;
  o.retry_ms = 0;
  std::string err;
  auto q = RedisQuotas::create(o, err);
  EXPECT_TRUE(q) << err;
  return q;
}

}  // namespace

// --shared-timeout bounds each command from sending to its whole reply, not each read: a server
// that trickles its reply a byte every 50 ms (a status line that never ends) is refused after the
// timeout, as one that sends nothing is, and so is every later command (a new connection each).
// The trickle stops after 5 s, so a client without a deadline fails this test instead of hanging.
TEST(RedisQuotasFaults, ATricklingReplyTimesOutAtTheCommandTimeout) {
  FakeRedis fake([](int fd, const std::atomic<bool>& stop) {
    if (!send_all(fd, "+")) return;
    for (int i = 0; i < 100 && !stop; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      if (!send_all(fd, "x")) return;
    }
  });
  auto q = open_fake(fake, 300);
  std::string err;
  ASSERT_TRUE(q->connect(err)) << err;  // the scripts "load"
  for (int i = 0; i < 2; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(q->reserve(q->handle("s"), 0, limits(5, -1)), QuotaCheck::Unavailable);
    auto took = std::chrono::steady_clock::now() - t0;
    // handle() (HMGET) on the first round, then the reservation: each at most 300 ms.
    EXPECT_LT(took, std::chrono::milliseconds(i == 0 ? 1500 : 900)) << i;
    EXPECT_NE(q->stats().last_error.find("timed out after 300 ms"), std::string::npos) << q->stats().last_error;
  }
  std::map<std::string, Quota> out;
  bool ready = false;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(q->read(out, ready, err));  // what `crm shared show` does
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(900));
  EXPECT_NE(err.find("timed out after 300 ms"), std::string::npos) << err;
}

// A reply larger than anything crm reads is refused as it arrives, not buffered: a bulk string
// declared a gigabyte long and streamed (fast), and an array declared with two billion elements.
// Without the bound the first is read until the server gives up (64 MiB here; gigabytes of
// memory for a server that goes on) and the second asks for 16 GB at once.
TEST(RedisQuotasFaults, AHugeReplyIsRefusedNotBuffered) {
  FakeRedis bulk([](int fd, const std::atomic<bool>& stop) {
    if (!send_all(fd, "$1000000000\r\n")) return;
    std::string chunk(1 << 16, 'x');
    for (int i = 0; i < 1024 && !stop; ++i)
      if (!send_all(fd, chunk)) return;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  auto q = open_fake(bulk, 3000);
  std::string err;
  ASSERT_TRUE(q->connect(err)) << err;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(q->reserve(q->handle("s"), 0, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2500));
  EXPECT_NE(q->stats().last_error.find("a reply of more than 4 MiB"), std::string::npos) << q->stats().last_error;

  FakeRedis array([](int fd, const std::atomic<bool>& stop) {
    if (!send_all(fd, "*2000000000\r\n:1\r\n")) return;
    while (!stop) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  });
  auto a = open_fake(array, 3000);
  ASSERT_TRUE(a->connect(err)) << err;
  EXPECT_EQ(a->reserve(a->handle("s"), 0, limits(5, -1)), QuotaCheck::Unavailable);
  EXPECT_NE(a->stats().last_error.find("a reply array of more than 1048576 elements"), std::string::npos)
      << a->stats().last_error;
}

// F3: an address is RFC 3986's authority: an IPv6 address in brackets is parsed (and connected
// to without them); what is no valid address is refused when the options are read, with the
// reason (a space, a second port, an unbracketed IPv6 address), never given to the resolver.
TEST(SharedOptions, AddressesAreParsedAsUrlsIncludingBracketedIpv6) {
  std::string host, err;
  int port = 0;
  ASSERT_TRUE(crm::state::parse_redis_url("redis://[::1]:7001", host, port, err)) << err;
  EXPECT_EQ(host, "::1");
  EXPECT_EQ(port, 7001);
  ASSERT_TRUE(crm::state::parse_redis_url("redis://[2001:db8::5]/", host, port, err)) << err;
  EXPECT_EQ(host, "2001:db8::5");
  EXPECT_EQ(port, 6379);
  ASSERT_TRUE(crm::state::parse_redis_url("redis://my-cache_1.example:6380", host, port, err)) << err;
  EXPECT_EQ(host, "my-cache_1.example");
  struct Bad {
    const char* url;
    const char* why;
  };
  for (auto [url, why] : {Bad{"redis:// 127.0.0.1:6379", "the host ` 127.0.0.1` has ` `"},
                          Bad{"redis://127.0.0.1:6379:1", "more than one `:`"},
                          Bad{"redis://::1:6379", "an IPv6 address goes in brackets: redis://[::1]:6379"},
                          Bad{"redis://[::1", "`[` without `]`"}, Bad{"redis://[::1]6379", "only `:PORT` may follow `]`"},
                          Bad{"redis://[]:1", "in brackets is not an IPv6 address"},
                          Bad{"redis://[127.0.0.1]:1", "`127.0.0.1` in brackets is not an IPv6 address"},
                          Bad{"redis://h:+1", "the port `+1`"}, Bad{"redis://h:", "the port ``"},
                          Bad{"redis://h\t:1", "has `\\u0009`"}}) {
    EXPECT_FALSE(crm::state::parse_redis_url(url, host, port, err)) << url;
    EXPECT_NE(err.find(why), std::string::npos) << url << ": " << err;
  }
  // The one parser behind --shared (both schemes), crm run and crm shared.
  std::vector<crm::state::RedisNode> nodes;
  bool cluster = false;
  ASSERT_TRUE(crm::state::parse_shared_url("redis-cluster://[::1]:7000,[::1]:7001,10.0.0.3", nodes, cluster, err)) << err;
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[1].host, "::1");
  EXPECT_EQ(nodes[1].port, 7001);
  EXPECT_FALSE(crm::state::parse_shared_url("redis-cluster://::1:7000", nodes, cluster, err));
  EXPECT_NE(err.find("brackets"), std::string::npos) << err;
  EXPECT_FALSE(crm::state::parse_shared_url("redis://127.0.0.1:6379:1", nodes, cluster, err));
  EXPECT_NE(err.find("more than one `:`"), std::string::npos) << err;
  EXPECT_TRUE(crm::valid_shared_url("redis://[::1]:6379", err)) << err;
  EXPECT_FALSE(crm::valid_shared_url("redis:// 127.0.0.1:6379", err));
}

// t23 F6: credentials in the address as in the redis URI scheme, percent-decoded; the password is
// never in a message (masked_url), and a userinfo without `:` is refused rather than guessed.
TEST(SharedOptions, CredentialsInTheAddressAreDecodedAndNeverShown) {
  using crm::state::RedisCredentials;
  std::vector<crm::state::RedisNode> nodes;
  bool cluster = false;
  std::string err;
  RedisCredentials c;
  ASSERT_TRUE(crm::state::parse_shared_url("redis://:s3cret@127.0.0.1:7461", nodes, cluster, err, &c)) << err;
  EXPECT_EQ(c.user, "");
  EXPECT_EQ(c.password, "s3cret");
  EXPECT_EQ(nodes.at(0).host, "127.0.0.1");
  EXPECT_EQ(nodes.at(0).port, 7461);
  ASSERT_TRUE(crm::state::parse_shared_url("redis://al%69ce:p%40ss:w@rd@[::1]:6380/", nodes, cluster, err, &c)) << err;
  EXPECT_EQ(c.user, "alice");
  EXPECT_EQ(c.password, "p@ss:w@rd");
  EXPECT_EQ(nodes.at(0).host, "::1");
  ASSERT_TRUE(crm::state::parse_shared_url("redis-cluster://u:pw@h1:7000,h2:7001", nodes, cluster, err, &c)) << err;
  EXPECT_TRUE(cluster);
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[1].host, "h2");
  EXPECT_EQ(c.password, "pw");
  ASSERT_TRUE(crm::state::parse_shared_url("redis://h:1", nodes, cluster, err, &c)) << err;
  EXPECT_TRUE(c.password.empty());
  EXPECT_EQ(crm::state::masked_url("redis://alice:s3cret@h:1"), "redis://alice:***@h:1");
  EXPECT_EQ(crm::state::masked_url("redis-cluster://:s3cret@h:1,g:2"), "redis-cluster://:***@h:1,g:2");
  EXPECT_EQ(crm::state::masked_url("redis://h:1"), "redis://h:1");
  struct Bad {
    const char* url;
    const char* why;
  };
  for (auto [url, why] : {Bad{"redis://s3cret@h:1", "USER:PASSWORD@ or :PASSWORD@"},
                          Bad{"redis://u:s3cret%4@h:1", "not followed by two hex digits"},
                          Bad{"redis://u:@h:1", "an empty password"},
                          Bad{"redis://u:s3cret@h:1:2", "more than one `:`"},
                          Bad{"redis-cluster://u:s3cret%zz@h:1,g:2", "not followed by two hex digits"}}) {
    EXPECT_FALSE(crm::state::parse_shared_url(url, nodes, cluster, err, &c)) << url;
    EXPECT_NE(err.find(why), std::string::npos) << url << ": " << err;
    EXPECT_EQ(err.find("s3cret"), std::string::npos) << "the password is shown: " << err;
  }
}

// t23 F6: a Redis with requirepass (and an ACL user) is used with the credentials of the address;
// AUTH is sent again after a reconnection; wrong or missing credentials fail closed, naming the
// server and never the password.
TEST(RedisQuotasAuth, ARedisWithAPasswordIsUsedWithTheCredentialsOfTheAddress) {
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed";
  RedisServer server;
  ASSERT_TRUE(server.start({"--requirepass", "s3cret", "--user", "alice", "on", ">al1ce", "~*", "&*", "+@all"}) || true);
  std::string where = "127.0.0.1:" + std::to_string(server.port());
  // start() waits for PING, which a password-protected server refuses: wait for the port.
  for (int i = 0; i < 200 && server.command("PING").find("NOAUTH") == std::string::npos; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  auto open = [&](const std::string& url, std::vector<std::string>& notes) {
    crm::state::SharedOptions o;
    o.url = url;
    o.campaign = "auth";
    o.command_timeout_ms = o.connect_timeout_ms = 5000;
    o.retry_ms = 0;
    o.on_notice = [&notes](const std::string& m) { notes.push_back(m); };
    std::string err;
    auto q = RedisQuotas::create(o, err);
    EXPECT_TRUE(q) << err;
    return q;
  };
  std::vector<std::string> notes;
  std::string err;
  for (const std::string& url : {"redis://:s3cret@" + where, "redis://default:s3cret@" + where, "redis://alice:al1ce@" + where}) {
    auto q = open(url, notes);
    ASSERT_TRUE(q->connect(err)) << url << ": " << err;
    ASSERT_TRUE(q->reconcile({}, false, err)) << url << ": " << err;
    uint32_t h = q->handle("s");
    EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Fits) << url;
    EXPECT_EQ(q->describe().find("s3cret"), std::string::npos) << q->describe();
  }
  // A reconnection authenticates again: the server restarts (same password, counters lost).
  {
    auto q = open("redis://:s3cret@" + where, notes);
    ASSERT_TRUE(q->connect(err)) << err;
    server.stop();
    ASSERT_TRUE(server.start({"--requirepass", "s3cret"}) || true);
    for (int i = 0; i < 200 && server.command("PING").find("NOAUTH") == std::string::npos; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    uint32_t h = q->handle("s");
    EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Unavailable);  // dropped connection, then not ready
    ASSERT_TRUE(q->reconcile({}, false, err)) << err;
    EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Fits);
  }
  // Wrong password, wrong user, none: refused (fail closed), the server named, the password not.
  for (const std::string& url : {"redis://:wrong@" + where, "redis://bob:s3cret@" + where, "redis://" + where}) {
    notes.clear();
    auto q = open(url, notes);
    EXPECT_FALSE(q->connect(err)) << url;
    EXPECT_NE(err.find(url.find('@') == std::string::npos ? "requires a password" : where + " refused the credentials"),
              std::string::npos)
        << url << ": " << err;
    EXPECT_EQ(err.find("s3cret"), std::string::npos) << err;
    EXPECT_EQ(err.find("wrong"), std::string::npos) << err;
    uint32_t h = q->handle("s");
    EXPECT_EQ(q->reserve(h, 0, limits(10, -1)), QuotaCheck::Unavailable) << url;
    for (const auto& n : notes) EXPECT_EQ(n.find("s3cret"), std::string::npos) << n;
  }
  // The public API: reconcile_shared with the credentials; its error without them.
  crm::SharedCounters shared;
  shared.url = "redis://:s3cret@" + where;
  shared.campaign = "api";
  crm::ReconcileResult r;
  crm::Error e;
  EXPECT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  shared.url = "redis://:nope@" + where;
  EXPECT_FALSE(crm::reconcile_shared(shared, {}, false, r, e));
  EXPECT_NE(e.message.find("refused the credentials"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("nope"), std::string::npos) << e.message;
}

// A Redis listening on ::1, named redis://[::1]:PORT, is reached (the brackets are not given to
// the resolver) and reservations are answered.
TEST(RedisQuotasIpv6, ABracketedIpv6AddressConnects) {
  if (!RedisServer::installed()) GTEST_SKIP() << "redis-server is not installed";
  int s6 = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_loopback;
  bool have_ipv6 = s6 >= 0 && ::bind(s6, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  if (s6 >= 0) ::close(s6);
  if (!have_ipv6) GTEST_SKIP() << "no IPv6 loopback";
  RedisServer server;
  ASSERT_TRUE(server.start({"--bind", "127.0.0.1", "::1"}));
  crm::state::SharedOptions o;
  o.url = "redis://[::1]:" + std::to_string(server.port());
  o.campaign = "test";
  o.command_timeout_ms = o.connect_timeout_ms = 5000;
  std::string err;
  auto q = RedisQuotas::create(o, err);
  ASSERT_TRUE(q) << err;
  ASSERT_TRUE(q->connect(err)) << err;
  EXPECT_EQ(q->describe(), "redis://[::1]:" + std::to_string(server.port()) + " campaign test");
  ASSERT_TRUE(q->reconcile({}, false, err)) << err;
  EXPECT_EQ(q->reserve(q->handle("s"), 0, limits(5, -1)), QuotaCheck::Fits);
  EXPECT_EQ(server.command("HGET crm:{test}:counters d:s"), "1");
}

// F7: every number has a maximum (include/crm/shared.h), checked by the library as well as the
// CLI: an embedding program gets ErrorKind::Input naming it, never a value that overflows.
TEST(SharedOptions, NumbersAboveTheirMaximumAreRefused) {
  auto refused = [](auto set) {
    crm::state::SharedOptions o;
    o.url = "redis://127.0.0.1:1";
    set(o);
    std::string err;
    EXPECT_FALSE(RedisQuotas::create(o, err));
    return err;
  };
  EXPECT_NE(refused([](auto& o) { o.command_timeout_ms = crm::kSharedMaxMs + 1; }).find("a command timeout of 3600001 ms is more than 3600000"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.connect_timeout_ms = crm::kSharedMaxMs + 1; }).find("3600000"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.retry_ms = crm::kSharedMaxMs + 1; }).find("3600000"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.wait_timeout_ms = crm::kSharedMaxMs + 1; }).find("3600000"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.wait_replicas = 1001; }).find("more than 1000"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.max_redirects = 101; }).find("more than 100"), std::string::npos);
  EXPECT_NE(refused([](auto& o) { o.lease = 1'000'001; }).find("a lease of 1000001 deliveries is more than 1000000"),
            std::string::npos);
  crm::state::SharedOptions o;
  o.url = "redis://127.0.0.1:1";
  o.command_timeout_ms = o.connect_timeout_ms = o.retry_ms = o.wait_timeout_ms = crm::kSharedMaxMs;
  o.wait_replicas = 1000, o.max_redirects = 100, o.lease = 1'000'000;
  std::string err;
  EXPECT_TRUE(RedisQuotas::create(o, err)) << err;
}
