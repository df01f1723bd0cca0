// group_ledger.h - one ledger written for many engines (`crm run --threads N`, docs/scaling.md,
// "Threads in one process"). Each worker's engine records into a WorkerLedger of its own: an
// append numbers the unit's rows from one shared atomic counter (so every unit's rows stay
// consecutive and every position is taken once) and keeps the unit in the worker's memory. The
// runner then takes every worker's units at a batch boundary and hands them to one writer thread,
// which appends them to the one store in ledger order and commits them as one group, while the
// workers decide the next batch. The store's own positions must come out equal to the numbers
// given (a store appends at its last position + 1): write() checks that, so a restart reads
// exactly what was decided.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "runtime/state/state_store.h"

namespace crm::state {

class WorkerLedger;

class GroupLedger {
 public:
  // Reads `store`'s ledger once (its counters are rebuilt by that load); each worker's
  // load() is then given a copy (the engines' attach reads it), until forget_loaded().
  explicit GroupLedger(StateStore& store);
  ~GroupLedger();
  bool load(std::string& error);
  void make_workers(size_t n);
  StateStore& worker(size_t i);
  void forget_loaded();

  // A unit appended by a worker and not yet written.
  struct Pending {
    Unit unit;
    std::vector<LedgerEntry> entries;
    int64_t first = 0;  // the position of its first row (entries[i].seq = first + i)
  };
  // Every worker's pending units (the caller makes sure no worker appends meanwhile).
  std::vector<Pending> take();
  size_t pending() const;
  // Appends a group in ledger order and commits it (one thread at a time: the writer).
  bool write(std::vector<Pending>& group, std::string& error);
  // The first failure of a write (empty while healthy).
  std::string error() const;

 private:
  friend class WorkerLedger;
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error);

  StateStore& store_;
  mutable std::mutex mu_;  // the store: the writer's groups, workers' reads of earlier units
  std::condition_variable written_cv_;
  int64_t written_upto_ = 1;  // every row before this position is in the store
  std::string error_;
  std::atomic<int64_t> next_{1};
  std::vector<LedgerEntry> loaded_entries_;
  std::vector<Unit> loaded_units_;
  std::unique_ptr<Quotas> locked_;  // the store's counters behind one lock, when they are not thread-safe
  std::vector<std::unique_ptr<WorkerLedger>> workers_;
};

// The StateStore one worker's engine records into (see GroupLedger).
class WorkerLedger : public StateStore {
 public:
  explicit WorkerLedger(GroupLedger& group) : g_(group) {}
  bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) override;
  bool last_program(ProgramIdentity& out, std::string& error) override;
  bool begin_program(const ProgramIdentity& program, std::string& error) override;
  bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq, std::string& error) override;
  bool append_owned(const Unit& unit, std::vector<LedgerEntry>&& entries, int64_t& first_seq, std::string& error) override;
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) override;
  // The group is committed by the runner (GroupLedger::write), never by one worker.
  bool commit(std::string&) override { return true; }
  std::string describe() const override { return g_.store_.describe(); }
  Quotas& quotas() override;

 private:
  friend class GroupLedger;
  GroupLedger& g_;
  std::vector<GroupLedger::Pending> pending_;
};

}  // namespace crm::state
