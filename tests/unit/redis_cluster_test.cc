// redis_cluster_test.cc - state::RedisQuotas against a real local Redis Cluster: three
// redis-server 7 nodes in cluster mode on free ports of 127.0.0.1 (`redis-cli --cluster create
// ... --cluster-replicas 0`), each in its own directory and stopped by its pid. The slot
// function against the specification and the server's CLUSTER KEYSLOT; reservations routed to
// the owner of the campaign's slot from any seed; a slot migration (MIGRATING/IMPORTING,
// MIGRATE ... KEYS, SETSLOT NODE) followed through ASK then MOVED, with the script loaded on the
// new node after NOSCRIPT; runtimes sharing one campaign through the cluster while its slot
// moves, with exact counts against their ledgers; and faults failing closed (a plain redis://
// URL at a cluster node, too few redirections allowed, every seed down, the owner killed).
// Skipped when redis-server or redis-cli is not installed.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include <crm/shared.h>

#include "runtime/state/redis_quotas.h"

namespace {

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

// A reply as text: a string, status or error as it is, an integer in decimal, "" for nil.
std::string text_of(const redisReply* r) {
  if (!r) return "<no reply>";
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  if (r->str) return std::string(r->str, r->len);
  return "";
}

// Three primaries, no replicas, the 16384 slots split by redis-cli.
class RedisCluster {
 public:
  static constexpr int kNodes = 3;
  static bool installed() {
    return std::system("command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1") == 0;
  }
  RedisCluster() {
    dir_ = fs::temp_directory_path() / ("crm_redis_cluster_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    for (int i = 0; i < kNodes; ++i) {
      port_[i] = free_port();
      bus_[i] = free_port();  // (by default port + 10000, which may be taken or above 65535)
      fs::create_directories(dir_ / std::to_string(i));
    }
  }
  ~RedisCluster() {
    for (int i = 0; i < kNodes; ++i) stop(i);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool start(std::string& error) {
    for (int i = 0; i < kNodes; ++i) {
      pid_[i] = ::fork();
      if (pid_[i] == 0) {
        std::string port = std::to_string(port_[i]), bus = std::to_string(bus_[i]), dir = (dir_ / std::to_string(i)).string();
        ::execlp("redis-server", "redis-server", "--port", port.c_str(), "--cluster-port", bus.c_str(), "--bind",
                 "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", (dir + "/nodes.conf").c_str(), "--cluster-node-timeout", "5000", "--save", "",
                 "--appendonly", "no", "--dir", dir.c_str(), "--logfile", (dir + "/redis.log").c_str(),
                 static_cast<char*>(nullptr));
        ::_exit(127);
      }
    }
    for (int i = 0; i < kNodes; ++i) {
      int tries = 0;
      while (command(i, {"PING"}) != "PONG" && ++tries < 200) std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (tries == 200) return error = "node " + std::to_string(i) + " did not start", false;
    }
    std::string create = "redis-cli --cluster create";
    for (int i = 0; i < kNodes; ++i) create += " 127.0.0.1:" + std::to_string(port_[i]);
    create += " --cluster-replicas 0 --cluster-yes >" + (dir_ / "create.log").string() + " 2>&1";
    if (std::system(create.c_str()) != 0) return error = "redis-cli --cluster create failed", false;
    // Every node agrees the cluster is up (and knows every other node's slots).
    for (int tries = 0; tries < 500; ++tries) {
      bool ok = true;
      for (int i = 0; i < kNodes; ++i) ok = ok && command(i, {"CLUSTER", "INFO"}).find("cluster_state:ok") != std::string::npos;
      if (ok) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return error = "the cluster did not reach cluster_state:ok", false;
  }
  void stop(int i) {
    if (pid_[i] <= 0) return;
    ::kill(pid_[i], SIGKILL);
    ::waitpid(pid_[i], nullptr, 0);
    pid_[i] = -1;
  }
  // One command on node i (no redirection followed); with `asking`, after ASKING.
  std::string command(int i, const std::vector<std::string>& args, bool asking = false) {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_[i], tv);
    std::string out = "<cannot connect>";
    if (c && !c->err) {
      redisSetTimeout(c, tv);
      if (asking) freeReplyObject(redisCommand(c, "ASKING"));
      std::vector<const char*> argv;
      std::vector<size_t> lens;
      for (const auto& a : args) argv.push_back(a.c_str()), lens.push_back(a.size());
      auto* r = static_cast<redisReply*>(redisCommandArgv(c, int(argv.size()), argv.data(), lens.data()));
      out = text_of(r);
      if (r) freeReplyObject(r);
    }
    if (c) redisFree(c);
    return out;
  }
  int port(int i) const { return port_[i]; }
  std::string id(int i) { return command(i, {"CLUSTER", "MYID"}); }
  // The node that owns `slot`, by asking node 0 (CLUSTER SLOTS).
  int owner(int slot) {
    timeval tv{1, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_[0], tv);
    int found = -1;
    if (c && !c->err)
      if (auto* r = static_cast<redisReply*>(redisCommand(c, "CLUSTER SLOTS"))) {
        for (size_t k = 0; k < r->elements; ++k) {
          const redisReply* range = r->element[k];
          if (range->element[0]->integer <= slot && slot <= range->element[1]->integer)
            for (int i = 0; i < kNodes; ++i)
              if (range->element[2]->element[1]->integer == port_[i]) found = i;
        }
        freeReplyObject(r);
      }
    if (c) redisFree(c);
    return found;
  }
  std::string seed(int i) const { return "127.0.0.1:" + std::to_string(port_[i]); }
  // Moves `slot` from node `from` to node `to` in the three steps redis-cli's reshard takes:
  // 1. IMPORTING on the target, MIGRATING on the source; 2. the slot's keys with MIGRATE;
  // 3. SETSLOT NODE everywhere. Each step on its own, so a test can act between them.
  bool begin_migration(int slot, int from, int to) {
    return command(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", id(from)}) == "OK" &&
           command(from, {"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", id(to)}) == "OK";
  }
  bool migrate_keys(int slot, int from, int to, const std::vector<std::string>& keys) {
    std::vector<std::string> args{"MIGRATE", "127.0.0.1", std::to_string(port_[to]), "", "0", "5000", "KEYS"};
    args.insert(args.end(), keys.begin(), keys.end());
    (void)slot;
    return command(from, args) == "OK";
  }
  bool finish_migration(int slot, int to) {
    bool ok = true;
    std::string target = id(to);
    // The target first, as redis-cli does, so the source's MOVED points at a node that knows.
    ok = ok && command(to, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target}) == "OK";
    for (int i = 0; i < kNodes; ++i)
      if (i != to) ok = ok && command(i, {"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target}) == "OK";
    return ok;
  }

 private:
  fs::path dir_;
  int port_[kNodes] = {}, bus_[kNodes] = {};
  pid_t pid_[kNodes] = {-1, -1, -1};
};

QuotaLimits stock(int64_t n) {
  QuotaLimits l;
  l.stock = n;
  return l;
}

class RedisClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!RedisCluster::installed()) GTEST_SKIP() << "redis-server or redis-cli is not installed";
    std::string err;
    ASSERT_TRUE(cluster.start(err)) << err;
  }
  std::unique_ptr<RedisQuotas> open(const std::string& url, const std::string& campaign, int max_redirects = 5) {
    crm::state::SharedOptions o;
    o.url = url;
    o.campaign = campaign;
    // Far above any answer's time on a loaded machine: these tests are not about timeouts
    // (a killed node refuses the connection at once).
    o.command_timeout_ms = o.connect_timeout_ms = 5000;
    o.retry_ms = 0;
    o.max_redirects = max_redirects;
    o.on_notice = [this](const std::string& m) { notices.push_back(m); };
    std::string err;
    auto q = RedisQuotas::create(o, err);
    EXPECT_TRUE(q) << err;
    return q;
  }
  // A campaign whose slot is on node `node` (names c0, c1, ... tried in turn).
  std::string campaign_on(int node, const std::string& prefix) {
    for (int i = 0;; ++i) {
      std::string name = prefix + std::to_string(i);
      if (cluster.owner(crm::state::cluster_slot("crm:{" + name + "}:counters")) == node) return name;
    }
  }
  RedisCluster cluster;
  std::vector<std::string> notices;
};

// The cluster specification's examples, and the answers of a real server.
TEST(ClusterSlot, FollowsTheClusterSpecification) {
  EXPECT_EQ(crm::state::crc16_xmodem("123456789"), 0x31C3);  // the specification's check value
  EXPECT_EQ(crm::state::cluster_slot("{user1000}.following"), crm::state::cluster_slot("user1000"));
  EXPECT_EQ(crm::state::cluster_slot("foo{}{bar}"), crm::state::crc16_xmodem("foo{}{bar}") & 16383);  // empty tag: whole key
  EXPECT_EQ(crm::state::cluster_slot("foo{{bar}}zap"), crm::state::cluster_slot("{bar"));
  EXPECT_EQ(crm::state::cluster_slot("foo{bar}{zap}"), crm::state::cluster_slot("bar"));
  EXPECT_EQ(crm::state::cluster_slot("crm:{d11}:ready"), crm::state::cluster_slot("crm:{d11}:counters"));
  std::vector<crm::state::RedisNode> nodes;
  bool cluster = false;
  std::string err;
  ASSERT_TRUE(crm::state::parse_shared_url("redis-cluster://10.0.0.1:7000,cache:7001,10.0.0.3", nodes, cluster, err)) << err;
  EXPECT_TRUE(cluster);
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[1].host, "cache");
  EXPECT_EQ(nodes[1].port, 7001);
  EXPECT_EQ(nodes[2].port, 6379);
  ASSERT_TRUE(crm::state::parse_shared_url("redis://10.0.0.1:7000", nodes, cluster, err)) << err;
  EXPECT_FALSE(cluster);
  for (const char* bad : {"redis-cluster://", "redis-cluster://a:1,", "redis-cluster://a:1,,b:2", "redis-cluster://a:0",
                          "redis://a:1,b:2", "rediss://a:1"}) {
    EXPECT_FALSE(crm::state::parse_shared_url(bad, nodes, cluster, err)) << bad;
    EXPECT_NE(err.find("redis"), std::string::npos) << err;
  }
}

