// audience.cc - profile columns for the batch path, and the counts it selects.
#include "runtime/engine/audience.h"

namespace crm::engine {

namespace {

// Event field indices every event type has (bytecode::EventType).
constexpr uint32_t kEventUser = 1, kEventTime = 2;

// Calls f(field) for every trigger event field s's `who:` reads, in code order.
template <class F>
void trigger_reads(const bytecode::Program& p, const bytecode::Strategy& s, F&& f) {
  if (s.trigger != bytecode::Trigger::OnEvent || s.who < 0 || size_t(s.who) >= p.units.size()) return;
  for (const auto& ins : p.units[size_t(s.who)].code)
    if (ins.op == bytecode::Op::LOAD_EVENT || ins.op == bytecode::Op::HAS_EVENT) f(ins.a);
}

}  // namespace

int32_t unknown_trigger_field(const bytecode::Program& p, const bytecode::Strategy& s) {
  int32_t out = -1;
  trigger_reads(p, s, [&](uint32_t f) {
    if (out < 0 && f != kEventUser && f != kEventTime) out = static_cast<int32_t>(f);
  });
  return out;
}

std::string unknown_trigger_field_name(const bytecode::Program& p, const bytecode::Strategy& s) {
  int32_t f = unknown_trigger_field(p, s);
  if (f < 0) return "";
  const auto& fields = p.events.at(s.event).fields;
  return size_t(f) < fields.size() ? fields[size_t(f)].name : "field " + std::to_string(f);
}

bool who_reads_trigger(const bytecode::Program& p, const bytecode::Strategy& s) {
  bool any = false;
  trigger_reads(p, s, [&](uint32_t) { any = true; });
  return any;
}

void audience_event(const bytecode::Program& p, const bytecode::Strategy& s, int64_t user, std::string_view user_text,
                    int64_t at, Event& out) {
  size_t n = s.event < p.events.size() ? p.events[s.event].fields.size() : 3;
  out.id.clear();
  out.type = s.event;
  out.user.assign(user_text);
  out.time = at;
  out.fields.assign(n, 0);
  out.present.assign(n, 0);
  out.fields[kEventUser] = user;
  out.present[kEventUser] = 1;
  out.fields[kEventTime] = at;
  out.present[kEventTime] = 1;
}

std::vector<std::pair<std::string, int64_t>> audience_counts(const bytecode::Program& p_, Users& users, Evaluator& eval,
                                                             vm::StringPool& strings, const vm::CollectionStore& collections,
                                                             Stats& stats_, int64_t at) {
  const auto& user_order_ = users.order();
  // Columns of the profile over all users, in first-seen order, for the batch VM.
  size_t rows = user_order_.size();
  std::vector<User*> by_row(rows);
  for (size_t i = 0; i < rows; ++i) by_row[i] = &users.at(user_order_[i]);
  std::vector<std::vector<int64_t>> columns(p_.profile.size(), std::vector<int64_t>(rows));
  std::vector<std::vector<uint8_t>> present(p_.profile.size());
  for (size_t i = 0; i < rows; ++i)
    for (size_t f = 0; f < p_.profile.size(); ++f) columns[f][i] = by_row[i]->profile()[f];
  std::vector<vm::Column> cols(columns.size());
  for (size_t f = 0; f < columns.size(); ++f) {
    // A presence column only for fields some user lacks: the common all-present column is
    // read without one.
    bool all = true;
    for (size_t i = 0; i < rows && all; ++i) all = by_row[i]->present()[f];
    if (!all) {
      present[f].resize(rows);
      for (size_t i = 0; i < rows; ++i) present[f][i] = by_row[i]->present()[f];
    }
    cols[f] = {columns[f].data(), 8, all ? nullptr : present[f].data()};
  }
  struct AggCtx {
    const bytecode::Program* p;
    std::vector<User*>* rows;
  } agg{&p_, &by_row};
  vm::BatchInput in;
  in.columns = cols.data();
  in.column_count = cols.size();
  in.rows = rows;
  in.now = at;
  in.aggregate = [](void* state, size_t row, uint32_t g, int64_t now) -> bytecode::AggValue {
    auto* c = static_cast<AggCtx*>(state);
    // A read at the caller's instant, which may be after the stream's clock: nothing dropped.
    return (*c->rows)[row]->aggs().peek(c->p->aggregates[g], g, now);
  };
  in.aggregate_state = &agg;
  in.strings = &strings;
  in.collections = &collections;
  // The scalar runs that name a fault read as the batch does: changing nothing.
  Evaluator::ReadOnly read_only(eval);
  std::vector<std::pair<std::string, int64_t>> out;
  auto count = [&](const std::string& name, uint32_t unit, int32_t scalar_unit) {
    in.zone = eval.zone_of(unit);
    BatchSelection r;
    eval.executor().run_batch(unit, in, r);
    stats_.eval_errors += r.faults;
    if (r.faults && scalar_unit >= 0) {
      // The batch VM knows only that a lane failed; the scalar VM (which gives the same result,
      // tests/unit/differential_test.cc) says why, for the summary. Only on this rare path.
      size_t kinds = 0;
      for (size_t i = 0; i < rows; ++i) {
        User* u = by_row[i];
        vm::Result rr = eval.run(static_cast<uint32_t>(scalar_unit), *u, nullptr, at);
        if (rr.status != vm::Status::Ok) {
          ++stats_.eval_errors_by_kind[rr.error ? rr.error : "evaluation error"];
          ++kinds;
        }
      }
      if (kinds < r.faults) stats_.eval_errors_by_kind["evaluation error"] += r.faults - kinds;
    }
    out.emplace_back(name, static_cast<int64_t>(r.matches));
  };
  // A `who:` that reads its trigger's `user` or `time`: user by user against the event the
  // instant stands for (the batch units have no event: theirs would fault).
  auto count_with_event = [&](const bytecode::Strategy& s) {
    Event ev;
    int64_t matches = 0;
    for (size_t i = 0; i < rows; ++i) {
      User* u = by_row[i];
      audience_event(p_, s, u->profile()[0], users.text(user_order_[i]), at, ev);
      vm::Result r = eval.run(static_cast<uint32_t>(s.who), *u, &ev, at);
      if (r.status != vm::Status::Ok) {
        ++stats_.eval_errors;
        ++stats_.eval_errors_by_kind[r.error ? r.error : "evaluation error"];
      } else if (r.value != 0) {
        ++matches;
      }
    }
    out.emplace_back(s.name, matches);
  };
  for (const auto& s : p_.segments) count(s.name, s.batch_unit, static_cast<int32_t>(s.unit));
  for (const auto& s : p_.strategies) {
    if (unknown_trigger_field(p_, s) >= 0) out.emplace_back(s.name, kNotCounted);
    else if (who_reads_trigger(p_, s)) count_with_event(s);
    else if (s.who_batch >= 0) count(s.name, static_cast<uint32_t>(s.who_batch), s.who);
  }
  return out;
}

}  // namespace crm::engine
