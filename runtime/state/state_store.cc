// state_store.cc - the in-memory and SQLite ledgers.
#include "runtime/state/state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <set>
#include <utility>

#include "runtime/state/ledger_json.h"
#include "runtime/state/ledger_names.h"
#include "runtime/state/ledger_sqlite.h"
#include "support/json_text.h"

namespace crm::state {

LedgerRow row_of(const LedgerEntry& e) {
  LedgerRow r;
#define CRM_LEDGER_TEXT(name, nullable, doc) r.name = e.name;
#define CRM_LEDGER_INT(name, zero_null, doc) r.name = e.name;
#include "runtime/state/ledger_columns.def"
  return r;
}

LedgerEntry entry_of(const LedgerRow& r, UnitKind kind) {
  LedgerEntry e;
  e.kind = kind;
#define CRM_LEDGER_TEXT(name, nullable, doc) e.name = r.name;
#define CRM_LEDGER_INT(name, zero_null, doc) e.name = r.name;
#include "runtime/state/ledger_columns.def"
  if (r.json_tail) e.json = record_of(kind, r);
  return e;
}

bool StateStore::append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq,
                             std::string& error) {
  std::vector<LedgerEntry> entries;
  entries.reserve(count);
  for (size_t i = 0; i < count; ++i) entries.push_back(entry_of(rows[i], unit.kind));
  return append(unit, entries, first_seq, error);
}

const char* quota_reason(QuotaCheck c) {
  switch (c) {
    case QuotaCheck::Fits: return "";
    case QuotaCheck::Stock: return reason::Stock.data();
    case QuotaCheck::Budget: return reason::Budget.data();
    case QuotaCheck::Pacing: return reason::Pacing.data();
    case QuotaCheck::Unavailable: return reason::SharedUnavailable.data();
  }
  return "";
}

QuotaCheck check_quota(const Quota& used, int64_t amount, const QuotaLimits& l) {
  if (l.stock >= 0 && used.deliveries + 1 > l.stock) return QuotaCheck::Stock;
  if (l.budget >= 0 && used.reserved + amount > l.budget) return QuotaCheck::Budget;
  if (l.paced_stock >= 0 && used.deliveries + 1 > l.paced_stock) return QuotaCheck::Pacing;
  if (l.paced_budget >= 0 && used.reserved + amount > l.paced_budget) return QuotaCheck::Pacing;
  return QuotaCheck::Fits;
}

uint32_t LocalQuotas::handle(std::string_view strategy) {
  std::lock_guard lk(handles_mu_);
  auto [it, added] = handles_.try_emplace(std::string(strategy), static_cast<uint32_t>(counters_.size()));
  if (added) {
    counters_.emplace_back();
    size_.store(counters_.size(), std::memory_order_release);
  }
  return it->second;
}

// A handle comes from handle(), which made its counter first; a deque never moves its elements,
// so reading one needs no lock even while another thread adds a handle.
LocalQuotas::Counter& LocalQuotas::counter(uint32_t h) { return counters_[h]; }

Quota LocalQuotas::used(uint32_t h) {
  Counter& c = counter(h);
  return {c.deliveries.load(std::memory_order_relaxed), c.reserved.load(std::memory_order_relaxed)};
}

QuotaCheck LocalQuotas::reserve(uint32_t h, int64_t amount, const QuotaLimits& limits) {
  Counter& q = counter(h);
  std::lock_guard lk(q.mu);
  Quota now{q.deliveries.load(std::memory_order_relaxed), q.reserved.load(std::memory_order_relaxed)};
  QuotaCheck c = check_quota(now, amount, limits);
  if (c != QuotaCheck::Fits) return c;
  q.deliveries.store(now.deliveries + 1, std::memory_order_relaxed);
  q.reserved.store(now.reserved + amount, std::memory_order_relaxed);
  return c;
}

QuotaCheck LocalQuotas::reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) {
  if (parts.size() == 1) {
    QuotaCheck c = reserve(parts[0].handle, amount, parts[0].limits);
    if (c != QuotaCheck::Fits) failed = 0;
    return c;
  }
  // Each counter's lock once, in handle order: two reservations over the same counters cannot
  // each hold one the other waits for.
  // A strategy and its pool are two parts: the order is on the stack up to a few.
  uint32_t small[4];
  std::vector<uint32_t> large;
  uint32_t* order = small;
  if (parts.size() > std::size(small)) large.resize(parts.size()), order = large.data();
  size_t n = 0;
  for (const auto& part : parts) order[n++] = part.handle;
  std::sort(order, order + n);
  n = static_cast<size_t>(std::unique(order, order + n) - order);
  for (size_t k = 0; k < n; ++k) counter(order[k]).mu.lock();
  QuotaCheck result = QuotaCheck::Fits;
  for (size_t i = 0; i < parts.size(); ++i) {
    Counter& q = counter(parts[i].handle);
    Quota now{q.deliveries.load(std::memory_order_relaxed), q.reserved.load(std::memory_order_relaxed)};
    if (QuotaCheck c = check_quota(now, amount, parts[i].limits); c != QuotaCheck::Fits) {
      failed = i;
      result = c;
      break;
    }
  }
  if (result == QuotaCheck::Fits)
    for (const auto& part : parts) {
      Counter& q = counter(part.handle);
      q.deliveries.fetch_add(1, std::memory_order_relaxed);
      q.reserved.fetch_add(amount, std::memory_order_relaxed);
    }
  for (size_t k = n; k-- > 0;) counter(order[k]).mu.unlock();
  return result;
}

std::string pool_counter(std::string_view pool) { return "pool:" + std::string(pool); }

void LocalQuotas::rebuild(const std::vector<LedgerEntry>& entries, const std::vector<Unit>* units) {
  for (auto& q : counters_) q.deliveries = 0, q.reserved = 0;
  auto add = [&](uint32_t h, int64_t deliveries, int64_t reserved) {
    counter(h).deliveries.fetch_add(deliveries, std::memory_order_relaxed);
    counter(h).reserved.fetch_add(reserved, std::memory_order_relaxed);
  };
  // A unit's decisions are contiguous and decide each (user, strategy) once, so a delivery's
  // grants are consecutive rows. A delivery from a pool counts in the pool's counters too.
  // Where units start (known from schema version 8): two units with one id (an id used again
  // after the dedup window) may be adjacent, and the second's grants are deliveries of their own.
  std::vector<int64_t> starts;
  if (units)
    for (const auto& u : *units)
      if (u.first) starts.push_back(u.first);
  std::sort(starts.begin(), starts.end());
  auto next_start = starts.begin();
  const LedgerEntry* last = nullptr;
  bool crossed = false;  // a unit started after `last`
  for (const auto& e : entries) {
    for (; next_start != starts.end() && *next_start <= e.seq; ++next_start) crossed = true;
    // A message held by quiet hours is part of its delivery, which counted (stock and cost, its
    // pool's too) when it was held, as the engine counts it (docs/semantics.md, "Quiet hours"): a
    // held row counts like a granted one, and its release (a granted or rejected row naming when
    // it was held, in a later unit) counts for nothing. Counting the release instead missed a
    // delivery still held at the restart and counted a coupon-and-held-push delivery twice.
    const bool held = e.outcome == outcome::Held;
    if (!held && e.outcome != outcome::Granted) continue;
    if (!held && e.granted_at != 0) continue;  // a release
    bool new_delivery =
        !last || crossed || last->kind != e.kind || last->unit != e.unit || last->user != e.user || last->strategy != e.strategy;
    add(handle(e.strategy), new_delivery, e.amount);
    if (!e.pool.empty()) add(handle(pool_counter(e.pool)), new_delivery, e.amount);
    last = &e;
    crossed = false;
  }
}

bool MemoryStore::load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string&) {
  entries = entries_;
  units = units_;
  quotas_.rebuild(entries_, &units_);
  return true;
}

bool MemoryStore::append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq,
                         std::string&) {
  first_seq = static_cast<int64_t>(entries_.size()) + 1;
  units_.push_back(unit);
  units_.back().first = first_seq;
  for (const auto& e : entries) {
    entries_.push_back(e);
    entries_.back().seq = static_cast<int64_t>(entries_.size());
  }
  return true;
}

