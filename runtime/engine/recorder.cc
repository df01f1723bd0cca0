// recorder.cc - decisions as JSON lines and ledger rows; units remembered for idempotent replays.
#include "runtime/engine/recorder.h"

#include <fmt/format.h>

#include <atomic>

#include "runtime/engine/program_identity.h"
#include "runtime/engine/user_state.h"
#include "runtime/state/ledger_json.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::engine {

namespace {

// Records of a strategy's decision (not of what later happens to a grant).
bool is_strategy_decision(Outcome o) {
  return o == Outcome::Granted || o == Outcome::Rejected || o == Outcome::Held || o == Outcome::Control;
}

}  // namespace

bool Recorder::attach(state::StateStore* store, const std::function<void(state::StateStore&)>& on_store,
                      const std::function<void(const state::LedgerEntry&)>& on_entry, std::string& err) {
  if (store_ || decided_units_ > 0) {
    // Counters and grants of this engine would not be in the store's ledger.
    err = fmt::format("cannot attach state {}: attach state before processing any event", store->describe());
    return false;
  }
  std::vector<state::LedgerEntry> entries;
  std::vector<state::Unit> units;
  if (!store->load(entries, units, err) || !check_program(*store, units.size(), err)) return false;
  store_ = store;
  on_store(*store);
  // Completed units first (those with no decisions too), then their recorded decisions.
  size_t events = 0;
  for (const auto& u : units) events += u.kind == state::UnitKind::Event;
  restored_.reserve(events);
  bool several = false;
  latest_unit_at_ = INT64_MIN;
  for (const auto& u : units) {
    if (u.at != state::Unit::kNoTime) latest_unit_at_ = std::max(latest_unit_at_, u.at);
    bool added = false;
    UnitRecord* rec = units_of(u.kind).try_emplace(u.id, UnitRecord{u.first, 0, true, false}, &added);
    // An id used again: a unit that records where it starts (schema version 8) is a unit of its
    // own (collected below). Units that do not (recorded before version 8) precede all that do,
    // and cannot be told apart from each other: they stay one unit (`merged`), as before.
    if (!added && u.kind != state::UnitKind::Schedule) {
      if (u.first) several = rec->more = true;
      else rec->merged = true;
    }
    // A part of a scheduled run: `schedule:NAME@MICROS#END` (strategy names have no `#`).
    if (u.kind != state::UnitKind::Schedule) continue;
    size_t hash = u.id.rfind('#');
    if (hash == std::string::npos || hash + 1 == u.id.size() ||
        u.id.find_first_not_of("0123456789", hash + 1) != std::string::npos)
      continue;
    schedule_parts_[u.id.substr(0, hash)].push_back(std::stoull(u.id.substr(hash + 1)));
  }
  restored_unmet_ = restored_.size();
  if (several)
    for (const auto& u : units) {
      if (u.kind == state::UnitKind::Schedule) continue;
      const UnitRecord* rec = units_of(u.kind).find(u.id);
      if (!rec->more) continue;
      auto& list = several_[size_t(u.kind)][u.id];
      // The id's unrecorded units (before version 8) are one: its first, with every row before
      // the first recorded start.
      if (!u.first && !list.empty()) continue;
      list.push_back({UnitRecord{u.first, 0, true, false}, u.at});
      restored_unmet_ += u.kind == state::UnitKind::Event;
    }
  // Each id in several units was counted once above, as one.
  restored_unmet_ -= several_[size_t(state::UnitKind::Event)].size();
  auto name = [](const state::LedgerEntry& e) {
    return fmt::format("{}{}",
                       e.kind == state::UnitKind::Schedule ? "scheduled run "
                       : e.kind == state::UnitKind::Timer  ? "timer "
                                                           : "event ",
                       support::json_quote(e.unit));
  };
  for (const auto& e : entries) {
    UnitRecord* found = units_of(e.kind).find(e.unit);
    if (!found) {
      err = fmt::format("ledger of {} records a decision (row {}) for {} that was never completed", store->describe(), e.seq,
                        name(e));
      return false;
    }
    // A unit's decisions are consecutive rows: a restart repeats them as a range of rows, so
    // rows of another unit inside the range would be reported under this unit's id.
    UnitRecord* in = found;
    if (found->more) {
      // Of the id's units, the last to start at or before this row (an unrecorded start, 0,
      // is before every row: that unit takes the rows before the first recorded start).
      in = nullptr;
      for (auto& s : several_[size_t(e.kind)][e.unit])
        if (s.record.first <= e.seq) in = &s.record;
      if (!in || ((in->count || in->first) && e.seq != in->first + int64_t(in->count))) {
        err = fmt::format("ledger of {} is corrupt: decision row {} of {} is not where one of its units starts or continues",
                          store->describe(), e.seq, name(e));
        return false;
      }
    }
    UnitRecord& rec = *in;
    if (rec.count && e.seq != rec.first + int64_t(rec.count)) {
      err = fmt::format("ledger of {} is corrupt: the decisions of {} are not consecutive (rows {} and {})", store->describe(),
                        name(e), rec.first + int64_t(rec.count) - 1, e.seq);
      return false;
    }
    if (rec.count++ == 0) rec.first = e.seq;
    on_entry(e);
  }
  return true;
}

