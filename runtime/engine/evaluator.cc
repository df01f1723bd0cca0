// evaluator.cc - binds the engine's context and runs units through the executor.
#include "runtime/engine/evaluator.h"

#include <cstdio>
#include <cstdlib>

namespace crm::engine {

// The user's aggregates at the run's instant: on the engine's time line (value(), which drops
// what has left a window), or off it (peek(), which changes nothing: see set_read_only).
class Evaluator::AggSource : public vm::AggregateSource {
 public:
  explicit AggSource(const bytecode::Program& p) : p_(p) {}
  bytecode::AggValue aggregate(uint32_t g, int64_t now) override { return user->aggs().value(p_.aggregates[g], g, now); }
  User* user = nullptr;

 protected:
  const bytecode::Program& p_;
};

class Evaluator::PeekSource final : public Evaluator::AggSource {
 public:
  using AggSource::AggSource;
  bytecode::AggValue aggregate(uint32_t g, int64_t now) override { return user->aggs().peek(p_.aggregates[g], g, now); }
};

Evaluator::Evaluator(const bytecode::Program& program, std::shared_ptr<const Executor> executor, vm::StringPool& strings,
                     const vm::CollectionStore& collections)
    : p_(program),
      executor_(executor ? std::move(executor) : std::make_shared<VmExecutor>(program)),
      agg_source_(std::make_unique<AggSource>(program)),
      peek_source_(std::make_unique<PeekSource>(program)),
      source_(agg_source_.get()) {
  if (&executor_->program() != &p_) {
    // Units of another program would be run against this one's data: a caller bug, not input.
    std::fprintf(stderr, "crm: internal error: the %.*s executor was built for another program\n",
                 int(executor_->name().size()), executor_->name().data());
    std::abort();
  }
  executor_->prepare(ctx_);
  ctx_.strings = &strings;
  ctx_.collections = &collections;
  ctx_.aggregates = agg_source_.get();
  // Date built-ins read the zone of the strategy a unit belongs to; segments and aggregate
  // filters, shared by every strategy, read the program's.
  zone_.assign(p_.units.size(), &p_.zone);
  for (const auto& s : p_.strategies)
    for (int32_t u : {s.who, s.where, s.trigger_if, s.who_batch, s.value})
      if (u >= 0 && size_t(u) < zone_.size()) zone_[u] = &s.zone;
}

Evaluator::~Evaluator() = default;

// What one run reads: the user's profile and history, the event (if any), the instant and the
// zone its date built-ins use.
void Evaluator::bind(User& u, const Event* ev, int64_t now) {
  ctx_.event = ev ? ev->fields.data() : nullptr;
  ctx_.event_present = ev ? ev->present.data() : nullptr;
  ctx_.event_size = ev ? ev->fields.size() : 0;
  ctx_.profile = u.profile().data();
  ctx_.profile_present = u.present().data();
  ctx_.profile_size = u.profile().size();
  ctx_.now = now;
  source_->user = &u;
}

// Swapping the context's source, not a test in every aggregate read: the streaming path pays
// nothing for the read-only one.
void Evaluator::set_read_only(bool on) {
  source_ = on ? peek_source_.get() : agg_source_.get();
  ctx_.aggregates = source_;
}

vm::Result Evaluator::run(uint32_t unit, User& u, const Event* ev, int64_t now, const support::ZoneRules* zone) {
  bind(u, ev, now);
  ctx_.zone = zone;
  return executor_->run(unit, ctx_);
}

bool Evaluator::run_clauses(const ClauseGroup* groups, size_t n, User& u, const Event* ev, int64_t now, ClauseVerdict* out) {
  bind(u, ev, now);
  return executor_->run_clauses(groups, n, ctx_, out);
}

}  // namespace crm::engine
