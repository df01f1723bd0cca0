// state_store.h - where the engine's decisions are recorded durably: an append-only ledger.
//
// The engine keeps its counters (grants per user, stock, budget) in memory and rebuilds them
// from the ledger when a store is attached, so a run that was killed can be restarted on the
// same input: work units (an event, or a scheduled instant of a strategy) already in the ledger
// are not decided again, their recorded decisions are reported instead. A unit and its
// decisions are appended together and become durable at commit(); callers report decisions
// only after that (group commit keeps this fast).
//
// Campaign-wide counters (a strategy's deliveries against its stock, money reserved against its
// budget) are the one thing several runtime processes must share, so they sit behind Quotas,
// whose reserve() checks and counts in one atomic step. The embedded stores keep them in this
// process and rebuild them from the ledger at load(); a shared backend (Redis) keeps them
// itself and makes reserve() atomic there (a script), so two processes can never both take the
// last unit of stock. Per-user state (claim limits, policies) stays in the engine: each user's
// events go to one process anyway, because they must arrive in time order.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <mutex>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace crm::state {

// What a work unit is. Event ids are the users' text, so internal units live in a key space of
// their own (the `kind` column): no event id, whatever its text, can name a scheduled run.
// A timer unit is the firing of a delayed trigger (id = "timer:<strategy>@<trigger event id>").
enum class UnitKind : uint8_t { Event = 0, Schedule = 1, Timer = 2 };

// One completed work unit: an event (id = the event's id) or a scheduled instant of a
// strategy (id = "<strategy>@<micros>").
// An id may name several units of one kind (an event id used again after the dedup window
// forgot it: docs/semantics.md, "Event order"); they are told apart by where each starts.
struct Unit {
  static constexpr int64_t kNoTime = INT64_MIN;  // `at` not recorded (schema < 8, or a scheduled run)
  Unit() = default;
  Unit(UnitKind k, std::string i, int64_t a = kNoTime, int64_t f = 0) : kind(k), id(std::move(i)), at(a), first(f) {}
  UnitKind kind = UnitKind::Event;
  std::string id;
  // The time of the event the unit decided: an event's time, a timer's trigger event's time;
  // kNoTime for a scheduled run and for units recorded before schema version 8. Given to
  // append(); read back. Tells apart the units of an id used again (Recorder::event_slot).
  int64_t at = kNoTime;
  // Set by load(): the ledger position of the unit's first decision, or (a unit without
  // decisions) the position its first decision would have had; 0: not recorded (schema < 8).
  // Ignored by append(), which numbers the unit itself.
  int64_t first = 0;
  bool operator==(const Unit& o) const { return kind == o.kind && id == o.id; }
};

// One decision as the ledger keeps it: its position, its unit's kind and the columns of
// runtime/state/ledger_columns.def (each one's meaning and unit is written there: texts as
// std::string, integers as int64_t; money in millionths).
struct LedgerEntry {
  int64_t seq = 0;      // position in the ledger (from 1); set by load() and read()
  UnitKind kind = UnitKind::Event;
#define CRM_LEDGER_TEXT(name, nullable, doc) std::string name;
#define CRM_LEDGER_INT(name, zero_null, doc) int64_t name = 0;
#include "runtime/state/ledger_columns.def"
};

// One decision row as the engine appends it (StateStore::append_rows): the columns of
// ledger_columns.def without `kind` (the unit's), each text a view (`unit`: the unit's id). Lifetime: the views
// need only be valid for the length of the append_rows call that is given them; a store that
// keeps a row past that call copies its texts (WorkerLedger packs them into one buffer per
// worker; SqliteStore into one buffer for the rows of its next insert). The recorder's views point at the program's names (strategy, resource, channel,
// code, pool, arm), static tables (outcome, reason), the decision's own strings (user, timer)
// and its buffer of rendered decisions (json), none of which changes during the call.
struct LedgerRow {
#define CRM_LEDGER_TEXT(name, nullable, doc) std::string_view name;
#define CRM_LEDGER_INT(name, zero_null, doc) int64_t name = 0;
#include "runtime/state/ledger_columns.def"
  // `json` holds only the record's tail, what follows the members its columns give
  // (ledger_json.h): the SQLite store keeps it as such (TEXT, schema 9); every other reader
  // gets the record whole (entry_of).
  bool json_tail = false;
};
// How many of the columns are texts and how many integers (the unit's kind not counted).
inline constexpr size_t kLedgerTexts = 0
#define CRM_LEDGER_TEXT(name, nullable, doc) +1
#include "runtime/state/ledger_columns.def"
    ;