void Recorder::set_dedup_window(int64_t micros) {
  // The rule is DedupRule's (event_id_window.h), which `crm report` and `crm forecast` share.
  window_ = DedupRule::window(micros);
  width_ = DedupRule::width(window_);
}

// The generation holding event time `t` (made when there is none). Generations are few (the
// window spans two or three), so a walk from the newest finds it.
Recorder::Generation& Recorder::generation(int64_t t) {
  const int64_t start = DedupRule::start(t, width_);
  auto it = generations_.end();
  while (it != generations_.begin() && std::prev(it)->start > start) --it;
  if (it != generations_.begin() && std::prev(it)->start == start) return *std::prev(it);
  return *generations_.insert(it, Generation{start, {}, {}});
}

Recorder::UnitRecord* Recorder::find_in(Generation& g, const std::string& id, uint64_t h, uint64_t f) {
  if (UnitRecord* r = g.ids.find(id, h)) return r;
  if (g.units.empty()) return nullptr;
  // A fingerprint is a candidate only: the unit is read back and its id compared. A store that
  // cannot be read stops the run (store_error_), and nothing is taken for the id.
  uint32_t count = 0;
  const uint64_t* w = g.units.find(f, [&](uint64_t handle) {
    std::string err;
    if (!store_error_.empty()) return false;
    const bool is = unit_is(handle, id, count, err);
    if (!err.empty()) store_error_ = err;
    return is;
  });
  if (!w) return nullptr;
  found_ = UnitRecord{probe_.first, count, true, true};
  return &found_;
}

bool Recorder::unit_is(uint64_t handle, const std::string& id, uint32_t& count, std::string& err) {
  bool found = false;
  if (!store_->find_unit(int64_t(handle), probe_, count, found, err)) {
    if (err.empty()) err = "cannot read a unit back from the ledger";
    return false;
  }
  return found && probe_.kind == state::UnitKind::Event && probe_.id == id;
}

void Recorder::remember(const std::string& id, uint64_t h, uint64_t f, int64_t t, const UnitRecord& r, bool absent) {
  Generation& g = generation(t);
  if (UnitRecord* old = absent ? nullptr : g.ids.find(id, h)) {
    *old = r;
    return;
  }
  const int64_t handle = store_->unit_handle();
  if (handle > 0) {
    if (uint64_t* w = absent ? nullptr : g.units.find(f, [&](uint64_t x) {
          uint32_t count = 0;
          std::string err;
          return unit_is(x, id, count, err);
        })) {
      if (uint64_t(handle) <= support::FingerprintTable::kMaxPayload) {
        support::FingerprintTable::set_payload(w, uint64_t(handle));
        return;
      }
    } else if (g.units.insert(f, uint64_t(handle))) {
      return;
    }
  }
  // A store without handles (or one past what a slot holds): the id itself is kept.
  g.ids.insert_or_assign(id, r);
}

