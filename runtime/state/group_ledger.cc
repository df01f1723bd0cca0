// group_ledger.cc - many engines' units numbered as they are decided, written by one thread.
#include "runtime/state/group_ledger.h"

#include <fmt/format.h>

#include <algorithm>

namespace crm::state {

namespace {

// A backend with one connection (Redis): its reservations one at a time.
class LockedQuotas : public Quotas {
 public:
  explicit LockedQuotas(Quotas& q) : q_(q) {}
  uint32_t handle(std::string_view s) override {
    std::lock_guard lk(mu_);
    return q_.handle(s);
  }
  Quota used(uint32_t h) override {
    std::lock_guard lk(mu_);
    return q_.used(h);
  }
  QuotaCheck reserve(uint32_t h, int64_t amount, const QuotaLimits& limits) override {
    std::lock_guard lk(mu_);
    return q_.reserve(h, amount, limits);
  }
  QuotaCheck reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) override {
    std::lock_guard lk(mu_);
    return q_.reserve_parts(parts, amount, failed);
  }
  bool thread_safe() const override { return true; }

 private:
  std::mutex mu_;
  Quotas& q_;
};

}  // namespace

GroupLedger::GroupLedger(StateStore& store) : store_(store) {
  if (!store_.quotas().thread_safe()) locked_ = std::make_unique<LockedQuotas>(store_.quotas());
}

GroupLedger::~GroupLedger() = default;

bool GroupLedger::load(std::string& error) {
  loaded_entries_.clear();
  loaded_units_.clear();
  if (!store_.load(loaded_entries_, loaded_units_, error)) return false;
  int64_t next = loaded_entries_.empty() ? 1 : loaded_entries_.back().seq + 1;
  next_.store(next);
  written_upto_ = next;
  return true;
}

void GroupLedger::make_workers(size_t n) {
  while (workers_.size() < n) workers_.push_back(std::make_unique<WorkerLedger>(*this));
}

StateStore& GroupLedger::worker(size_t i) { return *workers_[i]; }

void GroupLedger::forget_loaded() {
  std::vector<LedgerEntry>().swap(loaded_entries_);
  std::vector<Unit>().swap(loaded_units_);
}

void GroupLedger::PendingUnits::add(const Unit& unit, const LedgerRow* rows, size_t count, int64_t first) {
  // All or nothing: a unit is listed only once its rows are all here (an allocation that throws
  // midway leaves the rows and bytes as they were, and no unit naming rows that are missing).
  const size_t row_mark = rows_.size(), byte_mark = bytes_.size();
  try {
    add_rows(rows, count);
    units_.push_back({unit, first, row_mark, count});
  } catch (...) {
    rows_.resize(row_mark);
    bytes_.resize(byte_mark);
    throw;
  }
}

void GroupLedger::PendingUnits::add_rows(const LedgerRow* rows, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const LedgerRow& r = rows[i];
    Packed& p = rows_.emplace_back();
    p.start = bytes_.size();
    size_t text = 0, number = 0;
#define CRM_LEDGER_TEXT(name, nullable, doc) \
  bytes_.append(r.name);                     \
  p.end[text++] = bytes_.size();
#define CRM_LEDGER_INT(name, zero_null, doc) p.ints[number++] = r.name;
#include "runtime/state/ledger_columns.def"
    p.json_tail = r.json_tail;
  }
}

void GroupLedger::PendingUnits::clear() {
  units_.clear();
  rows_.clear();
  bytes_.clear();
}

LedgerRow GroupLedger::PendingUnits::row(size_t i) const {
  const Packed& p = rows_[i];
  const std::string_view bytes(bytes_);
  LedgerRow r;
  size_t text = 0, number = 0, at = p.start;
#define CRM_LEDGER_TEXT(name, nullable, doc) \
  r.name = bytes.substr(at, p.end[text] - at); \
  at = p.end[text++];
#define CRM_LEDGER_INT(name, zero_null, doc) r.name = p.ints[number++];
#include "runtime/state/ledger_columns.def"
  r.json_tail = p.json_tail;
  return r;
}

size_t GroupLedger::Units::size() const {
  size_t n = 0;
  for (const auto& w : workers) n += w.units().size();
  return n;
}

