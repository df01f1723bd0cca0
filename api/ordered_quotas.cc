// ordered_quotas.cc - limited counters taken in input order under --threads (see ordered_quotas.h).
#include "api/ordered_quotas.h"

#include <algorithm>
#include <thread>

namespace crm::detail {

namespace {

// The calling worker's position while it decides a range; kDone outside one (parsing, the end
// of the stream), where nothing is ordered.
thread_local size_t t_worker = 0;
thread_local uint64_t t_position = OrderedQuotas::kDone;

}  // namespace

// The names are gathered once: handle() is called for every strategy by every worker's engine
// as it binds, and a scan of the program per call was quadratic in the strategies.
OrderedQuotas::OrderedQuotas(const bytecode::Program& program, size_t workers)
    : slots_(std::make_unique<Slot[]>(workers)), workers_(workers) {
  for (const auto& s : program.strategies)
    if (s.stock >= 0 || s.has_budget) limited_names_.insert(s.name);
  for (const auto& p : program.pools)
    if (p.stock >= 0 || p.has_budget) limited_names_.insert(state::pool_counter(p.name));
}

void OrderedQuotas::begin_batch() {
  for (size_t w = 0; w < workers_; ++w) slots_[w].position.store(0, std::memory_order_relaxed);
}

void OrderedQuotas::at(size_t w, uint64_t position) {
  t_worker = w;
  t_position = position;
  slots_[w].position.store(position, std::memory_order_release);
}

void OrderedQuotas::done(size_t w) {
  t_position = kDone;
  slots_[w].position.store(kDone, std::memory_order_release);
}

uint32_t OrderedQuotas::handle(std::string_view name) {
  const uint32_t h = inner_->handle(name);
  if (limited_names_.find(name) != limited_names_.end() && !limited(h)) limited_.insert(std::upper_bound(limited_.begin(), limited_.end(), h), h);
  return h;
}

bool OrderedQuotas::limited(uint32_t h) const { return std::binary_search(limited_.begin(), limited_.end(), h); }

// Spins briefly, then yields: the worker waited for is deciding a line or two (the gate is
// crossed once per limited counter and delivery), and the machine may have fewer cores than
// threads.
void OrderedQuotas::gate(uint32_t h) {
  if (t_position == kDone || !limited(h)) return;
  bool waited = false;
  for (size_t w = 0; w < workers_; ++w) {
    if (w == t_worker) continue;
    for (int spins = 0; slots_[w].position.load(std::memory_order_acquire) < t_position; ++spins) {
      waited = true;
      if (spins > 64) std::this_thread::yield();
    }
  }
  if (waited) waits_.fetch_add(1, std::memory_order_relaxed);
}

state::Quota OrderedQuotas::used(uint32_t h) {
  gate(h);
  return inner_->used(h);
}

state::QuotaCheck OrderedQuotas::reserve(uint32_t h, int64_t amount, const state::QuotaLimits& limits) {
  gate(h);
  return inner_->reserve(h, amount, limits);
}

state::QuotaCheck OrderedQuotas::reserve_parts(const std::vector<state::QuotaPart>& parts, int64_t amount,
                                               size_t& failed) {
  for (const auto& p : parts) gate(p.handle);
  return inner_->reserve_parts(parts, amount, failed);
}

}  // namespace crm::detail
