// engine.cc - the facade: an event's path through the parts (decoder, user state, candidates,
// evaluator, decision rules, redemption, scheduler, recorder), explain, and audience.
#include "runtime/engine/engine.h"

#include <fmt/format.h>

#include <algorithm>

#include "runtime/engine/audience.h"
#include "runtime/engine/json_line.h"
#include "support/text.h"
#include "support/civil_time.h"
#include "support/json_text.h"
#include "support/line_reader.h"

namespace crm::engine {

namespace {

// Per event type and field, whether anything reads it: compiled code and redemptions.
std::vector<std::vector<uint8_t>> fields_read(const bytecode::Program& p, const Redemptions& r) {
  auto read = event_fields_read(p);
  r.mark_read(read);
  return read;
}

}  // namespace

Engine::Engine(const bytecode::Program& program, EngineOptions options)
    : p_(program),
      strings_(program.strings),
      users_(program, strings_),
      eval_(program, std::move(options.executor), strings_, collections_),
      redemptions_(program, strings_, collections_, users_, stats_),
      candidates_(program),
      decoder_(program, strings_, collections_, fields_read(program, redemptions_), users_.default_profile(),
               users_.default_present()),
      rules_(program, eval_, redemptions_, users_, stats_),
      scheduler_(program, candidates_),
      timers_(program, candidates_),
      rollouts_(program),
      recorder_(program),
      read_(fields_read(program, redemptions_)) {
  collections_.seed(p_.sets, p_.lists);  // collection defaults and constants are handles into these
  rules_.bind_rollouts(&rollouts_);
  aggs_by_event_.resize(p_.events.size());
  for (uint32_t g = 0; g < p_.aggregates.size(); ++g)
    if (p_.aggregates[g].source == bytecode::AggSource::Events) aggs_by_event_[p_.aggregates[g].event].push_back(g);
}

Engine::~Engine() = default;

void sort_by_time(std::vector<Event>& events) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time != b.time ? a.time < b.time : a.id < b.id;
  });
}

std::optional<std::vector<int64_t>> Engine::profile_of(const std::string& id) const {
  const User* u = users_.find(id);
  if (!u) return std::nullopt;
  return std::vector<int64_t>(u->profile().begin(), u->profile().end());
}

std::optional<std::vector<uint8_t>> Engine::profile_present_of(const std::string& id) const {
  const User* u = users_.find(id);
  if (!u) return std::nullopt;
  return std::vector<uint8_t>(u->present().begin(), u->present().end());
}

size_t Engine::deliveries_kept(const std::string& id) const {
  const User* u = users_.find(id);
  if (!u) return 0;
  const Shadow* sh = u->shadow();
  return u->deliveries().size() + (sh ? sh->deliveries.size() : 0);
}

bytecode::AggValue Engine::aggregate_of(const std::string& id, uint32_t g, int64_t now) {
  return users_.aggregate_of(id, g, now);
}

// ---- data --------------------------------------------------------------------------------------

bool Engine::encode_field(const bytecode::Field& f, const JsonValueView& v, int64_t& out, std::string& err, uint8_t* present) {
  return decoder_.encode_field(f, v, out, err, present);
}

// Why the engine stops at an exception: see Engine::stopped() (engine.h).
void Engine::check_running() const {
  if (!stopped_.empty()) throw std::runtime_error(stopped_);
}

void Engine::stop_on_exception() noexcept {
  if (!stopped_.empty()) return;  // the first reason stands (a nested entry point, or the refusal itself)
  try {
    const char* why = "an unknown exception";
    try {
      throw;
    } catch (const std::exception& e) {
      why = e.what();
    } catch (...) {
    }
    stop(why);
  } catch (...) {
  }
}

void Engine::stop(std::string_view why) noexcept {
  if (!stopped_.empty()) return;
  try {
    stopped_ = fmt::format(
        "the engine stopped after an internal error ({}): its state in memory may be half-updated, so it takes no more "
        "input; a new run on the same ledger, given its input again from the start, resumes from what was committed",
        why);
  } catch (...) {
    stopped_ = "internal error";  // out of memory for the message: 14 characters fit without allocating
  }
}

bool Engine::parse_event(std::string_view line, Event& ev, std::string& err) { return decoder_.event(line, ev, err); }

void Engine::keep_profile(ProfileRecord& rec) {
  if (!owns(rec.user)) return;  // another partition's user
  User& u = users_.get(rec.user);
  std::copy(rec.values.begin(), rec.values.end(), u.profile().begin());
  std::copy(rec.present.begin(), rec.present.end(), u.present().begin());
}

bool Engine::load_profile_line(std::string_view line, std::string& err, ProfileFileUsers* file, size_t line_number) try {
  check_running();
  ProfileRecord rec;
  if (!decoder_.profile_line(line, rec, err)) return false;
  if (file && !file->add(rec.user, line_number, err)) return false;
  keep_profile(rec);
  return true;
} catch (...) {
  stop_on_exception();
  throw;
}

bool Engine::load_profile_csv_header(const std::vector<support::CsvField>& header, std::string& err) try {
  check_running();
  return decoder_.csv_header(header, err);
} catch (...) {
  stop_on_exception();
  throw;
}

bool Engine::load_profile_csv_row(const std::vector<support::CsvField>& cells, std::string& err, ProfileFileUsers* file,
                                  size_t line_number) try {
  check_running();
  ProfileRecord rec;
  if (!decoder_.csv_row(cells, rec, err)) return false;
  if (file && !file->add(rec.user, line_number, err)) return false;
  keep_profile(rec);
  return true;
} catch (...) {
  stop_on_exception();
  throw;
}

bool Engine::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  std::string err;
  ProfileFileUsers users;  // every user of the file, also another partition's: a file has one verdict
  if (csv) {
    support::CsvReader reader(in);
    std::vector<support::CsvField> cells;
    bool header = true;
    while (true) {
      bool ok = reader.next(cells);
      if (!ok && reader.error().empty()) break;  // the end
      if (!ok) {
        err = reader.error();
      } else if (header) {
        if (load_profile_csv_header(cells, err)) { header = false; continue; }
      } else if (load_profile_csv_row(cells, err, &users, reader.line())) {
        continue;
      }
      // Without a header no row can be read, and after a read error nothing can: those always stop.
      if (!on_error(reader.line(), err) || header || reader.failed()) return false;
    }
    if (header) {
      on_error(1, "empty file: expected a header row naming the columns (one of them `user`)");
      return false;
    }
    return true;
  }
  support::LineReader reader(in);
  std::string line;
  while (reader.next(line)) {
    if (line.empty()) continue;
    if (!load_profile_line(line, err, &users, reader.line()) && !on_error(reader.line(), err)) return false;
  }
  if (reader.failed()) {  // not the end of the file: the profiles after it were never read
    on_error(reader.line() + 1, "read error");
    return false;
  }
  return true;
}

// ---- user state --------------------------------------------------------------------------------