Recorder::UnitRecord* Recorder::event_slot(const std::string& id, int64_t t) {
  if (!store_) return nullptr;
  latest_ = std::max(latest_, t);
  const uint64_t h = support::StringMap<UnitRecord>::hash(id);  // once for every map asked
  const uint64_t f = id_hash(id, h);
  UnitRecord taken;
  for (auto it = generations_.rbegin(); it != generations_.rend(); ++it)
    if (UnitRecord* r = find_in(*it, id, h, f)) {
      // A unit of an id read back in several, taken by a use at another time: a line at the
      // exact time of another of its units is that use (redelivered lines in another order).
      if (r->more && restored_unmet_ > 0 && take_unit(id, h, t, true, taken)) {
        bool added = false;
        UnitRecord* g = generation(t).ids.try_emplace(id, h, taken, &added);
        if (!added) *g = taken;
        return g;
      }
      return r;
    }
  // Recorded before the restart and met again: from now on it lives (and expires) in its
  // time's generation.
  if (restored_unmet_ > 0 && take_unit(id, h, t, false, taken)) return generation(t).ids.try_emplace(id, h, taken);
  // Decided now: remembered when it is recorded (record()).
  pending_ = UnitRecord{0, 0, false, false};
  pending_h_ = h;
  pending_f_ = f;
  pending_t_ = t;
  return &pending_;
}

bool Recorder::take_unit(const std::string& id, uint64_t h, int64_t t, bool exact, UnitRecord& out) {
  UnitRecord* r = restored_.find(id, h);
  if (!r || r->applied) return false;
  if (!r->more) {
    if (exact) return false;
    out = *r;
    r->applied = true;
  } else {
    // One of several units with this id (see event_slot in recorder.h): by its event's time.
    auto& list = several_[size_t(state::UnitKind::Event)][id];
    Several* pick = nullptr;
    for (auto& s : list)
      if (!s.taken && s.at == t) {
        pick = &s;
        break;
      }
    if (!pick && !exact) {
      // A retry with another timestamp: the nearest unit within the window.
      int64_t best = 0;
      for (auto& s : list) {
        if (s.taken || s.at == state::Unit::kNoTime) continue;
        const int64_t d = s.at > t ? s.at - t : t - s.at;
        if (d <= window_ && (!pick || d < best)) pick = &s, best = d;
      }
      if (!pick)
        for (auto& s : list)
          if (!s.taken && s.at == state::Unit::kNoTime) {
            pick = &s;  // recorded before schema version 8: the id's first use
            break;
          }
    }
    if (!pick) return false;  // none left for this use: it is decided afresh
    pick->taken = true;
    out = pick->record;
    out.more = true;  // in its generation: another of the id's units may still be taken (above)
    size_t left = 0;
    for (const auto& s : list) left += !s.taken;
    if (left == 0) r->applied = true;
  }
  // restored_ goes once every unit in it was met.
  if (--restored_unmet_ == 0) {
    restored_ = {};
    several_[size_t(state::UnitKind::Event)].clear();
  }
  return true;
}

const Recorder::UnitRecord* Recorder::find_event(const std::string& id) {
  const uint64_t h = support::StringMap<UnitRecord>::hash(id);
  const uint64_t f = id_hash(id, h);
  for (auto it = generations_.rbegin(); it != generations_.rend(); ++it)
    if (const UnitRecord* r = find_in(*it, id, h, f)) return r;
  // An id read back from the ledger counts only until the replay meets it: from then on it lives
  // in its time's generation, and is forgotten with it (a retry of it is then refused).
  if (restored_unmet_ == 0) return nullptr;
  const UnitRecord* r = restored_.find(id, h);
  return r && !r->applied ? r : nullptr;
}

// The slot of a refused event was never remembered (record() does that); a record of the id
// read back at attach stays.
void Recorder::forget_event(const std::string&) { pending_ = UnitRecord{0, 0, false, false}; }

// Drops the generations whose every time is before watermark - H: a whole map at a time, so
// pruning costs nothing per event. The unit being decided is never in one of them (prune runs
// before an event is decided, and its slot is made afterwards).
void Recorder::prune(int64_t watermark) {
  int64_t floor = 0;
  if (!DedupRule::forget_before(window_, watermark, floor)) return;
  while (!generations_.empty() && generations_.front().start + width_ <= floor) generations_.pop_front();
}

size_t Recorder::remembered_events() const {
  size_t n = restored_unmet_ > 0 ? restored_unmet_ : 0;
  for (const auto& g : generations_) n += g.ids.size() + g.units.size();
  return n;
}