inline constexpr size_t kLedgerInts = 0
#define CRM_LEDGER_INT(name, zero_null, doc) +1
#include "runtime/state/ledger_columns.def"
    ;
// A row viewing an entry's strings (valid while `e` is unchanged), and an entry copying a row's.
LedgerRow row_of(const LedgerEntry& e);
LedgerEntry entry_of(const LedgerRow& r, UnitKind kind);

// What one strategy has used so far, campaign-wide.
struct Quota {
  int64_t deliveries = 0;  // counted against `stock`
  int64_t reserved = 0;    // millionths, at face value, counted against `budget`
};

// The limits one delivery must fit; -1 means no limit. Pacing limits are the share of stock or
// budget released by this instant (see docs/semantics.md, even pacing).
struct QuotaLimits {
  int64_t stock = -1, budget = -1, paced_stock = -1, paced_budget = -1;
};

// Which limit a delivery would break, checked in this order.
// Unavailable: shared counters could not be asked (Redis down, timed out, or its counters not
// reconciled); nothing is reserved, so nothing is granted (fail closed).
enum class QuotaCheck : uint8_t { Fits, Stock, Budget, Pacing, Unavailable };
// The rejection reason: "stock", "budget", "pacing", "shared_unavailable".
const char* quota_reason(QuotaCheck c);

// Does one more delivery costing `amount` fit `limits`, given `used`? The single rule that both
// an engine's early check and every Quotas::reserve() apply.
QuotaCheck check_quota(const Quota& used, int64_t amount, const QuotaLimits& limits);

// One set of counters a delivery draws on, with its limits: the strategy's, or its pool's.
struct QuotaPart {
  uint32_t handle = 0;
  QuotaLimits limits;
};

// The counters of a budget pool are named `pool:NAME`; strategy names are identifiers, so no
// strategy can share them.
std::string pool_counter(std::string_view pool);

class Quotas {
 public:
  virtual ~Quotas() = default;
  // A handle for a strategy's counters, by name (names, not program indexes, are what two
  // processes running different program versions agree on); a pool's are pool_counter(NAME).
  virtual uint32_t handle(std::string_view strategy) = 0;
  virtual Quota used(uint32_t handle) = 0;
  // Atomically: if one more delivery costing `amount` fits `limits`, counts it and returns
  // Fits; otherwise changes nothing and says which limit it would break.
  virtual QuotaCheck reserve(uint32_t handle, int64_t amount, const QuotaLimits& limits) = 0;
  // The same for a delivery that draws on several counters at once (a strategy's and its
  // pool's): atomically, either it fits every part and is counted in each, or nothing changes,
  // `failed` is the first part it does not fit, and the result says which limit.
  virtual QuotaCheck reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) = 0;
  // Whether several threads may call reserve() and reserve_parts() at once (LocalQuotas); a
  // backend that is not is given a lock of its own by `crm run --threads` (one connection).
  virtual bool thread_safe() const { return false; }
};