void Engine::apply(User& u, const Event& ev) {
  for (uint32_t g : aggs_by_event_[ev.type]) {
    const auto& spec = p_.aggregates[g];
    if (spec.filter_unit >= 0) {
      vm::Result r = eval_.run(static_cast<uint32_t>(spec.filter_unit), u, &ev, ev.time);
      if (r.status != vm::Status::Ok) { stats_.count_error(r.error); continue; }
      if (!r.value) continue;
    }
    bool has = spec.field >= 0 && ev.present[spec.field];
    int64_t v = has ? ev.fields[spec.field] : 0;
    u.aggs().add(spec, g, ev.time, v, spec.field < 0 || has);
  }
}

namespace {

// The refusal of an event older than its user's latest (process, submit, explain).
std::string out_of_order(const Event& ev, int64_t last) {
  return fmt::format("out of order: {} is before user `{}`'s previous event at {}", support::format_time(ev.time), support::visible(ev.user),
                     support::format_time(last));
}

}  // namespace

// Sliding windows forget a user's events as that user's time advances, so each user's events
// must come in time order; different users' events may interleave (several feeders).
bool Engine::observe_event(User& u, const Event& ev, std::string& err) {
  if (ev.time < u.last_time()) {
    err = out_of_order(ev, u.last_time());
    return false;
  }
  u.last_time() = ev.time;
  last_time_ = std::max(last_time_, ev.time);
  clock_ = std::max(clock_, ev.time);
  apply(u, ev);
  ++stats_.events;
  return true;
}

bool Engine::record_unit(const state::Unit& unit, Recorder::UnitRecord* slot, std::vector<Decision>& out, size_t first,
                         std::string& err) {
  if (rollouts_.any())
    for (size_t i = first; i < out.size(); ++i) rollouts_.note(out[i]);
  return recorder_.record(unit, slot, out, first, err);
}

bool Engine::observe(const Event& ev, std::string& err) try {
  check_running();
  User& u = users_.get(ev.user);
  if (!observe_event(u, ev, err)) return false;
  // History only: a redemption marks the grant used (no decisions are reported here).
  std::vector<Decision> ignored;
  redemptions_.redeem(u, ev.user, ev, ignored);
  return true;
} catch (...) {
  stop_on_exception();
  throw;
}

// ---- durable state -----------------------------------------------------------------------------

bool Engine::attach(state::StateStore* store, std::string& err) try {
  check_running();
  if (recorder_.store() || recorder_.decided_units() > 0) {
    // Counters and grants of this engine would not be in the store's ledger.
    err = fmt::format("cannot attach state {}: attach state before processing any event", store->describe());
    return false;
  }
  strategy_of_.clear();
  resource_of_.clear();
  restored_held_.clear();
  restored_timers_.clear();
  restored_timer_index_.clear();
  ledger_clock_ = INT64_MIN;
  bool ok = recorder_.attach(
      store,
      [&](state::StateStore& s) {
        rules_.bind_quotas(s.quotas());
        for (uint32_t i = 0; i < p_.strategies.size(); ++i) strategy_of_.emplace(p_.strategies[i].name, i);
        for (uint32_t i = 0; i < p_.resources.size(); ++i) resource_of_.emplace(p_.resources[i].name, i);
      },
      [&](const state::LedgerEntry& e) {
        // Every row, whoever's: several engines on one ledger measure time jumps from one clock.
        ledger_clock_ = std::max(ledger_clock_, e.at);
        if (!restore_filter_ || restore_filter_(e.user)) restore(e);
      },
      err);
  if (!ok) return false;
  // Events that decided nothing are units with their time, not rows: the clock is the latest of
  // both (a campaign whose last decision was months before its last event is not "far behind").
  ledger_clock_ = std::max(ledger_clock_, recorder_.latest_unit_at());
  for (const auto& [key, count] : restored_held_) {
    const auto& [user, si, ai, held_at] = key;
    if (int64_t due = rules_.quiet_hold(p_.strategies[si], held_at))
      for (size_t i = 0; i < count; ++i) rules_.hold(due, user, si, ai, held_at);
  }
  restored_held_.clear();
  if (!restore_timers(err)) return false;
  // Grants still open wait for their expiry.
  for (const auto& [user, r] : users_.restored())
    for (size_t i = 0; i < r.grants.size(); ++i)
      if (r.grants[i].state == GrantState::Open && r.grants[i].expires != INT64_MAX)
        redemptions_.track(r.grants[i].expires, user, i);
  // Users made before the ledger was attached (a profile loaded first) take their grants now.
  users_.adopt_restored();
  return true;
} catch (...) {
  stop_on_exception();
  throw;
}

// Rebuild what a grant stands for. Entries of strategies or resources the program no longer
// has (an older program version) are kept in the ledger but count for nothing here.
void Engine::restore(const state::LedgerEntry& e) {
  Outcome o;
  if (!outcome_from_name(e.outcome, o)) return;  // not a row of this table: counts for nothing
  // A roll-out's choice is read back, never computed again; the groups of its users are
  // rebuilt from their decisions (their orders from the events, as the input is replayed).
  if (rollouts_.any()) {
    auto s = strategy_of_.find(e.strategy);
    if (s != strategy_of_.end() && p_.strategies[s->second].has_rollout) {
      const auto& st = p_.strategies[s->second];
      if (o == Outcome::Rollout) {
        rollouts_.restore(s->second, e.arm, e.at, e.json);
        return;
      }
      if ((o == Outcome::Granted || o == Outcome::Rejected || o == Outcome::Held || o == Outcome::Control) &&
          e.rollout.empty() && e.granted_at == 0) {
        int32_t group = -1;
        if (o == Outcome::Control) group = Rollouts::kControl;
        else
          for (size_t k = 0; k < st.arms.size(); ++k)
            if (st.arms[k].name == e.arm) group = int32_t(k);
        rollouts_.note_user(s->second, e.user, group, e.at);
      }
      // What the user's deliveries cost before the decision point, as the report reads it: a
      // message's `cost` in its record (sent or held; a release records none), a redemption's subsidy.
      if (e.rollout.empty() && (((o == Outcome::Granted || o == Outcome::Held) && e.json.find(",\"cost\":") != std::string::npos) ||
                                o == Outcome::Redeemed))
        rollouts_.note_cost(s->second, e.user, e.amount, e.at);
    }
  }
  // A delayed trigger's timer: armed by a `pending` row, gone with its `cancelled` row (and
  // fired when its timer unit is in the ledger, see restore_timers). A strategy the program no
  // longer has keeps its rows, which count for nothing.
  if (o == Outcome::Pending || o == Outcome::Cancelled) {
    auto s = strategy_of_.find(e.strategy);
    if (s == strategy_of_.end() || p_.strategies[s->second].delay <= 0) return;
    // By strategy, trigger id and due time (a `cancelled` row names its timer's due time, as the
    // `pending` row that armed it): a trigger id used again (after the dedup window) arms a
    // timer of its own at each use, and a cancellation is of one of them.
    std::string key = fmt::format("{}\x1f{}\x1f{}", e.strategy, o == Outcome::Pending ? e.unit : e.timer, e.granted_at);
    if (o == Outcome::Pending) {
      restored_timer_index_[key] = restored_timers_.size();
      restored_timers_.push_back({s->second, e.unit, e.timer, e.granted_at, e.at});
    } else if (auto it = restored_timer_index_.find(key); it != restored_timer_index_.end()) {
      restored_timers_[it->second].cancelled = true;
    }
    return;
  }
  // A held message waits for its release unless the ledger already has it (granted or
  // rejected, naming the time it was held); its delivery counted when it was held.
  if (o == Outcome::Held || ((o == Outcome::Granted || o == Outcome::Rejected) && e.granted_at != 0)) {
    auto s = strategy_of_.find(e.strategy);
    auto r = resource_of_.find(e.resource);
    if (s != strategy_of_.end() && r != resource_of_.end()) {
      int32_t ai = action_of(s->second, r->second, e.channel, e.code);
      auto key = std::make_tuple(e.user, s->second, ai, o == Outcome::Held ? e.at : e.granted_at);
      if (o == Outcome::Held) {
        ++restored_held_[key];
        Restored& u = users_.restored()[e.user];
        restore_delivery(u.delivery_unit, u.deliveries, e, s->second);
        restore_history(e, s->second, ai, false);
        return;
      }
      if (auto it = restored_held_.find(key); it != restored_held_.end() && --it->second == 0) restored_held_.erase(it);
    }
  }
  // Control rows without a reason are what a control user would have received: shadow grants.
  bool shadow = o == Outcome::Control && e.reason.empty();
  if (o != Outcome::Granted && o != Outcome::Redeemed && o != Outcome::Expired && !shadow) return;
  auto s = strategy_of_.find(e.strategy);
  auto r = resource_of_.find(e.resource);
  if (s == strategy_of_.end() || r == resource_of_.end()) return;
  restore_grant(e, o, s->second, r->second);
}