// Reservations go to the node that owns the campaign's slot, whichever seed is named (or down);
// the slot agrees with CLUSTER KEYSLOT; `crm shared reconcile/show` read and write there; and
// the faults fail closed with a message that says what to do.
TEST_F(RedisClusterTest, ReservationsGoToTheOwnerOfTheCampaignsSlot) {
  std::mt19937 rng(15);
  for (int i = 0; i < 200; ++i) {
    std::string key = "crm:{c" + std::to_string(rng()) + "}:counters";
    if (i % 3 == 0) key = "k" + std::to_string(rng());  // no tag
    ASSERT_EQ(cluster.command(0, {"CLUSTER", "KEYSLOT", key}), std::to_string(crm::state::cluster_slot(key))) << key;
  }
  int dead = free_port();
  for (int node = 0; node < RedisCluster::kNodes; ++node) {
    std::string campaign = campaign_on(node, "n" + std::to_string(node) + "_");
    // Seeds: a dead one, then a node that does not own the slot.
    std::string url = "redis-cluster://127.0.0.1:" + std::to_string(dead) + "," + cluster.seed((node + 1) % 3);
    crm::SharedCounters shared;
    shared.url = url;
    shared.campaign = campaign;
    crm::ReconcileResult r;
    crm::Error e;
    ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
    auto q = open(url, campaign);
    uint32_t h = q->handle("s");
    for (int k = 0; k < 7; ++k) ASSERT_EQ(q->reserve(h, 1'000'000, stock(5)), k < 5 ? QuotaCheck::Fits : QuotaCheck::Stock);
    EXPECT_EQ(q->node().port, cluster.port(node));
    EXPECT_EQ(q->stats().moved + q->stats().asked, 0u) << "routed by the slot map, not by redirections";
    std::string key = "crm:{" + campaign + "}:counters";
    EXPECT_EQ(cluster.command(node, {"HGET", key, "d:s"}), "5");
    EXPECT_EQ(cluster.command(node, {"HGET", key, "r:s"}), "5000000");
    for (int other = 0; other < RedisCluster::kNodes; ++other) {
      if (other != node) {
        EXPECT_EQ(cluster.command(other, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(q->slot())}), "0");
      }
    }
    ASSERT_TRUE(crm::show_shared(shared, {}, r, e)) << e.message;
    EXPECT_TRUE(r.was_ready);
    ASSERT_EQ(r.rows.size(), 1u);
    EXPECT_EQ(r.rows[0].before_deliveries, 5);
  }
  // A plain redis:// URL at a node that does not own the slot: the MOVED is refused, clearly.
  std::string campaign = campaign_on(1, "plain");
  auto plain = open("redis://" + cluster.seed(0), campaign);
  EXPECT_EQ(plain->reserve(plain->handle("s"), 0, stock(5)), QuotaCheck::Unavailable);
  EXPECT_NE(plain->stats().last_error.find("is a Redis Cluster node; name the cluster with --shared redis-cluster://"),
            std::string::npos)
      << plain->stats().last_error;
  // Every seed down: the discovery says so.
  auto nowhere = open("redis-cluster://127.0.0.1:" + std::to_string(dead), "x");
  EXPECT_EQ(nowhere->reserve(nowhere->handle("s"), 0, stock(5)), QuotaCheck::Unavailable);
  EXPECT_NE(nowhere->stats().last_error.find("no node of the cluster gave the owner of slot"), std::string::npos)
      << nowhere->stats().last_error;
  // The owner killed: refused (connection refused, then the slot's owner unreachable), never granted.
  std::string last = campaign_on(2, "kill");
  auto q = open("redis-cluster://" + cluster.seed(0), last);
  std::string err;
  ASSERT_TRUE(q->reconcile({}, false, err)) << err;
  uint32_t h = q->handle("s");
  ASSERT_EQ(q->reserve(h, 0, stock(100)), QuotaCheck::Fits);
  cluster.stop(2);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(q->reserve(h, 0, stock(100)), QuotaCheck::Unavailable);
  EXPECT_NE(q->stats().last_error.find(cluster.seed(2)), std::string::npos) << q->stats().last_error;
  ASSERT_FALSE(notices.empty());
  EXPECT_NE(notices.back().find("shared counters unavailable (redis-cluster://"), std::string::npos) << notices.back();
}