bool Recorder::commit(std::string& err) {
  if (!ok(err)) return false;
  pending_units_ = 0;
  if (!store_ || store_->commit(err)) return true;
  store_error_ = err;
  return false;
}

bool Recorder::check_program(state::StateStore& store, size_t recorded_units, std::string& err) {
  state::ProgramIdentity recorded, current = program_identity(p_);
  if (!store.last_program(recorded, err)) return false;
  if (recorded.hash.empty()) {
    if (recorded_units)
      notices_.push_back(fmt::format("state {} was recorded before ledgers kept the identity of their program: its {} units "
                                     "are taken as decided by this program (hash {})",
                                     store.describe(), recorded_units, current.hash));
    return store.begin_program(current, err);
  }
  ProgramChange ch = compare_programs(recorded, current, p_);
  if (ch.same) return store.begin_program(current, err);
  std::string what;
  for (const auto& c : ch.changes) what += (what.empty() ? "" : "; ") + c;
  if (!ch.refusals.empty()) {
    std::string why;
    for (const auto& r : ch.refusals) why += "\n  " + r;
    err = fmt::format("state {} was recorded by another program (hash {}, this one {}) and cannot be continued by it:{}\n"
                      "use a new state for this program",
                      store.describe(), recorded.hash, current.hash, why);
    return false;
  }
  if (ch.changes.empty()) {
    notices_.push_back(fmt::format("state {} was recorded by another program (hash {}, this one {}) whose strategies are all "
                                   "the same as this one's: continuing it",
                                   store.describe(), recorded.hash, current.hash));
    return store.begin_program(current, err);
  }
  if (!allow_program_change_) {
    err = fmt::format("state {} was recorded by another program (hash {}, this one {}): {}. Events already in it keep the "
                      "decisions recorded for them. To continue it with this program (changed strategies keep their "
                      "counters), allow the change (`crm run --allow-program-change`); or use a new state",
                      store.describe(), recorded.hash, current.hash, what);
    return false;
  }
  notices_.push_back(fmt::format("state {} continues with a changed program (hash {}, was {}): {}; events already in it keep "
                                 "the decisions recorded for them",
                                 store.describe(), current.hash, recorded.hash, what));
  return store.begin_program(current, err);
}

bool Recorder::replay_schedule(const std::string& unit, std::vector<Decision>& out, state::UnitKind kind) {
  const UnitRecord* r = units_of(kind).find(unit);
  if (!r || !r->decided) return false;
  if (r->more) {
    // Several timer units with this id (its trigger id used again): they fired in ledger order,
    // and the replay fires them in the same order.
    auto it = several_[size_t(kind)].find(unit);
    if (it != several_[size_t(kind)].end()) {
      for (auto& s : it->second)
        if (!s.taken) {
          s.taken = true;
          std::string err;
          report(s.record, out, err);
          return true;
        }
      return false;
    }
  }
  std::string err;
  report(*r, out, err);  // a failed read is store_error_, which stops the run
  return true;
}

// The decisions are read back from the store rather than kept in memory: the engine remembers
// only where each unit's decisions are, so its memory does not grow with every decision.
bool Recorder::report(const UnitRecord& r, std::vector<Decision>& out, std::string& err) {
  if (r.count == 0 || quiet_) return true;
  if (!ok(err)) return false;
  replay_.clear();
  if (!store_->read(r.first, r.count, replay_, err)) {
    store_error_ = err;
    return false;
  }
  for (auto& e : replay_) {
    Decision d;
    d.json = std::move(e.json);
    d.user = std::move(e.user);
    d.at = e.at;
    // The ledger's text names an outcome of decisions.def; anything else reads as rejected.
    if (!outcome_from_name(e.outcome, d.outcome)) d.outcome = Outcome::Rejected;
    out.push_back(std::move(d));
  }
  return true;
}

