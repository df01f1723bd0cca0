// redis_quotas.h - campaign-wide counters shared by many runtime processes through Redis.
//
// Each process keeps its own ledger (the durable truth of its decisions) and its users' state;
// what they share is each strategy's deliveries (against `stock`) and money reserved (against
// `budget`). RedisQuotas keeps those in one Redis hash per campaign and checks-and-reserves with
// a Lua script (EVALSHA; loaded again after NOSCRIPT), so two processes can never both take the
// last unit. Keys (one hash tag per campaign, so a Redis Cluster keeps them on one slot):
//   crm:{CAMPAIGN}:ready     the counters are valid: set by reconcile (`crm shared reconcile`)
//   crm:{CAMPAIGN}:counters  hash, fields `d:STRATEGY` (deliveries), `r:STRATEGY` (millionths);
//                            a budget pool's are `d:pool:NAME` and `r:pool:NAME`; `v` 1 (layout)
//   crm:{CAMPAIGN}:partitions  hash, per strategy decided: `n:STRATEGY` its partition count N,
//                            `p:STRATEGY:K` the id of the ledger that decides it for partition K
//                            (and where that ledger was first attached)
//   crm:{CAMPAIGN}:server    the run_id (INFO server) of the Redis process the last reconcile ran
//                            on: a server that restarted (from an older RDB snapshot or AOF) or a
//                            replica promoted since has another run_id and possibly older counters,
//                            so with one server (redis://) reservations are refused until a
//                            reconcile records the new run_id (docs/scaling.md)
// Fail closed: when Redis cannot be reached, times out, or the campaign is not `ready` (a new
// campaign, or a Redis that lost its data), reserve() returns QuotaCheck::Unavailable and
// nothing is granted; the next reserve() after `retry_ms` reconnects. docs/scaling.md.
// A Redis Cluster (`redis-cluster://SEED,...`): the campaign's slot is CRC16 of its tag; the
// slot's owner comes from CLUSTER SLOTS; MOVED (a new owner: remembered) and ASK (a slot being
// migrated: ASKING and the command on the target, once) are followed, TRYAGAIN retried, all
// together at most `max_redirects` times per command, and every other fault fails closed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "runtime/state/state_store.h"

struct redisContext;
struct redisReply;