// The user's grants wait in Users::restored() until the replay meets the user, so users are still
// created in stream order (scheduled deliveries iterate users in that order).
void Engine::restore_grant(const state::LedgerEntry& e, Outcome o, uint32_t si, uint32_t ri) {
  Restored& u = users_.restored()[e.user];
  const bool shadow = o == Outcome::Control;
  if (o != Outcome::Granted && !shadow) {
    // A redemption or expiry closes the grant it names.
    for (auto& g : u.grants)
      if (g.strategy == si && g.resource == ri && g.time == e.granted_at && g.state == GrantState::Open) {
        g.state = o == Outcome::Redeemed ? GrantState::Redeemed : GrantState::Expired;
        if (o == Outcome::Redeemed) restore_history(e, si, g.action, true);
        break;
      }
    return;
  }
  int32_t ai = action_of(si, ri, e.channel, e.code);
  int32_t ch = p_.strategies[si].actions.empty() ? -1 : p_.strategies[si].actions[ai].channel;
  auto& grants = shadow ? u.shadow_grants : u.grants;
  auto& deliveries = shadow ? u.shadow_deliveries : u.deliveries;
  grants.push_back({si, ri, ai, ch, e.at, e.amount, redemptions_.expiry_of(ri, e.at)});
  // Stock and budget were recounted by the store (state::Quotas), from the same rows. A released
  // message (granted_at: when it was held) belongs to the delivery counted when it was held.
  if (!shadow && e.granted_at != 0) return;
  restore_delivery(shadow ? u.shadow_delivery_unit : u.delivery_unit, deliveries, e, si);
  if (!shadow) restore_history(e, si, ai, false);
}

void Engine::restore_delivery(Restored::LastUnit& last, std::vector<Delivery>& deliveries, const state::LedgerEntry& e,
                              uint32_t si) {
  const bool same = !deliveries.empty() && deliveries.back() == std::make_pair(si, e.at) &&
                    last.kind == static_cast<uint8_t>(e.kind) && last.unit == e.unit;
  if (!same) deliveries.emplace_back(si, e.at);
  last.kind = static_cast<uint8_t>(e.kind);
  last.unit = e.unit;
}

// The user's delivery history as the ledger has it (docs/semantics.md, "Delivery history"): the
// granted and held actions of each delivery, and each redemption, replayed into the received /
// redeemed aggregates when the stream meets the user (Users::get).
void Engine::restore_history(const state::LedgerEntry& e, uint32_t si, int32_t ai, bool redemption) {
  if (!users_.history().used()) return;
  Restored& u = users_.restored()[e.user];
  HistoryEntry h;
  h.redemption = redemption;
  h.strategy = si;
  h.action = ai;
  h.at = e.at;
  if (!redemption) {
    h.new_delivery = !(u.last_unit == e.unit && u.last_strategy == si && u.last_at == e.at);
    u.last_unit = e.unit;
    u.last_strategy = si;
    u.last_at = e.at;
  }
  u.history.push_back(h);
}

int32_t Engine::action_of(uint32_t si, uint32_t ri, const std::string& channel, const std::string& code) const {
  int32_t ch = -1;
  for (size_t c = 0; c < p_.channels.size(); ++c) if (p_.channels[c] == channel) ch = static_cast<int32_t>(c);
  const auto& st = p_.strategies[si];
  int32_t ai = 0;
  for (size_t a = 0; a < st.actions.size(); ++a)
    if (st.actions[a].resource == ri && st.actions[a].code == code && st.actions[a].channel == ch) ai = static_cast<int32_t>(a);
  return ai;
}

bool Engine::commit(std::string& err) try {
  check_running();
  return recorder_.commit(err);
} catch (...) {
  stop_on_exception();
  throw;
}

bool Engine::record_decided(const state::Unit& unit, std::vector<Decision>& decisions, std::string& err) try {
  check_running();
  return recorder_.record_decided(unit, decisions, err);
} catch (...) {
  stop_on_exception();
  throw;
}

// ---- streaming ---------------------------------------------------------------------------------