bool Recorder::record_decided(const state::Unit& unit, std::vector<Decision>& decisions, std::string& err) {
  if (!store_) {
    err = "no state is attached to record the decisions in";
    return false;
  }
  const UnitRecord* known = unit.kind == state::UnitKind::Event ? find_event(unit.id) : units_of(unit.kind).find(unit.id);
  if (known && known->decided) {
    err = fmt::format("state {} already holds {} {}", store_->describe(),
                      unit.kind == state::UnitKind::Schedule ? "the scheduled run" : "the event", support::json_quote(unit.id));
    return false;
  }
  for (const auto& d : decisions) {
    if (d.strategy >= p_.strategies.size() || (!p_.strategies[d.strategy].actions.empty() &&
                                                (d.action < 0 || size_t(d.action) >= p_.strategies[d.strategy].actions.size()))) {
      err = "a decision names a strategy or action the program does not have";
      return false;
    }
  }
  return record(unit, nullptr, decisions, 0, err);
}

bool Recorder::record(const state::Unit& unit, UnitRecord* slot, std::vector<Decision>& out, size_t first,
                         std::string& err) {
  ++decided_units_;
  if (!store_) return true;  // nothing to remember without a store (see process())
  // The ledger keeps the text as reported; the caller reports the same text (no second render).
  // First every text (the buffer may move while it grows), then the rows that view them.
  if (text_.size() >= kTextReuse || epoch_ == 0) {
    static std::atomic<uint64_t> epochs{0};
    epoch_ = epochs.fetch_add(1, std::memory_order_relaxed) + 1;
    if (text_.capacity() > 4 * kTextReuse) std::string().swap(text_);  // after a unit of very many decisions
    text_.clear();
  }
  for (size_t i = first; i < out.size(); ++i) {
    Decision& d = out[i];
    // Given with its text (record_decided of a replayed decision), or recorded before and still
    // in the buffer: the text stays what it was, as a decision's `json` did.
    if (!d.json.empty() || !recorded_text(d).empty()) continue;
    const size_t at = text_.size();
    size_t head_end = at;
    append_decision_json(text_, d, &head_end);
    d.text_epoch = epoch_;
    d.text_at = static_cast<uint32_t>(at);
    d.text_len = static_cast<uint32_t>(text_.size() - at);
    d.text_head = static_cast<uint32_t>(head_end - at);
  }
  rows_.clear();
  for (size_t i = first; i < out.size(); ++i) {
    const Decision& d = out[i];
    state::LedgerRow& e = rows_.emplace_back();
    e.unit = unit.id;
    e.user = d.user;
    e.outcome = outcome_name(d.outcome);
    e.reason = reason_name(d.reason);
    if (d.strategy != kNoStrategy) {
      const auto& s = p_.strategies[d.strategy];
      e.strategy = s.name;
      if (s.pool >= 0) e.pool = p_.pools[s.pool].name;
      if (d.arm >= 0 && size_t(d.arm) < s.arms.size()) e.arm = s.arms[d.arm].name;
      if (d.rollout >= 0 && size_t(d.rollout) < s.arms.size()) e.rollout = s.arms[d.rollout].name;
      if (!s.actions.empty() && d.action >= 0) {
        const auto& a = s.actions[d.action];
        e.resource = p_.resources[a.resource].name;
        if (a.channel >= 0) e.channel = p_.channels[a.channel];
        e.code = a.code;
      }
    }
    e.amount = d.amount;
    e.sales = d.sales;
    e.at = d.at;
    e.granted_at = d.granted_at;
    e.json = d.json.empty() ? recorded_text(d) : std::string_view(d.json);
    // Schema 9: only what follows the head when the row's columns render the same head (the
    // decision names its unit's event, or none outside an event), so the ledger does not keep
    // those members twice; else the whole record.
    if (d.json.empty() && d.text_head > 0 && d.text_head < e.json.size() &&
        std::string_view(d.event) == state::head_event(unit.kind, unit.id)) {
      e.json.remove_prefix(d.text_head);
      e.json_tail = true;
    }
    e.timer = d.outcome == Outcome::Pending ? d.timer : d.trigger;
  }
  ++pending_units_;
  if (!ok(err)) return false;
  int64_t first_seq = 0;
  const size_t rows = rows_.size();
  if (store_->append_rows(unit, rows_.data(), rows, first_seq, err)) {
    UnitRecord r{first_seq, static_cast<uint32_t>(rows), true, true};
    if (slot == &pending_) {
      pending_ = r;
      remember(unit.id, pending_h_, pending_f_, pending_t_, r, true);
    } else if (slot) *slot = r;
    else if (unit.kind != state::UnitKind::Event) {
      // A timer id read back in several units keeps them for the replay (replay_schedule).
      const UnitRecord* old = units_of(unit.kind).find(unit.id);
      if (!old || !old->more) units_of(unit.kind).insert_or_assign(unit.id, r);
    }
    else {
      // An event recorded from outside the stream (record_decided): remembered at the time of
      // its latest decision, or at the latest event time seen when it has none.
      int64_t t = latest_ == INT64_MIN ? 0 : latest_;
      if (first < out.size()) {
        t = out[first].at;
        for (size_t i = first; i < out.size(); ++i) t = std::max(t, out[i].at);
      }
      const uint64_t h = support::StringMap<UnitRecord>::hash(unit.id);
      remember(unit.id, h, id_hash(unit.id, h), t, r, false);
    }
    if (fresh_)
      for (size_t i = first; i < out.size(); ++i) fresh_->emplace_back(out[i].json.empty() ? recorded_text(out[i]) : out[i].json);
    return true;
  }
  store_error_ = err;
  return false;
}