bool MemoryStore::read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) {
  if (first < 1 || size_t(first - 1) + count > entries_.size()) {
    error = fmt::format("state memory has no decisions {}..{}", first, first + int64_t(count) - 1);
    return false;
  }
  out.insert(out.end(), entries_.begin() + (first - 1), entries_.begin() + (first - 1 + int64_t(count)));
  return true;
}

bool MemoryStore::find_unit(int64_t handle, Unit& out, uint32_t& count, bool& found, std::string&) {
  found = handle >= 1 && size_t(handle) <= units_.size();
  if (!found) return true;
  out = units_[size_t(handle - 1)];
  const int64_t next = size_t(handle) < units_.size() ? units_[size_t(handle)].first : int64_t(entries_.size()) + 1;
  count = static_cast<uint32_t>(next - out.first);
  return true;
}

bool MemoryStore::commit(std::string&) {
  committed_entries_ = entries_.size();
  committed_units_ = units_.size();
  return true;
}

bool MemoryStore::rollback(std::string&) {
  entries_.resize(committed_entries_);
  units_.resize(committed_units_);
  return true;
}

namespace {

// Append-only tables without secondary indexes: inserts stay fast, and everything is read
// sequentially once, at open. `kind` is the unit's key space (0 event, 1 scheduled run);
// `program` the crm_programs row of the program that decided the unit.
constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS crm_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crm_units (
  seq  INTEGER PRIMARY KEY,
  unit TEXT NOT NULL,
  kind INTEGER NOT NULL DEFAULT 0,
  program INTEGER,
  first_seq INTEGER,
  at INTEGER
);
CREATE TABLE IF NOT EXISTS crm_ledger (
  seq      INTEGER PRIMARY KEY,
  unit     TEXT NOT NULL,
  user     TEXT NOT NULL,
  strategy TEXT NOT NULL,
  outcome  TEXT NOT NULL,
  reason   TEXT,
  resource TEXT,
  channel  TEXT,
  code     TEXT,
  amount   INTEGER NOT NULL,
  at       INTEGER NOT NULL,
  json     TEXT NOT NULL,
  sales    INTEGER NOT NULL DEFAULT 0,
  granted_at INTEGER,
  kind     INTEGER NOT NULL DEFAULT 0,
  timer    TEXT,
  pool     TEXT,
  arm      TEXT,
  rollout  TEXT
);
CREATE TABLE IF NOT EXISTS crm_programs (id INTEGER PRIMARY KEY, hash TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS crm_strategies (
  program  INTEGER NOT NULL,
  name     TEXT NOT NULL,
  hash     TEXT NOT NULL,
  budget_currency TEXT NOT NULL,
  resources TEXT NOT NULL,
  split    TEXT,
  PRIMARY KEY (program, name)
);
INSERT OR IGNORE INTO crm_meta (key, value) VALUES ('schema_version', '9');
)";

// Where `kind` is among the ledger's columns (0-based: its index in SqliteStore's
// select_entries() result).
constexpr int kind_column() {
  int column = 0, at = -1;
#define CRM_LEDGER_TEXT(name, nullable, doc) ++column;
#define CRM_LEDGER_INT(name, zero_null, doc) ++column;
#define CRM_LEDGER_KIND(name, doc) at = column++;
#include "runtime/state/ledger_columns.def"
  return at;
}
constexpr int kKindColumn = kind_column();
// Where the integer column `name` is in select_entries() (0-based), for the checks of its numbers.
constexpr int int_column(std::string_view name) {
  int column = 0, at = -1;
#define CRM_LEDGER_TEXT(n, nullable, doc) ++column;
#define CRM_LEDGER_INT(n, zero_null, doc) \
  if (std::string_view(#n) == name) at = column; \
  ++column;
#define CRM_LEDGER_KIND(n, doc) ++column;
#include "runtime/state/ledger_columns.def"
  return at;
}
constexpr int kAtColumn = int_column("at"), kAmountColumn = int_column("amount"), kSalesColumn = int_column("sales"),
              kGrantedAtColumn = int_column("granted_at");
static_assert(kAtColumn >= 0 && kAmountColumn >= 0 && kSalesColumn >= 0 && kGrantedAtColumn >= 0);
// How many columns a crm_ledger row is written with (every column but `seq`): one parameter
// each in SqliteStore's insert_entries().
constexpr size_t kLedgerColumns = kLedgerTexts + kLedgerInts + 1;
// The `json` column's parameter number in SqliteStore's insert_entries() (1-based; its
// select_entries() reads it at this number - 1). A constant: computed per row, the name
// comparisons cost more than 300 instructions.
constexpr int json_column() {
  int column = 1, at = 0;
#define CRM_LEDGER_TEXT(name, nullable, doc) \
  if (std::string_view(#name) == "json") at = column; \
  ++column;
#define CRM_LEDGER_INT(name, zero_null, doc) ++column;
#define CRM_LEDGER_KIND(name, doc) ++column;
#include "runtime/state/ledger_columns.def"
  return at;
}
constexpr int kJsonColumn = json_column();
static_assert(kJsonColumn > 0);

// Version 1 ledgers lack the redemption columns; they are added in place (nothing is rewritten).
constexpr const char* kMigrateV1 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_ledger ADD COLUMN sales INTEGER NOT NULL DEFAULT 0;
ALTER TABLE crm_ledger ADD COLUMN granted_at INTEGER;
UPDATE crm_meta SET value = '2' WHERE key = 'schema_version';
COMMIT;
)";

// Version 2 ledgers keep units of both kinds in one key space; a scheduled run's key had the
// shape `schedule:<strategy>@<micros>`, so that shape is what marks one. (An event whose id had
// that shape was already confused with the run in a version 2 ledger and cannot be told apart.)
// Their units have no recorded program.
constexpr const char* kMigrateV2 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_units ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
ALTER TABLE crm_units ADD COLUMN program INTEGER;
ALTER TABLE crm_ledger ADD COLUMN kind INTEGER NOT NULL DEFAULT 0;
UPDATE crm_units SET kind = 1 WHERE unit GLOB 'schedule:*@*';
UPDATE crm_ledger SET kind = 1 WHERE unit GLOB 'schedule:*@*';
UPDATE crm_meta SET value = '3' WHERE key = 'schema_version';
COMMIT;
)";

// Version 3 ledgers do not record each strategy's configured split (which `crm report` checks
// the sample ratio against); their strategies keep a NULL split: not recorded. (A ledger
// migrated from version 1 or 2 got crm_strategies from kSchema, with the column already.)
constexpr const char* kMigrateV3 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_strategies ADD COLUMN split TEXT;
UPDATE crm_meta SET value = '4' WHERE key = 'schema_version';
COMMIT;
)";
constexpr const char* kMigrateV3HasSplit = R"(
UPDATE crm_meta SET value = '4' WHERE key = 'schema_version';
)";

// Version 4 ledgers have no delayed triggers: the `timer` column (a pending timer's trigger
// event, a cancellation's trigger id) is added empty. Timer units (kind 2) are new in version 5.
// (kSchema never recreates an existing table, so an older crm_ledger lacks it; a ledger whose
// version was set back by hand may have it already, and then only the version moves.)
constexpr const char* kMigrateV4 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_ledger ADD COLUMN timer TEXT;
UPDATE crm_meta SET value = '5' WHERE key = 'schema_version';
COMMIT;
)";
constexpr const char* kMigrateV4HasTimer = R"(
UPDATE crm_meta SET value = '5' WHERE key = 'schema_version';
)";

// Version 5 ledgers have no budget pools or A/B/n arms: their rows drew on no pool and belong
// to no arm, which is what the new columns' NULL says. (crm_ledger exists in every older
// version, so the columns are always added here.)
constexpr const char* kMigrateV5 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_ledger ADD COLUMN pool TEXT;
ALTER TABLE crm_ledger ADD COLUMN arm TEXT;
UPDATE crm_meta SET value = '6' WHERE key = 'schema_version';
COMMIT;
)";