namespace crm::state {

// "redis://HOST:PORT" (PORT defaults to 6379).
bool parse_redis_url(std::string_view url, std::string& host, int& port, std::string& error);

struct RedisNode {
  std::string host;
  int port = 6379;
};
// The credentials of an address (AUTH after every connect): `user` empty for AUTH PASSWORD
// (requirepass, or ACL's `default` user), both empty for none.
struct RedisCredentials {
  std::string user, password;
};
// What `--shared` names: "redis://[[USER]:PASSWORD@]HOST:PORT" (one server: `cluster` false) or
// "redis-cluster://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT]..." (seed nodes of a Redis Cluster,
// any of its nodes; the others are asked when one does not answer; the credentials, written once
// before the first seed, are those of every node). The user and password are percent-decoded
// (RFC 3986 userinfo; `%40` for `@`). Messages never show the password (masked_url()).
bool parse_shared_url(std::string_view url, std::vector<RedisNode>& nodes, bool& cluster, std::string& error,
                      RedisCredentials* credentials = nullptr);
// `url` with the password (the userinfo after its first `:`) replaced by `***`, for messages.
std::string masked_url(std::string_view url);

// The Redis Cluster hash slot of `key` (the cluster specification's HASH_SLOT): CRC16 (XMODEM)
// of its hash tag (between the first `{` and the next `}`, when not empty), else of the whole
// key, modulo 16384.
uint16_t crc16_xmodem(std::string_view bytes);
uint16_t cluster_slot(std::string_view key);

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
  // With leases, less what this process holds unused.
  Quota used(uint32_t handle) override {
    std::lock_guard lock(mu_);
    return view(handle);
  }
  QuotaCheck reserve(uint32_t handle, int64_t amount, const QuotaLimits& limits) override;
  QuotaCheck reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) override;
  // Leases: gives back what this process holds and did not use, and reads the counters it uses
  // again, in one script; called after each ledger commit (and, giving back only, when it is
  // destroyed). Nothing without leases.
  void settle();

  // What this process's own ledger had granted from each counter when it attached (deliveries
  // and money, by counter name): the counters hold every ledger's grants, so a counter below its
  // floor was lowered or deleted by hand (or a reconcile missed this ledger). Every reservation
  // script checks them, and check_floors() at attach.
  void set_floors(const std::map<std::string, Quota>& floors);
  // At attach: false, with a message naming the key and field and what to do, when the campaign
  // is ready but its counters cannot be trusted: the hash missing or of the wrong type, a floor's
  // field that is no count, or below the floor. True when Redis does not answer or the campaign
  // is not ready (reservations are refused then, and the scripts check the same when it is).
  bool check_floors(std::string& error);
  // At attach: registers, for each strategy this process decides (SharedOptions::strategies),
  // its partition (SharedOptions::partition_*) in the campaign's `partitions` hash, served by
  // the ledger `ledger_id` (ledger_partition.h; empty for a store that keeps nothing: only N is
  // checked), `ledger_label` saying where it is. Programs that differ may share a campaign, and
  // decide its users in their own partitions, as long as each strategy they share is decided in
  // one N and by one ledger per K. False with a message when a strategy has another N, or is
  // another ledger's in partition K (two processes would decide the same users twice). When
  // Redis does not answer (or answers with an error), true: the registration is tried again
  // before each reservation, which is refused until it is made (fail closed, also a delivery
  // without a limit), and a conflict found then refuses every one. Every new connection
  // registers again (a restarted Redis may have lost the hash).
  bool claim_partition(const std::string& ledger_id, const std::string& ledger_label, std::string& error);
  // A conflict found after claim_partition succeeded (another process registered another N, or
  // another ledger for this K, while this one's registration was gone): every reservation is
  // refused from then on, and the shared store records no unit (the run stops). Empty: none.
  std::string conflict() const {
    std::lock_guard lock(mu_);
    return partition_conflict_;
  }

  // Campaign-wide counters as Redis holds them now; `ready` false when they are not valid. A
  // field `d:S` or `r:S` that is no count (an integer from 0 to 2^53, as the scripts require) is
  // an error naming it, never read as 0; `not_counts`, when given, gets every such field and its
  // text (cut to 40 bytes), so a caller can name them all. `out` is empty after an error.
  bool read(std::map<std::string, Quota>& out, bool& ready, std::string& error,
            std::vector<std::pair<std::string, std::string>>* not_counts = nullptr);
  // Sets the counters from the ledgers' totals and marks the campaign ready, in one script:
  // each counter becomes max(current, total), or exactly `total` when `exact` (only when no
  // process is running: it drops reservations no ledger recorded). Counters of strategies not in
  // `totals` are kept (exact: zeroed).
  bool reconcile(const std::map<std::string, Quota>& totals, bool exact, std::string& error);

  struct Stats {
    uint64_t reservations = 0, granted = 0, unavailable = 0, reconnects = 0;
    uint64_t moved = 0, asked = 0, tryagain = 0;  // cluster redirections followed, TRYAGAIN retried
    uint64_t leases = 0, from_lease = 0;  // lease scripts run; deliveries counted from a lease without one
    std::string last_error;
  };
  const Stats& stats() const { return stats_; }
  std::string describe() const;
  bool cluster() const { return cluster_; }
  uint16_t slot() const { return slot_; }
  // The server the campaign's commands go to (a cluster: its slot's owner as last learnt).
  const RedisNode& node() const { return node_; }

 private:
  bool ensure(std::string& error);
  void drop(const std::string& why);
  void notice(const std::string& text);
  // An answer that refuses (an error reply, an unexpected reply, too few replicas): recorded in
  // last_error and said once through on_notice (again when the text changes), with what to do.
  void fault(const std::string& text);
  void answered();  // a reservation answered normally again after a fault: says so once
  std::string key_types(redisContext* c);  // after WRONGTYPE: which of the two keys is wrong
  struct Reply;
  // One command on the campaign's keys, sent to the server that holds them, following cluster
  // redirections; `script` >= 0 when it is that script's EVALSHA (loaded again after NOSCRIPT).
  // Null with `error` when there is no usable answer (the connection is dropped after an I/O
  // failure; an error reply keeps it).
  std::unique_ptr<Reply> run(const std::vector<std::string>& argv, int script, std::string& error);
  // EVALSHA of script `which` on the campaign's two keys.
  std::unique_ptr<Reply> eval(int which, const std::vector<std::string>& args, std::string& error);
  redisContext* open(const RedisNode& node, std::string& error) const;
  bool load_scripts(redisContext* c, std::string& error);
  bool discover(std::string& error);  // the owner of slot_ from the seeds' CLUSTER SLOTS
  bool replicated();                  // strict mode: WAIT after the last script
  void unready_notice();
  // claim_partition's script; false with `error` on a conflict, true when registered or when
  // Redis did not answer or answered with an error (partition_pending_ stays).
  bool register_partition(std::string& error);
  // The message of a conflict: code 1 another N recorded, 2 another ledger (`recorded`: "id label").
  std::string conflict_text(int64_t code, const std::string& strategy, const std::string& recorded) const;
  // A delivery script's trailing arguments (CRM_PARTITION_LUA): N, K, the ledger's id and owner
  // text once claim_partition was made and `check`; four empty values otherwise.
  void partition_args(std::vector<std::string>& args, bool check) const;
  // A delivery script's conflict reply ({-3 or -4, -1, strategy, recorded}): partition_conflict_
  // set, said, counted as unavailable; true. False for any other reply.
  bool found_conflict(const redisReply* r);
  Quota view(uint32_t h) const;
  QuotaCheck reserve_leased(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed);
  void settle_locked(bool refresh);
  void adopt_generation(const redisReply* r);
  // One server (redis://): false when the campaign is ready but was reconciled on another Redis
  // process than the one connected (run_id_ differs from the server key, or no server key): its
  // counters may be older than the ledgers. Says so once. True when it is the same server, when
  // the campaign is not ready (the scripts refuse), and when Redis does not answer (the script
  // call fails closed itself). Always true on a cluster (not checked there: a slot migration
  // moves the keys to a node with another run_id).
  bool same_server();
  // The ready key judged as the scripts' generation() judges it: `bad` names it when it exists
  // but is no generation number (another type, or not digits). False when Redis gave no answer.
  bool ready_judged(std::string& bad);

  RedisQuotas() = default;
  SharedOptions o_;
  std::vector<RedisNode> seeds_;
  RedisCredentials credentials_;  // sent (AUTH) on every connection open() makes
  bool cluster_ = false;
  uint16_t slot_ = 0;
  RedisNode node_;             // the server; a cluster: the owner of slot_ (when owner_known_)
  bool owner_known_ = false;
  redisContext* c_ = nullptr;  // to node_
  redisContext* ask_c_ = nullptr;  // to ask_node_, the target of the last ASK
  RedisNode ask_node_;
  redisContext* last_ = nullptr;   // the connection that answered the last command (WAIT goes there)
  int64_t retry_at_ = 0;  // steady-clock ms before which no connection is attempted
  bool reported_down_ = false, reported_unready_ = false;
  std::string reported_fault_;  // the fault last said through on_notice (empty: none since an answer)
  std::map<std::string, Quota> floors_;  // set_floors(), by counter name
  std::vector<Quota> floor_;             // per handle
  std::string sha_[3];  // kReserve, kReconcile, kLease
  std::string ready_key_, counters_key_, partitions_key_, server_key_;
  std::string partition_ledger_, partition_owner_;  // claim_partition(): the ledger's id; "id label"
  bool partition_claimed_ = false;  // claim_partition() was called: every new connection registers again
  bool partition_pending_ = false;  // not registered on this connection yet: reservations refused
  bool registering_ = false;        // register_partition() is running (its own connection's ensure())
  std::string partition_error_;     // why the last registration got no usable answer
  uint64_t connections_ = 0;        // connections made (ensure())
  std::string partition_conflict_;  // found at a later registration: every reservation is refused
  std::string run_id_;      // INFO server's run_id of c_'s server, read at each connection
  int identity_ = 0;        // c_'s server vs the server key: 0 not checked, 1 the same, -1 not
  bool reported_server_ = false;
  std::unordered_map<std::string, uint32_t> handles_;
  std::vector<std::string> names_;
  std::vector<Quota> seen_;
  // Leases, per counter: deliveries and money leased (counted in Redis) and not used yet.
  struct Held {
    int64_t d = 0, r = 0;
  };
  std::vector<Held> held_;
  std::string generation_ = "0";  // the campaign generation (ready key) the held leases belong to
  // One process's engines may reserve while its committer settles (crm run --threads).
  mutable std::mutex mu_;
  Stats stats_;
};

// A ledger (SQLite file) read without taking its writer's lock: the totals per strategy that
// LocalQuotas::rebuild counts, for reconciling shared counters while its process runs.
bool ledger_totals(const std::string& sqlite_path, std::map<std::string, Quota>& totals, std::string& error);

}  // namespace crm::state