// Counters held in this process, safe to share between threads (`crm run --threads N`: every
// worker's engine reserves on the same LocalQuotas). No global lock: each counter has its own
// mutex, held only for its check-and-count; a reservation over several counters (a strategy and
// its pool) takes theirs in handle order (no deadlock), checks every part, then counts in each,
// so it stays all-or-nothing. used() reads without a lock: a value that may be a reservation
// behind, for the engine's early look only (reserve() decides). Handles are made under a lock of
// their own and counters never move (a deque), so handle() may run while others reserve.
class LocalQuotas : public Quotas {
 public:
  uint32_t handle(std::string_view strategy) override;
  Quota used(uint32_t handle) override;
  QuotaCheck reserve(uint32_t handle, int64_t amount, const QuotaLimits& limits) override;
  QuotaCheck reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) override;
  bool thread_safe() const override { return true; }
  // Recounts from a ledger: a delivery is one (unit, user, strategy) with at least one grant;
  // it counts in its strategy's counters and, when it drew from a pool, in the pool's.
  // Not concurrent with reservations (a store calls it while it loads). `units` (as load()
  // gives them): where units start, so two adjacent units with one id count apart.
  void rebuild(const std::vector<LedgerEntry>& entries, const std::vector<Unit>* units = nullptr);

 private:
  struct Counter {
    std::mutex mu;
    std::atomic<int64_t> deliveries{0}, reserved{0};
  };
  Counter& counter(uint32_t h);
  std::mutex handles_mu_;
  std::unordered_map<std::string, uint32_t> handles_;
  std::deque<Counter> counters_;
  std::atomic<size_t> size_{0};
};

// Which program recorded a ledger's units (docs/semantics.md, "Program identity"). Strategies
// are compared by name: `hash` covers everything that decides what the strategy does; the other
// fields are what its counters (stock, budget, per-user deliveries) are counted in, so a changed
// strategy may keep its counters only while they are equal.
struct StrategyIdentity {
  std::string name, hash;
  std::string budget_currency;  // empty: no budget
  std::string resources;        // "name:kind:currency" of each granted resource, sorted, comma-separated
  // The configured split: "control:B" with B the control share in basis points (of 10000),
  // followed by ";variants:A:b,B:b,..." with A/B/n arms (schema 5); empty without a split, and for ledgers recorded before schema version 4 (not recorded).
  std::string split;
  bool operator==(const StrategyIdentity&) const = default;
};
struct ProgramIdentity {
  std::string hash;  // of the whole compiled program; empty: none recorded
  std::vector<StrategyIdentity> strategies;
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // Everything recorded so far, in append order: decisions, and every unit ever completed.
  // Read as one snapshot (a commit by anyone else cannot fall between its parts).
  virtual bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) = 0;
  // The program that recorded the latest units (hash empty: none yet, or a ledger older than
  // program identities), and the program of every unit appended from now on.
  virtual bool last_program(ProgramIdentity& out, std::string& error) = 0;
  virtual bool begin_program(const ProgramIdentity& program, std::string& error) = 0;
  // Adds one completed unit and its decisions to the current group. `first_seq` receives the
  // position of the first decision (a unit's decisions are consecutive).
  virtual bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq,
                      std::string& error) = 0;
  // The same for rows of views (the engine's recorder: nothing allocated per decision). The
  // views are read during the call only (see LedgerRow). The default copies them into entries
  // and calls append(); SqliteStore copies their texts into the rows waiting for its next
  // multi-row insert, WorkerLedger packs them into its buffer, the shared store hands them to
  // its ledger.
  virtual bool append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq,
                           std::string& error);
  // `count` decisions from position `first`, committed or in the current group: how a unit's
  // decisions are repeated, so the engine need not keep them in memory.
  virtual bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) = 0;
  // Finding a unit again without its id in memory (the engine's index of decided event ids keeps
  // a fingerprint and this handle, not the id's text: docs/performance.md §11, "Memory, session
  // 14"). unit_handle(): the handle of the unit the latest append()/append_rows() added, 0 when
  // this store cannot find units by handle (the default: the engine then keeps the id itself).
  // find_unit(): the unit behind a handle this store gave (`found` false when it has none, e.g.
  // rolled back): its kind, id, time, `first` and how many decisions it has (`count`), read from
  // the ledger or the open group. False only when the store cannot be read (`error`).
  virtual int64_t unit_handle() const { return 0; }
  virtual bool find_unit(int64_t handle, Unit& out, uint32_t& count, bool& found, std::string& error) {
    (void)handle, (void)out, (void)count, (void)error;
    found = false;
    return true;
  }
  // Makes every appended unit durable (atomically: a crash keeps all of a group or none).
  virtual bool commit(std::string& error) = 0;
  // Discards every unit appended since the last commit (a hot reload refused after its new
  // engine appended units: docs/semantics.md, "Hot reload"). The counters of quotas() are
  // not rebuilt here: load() does that. False when the store cannot (the default).
  virtual bool rollback(std::string& error) {
    error = "state " + describe() + " cannot discard uncommitted units";
    return false;
  }
  virtual std::string describe() const = 0;
  // The campaign-wide counters this store shares with every runtime attached to it.
  virtual Quotas& quotas() = 0;
  // Facts about the store itself, kept beside its schema version (SQLite: table crm_meta), such
  // as its id and the partition it serves (ledger_partition.h). A store that keeps nothing
  // across runs (memory, the default) has none: `found` false, and set_meta keeps nothing.
  // set_meta is durable when it returns, or within a group with the group's commit.
  virtual bool meta(const std::string& key, std::string& value, bool& found, std::string& error) {
    (void)key, (void)value, (void)error;
    found = false;
    return true;
  }
  virtual bool set_meta(const std::string& key, const std::string& value, std::string& error) {
    (void)key, (void)value, (void)error;
    return true;
  }
};

