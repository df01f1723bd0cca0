// state_store.h - where the engine's decisions are recorded durably: an append-only ledger.
//
// The engine keeps its counters (grants per user, stock, budget) in memory and rebuilds them
// from the ledger when a store is attached, so a run that was killed can be restarted on the
// same input: work units (an event, or a scheduled instant of a strategy) already in the ledger
// are not decided again, their recorded decisions are reported instead. A unit and its
// decisions are appended together and become durable at commit(); callers report decisions
// only after that (group commit keeps this fast).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace crm::state {

struct LedgerEntry {
  std::string unit;     // the work unit: an event id, or "schedule:<strategy>@<micros>"
  std::string user, strategy, outcome, reason, resource, channel, code;
  int64_t amount = 0;   // millionths: face value of a granted coupon or red envelope; subsidy of a redemption
  int64_t sales = 0;    // millionths: the order amount of a redemption
  int64_t at = 0;       // decision time, microseconds since the epoch
  int64_t granted_at = 0;  // redemptions and expiries: the time of the grant they concern
  std::string json;     // the decision exactly as reported
};

class StateStore {
 public:
  virtual ~StateStore() = default;
  // Everything recorded so far, in append order: decisions, and every unit ever completed.
  virtual bool load(std::vector<LedgerEntry>& entries, std::vector<std::string>& units, std::string& error) = 0;
  // Adds one completed unit and its decisions to the current group.
  virtual bool append(const std::string& unit, const std::vector<LedgerEntry>& entries, std::string& error) = 0;
  // Makes every appended unit durable (atomically: a crash keeps all of a group or none).
  virtual bool commit(std::string& error) = 0;
  virtual std::string describe() const = 0;
};

// For tests and dry runs: nothing survives the process.
class MemoryStore : public StateStore {
 public:
  bool load(std::vector<LedgerEntry>& entries, std::vector<std::string>& units, std::string& error) override;
  bool append(const std::string& unit, const std::vector<LedgerEntry>& entries, std::string& error) override;
  bool commit(std::string& error) override;
  std::string describe() const override { return "memory"; }

 private:
  std::vector<LedgerEntry> entries_;
  std::vector<std::string> units_;
};

// SQLite in WAL mode with synchronous=FULL: a commit is on disk when it returns. The schema is
// documented in docs/semantics.md; operators may query it with the sqlite3 tool.
std::unique_ptr<StateStore> open_sqlite_store(const std::string& path, std::string& error);

// "memory" or "sqlite:PATH".
std::unique_ptr<StateStore> open_store(const std::string& spec, std::string& error);

}  // namespace crm::state