void GroupLedger::take(Units& into) {
  into.workers.resize(std::max(into.workers.size(), workers_.size()));
  for (size_t i = 0; i < into.workers.size(); ++i) {
    into.workers[i].clear();
    if (i < workers_.size()) std::swap(into.workers[i], workers_[i]->pending_);
  }
}

size_t GroupLedger::pending() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->pending_.units().size();
  return n;
}

std::string GroupLedger::error() const {
  std::lock_guard lk(mu_);
  return error_;
}

bool GroupLedger::write(const Units& group, std::string& error) {
  std::unique_lock lk(mu_);
  int64_t upto = written_upto_;
  bool ok = true;
  try {
    // Ledger order: by the positions the workers were given (units without rows anywhere; ties
    // in the order of the workers, then of their appends).
    order_.clear();
    for (const auto& w : group.workers)
      for (const auto& u : w.units()) order_.push_back({&w, &u});
    std::stable_sort(order_.begin(), order_.end(),
                     [](const auto& a, const auto& b) { return a.second->first < b.second->first; });
    if (!error_.empty()) {
      error = error_;
      return false;
    }
    for (const auto& [owner, p] : order_) {
      const PendingUnits& w = *owner;  // the buffer that holds the unit's rows
      rows_.clear();
      for (size_t i = 0; i < p->row_count; ++i) rows_.push_back(w.row(p->row_begin + i));
      int64_t first = 0;
      if (!store_.append_rows(p->unit, rows_.data(), rows_.size(), first, error)) {
        ok = false;
        break;
      }
      if (p->row_count) {
        if (first != p->first) {
          error = fmt::format("state {}: the ledger put the decisions of unit {} at position {}, not {} as numbered",
                              store_.describe(), p->unit.id, first, p->first);
          ok = false;
          break;
        }
        upto = std::max(upto, p->first + int64_t(p->row_count));
      }
    }
    if (ok) ok = store_.commit(error);
  } catch (const std::exception& e) {
    // A worker waiting in read() for these units must hear of it rather than wait for good.
    error = std::string("internal error: ") + e.what();
    ok = false;
  }
  if (!ok) {
    error_ = error.empty() ? "commit failed" : error;
  } else {
    written_upto_ = upto;
  }
  lk.unlock();
  written_cv_.notify_all();
  return ok;
}

bool GroupLedger::read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) {
  std::unique_lock lk(mu_);
  // A unit handed to the writer and not yet written: wait for its group.
  written_cv_.wait(lk, [&] { return !error_.empty() || first + int64_t(count) <= written_upto_; });
  if (!error_.empty()) {
    error = error_;
    return false;
  }
  return store_.read(first, count, out, error);
}

bool WorkerLedger::load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string&) {
  entries = g_.loaded_entries_;
  units = g_.loaded_units_;
  return true;
}

bool WorkerLedger::last_program(ProgramIdentity& out, std::string& error) {
  std::lock_guard lk(g_.mu_);
  return g_.store_.last_program(out, error);
}

bool WorkerLedger::begin_program(const ProgramIdentity& program, std::string& error) {
  std::lock_guard lk(g_.mu_);
  return g_.store_.begin_program(program, error);
}

bool WorkerLedger::append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq, std::string& error) {
  rows_.clear();
  for (const auto& e : entries) rows_.push_back(row_of(e));
  return append_rows(unit, rows_.data(), rows_.size(), first_seq, error);
}

bool WorkerLedger::append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq, std::string&) {
  first_seq = g_.next_.fetch_add(int64_t(count));
  pending_.add(unit, rows, count, first_seq);
  return true;
}

bool WorkerLedger::read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) {
  // This worker's own units not yet taken are here (in position order).
  const auto& units = pending_.units();
  auto it = std::lower_bound(units.begin(), units.end(), first,
                             [](const GroupLedger::PendingUnits::UnitAt& p, int64_t f) { return p.first < f; });
  for (; it != units.end() && it->first == first; ++it)
    if (it->row_count == count) {
      for (size_t i = 0; i < count; ++i) {
        out.push_back(entry_of(pending_.row(it->row_begin + i), it->unit.kind));
        out.back().seq = first + int64_t(i);
      }
      return true;
    }
  return g_.read(first, count, out, error);
}

Quotas& WorkerLedger::quotas() { return g_.locked_ ? *g_.locked_ : g_.store_.quotas(); }

}  // namespace crm::state