// For tests and dry runs: nothing survives the process.
class MemoryStore : public StateStore {
 public:
  bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) override;
  bool last_program(ProgramIdentity& out, std::string&) override { out = program_; return true; }
  bool begin_program(const ProgramIdentity& program, std::string&) override { program_ = program; return true; }
  bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq,
              std::string& error) override;
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) override;
  // A unit's handle is its number in append order (from 1).
  int64_t unit_handle() const override { return static_cast<int64_t>(units_.size()); }
  bool find_unit(int64_t handle, Unit& out, uint32_t& count, bool& found, std::string& error) override;
  bool commit(std::string& error) override;
  bool rollback(std::string& error) override;
  std::string describe() const override { return "memory"; }
  Quotas& quotas() override { return quotas_; }

 private:
  LocalQuotas quotas_;
  std::vector<LedgerEntry> entries_;
  std::vector<Unit> units_;
  size_t committed_entries_ = 0, committed_units_ = 0;  // sizes at the last commit (rollback)
  ProgramIdentity program_;
};

// SQLite in WAL mode with synchronous=FULL: a commit is on disk when it returns. The schema is
// documented in docs/semantics.md; operators may query it with the sqlite3 tool.
// A ledger has one writer: the store holds an exclusive advisory lock (flock) on `PATH.lock`,
// which names its owner (pid@host), for its whole life; opening a ledger another store holds
// fails with that owner. Readers (sqlite3, reports) do not take the lock. The kernel releases it
// when the process dies, so a killed run never blocks its restart.
std::unique_ptr<StateStore> open_sqlite_store(const std::string& path, std::string& error);
// Whether the file at `path` may be opened as a ledger: it does not exist yet, is empty, is a
// SQLite database without tables, or holds crm's `crm_meta` (a ledger, of any schema version).
// False, with an error naming the file as not a crm ledger, for a SQLite database of another
// application (tables, none of them crm_meta): open_sqlite_store refuses it untouched rather than
// add crm's tables to it. Reads the schema through a read-only connection; a file SQLite cannot
// read as a database is true here (the store's open says why it cannot be used).
bool check_ledger_file(const std::string& path, std::string& error);

// The single-writer lock of a ledger (above) held by something other than its writer, until
// destroyed: `crm shared reconcile --exact` holds every ledger's while it reads them and sets the
// counters, so none of them is written meanwhile. acquire() fails (error: the owner) while a
// writer holds it; `create` false: the ledger must exist (only its writer creates it).
class LedgerLock {
 public:
  LedgerLock() = default;
  ~LedgerLock();
  LedgerLock(const LedgerLock&) = delete;
  LedgerLock& operator=(const LedgerLock&) = delete;
  bool acquire(const std::string& path, bool create, std::string& error);

