// crm/shared.h - many runtime processes sharing campaign counters (docs/scaling.md).
//
// Each process runs one partition of the users (`crm run --partition K/N`) with its own ledger;
// the strategies' stock and budget counters live in Redis (`--shared redis://HOST:PORT`, or a
// Redis Cluster: `redis-cluster://HOST:PORT,...`), where
// every delivery checks and reserves them atomically. Redis unreachable, timed out, or without
// the campaign's counters: reservations are refused (reason `shared_unavailable`), never granted
// without one. After Redis lost its data, reconcile_shared() sets the counters from the ledgers.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <crm/runtime.h>

namespace crm {

// The largest values SharedCounters takes; a larger one (or a negative one, or a time of 0) is
// refused, ErrorKind::Input: each time (connect, command, retry, wait) at most an hour, at most
// 1000 replicas to wait for, 100 redirections per command, a lease of 1000000 deliveries.
inline constexpr int kSharedMaxMs = 3'600'000;
inline constexpr int kSharedMaxReplicas = 1000;
inline constexpr int kSharedMaxRedirects = 100;
inline constexpr int kSharedMaxLease = 1'000'000;

struct SharedCounters {
  std::string url;                   // redis://HOST:PORT, or redis-cluster://HOST:PORT,HOST:PORT,... (seed nodes)
  std::string campaign = "default";  // the processes sharing counters name the same campaign
  int connect_timeout_ms = 500;
  int timeout_ms = 500;              // per command, from sending it to its whole reply: a reservation that takes
                                     // longer is refused
  int retry_ms = 100;                // after a failure, reservations are refused without a new attempt this long
  int wait_replicas = 0;             // strict mode: a reservation counts once this many replicas acknowledged it
  int wait_timeout_ms = 100;
  int max_redirects = 5;             // a Redis Cluster's MOVED, ASK and TRYAGAIN answers followed per command
  int lease = 0;                     // > 0: take this many deliveries (and their money) per round trip and hand them
                                     // out locally; unused ones go back at each commit (docs/scaling.md, "Leases")
  std::function<void(const std::string&)> on_notice;  // connection lost or restored, campaign not ready
};

// Whether `url` is an address SharedCounters::url takes: redis://HOST[:PORT] (HOST a name, an
// IPv4 address, or an IPv6 address in brackets: redis://[::1]:6379), or
// redis-cluster://HOST[:PORT],... False with the reason (the one check share_counters() and
// reconcile_shared() apply), for a usage error before anything connects.
bool valid_shared_url(std::string_view url, std::string& error);

// A share of the users: partition `index` (0-based) of `count`.
struct Partition {
  uint32_t index = 0, count = 1;
};
// "K/N" with 1 <= K <= N (K is 1-based, as written on the command line).
bool parse_partition(std::string_view text, Partition& out, std::string& error);
// Whether `user` is in `p`: stable_hash(user) % count == index, the same as the language's
// hash_bucket(user, count) (FNV-1a 64 with a splitmix64 finish; docs/scaling.md).
bool in_partition(const Partition& p, std::string_view user);

struct ReconcileRow {
  std::string strategy;
  int64_t ledger_deliveries = 0, ledger_reserved_millionths = 0;  // summed over the ledgers
  int64_t before_deliveries = 0, before_reserved_millionths = 0;  // in Redis before
  int64_t after_deliveries = 0, after_reserved_millionths = 0;    // in Redis after
};
struct ReconcileResult {
  bool was_ready = false;  // the campaign's counters were valid before
  std::vector<ReconcileRow> rows;  // by strategy name
};
// Sets the campaign's counters from the ledgers (SQLite files, read without their writers'
// locks, so while their processes run): each becomes max(Redis, sum of the ledgers), or exactly
// the sum when `exact` (every process stopped: drops reservations no ledger recorded; each
// ledger's single-writer lock is taken and held until the counters are set, so a running process
// fails it, ErrorKind::State). Marks the campaign ready; with no ledgers, that starts a new
// campaign at zero. A ledger given twice, or under two names of one file, is ErrorKind::Input.
bool reconcile_shared(const SharedCounters& shared, const std::vector<std::string>& ledger_paths, bool exact,
                      ReconcileResult& result, Error& error);
// The same comparison, changing nothing (before == after). A counter field that is no count (an
// integer from 0 to 2^53: edited by hand) is never shown as 0: it is ErrorKind::State naming
// every such field with the ledgers' sum for it (reconcile_shared without `exact` refuses them the
// same way; with `exact` it replaces them).
bool show_shared(const SharedCounters& shared, const std::vector<std::string>& ledger_paths, ReconcileResult& result,
                 Error& error);

}  // namespace crm