bool Engine::process(const Event& ev, std::vector<Decision>& out, std::string& err) try {
  check_running();
  if (!owns(ev.user)) {
    ++stats_.skipped;
    ++stats_.skipped_by_reason["other partition"];
    return true;
  }
  // With a state store attached, event ids are idempotent: the same id again (a retried
  // delivery) gets the same decisions and changes nothing. Without one, no id is remembered.
  // One lookup finds a recorded unit or makes the slot this one will be recorded in.
  Recorder::UnitRecord* slot = recorder_.event_slot(ev.id, ev.time);
  bool recorded = false;
  if (slot) {
    recorded = slot->decided;
    if (recorded && slot->applied) return recorder_.report(*slot, out, err);
  }
  User& u = users_.get(ev.user);
  u.prefetch_extra();  // observing the event gives it time to arrive
  if (!observe_event(u, ev, err)) {
    if (slot && !recorded) recorder_.forget_event(ev.id);
    return false;
  }
  u.prefetch_grants();  // read by redemption, per-user caps and policies below
  // Orders of users in a roll-out's groups count towards its choice, replayed ones too (the
  // counters are rebuilt from the input after a restart, as the history aggregates are).
  if (rollouts_.any()) rollouts_.observe(ev);
  if (recorded) {
    // Decided before a restart: report the record. Its grants, redemptions and expiries were
    // restored from the ledger, so only the history aggregates are rebuilt here.
    slot->applied = true;
    if (auto f = fired_by_trigger_.find(ev.id); f != fired_by_trigger_.end()) {
      // The timers this use of the id armed (its time is theirs); another use's wait for it.
      auto& fired = f->second;
      auto mine = std::stable_partition(fired.begin(), fired.end(), [&](const FiredTimer& x) { return x.at != ev.time; });
      for (auto it = mine; it != fired.end(); ++it) timers_.arm({it->due, it->strategy, ev, true});
      fired.erase(mine, fired.end());
      if (fired.empty()) fired_by_trigger_.erase(f);
    }
    return recorder_.report(*slot, out, err);
  }
  size_t first = out.size();
  // The path of an event: grants whose time has come expire, held messages whose quiet hours
  // ended are released, the event's redemption is checked, then its candidate strategies are
  // decided in priority order, and the unit is recorded.
  redemptions_.expire(ev.time, out);
  rules_.release(ev.time, out);
  redemptions_.redeem(u, ev.user, ev, out);
  // Timers this event cancels go first, so an event of the trigger's own type (`on Visit, after
  // 1 day unless Visit`) cancels the earlier timer and then arms its own.
  if (timers_.any()) cancel_timers(ev, out);
  decide_candidates(u, ev, out);
  return record_unit({state::UnitKind::Event, ev.id, ev.time}, slot, out, first, err);
} catch (...) {
  stop_on_exception();
  throw;
}

// The event's candidates in priority order; when one of them has `value:`, those that match are
// decided highest value first (DecisionRules::rank). A delayed trigger's strategy only arms its
// timer here (it is decided, and ranked by nothing, when the timer fires).
void Engine::decide_candidates(User& u, const Event& ev, std::vector<Decision>& out) {
  std::vector<uint32_t>& cands = cands_;
  cands.clear();
  for (uint32_t s : candidates_.select(ev)) {
    if (p_.strategies[s].delay > 0) arm_timer(u, ev, s, out);
    else cands.push_back(s);
  }
  if (std::none_of(cands.begin(), cands.end(), [&](uint32_t s) { return p_.strategies[s].value >= 0; })) {
    // Every candidate's clauses that no earlier decision can change, in one executor call
    // (one native call with the JIT); the rest are evaluated at their turn.
    rules_.prematch(u, ev, cands);
    // Verdicts not taken are dropped however deciding ends, an exception included: the next event
    // decided without a prematch of its own (through rank()) must never take them. (After an
    // exception the engine stops, see stopped(); this keeps the rules' own state clean anyway.)
    struct DropVerdicts {
      DecisionRules& rules;
      ~DropVerdicts() { rules.clear_prematch(); }
    } drop{rules_};
    for (uint32_t s : cands) rules_.decide(u, ev.user, &ev, ev.time, s, out);
    return;
  }
  for (const auto& r : rules_.rank(u, ev, cands)) rules_.deliver(u, ev.user, &ev, ev.time, r.strategy, out, &r);
}

// ---- delayed triggers --------------------------------------------------------------------------

// The `when:` part is decided at the event: its window and its `if`. Everything else (and the
// `if` again) is decided when the timer fires, with the user's state then (fire_timer).
void Engine::arm_timer(User& u, const Event& ev, uint32_t si, std::vector<Decision>& out) {
  const auto& s = p_.strategies[si];
  if (s.has_window && (ev.time < s.from || ev.time >= s.to)) return;
  bool ok = true;
  if (s.trigger_if >= 0 && (!rules_.run_clause(s.trigger_if, u, &ev, ev.time, ok) || !ok)) return;
  Decision d;
  d.event = ev.id;
  d.user = ev.user;
  d.strategy = si;
  d.at = ev.time;
  if (timers_.full(ev.user)) {
    d.outcome = Outcome::Rejected;
    d.reason = Reason::TimerLimit;
    ++stats_.rejected;
    out.push_back(std::move(d));
    return;
  }
  d.outcome = Outcome::Pending;
  d.granted_at = ev.time + s.delay;  // time < 9999-12-31 and delay <= 366 days: no overflow
  if (recorder_.store()) d.timer = event_json(p_, ev, strings_, collections_, read_[ev.type]);
  timers_.arm({d.granted_at, si, ev, false});
  ++stats_.timers_armed;
  if (keep_fates_) fates_[{ev.user, si}] = TimerFate{ev.id, ev.time, d.granted_at, TimerFate::State::Pending, "", 0, {}};
  out.push_back(std::move(d));
}

void Engine::cancel_timers(const Event& ev, std::vector<Decision>& out) {
  std::vector<Timer> hit;
  timers_.cancel(ev, hit);
  for (auto& t : hit) {
    Decision d;
    d.event = ev.id;
    d.user = ev.user;
    d.strategy = t.strategy;
    d.outcome = Outcome::Cancelled;
    d.at = ev.time;
    d.granted_at = t.due;
    d.trigger = t.trigger.id;
    ++stats_.timers_cancelled;
    if (keep_fates_)
      if (auto it = fates_.find({ev.user, t.strategy}); it != fates_.end() && it->second.trigger == t.trigger.id) {
        it->second.state = TimerFate::State::Cancelled;
        it->second.by = ev.id;
        it->second.at = ev.time;
      }
    out.push_back(std::move(d));
  }
}

// A due timer is one work unit (`timer:<strategy>@<trigger id>`): expiries and releases due by
// then, then the strategy decided for the user at `due`, against the trigger event (the window
// is the trigger's, see DecisionRules::decide). A timer that fired before a restart reports
// its recorded decisions instead.
bool Engine::fire_timer(std::vector<Decision>& out, std::string& err) {
  Timer t = timers_.pop();
  const auto& s = p_.strategies[t.strategy];
  std::string unit = Timers::unit_id(s, t.trigger.id);
  if (t.replay) {
    recorder_.replay_schedule(unit, out, state::UnitKind::Timer);
    return recorder_.ok(err);
  }
  size_t first = out.size();
  redemptions_.expire(t.due, out);
  rules_.release(t.due, out);
  size_t own = out.size();
  rules_.decide(users_.get(t.trigger.user), t.trigger.user, &t.trigger, t.due, t.strategy, out);
  ++stats_.timers_fired;
  if (keep_fates_)
    if (auto it = fates_.find({t.trigger.user, t.strategy}); it != fates_.end() && it->second.trigger == t.trigger.id) {
      it->second.state = TimerFate::State::Fired;
      it->second.decisions.assign(out.begin() + long(own), out.end());
    }
  return record_unit({state::UnitKind::Timer, unit, t.trigger.time}, nullptr, out, first, err);
}