// Version 6 ledgers have no automatic roll-out: no row was decided for the rest of an
// audience by a winning arm, which is what the new column's NULL says (and no `rollout` record).
constexpr const char* kMigrateV6 = R"(
BEGIN IMMEDIATE;
ALTER TABLE crm_ledger ADD COLUMN rollout TEXT;
UPDATE crm_meta SET value = '7' WHERE key = 'schema_version';
COMMIT;
)";

// Version 7 ledgers do not record where each unit starts in crm_ledger, nor its event's time:
// an id named by two units (an event id used again after the dedup window forgot it) cannot be
// told apart there. Their units keep NULL (not recorded): an id's unrecorded unit is its first
// (Recorder::attach). kSchema never recreates crm_units, so an older one lacks both columns; a
// ledger whose version was set back by hand may have either already, and only the missing ones
// are added (kMigrateV7 is built from these).
constexpr const char* kMigrateV7Begin = "BEGIN IMMEDIATE;\n";
constexpr const char* kMigrateV7First = "ALTER TABLE crm_units ADD COLUMN first_seq INTEGER;\n";
constexpr const char* kMigrateV7At = "ALTER TABLE crm_units ADD COLUMN at INTEGER;\n";
constexpr const char* kMigrateV7End = "UPDATE crm_meta SET value = '8' WHERE key = 'schema_version';\nCOMMIT;\n";

// Version 8 ledgers keep every decision's whole record in `json`. Version 9 keeps, for most
// rows, only the members that follow those the row's columns give again (event .. at,
// runtime/state/ledger_json.h), as a JSON object; a whole record is TEXT starting `{"event":`
// (as every record crm renders does) or a BLOB. Every row of an older ledger is a whole
// record, whatever its text: one that does not start so (written by hand, or by a crm of long
// ago) is made a BLOB, so that it is not read as a narrow row's members; the others are not
// rewritten (one pass over the table, once). A crm that reads only up to version 8 refuses a
// version 9 ledger instead of misreading its rows.
constexpr const char* kMigrateV8 = R"(
BEGIN IMMEDIATE;
UPDATE crm_ledger SET json = CAST(json AS BLOB) WHERE typeof(json) = 'text' AND substr(json, 1, 9) <> '{"event":';
UPDATE crm_meta SET value = '9' WHERE key = 'schema_version';
COMMIT;
)";


}  // namespace

namespace {
// The ledgers this process holds, by the database file's device and inode (every name of the
// file, hard links included): which refusals are this process's own.
std::mutex held_ledgers_mu;
std::set<std::pair<uint64_t, uint64_t>>& held_ledgers() {
  static std::set<std::pair<uint64_t, uint64_t>> held;
  return held;
}
bool held_here(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return false;
  std::lock_guard<std::mutex> lock(held_ledgers_mu);
  return held_ledgers().count({uint64_t(st.st_dev), uint64_t(st.st_ino)}) > 0;
}
}  // namespace

LedgerLock::~LedgerLock() {
  if (registered_) {
    std::lock_guard<std::mutex> lock(held_ledgers_mu);
    held_ledgers().erase({dev_, ino_});
  }
  if (db_lock_fd_ >= 0) ::close(db_lock_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the writer's lock
}

// One writer per ledger: several processes each counting stock and budget in memory would
// overgrant. flock (not fcntl) locks belong to the open file, so a second store in this same
// process is refused too, and the kernel drops the lock with the process, however it ends.
bool LedgerLock::acquire(const std::string& path, bool create, std::string& error) {
  // Next to the database file itself, whatever path names it (relative, through `..` or a
  // symbolic link): every writer of one file takes the same lock.
  std::error_code ec;
  std::filesystem::path real = std::filesystem::weakly_canonical(path, ec);
  std::string lock_path = (ec ? path : real.string()) + ".lock";
  // A ledger that cannot be one (a directory; missing where it is not to be created) is refused
  // before its lock file is made, so a failed open leaves nothing behind.
  if (struct stat st; ::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      error = fmt::format("cannot open state `{}`: it is a directory", path);
      return false;
    }
  } else if (!create || errno != ENOENT) {
    error = fmt::format("cannot open state `{}`: {}", path, std::strerror(errno));
    return false;
  }
  // The lock file is truncated and written (the owner's name): a symbolic link planted at its
  // name would make that a write through the link into any file the user can write, so it is
  // never followed (O_NOFOLLOW), and only a regular file is a lock file (not a FIFO or a device).
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
  if (lock_fd_ < 0) {
    const int e = errno;
    error = e == ELOOP ? fmt::format("cannot lock state `{}`: the lock file `{}` is a symbolic link; crm does not "
                                     "write through one (remove it)",
                                     path, lock_path)
                       : fmt::format("cannot lock state `{}`: {}: {}", path, lock_path, std::strerror(e));
    return false;
  }
  if (struct stat st; ::fstat(lock_fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = fmt::format("cannot lock state `{}`: the lock file `{}` is not a regular file (remove it)", path, lock_path);
    return false;
  }
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    char owner[256] = {};
    ssize_t n = ::pread(lock_fd_, owner, sizeof owner - 1, 0);
    std::string who(owner, n > 0 ? size_t(n) : 0);
    while (!who.empty() && (who.back() == '\n' || who.back() == '\0')) who.pop_back();
    if (e == EWOULDBLOCK && held_here(path))
      // An embedder that opens a second Run or Runtime on a ledger it still holds is not told to
      // look for another process: the lock file names this one.
      error = fmt::format("state `{}` is already open in this process (another Run or Runtime holds it; lock file `{}`): "
                          "a ledger has one writer at a time, so close that one first",
                          path, lock_path);
    else if (e == EWOULDBLOCK)
      error = fmt::format("state `{}` is in use by another crm process ({}; lock file `{}`): a ledger has one writer at a "
                          "time, so stock and budgets cannot be overgranted",
                          path, who.empty() ? "owner unknown" : "pid " + who, lock_path);
    else
      error = fmt::format("cannot lock state `{}`: {}: {}", path, lock_path, std::strerror(e));
    return false;
  }
  // The database file itself is locked too: a hard link gives the same file another name
  // (and another `.lock`), but it is the same inode, and flock locks follow the inode. SQLite's
  // own locks are fcntl locks, which are independent of flock on Linux, so readers still read.
  db_lock_fd_ = create ? ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644) : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (db_lock_fd_ < 0) {
    error = fmt::format("cannot open state `{}`: {}", path, std::strerror(errno));
    return false;
  }
  if (::flock(db_lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    int e = errno;
    if (e == EWOULDBLOCK && held_here(path))
      error = fmt::format("state `{}` is already open in this process under another name for the same file (a hard "
                          "link; another Run or Runtime holds it): a ledger has one writer at a time, so close that one "
                          "first",
                          path);
    else if (e == EWOULDBLOCK)
      error = fmt::format("state `{}` is in use by another crm process (under another name for the same file: a hard "
                          "link): a ledger has one writer at a time, so stock and budgets cannot be overgranted",
                          path);
    else
      error = fmt::format("cannot lock state `{}`: {}", path, std::strerror(e));
    return false;
  }
  if (struct stat st; ::fstat(db_lock_fd_, &st) == 0) {
    dev_ = uint64_t(st.st_dev);
    ino_ = uint64_t(st.st_ino);
    std::lock_guard<std::mutex> lock(held_ledgers_mu);
    registered_ = held_ledgers().insert({dev_, ino_}).second;
  }
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "?");
  std::string owner = fmt::format("{}@{}\n", ::getpid(), host);
  if (::ftruncate(lock_fd_, 0) != 0 || ::pwrite(lock_fd_, owner.data(), owner.size(), 0) != ssize_t(owner.size())) {
    // The lock holds regardless; only the owner's name for others' error messages is missing.
  }
  return true;
}