// A slot migration between reservations, step by step: while MIGRATING with the keys still on
// the source, nothing changes; once MIGRATE moved them, each reservation is ASKed to the target
// (the script loaded there after NOSCRIPT: only the source ever had it) and the slot's owner
// stays the source; after SETSLOT
// NODE, one MOVED and the new owner is remembered. Never more than the stock; the counters
// moved with the keys. Then too few redirections allowed: refused, counted nowhere.
TEST_F(RedisClusterTest, AMigratingSlotIsFollowedThroughAskThenMoved) {
  std::string campaign = campaign_on(0, "mig");
  auto q = open("redis-cluster://" + cluster.seed(2), campaign);
  std::string err;
  ASSERT_TRUE(q->reconcile({}, false, err)) << err;
  const int slot = q->slot();
  const std::vector<std::string> keys{"crm:{" + campaign + "}:ready", "crm:{" + campaign + "}:counters"};
  uint32_t h = q->handle("s");
  int granted = 0;
  auto reserve = [&](int n) {
    for (int i = 0; i < n; ++i) {
      QuotaCheck c = q->reserve(h, 0, stock(40));
      ASSERT_TRUE(c == QuotaCheck::Fits || c == QuotaCheck::Stock) << q->stats().last_error;
      granted += c == QuotaCheck::Fits;
    }
  };
  reserve(10);
  ASSERT_TRUE(cluster.begin_migration(slot, 0, 1));
  reserve(5);  // the keys are still on node 0: served there
  EXPECT_EQ(q->stats().asked, 0u);
  ASSERT_TRUE(cluster.migrate_keys(slot, 0, 1, keys));
  EXPECT_EQ(cluster.command(0, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "0");
  reserve(5);
  EXPECT_EQ(q->stats().asked, 5u);
  EXPECT_EQ(q->stats().moved, 0u);
  EXPECT_EQ(q->node().port, cluster.port(0)) << "an ASK does not change the slot's owner";
  EXPECT_EQ(cluster.command(1, {"HGET", keys[1], "d:s"}, /*asking=*/true), "20");
  // A second client that starts during the migration: the owner per CLUSTER SLOTS is still the
  // source; it is ASKed too. With no redirection allowed it is refused and counts nothing.
  auto strict = open("redis-cluster://" + cluster.seed(1), campaign, /*max_redirects=*/0);
  EXPECT_EQ(strict->reserve(strict->handle("s"), 0, stock(40)), QuotaCheck::Unavailable);
  EXPECT_NE(strict->stats().last_error.find("more than 0 cluster redirections for slot " + std::to_string(slot)),
            std::string::npos)
      << strict->stats().last_error;
  EXPECT_EQ(cluster.command(1, {"HGET", keys[1], "d:s"}, true), "20");
  ASSERT_TRUE(cluster.finish_migration(slot, 1));
  reserve(5);
  EXPECT_EQ(q->stats().moved, 1u);
  EXPECT_EQ(q->stats().asked, 5u);
  EXPECT_EQ(q->node().port, cluster.port(1));
  reserve(30);  // to the stock and past it
  EXPECT_EQ(q->stats().moved, 1u);
  EXPECT_EQ(granted, 40);
  EXPECT_EQ(cluster.command(1, {"HGET", keys[1], "d:s"}), "40");
  // A new node after a restart of the owner's scripts: NOSCRIPT, loaded again.
  EXPECT_EQ(cluster.command(1, {"SCRIPT", "FLUSH"}), "OK");
  reserve(1);
  EXPECT_EQ(granted, 40);
  std::map<std::string, crm::state::Quota> now;
  bool ready = false;
  ASSERT_TRUE(q->read(now, ready, err)) << err;
  EXPECT_TRUE(ready);
  EXPECT_EQ(now["s"].deliveries, 40);
}

// Order `id` of `user` at second `i` of 2026-11-11, 100 CNY.
std::string order(int id, const std::string& user) {
  return "{\"id\":\"e" + std::to_string(id) + "\",\"type\":\"Order\",\"user\":\"" + user +
         "\",\"time\":\"2026-11-11T00:00:00Z\",\"amount\":100}";
}

// Three runtimes (partitions of the users, a ledger each, each on its own thread) share one
// campaign through the cluster while its slot moves from one node to another: deliveries are
// granted through the whole migration (ASK while the keys are on the target and the slot not yet
// reassigned, MOVED after), never refused, never more than the stock and budget, and Redis's
// counters equal the sums of the ledgers exactly; an exact reconcile from the ledgers agrees.
TEST_F(RedisClusterTest, RuntimesShareACampaignWhileItsSlotMigrates) {
  auto program = crm::compile_sources({{"cluster.crm", R"(
event Order { amount: Money(CNY) }
resource coupon c10 { discount: 10 CNY }
resource points p5 { amount: 5 }
strategy flash for business "mall" {
    who: amount >= 50 CNY
    when: on Order
    what: grant c10
    how much: budget 3000 CNY, stock 400, per user 1 per day
    priority: 1
}
strategy side for business "mall" {
    who: amount >= 50 CNY
    when: on Order
    what: grant p5
    how much: stock 450, per user 1 per day
    priority: 2
}
)"}});
  ASSERT_TRUE(program.program.valid()) << program.diagnostics.render_text() << program.error.message;
  fs::path dir = fs::temp_directory_path() / ("crm_cluster_api_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string campaign = campaign_on(2, "run");
  const int slot = crm::state::cluster_slot("crm:{" + campaign + "}:counters");
  // Every key of the campaign moves, as a reshard moves every key of the slot (the partitions
  // hash too: the reservation scripts check the registration in it).
  const std::vector<std::string> keys{"crm:{" + campaign + "}:ready", "crm:{" + campaign + "}:counters",
                                      "crm:{" + campaign + "}:partitions"};
  crm::SharedCounters shared;
  shared.url = "redis-cluster://" + cluster.seed(0) + "," + cluster.seed(1);
  shared.campaign = campaign;
  constexpr int kRuntimes = 3, kEvents = 1200;
  std::vector<std::unique_ptr<crm::Runtime>> rt;
  std::vector<std::string> ledgers;
  std::string err;
  for (uint32_t k = 0; k < kRuntimes; ++k) {
    rt.push_back(std::make_unique<crm::Runtime>(program.program));
    ASSERT_TRUE(rt[k]->set_partition({k, kRuntimes}, err)) << err;
    ASSERT_TRUE(rt[k]->share_counters(shared, err)) << err;
    ledgers.push_back((dir / ("p" + std::to_string(k) + ".db")).string());
    ASSERT_TRUE(rt[k]->open_state("sqlite:" + ledgers.back(), err, crm::Runtime::Commit::Manual)) << err;
  }
  crm::ReconcileResult r;
  crm::Error e;
  ASSERT_TRUE(crm::reconcile_shared(shared, {}, false, r, e)) << e.message;
  // Each runtime reads the whole stream and decides its partition's users (one event each), a
  // little slowly so the migration falls in the middle.
  std::atomic<int> granted[2] = {0, 0}, refused_unavailable{0}, failures{0};
  std::vector<std::thread> ts;
  for (int k = 0; k < kRuntimes; ++k)
    ts.emplace_back([&, k] {
      std::vector<crm::Decision> out;
      crm::Error te;
      std::string terr;
      for (int i = 0; i < kEvents; ++i) {
        out.clear();
        if (!rt[k]->process_event(order(i, "u" + std::to_string(i)), out, te)) {
          ++failures;
          return;
        }
        for (const auto& d : out) {
          if (d.outcome == crm::Decision::Outcome::Granted) ++granted[d.strategy == "side"];
          if (d.reason == "shared_unavailable") ++refused_unavailable;
        }
        if (!out.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        if (i % 50 == 0 && !rt[k]->commit(terr)) ++failures;
      }
      if (!rt[k]->commit(terr)) ++failures;
    });
  auto counter = [&](int node, bool asking) {
    std::string v = cluster.command(node, {"HGET", keys[1], "d:flash"}, asking);
    return v.empty() || !std::isdigit(static_cast<unsigned char>(v[0])) ? 0 : std::stoi(v);
  };
  auto wait_until = [&](auto done) {
    for (int i = 0; i < 2000 && !done(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return done();
  };
  bool ok = wait_until([&] { return counter(2, false) >= 60; });
  EXPECT_TRUE(ok) << "no grants before the migration";
  ASSERT_TRUE(cluster.begin_migration(slot, 2, 0));
  ASSERT_TRUE(cluster.migrate_keys(slot, 2, 0, keys));
  int at_migrate = counter(0, true);
  ok = wait_until([&] { return counter(0, true) >= at_migrate + 60; });
  EXPECT_TRUE(ok) << "no grants through ASK while the slot was migrating (" << counter(0, true) << ")";
  ASSERT_TRUE(cluster.finish_migration(slot, 0));
  int at_finish = counter(0, false);
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(refused_unavailable.load(), 0) << "a redirection must never refuse a delivery";
  EXPECT_LT(at_finish, 300) << "the stream ended before the migration was over: slow the runtimes down";
  // flash: budget 3000 CNY at 10 each binds at 300 (below its stock 400); side: stock 450.
  EXPECT_EQ(granted[0].load(), 300);
  EXPECT_EQ(granted[1].load(), 450);
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "d:flash"}), "300");
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "r:flash"}), "3000000000");
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "d:side"}), "450");
  EXPECT_EQ(cluster.command(2, {"CLUSTER", "COUNTKEYSINSLOT", std::to_string(slot)}), "0");
  // The ledgers' sums, read through the cluster: equal to Redis's counters (no reservation that
  // no ledger recorded, none missing).
  ASSERT_TRUE(crm::show_shared(shared, ledgers, r, e)) << e.message;
  ASSERT_EQ(r.rows.size(), 2u);
  for (const auto& row : r.rows) {
    EXPECT_EQ(row.ledger_deliveries, row.before_deliveries) << row.strategy;
    EXPECT_EQ(row.ledger_reserved_millionths, row.before_reserved_millionths) << row.strategy;
  }
  // Redis loses the campaign (as a failover might): refused until an exact reconcile from the
  // ledgers puts back the same counters, on the slot's new owner. The runtimes stop first: an
  // exact reconcile takes each ledger's writer lock.
  rt.clear();
  EXPECT_EQ(cluster.command(0, {"DEL", keys[0], keys[1]}), "2");
  ASSERT_TRUE(crm::reconcile_shared(shared, ledgers, true, r, e)) << e.message;
  EXPECT_FALSE(r.was_ready);
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "d:flash"}), "300");
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "r:flash"}), "3000000000");
  EXPECT_EQ(cluster.command(0, {"HGET", keys[1], "d:side"}), "450");
  fs::remove_all(dir);
}

}  // namespace