// After the ledger is read: every armed, uncancelled timer waits again, from its copy of the
// trigger event; one whose firing is in the ledger waits only to report it at its time.
bool Engine::restore_timers(std::string& err) {
  // A timer id recorded in n units (its trigger id used again): the first n armed timers with
  // that id fired (timers of one id fire in the order they were armed, which is ledger order).
  std::unordered_map<std::string, size_t> fired;
  for (auto& r : restored_timers_) {
    if (r.cancelled) continue;
    Timer t;
    t.due = r.due;
    t.strategy = r.strategy;
    std::string why;
    if (!decoder_.event(r.json, t.trigger, why) || t.trigger.type != p_.strategies[r.strategy].event) {
      err = fmt::format("state {}: the pending timer of strategy `{}` armed by event {} cannot be restored: {}",
                        recorder_.store()->describe(), p_.strategies[r.strategy].name, support::json_quote(r.trigger),
                        why.empty() ? "its event is not the strategy's trigger" : why);
      return false;
    }
    std::string id = Timers::unit_id(p_.strategies[r.strategy], r.trigger);
    if (size_t& n = fired[id]; n < recorder_.completed(state::UnitKind::Timer, id)) {
      // Fired before the restart: nothing is pending. If the input is replayed, its trigger event
      // re-arms it to report the recorded decisions at `due`, where the first run reported them.
      ++n;
      fired_by_trigger_[r.trigger].push_back({r.strategy, r.due, r.at});
      continue;
    }
    timers_.arm(std::move(t));
  }
  restored_timers_.clear();
  restored_timer_index_.clear();
  return true;
}

// Explain on a delayed trigger's event: what arm_timer() checks (window, `if`), and the timer it
// would arm. What became of it is the caller's to add from timer_fate() once later events ran.
void Engine::explain_arming(User& copy, const Event& ev, uint32_t si, StrategyTrace& t) {
  const auto& s = p_.strategies[si];
  if (s.has_window && (ev.time < s.from || ev.time >= s.to)) {
    t.verdict = "outside_window";
    t.checks.push_back({"when", false,
                        fmt::format("{} is outside the window {} .. {}", support::format_time(ev.time),
                                    support::format_time(s.from), support::format_time(s.to))});
    return;
  }
  if (s.trigger_if >= 0) {
    bool ok = false;
    bool ran = rules_.run_clause(s.trigger_if, copy, &ev, ev.time, ok);
    Check c{"if", ran && ok, ran ? "" : "evaluation failed"};
    c.unit = s.trigger_if;
    t.checks.push_back(std::move(c));
    if (!ran || !ok) {
      t.verdict = "no_match";
      return;
    }
  }
  Decision d;
  d.event = ev.id;
  d.user = ev.user;
  d.strategy = si;
  d.at = ev.time;
  if (timers_.full(ev.user)) {
    t.verdict = "rejected";
    t.checks.push_back({"timer_limit", false,
                        fmt::format("pending timers: {} of the user (limit {}), {} in all (limit {})", timers_.pending_of(ev.user),
                                    timers_.per_user_limit(), timers_.pending(), timers_.total_limit())});
    d.outcome = Outcome::Rejected;
    d.reason = Reason::TimerLimit;
  } else {
    d.outcome = Outcome::Pending;
    d.granted_at = ev.time + s.delay;
    t.verdict = "pending";
    t.checks.push_back({"after", true,
                        fmt::format("{}: a timer is armed, due at {}; then the `if`, who, where, split, caps and policies "
                                    "are decided with the user's state at that instant, against this event",
                                    s.cancel_text, support::format_time(d.granted_at))});
  }
  t.decisions.push_back(std::move(d));
}

const Engine::TimerFate* Engine::timer_fate(const std::string& user, uint32_t strategy) const {
  auto it = fates_.find({user, strategy});
  return it == fates_.end() ? nullptr : &it->second;
}

StrategyTrace Engine::explain(const std::string& id, uint32_t si, const Event* ev, int64_t now,
                              const std::function<void(Check&, const UnitProbe&)>& probe) {
  const auto& s = p_.strategies[si];
  StrategyTrace t;
  t.strategy = si;
  t.event = ev ? ev->id : "";
  t.at = ev ? ev->time : now;
  bool on_event = s.trigger == bytecode::Trigger::OnEvent;
  if (ev && (!on_event || ev->type != s.event)) {
    t.verdict = "not_triggered";
    return t;
  }
  // An event strategy with no trigger event decides nothing; its `who` is still shown at
  // `now` when it does not read the event.
  bool who_only = on_event && !ev;
  if (who_only) {
    bool reads_event = s.who < 0;
    if (s.who >= 0)
      for (const auto& in : p_.units[s.who].code) reads_event |= in.op == bytecode::Op::LOAD_EVENT;
    t.verdict = "not_triggered";
    if (reads_event) return t;
  }
  // Deciding changes the user's state; explaining works on a copy of it and restores the
  // counters, so nothing of the engine changes (stock and budget are only read: see decide).
  const User* known = users_.find(id);
  if (ev && known && ev->time < known->last_time()) {
    // The run refuses such an event (observe_event), and so does explain: folded into a copy
    // that already holds the user's later events, it would be decided on a history and counters
    // the run never has for it. crm::explain never asks this: it applies the events in time
    // order (api/explain.cc).
    t.verdict = "out_of_order";
    t.checks.push_back({"order", false, out_of_order(*ev, known->last_time())});
    return t;
  }
  UserPtr copy_of = known ? known->clone() : users_.transient(id, true);
  User& copy = *copy_of;
  Stats saved = stats_;
  std::vector<Decision> ignored;
  if (ev) {
    // What process() does before deciding: the event joins the history, then its redemption.
    apply(copy, *ev);
    redemptions_.redeem(copy, id, *ev, ignored);
  }
  bool valued = false;
  std::vector<DecisionRules::Ranked> ranked;  // with values: the event's matching candidates, in order
  size_t position = 0;                        // this strategy's place in it
  if (ev && on_event) {
    // Strategies the event decides before this one may take what it needs (an exclusive group,
    // a policy's allowance): decide them first on the copy, as dry runs, so the explanation is
    // the run's decision. With values, the ranking is noted as a check of its own.
    StrategyTrace scratch;
    rules_.set_trace(&scratch);
    const std::vector<uint32_t> cands = candidates_.select(*ev);
    valued = std::any_of(cands.begin(), cands.end(), [&](uint32_t c) { return p_.strategies[c].value >= 0; });
    if (valued) {
      ranked = rules_.rank(copy, *ev, cands);
    } else {
      for (uint32_t c : cands) ranked.push_back({c, false, 0});
    }
    while (position < ranked.size() && ranked[position].strategy != si) {
      const auto& r = ranked[position++];
      if (valued) rules_.deliver(copy, id, ev, ev->time, r.strategy, scratch.decisions, &r);
      else rules_.decide(copy, id, ev, ev->time, r.strategy, scratch.decisions);
    }
    rules_.set_trace(nullptr);
  }
  rules_.set_trace(&t);
  if (who_only) {
    bool ok = false;
    Check c{"who", rules_.run_clause(s.who, copy, nullptr, now, ok) && ok, ""};
    c.unit = s.who;
    if (!rules_.trace_error().empty()) c.detail = "evaluation failed";
    t.checks.push_back(std::move(c));
  } else if (s.delay > 0 && ev) {
    explain_arming(copy, *ev, si, t);
  } else {
    if (valued && s.value >= 0) {
      explain_value(copy, id, *ev, si, ranked, position, t);
    } else {
      rules_.decide(copy, id, ev, t.at, si, t.decisions);
    }
  }
  rules_.set_trace(nullptr);
  const std::string& trace_error = rules_.trace_error();
  for (auto& c : t.checks)
    if (c.unit >= 0 && !c.passed && c.detail == "evaluation failed" && !trace_error.empty()) c.detail = trace_error;
  if (t.verdict.empty()) {
    t.verdict = "rejected";
    for (const auto& d : t.decisions) {
      if (d.outcome == Outcome::Control) t.verdict = "control";
      if (d.outcome == Outcome::Held && t.verdict != "granted") t.verdict = "held";
      if (d.outcome == Outcome::Granted) t.verdict = "granted";
    }
  }
  if (probe) {
    UnitProbe run = [&](uint32_t unit, int64_t& value, bool& present, std::string& error) {
      // The context run_unit() gives the strategy's clauses, so parts evaluate as they did.
      vm::Result r = eval_.run(unit, copy, ev, t.at, &s.zone);
      if (r.status != vm::Status::Ok) {
        error = r.error ? r.error : "evaluation failed";
        return false;
      }
      value = r.value;
      present = r.present;
      return true;
    };
    for (auto& c : t.checks)
      if (c.unit >= 0 && !c.passed) probe(c, run);
  }
  stats_ = saved;
  return t;
}