 private:
  int lock_fd_ = -1;
  int db_lock_fd_ = -1;  // flock on the database file: the same lock under every hard link
  // The database file's device and inode while this lock holds it, in the process's table of
  // held ledgers: a second open in the same process is told so, not sent to look for another.
  bool registered_ = false;
  uint64_t dev_ = 0, ino_ = 0;
};

// A state spec, "memory" or "sqlite:PATH[?max_pages=N]", read by one parser for every command
// and library that takes one (open_store, the CLI's checks, report, shared): the ledger's file
// is `path`, never the text after `sqlite:` (which may carry `?max_pages=N`).
struct StateSpec {
  bool memory = false;      // "memory": no ledger
  std::string path;         // the ledger's file
  long long max_pages = 0;  // SQLite's page limit on it (0: none)
};
// False with the message open_store would give for a malformed spec (see state_spec_valid).
bool parse_state_spec(const std::string& spec, StateSpec& out, std::string& error);

// "memory" or "sqlite:PATH[?max_pages=N]".
std::unique_ptr<StateStore> open_store(const std::string& spec, std::string& error);
// Whether `spec` is well formed for open_store, without opening anything: a spec that is not
// (unknown, an empty path, max_pages not a positive number, or a PATH SQLite would not take as a
// file: `:memory:` is a database that vanishes with the process, `file:...` a URI) is the user's
// mistake, not a fault of the ledger. False with the message open_store would give.
bool state_spec_valid(const std::string& spec, std::string& error);

// Campaign-wide counters shared by many processes through Redis (runtime/state/redis_quotas.h,
// docs/scaling.md); the ledger stays each process's own.
// The largest values SharedOptions takes (RedisQuotas::create refuses larger ones; the same as
// include/crm/shared.h's kSharedMax*).
constexpr int kSharedMaxMs = 3'600'000;
constexpr int kSharedMaxReplicas = 1000;
constexpr int kSharedMaxRedirects = 100;
constexpr int kSharedMaxLease = 1'000'000;
struct SharedOptions {
  std::string url;                   // redis://HOST:PORT, or redis-cluster://HOST:PORT,... (seed nodes)
  std::string campaign = "default";  // processes sharing counters name the same campaign
  int connect_timeout_ms = 500;
  int command_timeout_ms = 500;
  int retry_ms = 100;                // after a failure, reservations are refused without a new attempt this long
  int wait_replicas = 0;             // strict mode: a reservation counts once this many replicas have it (WAIT)
  int wait_timeout_ms = 100;
  int max_redirects = 5;             // a cluster's MOVED, ASK and TRYAGAIN followed per command
  int lease = 0;                     // > 0: a process takes deliveries (and their money) in leases of this many
  // This process's --partition (0-based index) and the strategies it decides, set by
  // open_state whatever the order of the calls: every process deciding a strategy of the
  // campaign must have one N, and one ledger serve each K (docs/scaling.md, "Partitions").
  uint32_t partition_index = 0, partition_count = 1;
  std::vector<std::string> strategies;
  // The id of this process's ledger (keep_partition, ledger_partition.h), set by open_state with
  // the partition: registered as the ledger that decides partition K. Empty: a ledger without
  // an id (only N is checked).
  std::string ledger_id;
  std::function<void(const std::string&)> on_notice;  // connection lost or restored, campaign not ready
};
// `ledger` with its quotas() replaced by counters in Redis. Fails when the URL is malformed;
// an unreachable Redis is not an error here (reservations fail closed until it answers).
std::unique_ptr<StateStore> open_shared_store(std::unique_ptr<StateStore> ledger, const SharedOptions& options,
                                              std::string& error);

}  // namespace crm::state