void Recorder::render_constant_runs() {
  const size_t outcomes = 0
#define CRM_OUTCOME(id, name, meaning) +1
#include "runtime/engine/decisions.def"
      ;
  const size_t reasons = 1  // Reason::None
#define CRM_REASON(id, name, outcomes, meaning) +1
#include "runtime/engine/decisions.def"
      ;
  runs_ = {};
  state::append_head_strategy(runs_.no_strategy, "");
  state::append_head_action(runs_.no_action, "", "", "");
  runs_.outcome.resize(outcomes);
  for (size_t o = 0; o < outcomes; ++o)
    for (size_t r = 0; r < reasons; ++r)
      state::append_head_outcome(runs_.outcome[o].emplace_back(), outcome_name(static_cast<Outcome>(o)),
                                 reason_name(static_cast<Reason>(r)));
  for (const auto& res : p_.resources) {
    std::string& c = runs_.currency.emplace_back(field_prefix(Field::Currency));
    support::append_json_quoted(c, res.currency);
  }
  for (const auto& s : p_.strategies) {
    state::append_head_strategy(runs_.strategy.emplace_back(), s.name);
    auto& actions = runs_.action.emplace_back();
    for (const auto& a : s.actions)
      state::append_head_action(actions.emplace_back(), p_.resources[a.resource].name,
                                a.channel >= 0 ? std::string_view(p_.channels[a.channel]) : "", a.code);
    std::string& pool = runs_.pool.emplace_back();
    if (s.pool >= 0) {
      pool = field_prefix(Field::Pool);
      support::append_json_quoted(pool, p_.pools[s.pool].name);
    }
  }
}

std::string Recorder::decision_json(const Decision& d) const {
  if (!d.json.empty()) return d.json;
  if (std::string_view t = recorded_text(d); !t.empty()) return std::string(t);
  std::string out;
  out.reserve(256);
  append_decision_json(out, d);
  return out;
}