// A strategy with `value:` on an event where values rank the candidates: the clauses, then the
// value and its place in the ranking (every matching candidate with its value), then the rest.
void Engine::explain_value(User& copy, const std::string& id, const Event& ev, uint32_t si,
                           const std::vector<DecisionRules::Ranked>& ranked, size_t position, StrategyTrace& t) {
  if (!rules_.matches(copy, &ev, ev.time, si)) return;
  const auto& s = p_.strategies[si];
  Check c{"value", true, ""};
  if (position >= ranked.size()) {
    int64_t v = 0;
    rules_.value_of(copy, &ev, ev.time, si, v);
    c.passed = false;
    c.detail = fmt::format("value: `{}` fails: {}", s.value_text, rules_.trace_error());
    t.checks.push_back(std::move(c));
    t.verdict = "no_match";
    return;
  }
  std::string order;
  for (size_t i = 0; i < ranked.size(); ++i) {
    const auto& r = ranked[i];
    order += fmt::format("{}`{}` {}", i ? ", " : "", p_.strategies[r.strategy].name,
                         r.has_value ? rules_.value_text(r.strategy, r.value) : "(no value)");
  }
  c.detail = fmt::format("value: `{}` = {}: decided {} of {} matching strategies, highest value first: {}", s.value_text,
                         rules_.value_text(si, ranked[position].value), position + 1, ranked.size(), order);
  t.checks.push_back(std::move(c));
  rules_.deliver(copy, id, &ev, ev.time, si, t.decisions, &ranked[position]);
}

bool Engine::fire_schedules(int64_t upto, std::vector<Decision>& out, std::string& err) try {
  check_running();
  uint32_t best = 0;
  int64_t best_time = 0;
  for (;;) {
    bool scheduled = scheduler_.next_due(upto, last_time_, best, best_time);
    int64_t due = 0;
    bool timer = timers_.next_due(upto, due);
    // A roll-out's decision point goes before a schedule or timer of the same instant: like them,
    // it sees the events before it, and what they decide at that instant sees its choice.
    uint32_t rs = 0;
    int64_t rat = 0;
    if (rollouts_.any() && rollouts_.next_due(upto, rs, rat) && (!scheduled || rat <= best_time) && (!timer || rat <= due)) {
      clock_ = std::max(clock_, rat);
      if (!run_rollout(rs, out, err)) return false;
      continue;
    }
    if (timer && (!scheduled || due < best_time)) {
      clock_ = std::max(clock_, due);
      if (!fire_timer(out, err)) return false;
      continue;
    }
    if (!scheduled) break;
    clock_ = std::max(clock_, best_time);
    // A failed record stops here: the instant is not marked as run (the run stops anyway).
    if (!run_schedule(best, best_time, out, err)) return false;
    scheduler_.advance(best);
  }
  return true;
} catch (...) {
  stop_on_exception();
  throw;
}

// Parts are cut by a count of users in first-seen order, which a restart on the same input
// rebuilds identically (restored grants wait for the stream to meet their user: restore_grant),
// so the users after the last recorded part are exactly those not decided yet. Their ids carry
// where they end rather than a part number, so a ledger cut with another part size resumes too.
// Draws (`random`) are keyed by the run's own id, not the part's (decision_rules.cc, the draw).
bool Engine::run_schedule(uint32_t si, int64_t at, std::vector<Decision>& out, std::string& err) {
  const auto& s = p_.strategies[si];
  const std::string unit = Scheduler::unit_id(s, at);
  size_t from = 0;
  for (uint64_t end : recorder_.schedule_parts(unit)) {
    recorder_.replay_schedule(unit + '#' + std::to_string(end), out);
    from = static_cast<size_t>(end);
  }
  if (recorder_.replay_schedule(unit, out)) return recorder_.ok(err);
  if (!recorder_.ok(err)) return false;
  size_t first = out.size();
  // Expiries and releases due at the instant open its first part (recorded with it).
  if (from == 0) {
    redemptions_.expire(at, out);
    rules_.release(at, out);
  }
  if (!s.has_window || (at >= s.from && at < s.to)) {
    std::string id;
    size_t in_part = 0;
    for (size_t i = from; i < users_.order().size(); ++i) {
      const int64_t k = users_.order()[i];
      id.assign(users_.text(k));
      rules_.decide(users_.at(k), id, nullptr, at, si, out);
      if (++in_part < users_per_part_ || i + 1 == users_.order().size()) continue;
      if (!record_unit({state::UnitKind::Schedule, unit + '#' + std::to_string(i + 1)}, nullptr, out, first, err))
        return false;
      if (part_sink_) part_sink_(out);
      check_running();  // the sink may commit, and a commit that threw stopped the engine
      first = out.size();
      in_part = 0;
    }
  }
  return record_unit({state::UnitKind::Schedule, unit}, nullptr, out, first, err);
}

