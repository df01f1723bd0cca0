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

std::vector<GroupLedger::Pending> GroupLedger::take() {
  std::vector<Pending> out;
  for (auto& w : workers_) {
    if (out.empty()) out.swap(w->pending_);
    else {
      out.insert(out.end(), std::make_move_iterator(w->pending_.begin()), std::make_move_iterator(w->pending_.end()));
      w->pending_.clear();
    }
  }
  return out;
}

size_t GroupLedger::pending() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w->pending_.size();
  return n;
}

std::string GroupLedger::error() const {
  std::lock_guard lk(mu_);
  return error_;
}

bool GroupLedger::write(std::vector<Pending>& group, std::string& error) {
  // Ledger order: by the positions the workers were given (units without rows anywhere).
  std::stable_sort(group.begin(), group.end(), [](const Pending& a, const Pending& b) { return a.first < b.first; });
  std::unique_lock lk(mu_);
  if (!error_.empty()) {
    error = error_;
    return false;
  }
  int64_t upto = written_upto_;
  bool ok = true;
  for (auto& p : group) {
    int64_t first = 0;
    if (!store_.append(p.unit, p.entries, first, error)) {
      ok = false;
      break;
    }
    if (!p.entries.empty()) {
      if (first != p.first) {
        error = fmt::format("state {}: the ledger put the decisions of unit {} at position {}, not {} as numbered",
                            store_.describe(), p.unit.id, first, p.first);
        ok = false;
        break;
      }
      upto = std::max(upto, p.first + int64_t(p.entries.size()));
    }
  }
  if (ok) ok = store_.commit(error);
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
  return append_owned(unit, std::vector<LedgerEntry>(entries), first_seq, error);
}

bool WorkerLedger::append_owned(const Unit& unit, std::vector<LedgerEntry>&& entries, int64_t& first_seq, std::string&) {
  first_seq = g_.next_.fetch_add(int64_t(entries.size()));
  GroupLedger::Pending p{unit, std::move(entries), first_seq};
  for (size_t i = 0; i < p.entries.size(); ++i) p.entries[i].seq = first_seq + int64_t(i);
  pending_.push_back(std::move(p));
  return true;
}

bool WorkerLedger::read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) {
  // This worker's own units not yet taken are here (in position order).
  auto it = std::lower_bound(pending_.begin(), pending_.end(), first,
                             [](const GroupLedger::Pending& p, int64_t f) { return p.first < f; });
  for (; it != pending_.end() && it->first == first; ++it)
    if (it->entries.size() == count) {
      out.insert(out.end(), it->entries.begin(), it->entries.end());
      return true;
    }
  return g_.read(first, count, out, error);
}

Quotas& WorkerLedger::quotas() { return g_.locked_ ? *g_.locked_ : g_.store_.quotas(); }

}  // namespace crm::state