// One buffer, appended to: this runs for every decision, so no temporary per field (`crm run`
// appends every decision of a batch to one buffer, with no string per decision).
void Recorder::append_decision_json(std::string& out, const Decision& d, size_t* head_end) const {
  if (!d.json.empty()) {
    out += d.json;
    return;
  }
  if (std::string_view t = recorded_text(d); !t.empty()) {
    out += t;
    return;
  }
  bool has_strategy = d.strategy != kNoStrategy;
  const bytecode::Strategy* s = has_strategy ? &p_.strategies[d.strategy] : nullptr;
  const bytecode::Action* a = s && !s->actions.empty() && d.action >= 0 ? &s->actions[d.action] : nullptr;
  const bytecode::Resource* r = a ? &p_.resources[a->resource] : nullptr;
  using F = Field;
  auto str = [&](Field key, bool present, std::string_view v) {
    out += field_prefix(key);
    if (present) support::append_json_quoted(out, v);
    else out += "null";
  };
  auto time = [&](Field key, int64_t t) {
    out += field_prefix(key);
    out += '"';
    support::append_time(out, t);
    out += '"';
  };
  // An amount's text is digits, '-' and '.': nothing to escape between its quotes.
  auto money = [&](Field key, int64_t v) {
    out += field_prefix(key);
    out += '"';
    support::Decimal::append_units(out, v);
    out += '"';
  };
  // The members the ledger keeps as columns too, by the functions that render them again from
  // a narrow row (runtime/state/ledger_json.h): state::append_decision_head's runs, those fixed
  // by the program rendered once (render_constant_runs); names are never empty, so an empty
  // view is exactly a null member.
  state::append_head_start(out, d.event, d.user);
  out += s ? runs_.strategy[d.strategy] : runs_.no_strategy;
  out += runs_.outcome[static_cast<size_t>(d.outcome)][static_cast<size_t>(d.reason)];
  out += a ? runs_.action[d.strategy][static_cast<size_t>(d.action)] : runs_.no_action;
  state::append_head_end(out, d.at);
  if (head_end) *head_end = out.size();
  bool monetary = r && is_coupon(r->kind);
  auto currency = [&] { out += runs_.currency[a->resource]; };
  switch (d.outcome) {
    case Outcome::Granted:
      if (monetary) money(F::Amount, d.amount), currency();
      // A percentage discount: `amount` is its cap, reserved; the subsidy is known at redemption.
      if (monetary && r->percent > 0) money(F::Percent, r->percent * 100);
      break;
    case Outcome::Redeemed:
      time(F::GrantedAt, d.granted_at);
      money(F::Subsidy, d.amount);
      money(F::Sales, d.sales);
      if (monetary) currency();
      break;
    case Outcome::RedeemRejected:
      if (r) time(F::GrantedAt, d.granted_at);
      break;
    case Outcome::Expired:
      time(F::GrantedAt, d.granted_at);
      if (monetary) money(F::Amount, d.amount), currency();
      break;
    default:
      break;
  }
  // A message that is sent, held, or would have been (control): its text as rendered for the
  // user, an SMS's segments, and what it cost the budget (a held message: when held).
  if (r && bytecode::is_message(r->kind) && a && a->send &&
      (d.outcome == Outcome::Granted || d.outcome == Outcome::Held ||
       (d.outcome == Outcome::Control && d.reason == Reason::None))) {
    if (!d.title.empty()) str(F::Title, true, d.title);
    str(F::Text, true, d.text);
    if (r->kind == bytecode::ResourceKind::Sms) out += field_prefix(F::Segments), fmt::format_to(std::back_inserter(out), "{}", d.segments);
    if (d.amount > 0 && d.outcome != Outcome::Control) money(F::Cost, d.amount), currency();
  }
  // The release of a held message names when it was held.
  if (d.released) time(F::HeldAt, d.granted_at);
  // The value that ranked the strategy among the event's candidates (docs/semantics.md).
  if (d.has_value && s) {
    money(F::Value, d.value);
    if (!s->value_currency.empty()) str(F::ValueCurrency, true, s->value_currency);
  }
  // A referral names the event's own user and the recipient the event named.
  if (d.referral) {
    str(F::TriggerUser, true, d.trigger_user);
    str(F::Recipient, !d.recipient.empty(), d.recipient);
  }
  // A delayed trigger's timer: when it is due, and (cancelled) the event that armed it.
  if (d.outcome == Outcome::Pending || d.outcome == Outcome::Cancelled) time(F::Due, d.granted_at);
  if (d.outcome == Outcome::Cancelled) str(F::Trigger, true, d.trigger);
  // A strategy's decisions name the budget pool it draws from and the user's A/B/n arm.
  if (s && s->pool >= 0 && is_strategy_decision(d.outcome)) out += runs_.pool[d.strategy];
  if (s && d.arm >= 0 && size_t(d.arm) < s->arms.size()) str(F::Arm, true, s->arms[d.arm].name);
  // A user of the rest of the audience, decided after a roll-out: the winning arm they get.
  if (s && d.rollout >= 0 && size_t(d.rollout) < s->arms.size()) str(F::RolloutArm, true, s->arms[d.rollout].name);
  // A roll-out's record: its numbers (runtime/engine/rollout.cc; members metric .. excludes_zero).
  if (d.outcome == Outcome::Rollout) out += d.detail;
  out += '}';
}

}  // namespace crm::engine