bool check_ledger_file(const std::string& path, std::string& error) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return true;
  // Read only, and only the schema: a file that is not a database, or that cannot be read, is
  // left to the store's open, which names why (exit 3). The connection never writes, so the
  // file is as it was whatever is found (a read-write one could checkpoint a WAL at close).
  // Without a -wal or -journal beside it the file is the whole database, and is read as
  // immutable: a read-only connection to a WAL database would otherwise create -wal and -shm
  // files that it cannot remove.
  struct stat companion;
  const bool alone = ::stat((path + "-wal").c_str(), &companion) != 0 && ::stat((path + "-journal").c_str(), &companion) != 0;
  std::string name = path;
  int flags = SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX;
  if (alone) {
    name = "file:";
    for (unsigned char ch : path) {
      if (std::isalnum(ch) || std::strchr("/._-~", ch)) name += char(ch);
      else name += fmt::format("%{:02X}", unsigned(ch));
    }
    name += "?immutable=1";
    flags |= SQLITE_OPEN_URI;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(name.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return true;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  bool is_ledger = false, read = false;
  std::vector<std::string> objects;  // tables, views, indexes, triggers
  if (sqlite3_prepare_v2(db, "SELECT name, type = 'table' FROM sqlite_master ORDER BY rowid", -1, &s, nullptr) == SQLITE_OK) {
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const unsigned char* t = sqlite3_column_text(s, 0);
      std::string name(t ? reinterpret_cast<const char*>(t) : "", size_t(sqlite3_column_bytes(s, 0)));
      if (name == "crm_meta" && sqlite3_column_int(s, 1)) is_ledger = true;
      objects.push_back(std::move(name));
    }
    read = rc == SQLITE_DONE;
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  // An empty schema (a database just made, `sqlite3 new.db VACUUM`) holds nothing to protect; a
  // view or an index alone is another application's as much as a table.
  if (!read || is_ledger || objects.empty()) return true;
  std::string shown;
  for (size_t i = 0; i < objects.size() && i < 3; ++i) shown += (i ? ", `" : "`") + objects[i] + "`";
  if (objects.size() > 3) shown += fmt::format(" and {} more", objects.size() - 3);
  error = fmt::format("state `{}` is not a crm ledger: it is a SQLite database of another application (it holds {}), "
                      "and crm does not add its tables to it; give a new file, or a ledger crm recorded",
                      path, shown);
  return false;
}

namespace {

// A prepared statement's parameters as last bound. SQLite keeps a statement's bindings across
// sqlite3_reset, so a NULL or an integer bound for the previous row need not be bound again
// when the next row has the same (a bind costs 70-180 instructions inside SQLite, and most of a
// ledger row's NULL columns and its kind repeat row after row). A text is bound every time: its
// SQLITE_STATIC bytes are the caller's and may differ at the same address.
class Bindings {
 public:
  void reset(int count) {
    state_.assign(size_t(count) + 1, kUnknown);
    value_.assign(size_t(count) + 1, 0);
  }
  void null(sqlite3_stmt* s, int i) {
    if (state_[size_t(i)] == kNull) return;
    sqlite3_bind_null(s, i);
    state_[size_t(i)] = kNull;
  }
  void integer(sqlite3_stmt* s, int i, int64_t v) {
    if (state_[size_t(i)] == kInt && value_[size_t(i)] == v) return;
    sqlite3_bind_int64(s, i, v);
    state_[size_t(i)] = kInt;
    value_[size_t(i)] = v;
  }
  // A view of nothing (data() null) is still text: '' is not NULL in a NOT NULL column.
  void text(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_text(s, i, v.empty() ? "" : v.data(), int(v.size()), SQLITE_STATIC);
    state_[size_t(i)] = kUnknown;
  }
  void blob(sqlite3_stmt* s, int i, std::string_view v) {
    sqlite3_bind_blob(s, i, v.empty() ? "" : v.data(), int(v.size()), SQLITE_STATIC);
    state_[size_t(i)] = kUnknown;
  }

 private:
  enum : uint8_t { kUnknown, kNull, kInt };
  std::vector<uint8_t> state_;  // by parameter number (1-based)
  std::vector<int64_t> value_;
};

class SqliteStore : public StateStore {
 public:
  explicit SqliteStore(std::string path) : path_(std::move(path)) {}
  ~SqliteStore() override {
    if (unit_stmt_) sqlite3_finalize(unit_stmt_);
    if (units_stmt_) sqlite3_finalize(units_stmt_);
    for (sqlite3_stmt* s : entry_stmts_)
      if (s) sqlite3_finalize(s);
    if (read_stmt_) sqlite3_finalize(read_stmt_);
    if (find_stmt_) sqlite3_finalize(find_stmt_);
    if (db_) {
      if (in_tx_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db_);
    }
    // lock_, a member, is released after this: the writer's lock outlives the connection.
  }

  // One writer per ledger: several processes each counting stock and budget in memory would
  // overgrant (LedgerLock).
  bool lock(std::string& error) { return lock_.acquire(path_, true, error); }

  bool open(std::string& error) {
    // Before the lock file is made and before the first write (journal_mode=WAL rewrites the
    // header): another application's database is refused untouched, nothing left beside it.
    if (!check_ledger_file(path_, error)) return false;
    if (!lock(error)) return false;
    if (sqlite3_open_v2(path_.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr) !=
        SQLITE_OK)
      return fail("cannot open", error);
    sqlite3_busy_timeout(db_, 5000);
    // 16 KiB pages (for a new file; an existing one keeps its own): measured about a quarter
    // less write time than 4 KiB for this append-only load; larger pages gained nothing more.
    if (!exec("PRAGMA page_size=16384", error) || !exec("PRAGMA journal_mode=WAL", error) ||
        !exec("PRAGMA synchronous=FULL", error) || !exec(kSchema, error))
      return false;
    std::string version;
    if (!query_version(version, error)) return false;
    if (version == "1") {
      if (!exec(kMigrateV1, error)) return false;
      version = "2";
    }
    if (version == "2") {
      if (!exec(kMigrateV2, error)) return false;
      version = "3";
    }
    if (version == "3") {
      if (!exec(has_column("crm_strategies", "split") ? kMigrateV3HasSplit : kMigrateV3, error)) return false;
      version = "4";
    }
    if (version == "4") {
      if (!exec(has_column("crm_ledger", "timer") ? kMigrateV4HasTimer : kMigrateV4, error)) return false;
      version = "5";
    }
    if (version == "5") {
      if (!exec(kMigrateV5, error)) return false;
      version = "6";
    }
    if (version == "6") {
      if (!exec(kMigrateV6, error)) return false;
      version = "7";
    }
    if (version == "7") {
      std::string migrate = kMigrateV7Begin;
      if (!has_column("crm_units", "first_seq")) migrate += kMigrateV7First;
      if (!has_column("crm_units", "at")) migrate += kMigrateV7At;
      if (!exec((migrate + kMigrateV7End).c_str(), error)) return false;
      version = "8";
    }
    if (version == "8") {
      if (!exec(kMigrateV8, error)) return false;
      version = "9";
    }
    if (version != std::to_string(kSchemaVersion)) {
      error = schema_version_error(path_, version);
      return false;
    }
    if (!next_position(error)) return false;
    // OR FAIL: no statement journal for the multi-row insert (see insert_entries()).
    std::string many = "INSERT OR FAIL INTO crm_units (seq, unit, kind, program, first_seq, at) VALUES (?,?,?,?,?,?)";
    for (size_t i = 1; i < kUnitsPerInsert; ++i) many += ",(?,?,?,?,?,?)";
    if (sqlite3_prepare_v2(db_, "INSERT INTO crm_units (seq, unit, kind, program, first_seq, at) VALUES (?,?,?,?,?,?)", -1,
                           &unit_stmt_, nullptr) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(db_, many.c_str(), -1, &units_stmt_, nullptr) != SQLITE_OK)
      return fail("cannot prepare statements on", error);
    for (size_t j = 0; j < kEntryStatements; ++j) {
      if (sqlite3_prepare_v2(db_, insert_entries(kRowsPerInsert >> j).c_str(), -1, &entry_stmts_[j], nullptr) != SQLITE_OK)
        return fail("cannot prepare statements on", error);
      entry_bounds_[j].reset(sqlite3_bind_parameter_count(entry_stmts_[j]));
    }
    unit_bound_.reset(sqlite3_bind_parameter_count(unit_stmt_));
    units_bound_.reset(sqlite3_bind_parameter_count(units_stmt_));
    // `seq` is left NULL: SQLite numbers the rows max + 1, as unit_handle() counts them
    // (write_units checks it), without the existence check an explicit rowid costs.
    for (size_t k = 0; k < kUnitsPerInsert; ++k) units_bound_.null(units_stmt_, int(6 * k + 1));
    unit_bound_.null(unit_stmt_, 1);
    return true;
  }

  // Both tables in one read transaction: one snapshot, so a commit by anyone else between the
  // two reads cannot make a decision appear whose unit was not read.
  bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) override {
    if (!write_pending(error)) return false;
    if (!exec("BEGIN", error)) return false;
    bool ok = read_all(entries, units, error);
    sqlite3_exec(db_, ok ? "COMMIT" : "ROLLBACK", nullptr, nullptr, nullptr);
    if (ok) quotas_.rebuild(entries, &units);
    return ok;
  }

  // The position the next decision will take (crm_ledger's rowid: the largest + 1): where a
  // unit without decisions is said to start.
  // Also the rowid the next unit takes in crm_units (its handle: unit_handle()).
  bool next_position(std::string& error) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT coalesce(max(seq), 0) + 1 FROM crm_ledger", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    if (sqlite3_step(s) == SQLITE_ROW) next_seq_ = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    if (sqlite3_prepare_v2(db_, "SELECT coalesce(max(seq), 0) + 1 FROM crm_units", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    if (sqlite3_step(s) == SQLITE_ROW) next_unit_ = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    return true;
  }

  // A unit's handle is its crm_units rowid (`seq`): the value SQLite chooses when the row is
  // written without one, max + 1 (write_units leaves it NULL and checks the numbers agree).
  int64_t unit_handle() const override { return next_unit_ - 1; }

  // By rowid, or from the units of the open group not written yet. Its decisions run up to where
  // the next unit's start (units are appended with their decisions, in order).
  bool find_unit(int64_t handle, Unit& out, uint32_t& count, bool& found, std::string& error) override {
    found = false;
    const int64_t buffered = next_unit_ - int64_t(units_.size());  // the handle of units_[0]
    if (handle >= next_unit_ || handle < 1) return true;
    int64_t next = 0;
    if (handle >= buffered) {
      const size_t i = size_t(handle - buffered);
      out = units_[i];
      next = i + 1 < units_.size() ? units_[i + 1].first : next_seq_;
    } else {
      if (!write_pending(error)) return false;
      if (!find_stmt_ && sqlite3_prepare_v2(db_, "SELECT seq, unit, kind, first_seq, at FROM crm_units WHERE seq >= ?1 "
                                                 "ORDER BY seq LIMIT 2",
                                            -1, &find_stmt_, nullptr) != SQLITE_OK)
        return fail("cannot read", error);
      sqlite3_reset(find_stmt_);
      sqlite3_bind_int64(find_stmt_, 1, handle);
      int rc = sqlite3_step(find_stmt_);
      if (rc == SQLITE_DONE) return true;
      if (rc != SQLITE_ROW) return fail("cannot read", error);
      // A unit recorded before schema version 8 (no start) was never given a handle.
      if (sqlite3_column_int64(find_stmt_, 0) != handle || sqlite3_column_type(find_stmt_, 3) == SQLITE_NULL) {
        sqlite3_reset(find_stmt_);
        return true;
      }
      out = Unit(kind(find_stmt_, 2), text(find_stmt_, 1),
                 sqlite3_column_type(find_stmt_, 4) == SQLITE_NULL ? Unit::kNoTime : sqlite3_column_int64(find_stmt_, 4),
                 sqlite3_column_int64(find_stmt_, 3));
      rc = sqlite3_step(find_stmt_);
      if (rc == SQLITE_ROW) next = sqlite3_column_int64(find_stmt_, 3);
      else if (rc == SQLITE_DONE) next = units_.empty() ? next_seq_ : units_[0].first;
      else return fail("cannot read", error);
      sqlite3_reset(find_stmt_);
    }
    if (next < out.first) return true;  // not a range this store wrote
    count = static_cast<uint32_t>(next - out.first);
    found = true;
    return true;
  }

  bool read_all(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT unit, kind, seq, first_seq, at FROM crm_units ORDER BY seq", -1, &s, nullptr) !=
        SQLITE_OK)
      return fail("cannot read", error);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const bool integer_kind = sqlite3_column_type(s, 1) == SQLITE_INTEGER;  // before any conversion
      if (!is_unit_kind(integer_kind, sqlite3_column_int64(s, 1))) {
        std::string value = text(s, 1);
        const int64_t seq = sqlite3_column_int64(s, 2);
        sqlite3_finalize(s);
        return foreign_row("unit", seq, "kind", value, error);
      }
      if (const char* bad = foreign_unit_number(ledger_number(s, 3), ledger_number(s, 4))) {
        std::string value = text(s, *bad == 'f' ? 3 : 4);
        const int64_t seq = sqlite3_column_int64(s, 2);
        sqlite3_finalize(s);
        return foreign_row("unit", seq, bad, value, error);
      }
      units.push_back({kind(s, 1), text(s, 0),
                       sqlite3_column_type(s, 4) == SQLITE_NULL ? Unit::kNoTime : sqlite3_column_int64(s, 4),
                       sqlite3_column_int64(s, 3)});
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fail("cannot read", error);
    if (sqlite3_prepare_v2(db_,
                           (select_entries() + " ORDER BY seq").c_str(), -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const bool integer_kind = sqlite3_column_type(s, kKindColumn) == SQLITE_INTEGER;  // before any conversion
      // The numbers the counters are rebuilt from, checked as `crm report` checks them: a text or
      // negative `amount` read as 0 or less gave budget back, and the run overspent it.
      const char* bad_number = foreign_number(ledger_number(s, kAtColumn), ledger_number(s, kAmountColumn),
                                              ledger_number(s, kSalesColumn), ledger_number(s, kGrantedAtColumn));
      entries.push_back(entry(s));
      const LedgerEntry& e = entries.back();
      if (const char* bad = foreign_column(integer_kind, sqlite3_column_int64(s, kKindColumn), e.outcome, e.reason)) {
        const std::string value = *bad == 'k' ? text(s, kKindColumn) : *bad == 'o' ? e.outcome : e.reason;
        sqlite3_finalize(s);
        return foreign_row("ledger", e.seq, bad, value, error);
      }
      if (bad_number) {
        const std::string_view b = bad_number;
        const int column = b == "at" ? kAtColumn : b == "amount" ? kAmountColumn : b == "sales" ? kSalesColumn : kGrantedAtColumn;
        const std::string value = text(s, column);
        sqlite3_finalize(s);
        return foreign_row("ledger", e.seq, bad_number, value, error);
      }
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fail("cannot read", error);
    return true;
  }

  // A row crm did not write: the counters rebuilt without it (or with it misread) would be
  // wrong, so the ledger is not continued. No CHECK constraint keeps such rows out: one on
  // `outcome` and `reason` costs 0.3-1 us per inserted row (docs/semantics.md, "Ledger schema").
  // `table`: "ledger" (crm_ledger) or "unit" (crm_units), `seq` the row's; the value is shown
  // JSON-escaped, so control characters in it reach no terminal raw.
  bool foreign_row(const char* table, int64_t seq, const char* column, const std::string& value, std::string& error) {
    const std::string shown = support::json_escape(value);
    // The names crm writes are those of runtime/engine/decisions.def; its numbers, docs/semantics.md.
    const std::string_view c = column;
    const bool name = c == "kind" || c == "outcome" || c == "reason";
    error = fmt::format("state `{}`: {} row {} has {} `{}`, which crm never writes{}; "
                        "the ledger was changed outside crm and its counters cannot be rebuilt: restore it from a backup",
                        path_, table, seq, column, shown, name ? " (runtime/engine/decisions.def)" : "");
    return false;
  }

  bool last_program(ProgramIdentity& out, std::string& error) override {
    out = ProgramIdentity{};
    program_id_ = 0;
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT id, hash FROM crm_programs ORDER BY id DESC LIMIT 1", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    int64_t id = 0;
    if (sqlite3_step(s) == SQLITE_ROW) {
      id = sqlite3_column_int64(s, 0);
      out.hash = text(s, 1);
    }
    sqlite3_finalize(s);
    if (!id) return true;
    if (sqlite3_prepare_v2(db_,
                           "SELECT name, hash, budget_currency, resources, coalesce(split, '') FROM crm_strategies WHERE program = ? "
                           "ORDER BY name",
                           -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    sqlite3_bind_int64(s, 1, id);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) out.strategies.push_back({text(s, 0), text(s, 1), text(s, 2), text(s, 3), text(s, 4)});
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fail("cannot read", error);
    last_id_ = id;
    last_ = out;
    return true;
  }

  // A program equal to the latest recorded one continues its row; another gets a new row.
  bool begin_program(const ProgramIdentity& program, std::string& error) override {
    if (in_tx_) {
      error = fmt::format("state `{}`: a program can only begin between groups", path_);
      return false;
    }
    if (last_id_ && last_.hash == program.hash && last_.strategies == program.strategies) {
      program_id_ = last_id_;
      return true;
    }
    if (!exec("BEGIN IMMEDIATE", error)) return false;
    auto put = [&](const char* sql, auto bind) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db_, sql, -1, &s, nullptr) != SQLITE_OK) return false;
      bind(s);
      bool ok = sqlite3_step(s) == SQLITE_DONE;
      sqlite3_finalize(s);
      return ok;
    };
    auto txt = [](sqlite3_stmt* s, int i, const std::string& v) { sqlite3_bind_text(s, i, v.data(), int(v.size()), SQLITE_TRANSIENT); };
    bool ok = put("INSERT INTO crm_programs (hash) VALUES (?)", [&](sqlite3_stmt* s) { txt(s, 1, program.hash); });
    int64_t id = sqlite3_last_insert_rowid(db_);
    for (const auto& st : program.strategies)
      ok = ok && put("INSERT INTO crm_strategies (program, name, hash, budget_currency, resources, split) VALUES (?,?,?,?,?,?)",
                     [&](sqlite3_stmt* s) {
                       sqlite3_bind_int64(s, 1, id);
                       txt(s, 2, st.name);
                       txt(s, 3, st.hash);
                       txt(s, 4, st.budget_currency);
                       txt(s, 5, st.resources);
                       txt(s, 6, st.split);
                     });
    if (!ok) {
      fail("cannot write to", error);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return false;
    }
    if (!exec("COMMIT", error)) return false;
    program_id_ = last_id_ = id;
    last_ = program;
    return true;
  }

  // By rowid (`seq` is the INTEGER PRIMARY KEY): a range read without a secondary index.
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) override {
    if (!write_pending(error)) return false;
    if (!read_stmt_ &&
        sqlite3_prepare_v2(db_, (select_entries() + " WHERE seq >= ?1 AND seq < ?1 + ?2 ORDER BY seq").c_str(), -1,
                           &read_stmt_, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    sqlite3_reset(read_stmt_);
    sqlite3_bind_int64(read_stmt_, 1, first);
    sqlite3_bind_int64(read_stmt_, 2, static_cast<int64_t>(count));
    size_t n = 0;
    int rc;
    while ((rc = sqlite3_step(read_stmt_)) == SQLITE_ROW) out.push_back(entry(read_stmt_)), ++n;
    if (rc != SQLITE_DONE) return fail("cannot read", error);
    if (n != count) {
      error = fmt::format("state `{}` lacks decisions {}..{} of its ledger", path_, first, first + int64_t(count) - 1);
      return false;
    }
    return true;
  }

  Quotas& quotas() override { return quotas_; }

  // Entries are bound through rows that view them (one binding path for both entry points).
  bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq,
              std::string& error) override {
    rows_.clear();
    for (const auto& e : entries) rows_.push_back(row_of(e));
    return append_rows(unit, rows_.data(), rows_.size(), first_seq, error);
  }

  bool append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq,
                   std::string& error) override {
    if (!failed_.empty()) {
      error = failed_;
      return false;
    }
    // The reader (`crm report`, forecast) refuses a row whose `at` is outside crm's time as
    // changed outside crm: such a row is never written, so the ledger stays readable. Every way
    // an instant enters is checked before this (docs/runtime.md, "crm's time"); this is the last
    // line, not the message a user sees for bad input.
    for (size_t k = 0; k < count; ++k)
      if (!support::in_time_range(rows[k].at)) {
        error = fmt::format("a decision at {} is outside crm's time ({} to {}): not written to the ledger",
                            support::format_time(rows[k].at), support::format_time(support::kFirstInstant),
                            support::format_time(support::kLastInstant));
        return false;
      }
    if (!write(unit, rows, count, first_seq, error)) {
      // SQLite may have rolled the whole group back (SQLITE_FULL does): nothing of it is on
      // disk, and this store accepts no more work, so no later commit can claim otherwise.
      failed_ = error;
      return false;
    }
    return true;
  }

  bool write(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq, std::string& error) {
    if (!in_tx_) {
      if (!exec("BEGIN IMMEDIATE", error)) return false;
      in_tx_ = true;
    }
    // The rows take the positions SQLite will give them (max + 1 each, as next_position()
    // counts; flush_entries checks it), so a unit's position is known before its rows are
    // written. A unit without decisions starts where the next one's decisions will.
    first_seq = next_seq_;
    for (size_t k = 0; k < count; ++k) {
      stage_entry(rows[k], unit.kind);
      ++next_seq_;
      if (pending_count_ == kRowsPerInsert && !flush_entries(error)) return false;
    }
    // Unit rows go in kUnitsPerInsert at a time (one statement step for many rows); the rest
    // before the group commits, in the same transaction.
    units_.push_back(unit);
    units_.back().first = first_seq;
    ++next_unit_;
    return units_.size() < kUnitsPerInsert || write_units(error);
  }

  // Ledger rows are written kRowsPerInsert to a statement (SQLite's work per statement, ~2,000
  // instructions, then counts once for them all). Until then a row waits in pending_, its texts
  // copied (a LedgerRow's views are valid only during its append): every read of the ledger
  // (read, find_unit, load) and the commit write the waiting rows first, in statements of 16, 8,
  // 4, 2 and 1 rows, so nothing reads or commits without them; a rollback drops them with the
  // rest of the group. They are never durable before their group's commit, as before.
  void stage_entry(const LedgerRow& e, UnitKind kind) {
    PendingRow& row = pending_[pending_count_++];
    Param* p = row.data();
    auto text = [&](Param& out, std::string_view v, bool nullable) {
      if (nullable && v.empty()) {
        out.type = Param::kNull;
        return;
      }
      out.type = Param::kText;
      out.value = int64_t(pending_bytes_.size());
      out.size = uint32_t(v.size());
      pending_bytes_.append(v);
    };
    auto integer = [&](Param& out, int64_t v, bool zero_null) {
      out.type = zero_null && v == 0 ? Param::kNull : Param::kInt;
      out.value = v;
    };
    // Schema 9 (kMigrateV8): a tail is kept as a JSON object of its members (`,"a":1}` as
    // `{"a":1}`, `}` as `{}`), so SQL's json functions still read them; entry() renders the
    // head again. A whole record is TEXT when it starts as crm's records do (`{"event":`),
    // else a BLOB: no text is ever taken for the other form.
    auto json = [&](Param& out, std::string_view v) {
      out.value = int64_t(pending_bytes_.size());
      if (e.json_tail) {
        out.type = Param::kText;
        pending_bytes_.push_back('{');
        if (v.size() > 1) pending_bytes_.append(v.substr(1));
        else pending_bytes_.push_back('}');
        out.size = uint32_t(pending_bytes_.size() - size_t(out.value));
        return;
      }
      out.type = is_whole_record(v) ? Param::kText : Param::kBlob;
      out.size = uint32_t(v.size());
      pending_bytes_.append(v);
    };
    int column = 1;  // insert_entries()'s parameters are the columns, in ledger_columns.def's order
#define CRM_LEDGER_TEXT(name, nullable, doc) \
  if (column == kJsonColumn) json(p[column++ - 1], e.name); \
  else text(p[column++ - 1], e.name, nullable);
#define CRM_LEDGER_INT(name, zero_null, doc) integer(p[column++ - 1], e.name, zero_null);
#define CRM_LEDGER_KIND(name, doc) integer(p[column++ - 1], int64_t(kind), false);
#include "runtime/state/ledger_columns.def"
  }

  // Before a read of the ledger's tables: the rows waiting for their statement are written, so
  // the read sees every row appended. A store that failed writes nothing more (its group is
  // lost) and reads what SQLite has, as before.
  bool write_pending(std::string& error) {
    return pending_count_ == 0 || !failed_.empty() || flush_entries(error);
  }

  // Writes every waiting row: whole statements of kRowsPerInsert, the rest in statements of
  // half as many rows down to one (at most one of each). A failure ends the store (failed_):
  // rows of the group are lost, so the group must never commit.
  bool flush_entries(std::string& error) {
    size_t from = 0;
    for (size_t j = 0; j < kEntryStatements; ++j)
      for (const size_t n = kRowsPerInsert >> j; pending_count_ - from >= n; from += n)
        if (!insert_pending(j, from, n, error)) {
          pending_count_ = 0;
          pending_bytes_.clear();
          failed_ = error;
          return false;
        }
    pending_count_ = 0;
    pending_bytes_.clear();
    return true;
  }

  // SQLITE_STATIC: pending_bytes_ holds the texts until the step, and is not changed before it.
  // Nothing reads a text binding after the step: every text parameter is bound again before the
  // next one (Bindings keeps only NULLs and integers that repeat).
  bool insert_pending(size_t j, size_t from, size_t n, std::string& error) {
    sqlite3_stmt* s = entry_stmts_[j];
    Bindings& bound = entry_bounds_[j];
    sqlite3_reset(s);
    int i = 1;
    for (size_t k = from; k < from + n; ++k)
      for (const Param& p : pending_[k]) {
        switch (p.type) {
          case Param::kNull: bound.null(s, i); break;
          case Param::kInt: bound.integer(s, i, p.value); break;
          case Param::kText: bound.text(s, i, std::string_view(pending_bytes_.data() + p.value, p.size)); break;
          case Param::kBlob: bound.blob(s, i, std::string_view(pending_bytes_.data() + p.value, p.size)); break;
        }
        ++i;
      }
    if (sqlite3_step(s) != SQLITE_DONE) return fail("cannot write to", error);
    // The positions given out (first_seq) counted from next_position(), as SQLite numbers the
    // rows. They cannot differ while this process holds the writer's lock; if they did, a unit's
    // decisions would be read from another's rows, so the group is refused instead.
    const int64_t expected = next_seq_ - int64_t(pending_count_ - (from + n));
    if (const int64_t last = sqlite3_last_insert_rowid(db_); last != expected - 1) {
      error = fmt::format("cannot write to state `{}`: ledger row {} written where {} was expected", path_, last,
                          expected - 1);
      return false;
    }
    return true;
  }

  // `seq` (parameter `at`) stays NULL, bound once at open: SQLite gives the row max + 1.
  void bind_unit(sqlite3_stmt* s, Bindings& bound, int at, const Unit& u) {
    bound.text(s, at + 1, u.id);
    bound.integer(s, at + 2, int64_t(u.kind));
    if (program_id_) bound.integer(s, at + 3, program_id_);
    else bound.null(s, at + 3);
    bound.integer(s, at + 4, u.first);
    if (u.at == Unit::kNoTime) bound.null(s, at + 5);
    else bound.integer(s, at + 5, u.at);
  }

  bool write_units(std::string& error) {
    if (units_.empty()) return true;
    size_t i = 0;
    for (; units_.size() - i >= kUnitsPerInsert; i += kUnitsPerInsert) {
      sqlite3_reset(units_stmt_);
      for (size_t k = 0; k < kUnitsPerInsert; ++k) bind_unit(units_stmt_, units_bound_, int(6 * k + 1), units_[i + k]);
      if (sqlite3_step(units_stmt_) != SQLITE_DONE) return fail("cannot write to", error);
    }
    for (; i < units_.size(); ++i) {
      sqlite3_reset(unit_stmt_);
      bind_unit(unit_stmt_, unit_bound_, 1, units_[i]);
      if (sqlite3_step(unit_stmt_) != SQLITE_DONE) return fail("cannot write to", error);
    }
    units_.clear();
    // The rows took max + 1 each; the handles given out (unit_handle) counted the same from
    // next_position(). They cannot differ while this process holds the writer's lock; if they
    // did, a unit's handle would name another unit, so the group is refused instead.
    if (const int64_t last = sqlite3_last_insert_rowid(db_); last != next_unit_ - 1) {
      error = fmt::format("cannot write to state `{}`: unit row {} written where {} was expected", path_, last,
                          next_unit_ - 1);
      return false;
    }
    return true;
  }

  bool commit(std::string& error) override {
    if (!failed_.empty()) {
      error = failed_;
      return false;
    }
    if (!in_tx_) return true;
    if (!flush_entries(error) || !write_units(error)) {
      failed_ = error;
      return false;
    }
    in_tx_ = false;
    if (exec("COMMIT", error)) return true;
    failed_ = error;
    return false;
  }

  bool rollback(std::string& error) override {
    if (!failed_.empty()) {
      error = failed_;
      return false;
    }
    units_.clear();
    pending_count_ = 0;
    pending_bytes_.clear();
    if (!in_tx_) return true;
    in_tx_ = false;
    if (exec("ROLLBACK", error) && next_position(error)) return true;
    failed_ = error;
    return false;
  }

  std::string describe() const override { return "sqlite:" + path_; }

  bool limit_pages(long long pages, std::string& error) {
    return exec(fmt::format("PRAGMA max_page_count={}", pages).c_str(), error);
  }

 private:
  // The ledger's columns (ledger_columns.def), comma-separated, in order.
  static std::string columns() {
    std::string out;
    for (const char* c : {
#define CRM_LEDGER_TEXT(name, nullable, doc) #name,
#define CRM_LEDGER_INT(name, zero_null, doc) #name,
#define CRM_LEDGER_KIND(name, doc) #name,
#include "runtime/state/ledger_columns.def"
         })
      out.append(out.empty() ? "" : ", ").append(c);
    return out;
  }
  // `rows` rows a statement. OR FAIL rather than the default OR ABORT: a statement that may
  // abort after writing some of its rows needs SQLite's statement journal (a savepoint per
  // step), and a multi-row one would. No row can break a constraint here (every NOT NULL column
  // is bound a value), and a statement that fails for any other reason (a full disk) fails the
  // store, whose group then never commits (failed_), so what a failed statement left is never
  // kept either way.
  static std::string insert_entries(size_t rows) {
    const std::string names = columns();
    std::string values = "(?";  // one parameter a column (the names hold no comma of their own)
    for (char c : names)
      if (c == ',') values += ",?";
    values += ")";
    std::string sql = "INSERT OR FAIL INTO crm_ledger (" + names + ") VALUES " + values;
    for (size_t k = 1; k < rows; ++k) sql.append(",").append(values);
    return sql;
  }
  // The columns, then `seq`: entry() reads them back in that order.
  static std::string select_entries() { return "SELECT " + columns() + ", seq FROM crm_ledger"; }
  static LedgerEntry entry(sqlite3_stmt* s) {
    LedgerEntry e;
    // Asked before the value is read as text: a conversion would make the type undefined.
    const bool text_json = sqlite3_column_type(s, kJsonColumn - 1) == SQLITE_TEXT;
    int column = 0;
#define CRM_LEDGER_TEXT(name, nullable, doc) e.name = text(s, column++);
#define CRM_LEDGER_INT(name, zero_null, doc) e.name = sqlite3_column_int64(s, column++);
#define CRM_LEDGER_KIND(name, doc) e.name = kind(s, column++);
#include "runtime/state/ledger_columns.def"
    e.seq = sqlite3_column_int64(s, column);
    // A narrow row (schema 9): its record is the head its columns give, then the tail kept.
    if (text_json && !is_whole_record(e.json)) {
      std::string tail = std::move(e.json);  // `{...}`: the members after the head, as an object
      if (tail.size() > 2) tail[0] = ',';
      else tail = "}";
      LedgerRow r = row_of(e);
      r.json = tail;
      r.json_tail = true;
      e.json = record_of(e.kind, r);
    }
    return e;
  }
  // Whether a `json` value read as TEXT is a whole record (every record crm renders starts so;
  // state::append_decision_head) rather than a narrow row's object of the other members.
  static bool is_whole_record(std::string_view json) { return json.substr(0, 9) == R"({"event":)"; }
  // Length-exact: ids may hold any character, NUL included, and must read back as written
  // (an id cut at a NUL would no longer match its unit, and its event would be decided again).
  static std::string text(sqlite3_stmt* s, int i) {
    auto* t = sqlite3_column_text(s, i);
    return t ? std::string(reinterpret_cast<const char*>(t), size_t(sqlite3_column_bytes(s, i))) : std::string();
  }
  static UnitKind kind(sqlite3_stmt* s, int i) {
    int k = sqlite3_column_int(s, i);
    return k == int(UnitKind::Schedule) ? UnitKind::Schedule : k == int(UnitKind::Timer) ? UnitKind::Timer : UnitKind::Event;
  }
  bool fail(const char* what, std::string& error) {
    error = fmt::format("{} state `{}`: {}", what, path_, db_ ? sqlite3_errmsg(db_) : "out of memory");
    return false;
  }
  bool exec(const char* sql, std::string& error) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) == SQLITE_OK) return true;
    // "cannot use": the file could not be used as a database (not one, read-only, I/O), which
    // callers tell from a ledger that refuses (in use, another program) by that first word.
    error = fmt::format("cannot use state `{}`: {}", path_, msg ? msg : sqlite3_errmsg(db_));
    sqlite3_free(msg);
    return false;
  }
  bool has_column(const char* table, const char* column) {
    sqlite3_stmt* probe = nullptr;
    const bool has = sqlite3_prepare_v2(db_, fmt::format("SELECT {} FROM {} LIMIT 0", column, table).c_str(), -1, &probe,
                                        nullptr) == SQLITE_OK;
    sqlite3_finalize(probe);
    return has;
  }

  bool meta(const std::string& key, std::string& value, bool& found, std::string& error) override {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM crm_meta WHERE key = ?", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    sqlite3_bind_text(s, 1, key.data(), int(key.size()), SQLITE_TRANSIENT);
    int rc = sqlite3_step(s);
    found = rc == SQLITE_ROW;
    if (found) value = text(s, 0);
    sqlite3_finalize(s);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? true : fail("cannot read", error);
  }
  bool set_meta(const std::string& key, const std::string& value, std::string& error) override {
    // Within a group the row is part of it (durable with its commit); else durable at once.
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO crm_meta (key, value) VALUES (?, ?)", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot write to", error);
    sqlite3_bind_text(s, 1, key.data(), int(key.size()), SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, value.data(), int(value.size()), SQLITE_TRANSIENT);
    const bool ok = sqlite3_step(s) == SQLITE_DONE;
    sqlite3_finalize(s);
    return ok || fail("cannot write to", error);
  }

  bool query_version(std::string& version, std::string& error) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, "SELECT value FROM crm_meta WHERE key = 'schema_version'", -1, &s, nullptr) != SQLITE_OK)
      return fail("cannot read", error);
    if (sqlite3_step(s) == SQLITE_ROW) version = text(s, 0);
    sqlite3_finalize(s);
    return true;
  }

  std::string path_;
  LocalQuotas quotas_;
  sqlite3* db_ = nullptr;
  static constexpr size_t kUnitsPerInsert = 64;
  sqlite3_stmt* unit_stmt_ = nullptr;
  sqlite3_stmt* units_stmt_ = nullptr;
  std::vector<Unit> units_;  // completed units of the open group not yet written
  std::vector<LedgerRow> rows_;  // append(): views of the entries being bound
  // Ledger rows: statements of kRowsPerInsert rows, then of half as many each, down to one.
  static constexpr size_t kRowsPerInsert = 32;
  static constexpr size_t kEntryStatements = 6;
  static_assert(kRowsPerInsert >> (kEntryStatements - 1) == 1);
  sqlite3_stmt* entry_stmts_[kEntryStatements] = {};
  // A parameter of a waiting row: a NULL, an integer, or a text or blob at `value` in
  // pending_bytes_ (offsets: the buffer may move while rows are staged).
  struct Param {
    enum : uint8_t { kNull, kInt, kText, kBlob } type = kNull;
    uint32_t size = 0;
    int64_t value = 0;
  };
  using PendingRow = std::array<Param, kLedgerColumns>;
  std::array<PendingRow, kRowsPerInsert> pending_;  // rows appended and not yet written
  size_t pending_count_ = 0;
  std::string pending_bytes_;  // their texts
  Bindings unit_bound_, units_bound_, entry_bounds_[kEntryStatements];  // what each insert's parameters hold
  sqlite3_stmt* read_stmt_ = nullptr;
  sqlite3_stmt* find_stmt_ = nullptr;
  bool in_tx_ = false;
  LedgerLock lock_;
  int64_t next_seq_ = 1;  // the position of the next decision appended
  int64_t next_unit_ = 1;  // the crm_units rowid of the next unit appended (units_ hold those before it)
  int64_t program_id_ = 0, last_id_ = 0;  // crm_programs rows: of new units, and the latest recorded
  ProgramIdentity last_;
  std::string failed_;  // the first write or commit error: the store is unusable after it
};

}  // namespace