// The choice is computed once, when the watermark reaches the decision point; a unit already in
// the ledger (a restart, a replay) reports its records instead, and the choice restored from it
// at attach stands. The unit id is in the scheduled runs' key space: strategy names are
// identifiers, so `rollout:...` can name no scheduled run.
bool Engine::run_rollout(uint32_t si, std::vector<Decision>& out, std::string& err) {
  const auto& s = p_.strategies[si];
  const int64_t at = s.rollout.decide_at;
  const std::string unit = fmt::format("rollout:{}@{}", s.name, at);
  rollouts_.pass(si);
  if (recorder_.replay_schedule(unit, out)) return recorder_.ok(err);
  size_t first = out.size();
  redemptions_.expire(at, out);
  rules_.release(at, out);
  out.push_back(rollouts_.decide(si));
  // A strategy that ran once (`at`) reaches the rest of its audience now; event-triggered and
  // repeating strategies reach them at their next event or run.
  if (s.trigger == bytecode::Trigger::At && rollouts_.rest_arm(si, at) >= 0 && (!s.has_window || (at >= s.from && at < s.to)))
    for (std::string id; int64_t k : users_.order())
      if (id.assign(users_.text(k)); rules_.in_rest(si, id)) rules_.decide(users_.at(k), id, nullptr, at, si, out);
  return record_unit({state::UnitKind::Schedule, unit}, nullptr, out, first, err);
}

// ---- the stream contract -----------------------------------------------------------------------

int64_t Engine::watermark() const { return order_.watermark(); }

bool Engine::submit(const Event& ev, std::vector<Decision>& out, std::string& err) try {
  check_running();
  // Ids of events older than the dedup window are forgotten (a generation at a time).
  if (recorder_.store()) recorder_.prune(order_.watermark());
  if (order_.late(ev.time)) {
    // Another partition's event (a retry, or late in its own process too) is that process's to
    // answer or refuse; here it is skipped as any of its events is, and it cannot move the clock
    // back. Refused, it would stop this process at a line one process would have answered.
    if (!owns(ev.user)) {
      ++stats_.skipped;
      ++stats_.skipped_by_reason["other partition"];
      return true;
    }
    // A retried delivery of an event already decided is answered from the ledger while its id
    // is remembered: its time is within the dedup window of the watermark (docs "Event order").
    if (recorder_.store())
      if (const auto* r = recorder_.find_event(ev.id); r && r->decided && r->applied) return recorder_.report(*r, out, err);
    const User* u = users_.find(ev.user);
    if (u && ev.time < u->last_time())
      err = out_of_order(ev, u->last_time());
    else
      err = order_.late_message(ev.time);
    // Older than the window: if this is a retry, its id was forgotten, so it is refused rather
    // than answered (and never decided twice).
    const int64_t window = recorder_.dedup_window(), w = order_.watermark();
    if (recorder_.store() && window != Recorder::kForever && w >= INT64_MIN + window && ev.time < w - window)
      err += fmt::format("; it is also older than the dedup window {} (events before {}): an event id already decided is "
                         "no longer remembered that far back, so a retry is refused, not answered",
                         support::format_duration(window), support::format_time(w - window));
    return false;
  }
  // Before the ledger's clock only a replay of an event the ledger holds may come: a new one is
  // late, as it was for the run that recorded that clock (its watermark had passed it). Taken,
  // it would be decided behind decisions already recorded (stock to a later event, a fired
  // timer cancelled after the fact). The replay itself goes on as an event (process() answers
  // it), so the stream's clock moves as it did in the first run.
  if (ev.time < ledger_clock_ && recorder_.store() && owns(ev.user) && !recorder_.find_event(ev.id)) {
    err = fmt::format("late event: {} is before the ledger's clock {} (the latest time recorded in state {}; an "
                      "event before it can only be a replay of one the ledger holds, and id {} is not)",
                      support::format_time(ev.time), support::format_time(ledger_clock_), recorder_.store()->describe(),
                      support::json_quote(ev.id));
    return false;
  }
  // A time far ahead of the clock (a typo in the year) is refused before anything moves: taken,
  // it would make every later event late. Then a jump that would run more scheduled instants
  // than the limit, likewise: the watermark, the held events and the ledger are as if it never came.
  if (!time_jump_within(ev.time, jump_clock(), order_.latest_seen() == INT64_MIN, max_time_jump_, false, err)) return false;
  if (!schedule_runs_within(std::max(order_.latest_seen(), ev.time), std::min(order_.earliest_held(), ev.time), ev.time,
                            false, err))
    return false;
  order_.see(ev.time);
  if (order_.lateness() == 0) {
    // Nothing to hold: the event is at the watermark.
    if (!fire_schedules(ev.time, out, err)) return false;
    return process(ev, out, err);
  }
  order_.hold(ev);
  return release(order_.watermark(), out, err);
} catch (...) {
  stop_on_exception();
  throw;
}

// Counts the instants the step would run: schedules from where they are (or from where they would
// start: the latest event, else the earliest one to be decided), up to the latest time the
// stream would have. With an allowed lateness that is beyond the new watermark, so the instants
// finish() runs are counted too. Timers and roll-out points are not counted: there is one per
// event that armed it, or per strategy.
bool Engine::schedule_runs_within(int64_t upto, int64_t first, int64_t at, bool clock_move, std::string& err) const {
  if (max_schedule_runs_ == 0 || !scheduler_.any()) return true;
  uint32_t busiest = 0;
  const int64_t start = last_time_ != INT64_MIN ? last_time_ : first;
  const size_t n = scheduler_.due_count(upto, start, max_schedule_runs_ + 1, busiest);
  if (n <= max_schedule_runs_) return true;
  const int64_t clock = order_.latest_seen();
  err = fmt::format("too many scheduled runs at once: {} {} would bring more than {} scheduled runs due at once (strategy "
                    "`{}` among them{}), the limit per event or clock move; a time this far ahead is likely wrong, else "
                    "raise the limit with --max-schedule-runs N (0: no limit)",
                    clock_move ? "moving the clock to" : "the event at", support::format_time(at), max_schedule_runs_, p_.strategies[busiest].name,
                    clock == INT64_MIN ? std::string() : fmt::format("; the stream's clock is at {}", support::format_time(clock)));
  return false;
}

