// group_ledger.h - one ledger written for many engines (`crm run --threads N`, docs/scaling.md,
// "Threads in one process"). Each worker's engine records into a WorkerLedger of its own: an
// append numbers the unit's rows from one shared atomic counter (so every unit's rows stay
// consecutive and every position is taken once) and keeps the unit in the worker's memory. The
// runner then takes every worker's units at a batch boundary and hands them to one writer thread,
// which appends them to the one store in ledger order and commits them as one group, while the
// workers decide the next batch. The store's own positions must come out equal to the numbers
// given (a store appends at its last position + 1): write() checks that, so a restart reads
// exactly what was decided.
//
// Lifetimes (who may touch which memory when). A worker's engine appends rows of views
// (LedgerRow) that are valid only during its append_rows call: WorkerLedger copies their texts
// into the worker's PendingUnits (one byte buffer, rows as offsets into it), so nothing the
// writer reads points at a worker's own strings, at the decisions, or at the recorder's text
// buffer, which the worker reuses for the next unit. take() swaps every worker's PendingUnits
// with the (cleared) ones of a group the caller hands in, while no worker appends (the batch
// boundary): from then on the group's buffers belong to the group alone, the writer reads them
// in write() and nobody writes them, and the worker fills the buffers it got in exchange. A
// group's buffers are handed back to a worker only by a later take() with that group, which
// the caller does once write() has returned for it. The rows that write() gives the store view
// the group's buffers, which do not change during the call.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
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
  // The units read by load(), until forget_loaded().
  const std::vector<Unit>& loaded_units() const { return loaded_units_; }

  // The units one worker appended and that are not yet written, in the order appended (so by
  // position): each unit's rows, their texts packed into one buffer. Reused: clear() keeps the
  // capacity, so once grown nothing is allocated per row or per unit (a unit id longer than
  // std::string's inline capacity aside).
  class PendingUnits {
   public:
    struct UnitAt {
      Unit unit;
      int64_t first = 0;  // the position of its first row (its rows are first, first + 1, ...)
      size_t row_begin = 0, row_count = 0;
    };
    void add(const Unit& unit, const LedgerRow* rows, size_t count, int64_t first);
    void clear();
    const std::vector<UnitAt>& units() const { return units_; }
    // Row `i` (of all units) as views of this buffer: valid until the next add() or clear().
    LedgerRow row(size_t i) const;

   private:
    void add_rows(const LedgerRow* rows, size_t count);
    // A row's texts and integers in ledger_columns.def's order.
    struct Packed {
      size_t end[kLedgerTexts];  // where each text ends in bytes_ (each starts where the one before ends)
      size_t start;
      int64_t ints[kLedgerInts];
      bool json_tail;  // LedgerRow::json_tail
    };
    std::vector<UnitAt> units_;
    std::vector<Packed> rows_;
    std::string bytes_;
  };
  // A group: every worker's PendingUnits of one batch.
  struct Units {
    std::vector<PendingUnits> workers;
    size_t size() const;
    bool empty() const { return size() == 0; }
  };
  // Moves every worker's pending units into `into` and gives each worker `into`'s former
  // buffers, cleared (the caller makes sure no worker appends meanwhile, and that no write() of
  // `into` is under way).
  void take(Units& into);
  size_t pending() const;
  // Appends a group in ledger order and commits it (one thread at a time: the writer). Reads
  // the group's buffers and changes nothing in them.
  bool write(const Units& group, std::string& error);
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
  // write(): the group's units in ledger order, and one unit's rows as views (the writer's own)
  std::vector<std::pair<const PendingUnits*, const PendingUnits::UnitAt*>> order_;
  std::vector<LedgerRow> rows_;
};

// The StateStore one worker's engine records into (see GroupLedger).
class WorkerLedger : public StateStore {
 public:
  explicit WorkerLedger(GroupLedger& group) : g_(group) {}
  bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) override;
  bool last_program(ProgramIdentity& out, std::string& error) override;
  bool begin_program(const ProgramIdentity& program, std::string& error) override;
  bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq, std::string& error) override;
  // Copies the rows' texts into this worker's buffer (see "Lifetimes" above).
  bool append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq, std::string& error) override;
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) override;
  // The group is committed by the runner (GroupLedger::write), never by one worker.
  bool commit(std::string&) override { return true; }
  std::string describe() const override { return g_.store_.describe(); }
  Quotas& quotas() override;

 private:
  friend class GroupLedger;
  GroupLedger& g_;
  GroupLedger::PendingUnits pending_;
  std::vector<LedgerRow> rows_;  // append(): views of the entries
};

}  // namespace crm::state