namespace {
// `PATH[?max_pages=N]` (what follows `sqlite:`): the file's path, and the page limit (0: none).
bool parse_sqlite_spec(const std::string& spec, std::string& path, long long& max_pages, std::string& error) {
  path = spec;
  max_pages = 0;
  if (auto q = spec.find("?max_pages="); q != std::string::npos) {
    path = spec.substr(0, q);
    std::string n = spec.substr(q + 11);
    char* end = nullptr;
    errno = 0;
    max_pages = std::strtoll(n.c_str(), &end, 10);
    if (n.empty() || *end || max_pages <= 0 || errno == ERANGE) {
      error = fmt::format("state `sqlite:{}`: max_pages must be a positive number", spec);
      return false;
    }
  }
  // SQLite reads these as something other than a file (it would create a file of that name only
  // where URIs are off, as here): a ledger there would look durable and not be.
  if (path.empty() || path == ":memory:" || path.rfind("file:", 0) == 0) {
    error = fmt::format("state `sqlite:{}`: the ledger must be a file path (`:memory:` and `file:` URIs are not "
                        "ledgers; use `memory` for state kept in memory)",
                        spec);
    return false;
  }
  return true;
}
}  // namespace

bool parse_state_spec(const std::string& spec, StateSpec& out, std::string& error) {
  out = StateSpec{};
  if (spec == "memory") return out.memory = true, true;
  if (spec.rfind("sqlite:", 0) != 0 || spec.size() == 7) {
    error = fmt::format("unknown state `{}`: use `memory` or `sqlite:PATH`", spec);
    return false;
  }
  return parse_sqlite_spec(spec.substr(7), out.path, out.max_pages, error);
}

std::unique_ptr<StateStore> open_sqlite_store(const std::string& spec, std::string& error) {
  // PATH[?max_pages=N]: SQLite's page limit caps the ledger's size (a commit past it fails as a
  // full disk would, and the run stops with that error).
  std::string path;
  long long max_pages = 0;
  if (!parse_sqlite_spec(spec, path, max_pages, error)) return nullptr;
  auto s = std::make_unique<SqliteStore>(path);
  if (!s->open(error)) return nullptr;
  if (max_pages && !s->limit_pages(max_pages, error)) return nullptr;
  return s;
}

bool state_spec_valid(const std::string& spec, std::string& error) {
  StateSpec parsed;
  return parse_state_spec(spec, parsed, error);
}

std::unique_ptr<StateStore> open_store(const std::string& spec, std::string& error) {
  if (spec == "memory") return std::make_unique<MemoryStore>();
  if (!state_spec_valid(spec, error)) return nullptr;
  return open_sqlite_store(spec.substr(7), error);
}

}  // namespace crm::state
