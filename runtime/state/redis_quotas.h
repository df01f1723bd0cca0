// redis_quotas.h - campaign-wide counters shared by many runtime processes through Redis.
//
// Each process keeps its own ledger (the durable truth of its decisions) and its users' state;
// what they share is each strategy's deliveries (against `stock`) and money reserved (against
// `budget`). RedisQuotas keeps those in one Redis hash per campaign and checks-and-reserves with
// a Lua script (EVALSHA; loaded again after NOSCRIPT), so two processes can never both take the
// last unit. Keys (one hash tag per campaign, so a Redis Cluster keeps them on one slot):
//   crm:{CAMPAIGN}:ready     the counters are valid: set by reconcile (`crm shared reconcile`)
//   crm:{CAMPAIGN}:counters  hash, fields `d:STRATEGY` (deliveries), `r:STRATEGY` (millionths);
//                            a budget pool's are `d:pool:NAME` and `r:pool:NAME`
// Fail closed: when Redis cannot be reached, times out, or the campaign is not `ready` (a new
// campaign, or a Redis that lost its data), reserve() returns QuotaCheck::Unavailable and
// nothing is granted; the next reserve() after `retry_ms` reconnects. docs/scaling.md.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/state/state_store.h"

struct redisContext;

namespace crm::state {

// "redis://HOST:PORT" (PORT defaults to 6379).
bool parse_redis_url(std::string_view url, std::string& host, int& port, std::string& error);

class RedisQuotas : public Quotas {
 public:
  // False (error set) for a malformed options.url; connects at the first use.
  static std::unique_ptr<RedisQuotas> create(const SharedOptions& o, std::string& error);
  ~RedisQuotas() override;
  RedisQuotas(const RedisQuotas&) = delete;
  RedisQuotas& operator=(const RedisQuotas&) = delete;

  // Connects now (reserve() would too): false with the reason when Redis cannot be reached.
  bool connect(std::string& error);
  uint32_t handle(std::string_view strategy) override;
  // The counters as last seen (a reservation's reply, or read at handle()): an early look that
  // decides nothing (the engine's reason for a rejection); reserve() checks Redis itself.
  Quota used(uint32_t handle) override { return seen_[handle]; }
  QuotaCheck reserve(uint32_t handle, int64_t amount, const QuotaLimits& limits) override;
  QuotaCheck reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) override;

  // Campaign-wide counters as Redis holds them now; `ready` false when they are not valid.
  bool read(std::map<std::string, Quota>& out, bool& ready, std::string& error);
  // Sets the counters from the ledgers' totals and marks the campaign ready, in one script:
  // each counter becomes max(current, total), or exactly `total` when `exact` (only when no
  // process is running: it drops reservations no ledger recorded). Counters of strategies not in
  // `totals` are kept (exact: zeroed).
  bool reconcile(const std::map<std::string, Quota>& totals, bool exact, std::string& error);

  struct Stats {
    uint64_t reservations = 0, granted = 0, unavailable = 0, reconnects = 0;
    std::string last_error;
  };
  const Stats& stats() const { return stats_; }
  std::string describe() const;

 private:
  bool ensure(std::string& error);
  void drop(const std::string& why);
  void notice(const std::string& text);
  // EVALSHA of script `which` (loading it after NOSCRIPT); null with `error` on failure.
  struct Reply;
  std::unique_ptr<Reply> eval(int which, const std::vector<std::string>& args, std::string& error);
  std::string io_error() const;  // the connection's error after a command got no reply

  RedisQuotas() = default;
  SharedOptions o_;
  std::string host_;
  int port_ = 6379;
  redisContext* c_ = nullptr;
  int64_t retry_at_ = 0;  // steady-clock ms before which no connection is attempted
  bool reported_down_ = false, reported_unready_ = false;
  std::string sha_[2];
  std::string ready_key_, counters_key_;
  std::unordered_map<std::string, uint32_t> handles_;
  std::vector<std::string> names_;
  std::vector<Quota> seen_;
  Stats stats_;
};

// A ledger (SQLite file) read without taking its writer's lock: the totals per strategy that
// LocalQuotas::rebuild counts, for reconciling shared counters while its process runs.
bool ledger_totals(const std::string& sqlite_path, std::map<std::string, Quota>& totals, std::string& error);

}  // namespace crm::state