// The gap is compared without overflow (`clock` + limit may pass INT64_MAX). The clock of a
// stream that has none yet is the ledger's latest decision, whose message says so: the user
// then knows the earlier runs, not this input, set it.
bool Engine::time_jump_within(int64_t at, int64_t clock, bool clock_from_ledger, int64_t limit, bool clock_move,
                              std::string& err) {
  if (limit <= 0 || clock == INT64_MIN || at <= clock || clock > INT64_MAX - limit || at - clock <= limit) return true;
  err = fmt::format("too far ahead: {} {} is {} after {} at {}, more than --max-time-jump allows ({}); a time this far "
                    "ahead is likely wrong (a typo in the year?) and would make every later event late, else raise the "
                    "limit with --max-time-jump D (0: no limit)",
                    clock_move ? "moving the clock to" : "the event at", support::format_time(at),
                    support::format_duration(at - clock),
                    clock_from_ledger ? "the ledger's clock (its latest event or decision)" : "the stream's clock",
                    support::format_time(clock), support::format_duration(limit));
  return false;
}

// Decides held events before `upto` and runs the scheduled instants among them, in time order;
// a scheduled instant goes before events at the same instant (it sees the events before it, as
// a schedule always does). Events at `upto` itself wait: more may arrive with that time.
bool Engine::release(int64_t upto, std::vector<Decision>& out, std::string& err) {
  Event ev;
  while (order_.next_before(upto, ev)) {
    if (!fire_schedules(ev.time, out, err)) return false;
    if (!process(ev, out, err)) return false;
  }
  return true;
}

bool Engine::advance_to(int64_t t, std::vector<Decision>& out, std::string& err, bool settle) try {
  check_running();
  if (t > p_.latest_event_time()) {  // as an event's time (Decoder::event)
    err = past_time_horizon(p_, t, "moving the clock to");
    return false;
  }
  if (t < support::kFirstInstant) {  // an API caller's instant: no reader of crm's takes it back
    err = before_time_begins(t, "moving the clock to");
    return false;
  }
  if (t > order_.latest_seen() &&
      (!time_jump_within(t, jump_clock(), order_.latest_seen() == INT64_MIN, max_time_jump_, true, err) ||
       !schedule_runs_within(t, std::min(order_.earliest_held(), t), t, true, err)))
    return false;
  if (!order_.move_to(t, err)) return false;
  if (!release(order_.watermark(), out, err)) return false;
  if (!fire_schedules(order_.watermark(), out, err)) return false;
  return !settle || settle_due(order_.watermark(), out, err);
} catch (...) {
  stop_on_exception();
  throw;
}

// Expiries and releases are recorded by the first work unit at or after their instant; a clock
// move is the heartbeat that says no earlier event will come, so what is due by its watermark is
// recorded now, in a unit of its own (before, `--until` left held messages unsent and expiries
// unrecorded). Its id cannot name a scheduled run (strategy names have no `:`); a replay of the
// same move reports the record, and one whose releases a restart restored as done records nothing.
bool Engine::settle_due(int64_t at, std::vector<Decision>& out, std::string& err) {
  if (at == INT64_MIN || at == INT64_MIN + 1 || at <= settled_) return true;
  settled_ = at;
  const std::string unit = fmt::format("clock:{}{}", at, unit_tag_);
  if (recorder_.replay_schedule(unit, out)) return recorder_.ok(err);
  if (!recorder_.ok(err)) return false;
  if (!redemptions_.expiry_due(at) && !rules_.release_due(at)) return true;
  clock_ = std::max(clock_, at);
  const size_t first = out.size();
  redemptions_.expire(at, out);
  rules_.release(at, out);
  if (out.size() == first) return true;  // only grants redeemed since, or releases held on
  return record_unit({state::UnitKind::Schedule, unit}, nullptr, out, first, err);
}

bool Engine::finish(std::vector<Decision>& out, std::string& err) try {
  check_running();
  return finish_at(last_time_, out, err);
} catch (...) {
  stop_on_exception();
  throw;
}

bool Engine::finish_at(int64_t upto, std::vector<Decision>& out, std::string& err) try {
  check_running();
  if (!release(INT64_MAX, out, err)) return false;
  return upto == INT64_MIN || fire_schedules(upto, out, err);
} catch (...) {
  stop_on_exception();
  throw;
}

// ---- batch -------------------------------------------------------------------------------------

namespace {

// Why a read off the engine's time line at `at` is refused (audience, evaluate).
std::string before_clock(std::string_view what, int64_t at, int64_t clock) {
  return fmt::format("cannot {} at {}: it is before the engine's clock at {} (its latest event or scheduled run); "
                     "sliding windows have already forgotten events that far back, so ask at {} or later",
                     what, support::format_time(at), support::format_time(clock), support::format_time(clock));
}

}  // namespace

bool Engine::evaluate(uint32_t unit, const std::string& id, int64_t now, int64_t& result, std::string& err, bool* present) {
  return read_at(unit, nullptr, id, now, result, err, present);
}

bool Engine::evaluate_who(uint32_t s, const std::string& id, int64_t at, int64_t& result, std::string& err) {
  const bytecode::Strategy& st = p_.strategies.at(s);
  result = 1;  // no `who:`: everyone
  if (st.who < 0) return true;
  if (!who_reads_trigger(p_, st)) return read_at(static_cast<uint32_t>(st.who), nullptr, id, at, result, err, nullptr);
  if (std::string f = unknown_trigger_field_name(p_, st); !f.empty()) {
    err = fmt::format("`who:` reads `{}` of its trigger event, which only an event has", f);
    return false;
  }
  return read_at(static_cast<uint32_t>(st.who), &st, id, at, result, err, nullptr);
}

bool Engine::read_at(uint32_t unit, const bytecode::Strategy* trigger_of, const std::string& id, int64_t at,
                     int64_t& result, std::string& err, bool* present) {
  // Sliding windows forget events once they fall out of the window at the engine's clock, so
  // history can only be asked about from then on.
  if (at < clock_) {
    err = before_clock("evaluate", at, clock_);
    return false;
  }
  User* u = users_.find(id);
  UserPtr temp;
  if (!u) {
    temp = users_.transient(id, false);
    u = temp.get();
  }
  Event ev;
  if (trigger_of) audience_event(p_, *trigger_of, u->profile()[0], id, at, ev);
  // A read at an instant of the caller's: it must not make the windows forget anything (a later
  // event before `at` still counts it).
  Evaluator::ReadOnly read_only(eval_);
  vm::Result r = eval_.run(unit, *u, trigger_of ? &ev : nullptr, at);
  if (r.status != vm::Status::Ok) {
    err = r.error;
    return false;
  }
  result = r.value;
  if (present) *present = r.present;
  return true;
}

bool Engine::audience(int64_t at, std::vector<std::pair<std::string, int64_t>>& counts, std::string& err) {
  counts.clear();
  if (at < clock_) {
    err = before_clock("count an audience", at, clock_);
    return false;
  }
  counts = audience_counts(p_, users_, eval_, strings_, collections_, stats_, at);
  return true;
}

std::vector<std::pair<std::string, int64_t>> Engine::audience(int64_t at) {
  std::vector<std::pair<std::string, int64_t>> counts;
  std::string err;
  audience(at, counts, err);
  return counts;
}

}  // namespace crm::engine
