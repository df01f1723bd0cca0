// engine.h - the evaluation runtime: user state, event ingestion, strategy decisions (claim
// limits, stock, budget, A/B split, anti-harassment policies) and audience counts.
//
// Streaming: process() takes one event, updates that user's aggregates, then evaluates only the
// strategies indexed under the event's type, in priority order. Batch: audience() evaluates
// every segment and every strategy's `who` over all known users at one instant. Both use the
// same compiled units and the same VM, so they cannot disagree. Decisions are deterministic:
// the A/B split hashes (user, strategy), and ties in priority are broken by name.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <array>
#include <map>
#include <queue>
#include <memory>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/executor.h"
#include "runtime/state/aggregates.h"
#include "runtime/state/state_store.h"
#include "runtime/vm/vm.h"
#include "support/csv.h"

namespace crm::engine {

struct JsonValue;

struct Event {
  std::string id;
  uint32_t type = 0;
  std::string user;
  int64_t time = 0;
  std::vector<int64_t> fields;  // laid out as the program's EventType (0 id, 1 user, 2 time, ...)
  std::vector<uint8_t> present;  // per field: it has a value (given, or the field's default)
};

// Decisions of strategies (granted, rejected, control) and what later happens to a grant:
// a redemption accepted or refused against the resource's usage restrictions, or its expiry.
// Held: a message met by quiet hours, sent (Granted) or refused (Rejected) when they end.
enum class Outcome : uint8_t { Granted, Rejected, Control, Redeemed, RedeemRejected, Expired, Held };
const char* outcome_name(Outcome o);

constexpr uint32_t kNoStrategy = UINT32_MAX;  // a redemption that names no grant of this user

struct Decision {
  std::string event;  // empty for scheduled deliveries and expiries
  std::string user;
  uint32_t strategy = 0;
  Outcome outcome = Outcome::Granted;
  std::string reason;  // why rejected
  int32_t action = 0;
  int64_t at = 0;
  int64_t amount = 0;      // face value (granted) or subsidy (redeemed), millionths of the resource's currency
  int64_t sales = 0;       // redeemed: the order amount
  int64_t granted_at = 0;  // redemptions and expiries: when the grant they concern was made;
                           // a held message's release: when it was held
  bool released = false;   // the release of a held message (granted or rejected at the end of quiet hours)
  std::string json;  // set when the decision is replayed from the ledger: reported as recorded
};

// Explain: one step of a decision, in the order the engine takes them (docs/semantics.md,
// "Explain"). Recorded by decide() itself while it decides, so an explanation cannot differ
// from the decision.
struct Check {
  Check() = default;
  Check(std::string c, bool p, std::string d) : clause(std::move(c)), passed(p), detail(std::move(d)) {}
  std::string clause;  // when, if, who, where, split, per_user, exclusive, stock, budget, pacing,
                       // claim_window, unredeemed_limit, same_type, quiet_hours, channel_cap
  bool passed = true;
  std::string detail;  // the values involved: counts, limits, the window, the error
  int32_t unit = -1;   // if/who/where: the unit the engine evaluated
  int32_t action = -1; // action checks: the action's index
  std::string policy;  // policy checks: the policy's name
};

// What the engine decides (or would decide) for one user and one strategy at one instant.
struct StrategyTrace {
  uint32_t strategy = 0;
  std::string event;  // the trigger event's id; empty for a scheduled instant
  int64_t at = 0;
  // granted (at least one action), held (none granted, a message held by quiet hours), rejected, control, no_match (a clause is false or failed),
  // outside_window, not_triggered (no trigger event for this strategy)
  std::string verdict;
  std::vector<Check> checks;
  std::vector<struct Decision> decisions;  // the records the engine would write
};

struct Stats {
  size_t lines = 0, events = 0, skipped = 0, eval_errors = 0;
  std::map<std::string, size_t> eval_errors_by_kind;  // what failed, e.g. "division by zero"
  size_t granted = 0, rejected = 0, control = 0, redeemed = 0, redeem_rejected = 0, expired = 0, held = 0;
  std::map<std::string, size_t> skipped_by_reason;
};

// Puts events in the order audience and explain apply them: by time, then by id, so that any
// permutation of the same events gives the same result (docs/semantics.md, "Event order").
void sort_by_time(std::vector<Event>& events);

// How an engine is built. Every field has a default that gives the VM engine.
struct EngineOptions {
  // What evaluates the program's units (runtime/engine/executor.h): null for the VMs
  // (VmExecutor). It must have been built for the engine's program. Shared, so one compiled
  // executor (JIT code) can serve several engines.
  std::shared_ptr<const Executor> executor;
};

class Engine {
 public:
  explicit Engine(const bytecode::Program& program, EngineOptions options = {});
  ~Engine();

  const bytecode::Program& program() const { return p_; }
  const Executor& executor() const { return *executor_; }

  // Parses one JSON Lines event against the program's schema. `error` explains what is wrong
  // (unknown type, missing or mistyped field, bad time) without a line number; callers add it.
  bool parse_event(std::string_view line, Event& out, std::string& error);
  // Profiles: JSON Lines (key `user`) or CSV with a header row (column `user`).
  bool load_profile_line(std::string_view line, std::string& error);
  // CSV profiles (docs/runtime.md, "Profiles"): the header names the columns; each row's cells
  // are typed strictly by the profile field of their column.
  bool load_profile_csv_header(const std::vector<support::CsvField>& header, std::string& error);
  bool load_profile_csv_row(const std::vector<support::CsvField>& row, std::string& error);
  // Reads a whole profiles file: CSV (records may span lines) or JSON Lines. For each malformed
  // record, on_error(line, message) names the line the record starts on; it returns true to
  // skip the record and go on, false to stop. A bad CSV header always stops. Returns false
  // when stopped.
  using RecordErrorFn = std::function<bool(size_t line, const std::string& message)>;
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);

  // Durable state: rebuilds grants from the store's ledger and records every later decision
  // there; stock and budgets are the store's counters from then on (state::Quotas). Work units
  // already in the ledger are not decided again; their recorded decisions are reported instead
  // (so a killed run can be restarted on its input). Attach before processing any event.
  // The ledger records which program decided each unit; another program is refused unless its
  // strategies are the same, or the change is allowed and every changed strategy's counters can
  // carry over (docs/semantics.md, "Program identity"). What was accepted is in notices().
  bool attach(state::StateStore* store, std::string& error);
  void allow_program_change(bool allow) { allow_program_change_ = allow; }
  const std::vector<std::string>& notices() const { return notices_; }
  // Makes the decisions recorded so far durable; report decisions only after this succeeds.
  bool commit(std::string& error);
  // Records a unit decided outside the engine exactly as the engine records its own units
  // (program identity, rows, JSON): how `crm import hillstrom` writes a dataset's randomised
  // assignment as a ledger of its program. The decisions must name this program's strategies
  // and actions; a unit the ledger already holds is refused. The engine's in-memory counters
  // are not updated from them: a new engine attached to the store rebuilds them from the ledger.
  bool record_decided(const state::Unit& unit, std::vector<Decision>& decisions, std::string& error);
  // The first store failure (an append or a commit that failed): the run must stop, and
  // decisions not yet committed must not be reported.
  const std::string& store_error() const { return store_error_; }
  size_t pending_units() const { return pending_units_; }
  size_t decided_units() const { return decided_units_; }  // units decided (not replayed) in this run

  // Streaming. Each user's events must arrive in time order; an event earlier than the same
  // user's previous one is refused (returns false). Different users' events may interleave.
  // With a state store attached, an event whose id was already processed is not applied
  // again: its decisions are repeated.
  bool process(const Event& ev, std::vector<Decision>& out, std::string& error);
  // Runs `at`/`every` strategies due at or before `upto` that have not run yet.
  void fire_schedules(int64_t upto, std::vector<Decision>& out);

  // The stream contract (docs/semantics.md, "Event order"): events may arrive out of time
  // order by at most the allowed lateness L. The watermark is the latest event time seen minus
  // L; an event older than the watermark is refused (submit returns false, nothing changes).
  // Events are held until the watermark passes them and are then decided in time order (ties
  // by id); a scheduled instant S runs once the watermark reaches S and sees exactly the events
  // before S. With L = 0 (the default) nothing is held: events are decided as they come.
  void set_allowed_lateness(int64_t micros) { lateness_ = micros < 0 ? 0 : micros; }
  int64_t allowed_lateness() const { return lateness_; }
  int64_t watermark() const;
  size_t held() const { return held_.size(); }
  // The stream entry point: schedules, expiries and decisions of everything the event releases.
  // `error` is set by a refused event (late, or earlier than its user's previous event) or by
  // a failure deciding a released one.
  bool submit(const Event& ev, std::vector<Decision>& out, std::string& error);
  // End of the stream: decides every held event, then runs schedules due by the latest event.
  bool finish(std::vector<Decision>& out, std::string& error);

  // Explain (dry run, nothing changes): what decide() would do for `user` and strategy `s`
  // against trigger event `ev` (or at the scheduled instant `now` when ev is null). `probe`,
  // when given, is called once per failed or faulted if/who/where check with a function that
  // evaluates any unit of the program in that same context (user state, event, now).
  using UnitProbe = std::function<bool(uint32_t unit, int64_t& value, bool& present, std::string& error)>;
  StrategyTrace explain(const std::string& user, uint32_t s, const Event* ev, int64_t now,
                        const std::function<void(Check&, const UnitProbe&)>& probe = {});
  // Folds an event into the user's history only (no decisions): for audience and explain.
  bool observe(const Event& ev, std::string& error);

  // Batch: counts per segment and per strategy `who`, in program order.
  std::vector<std::pair<std::string, int64_t>> audience(int64_t at);

  // Evaluates unit u for a user at `now` (no event). Returns false on a runtime fault.
  // `present`, when given, says whether a unit of optional type has a value.
  bool evaluate(uint32_t unit, const std::string& user, int64_t now, int64_t& result, std::string& error,
                bool* present = nullptr);
  bool has_user(const std::string& user) const { return find_user(user) != nullptr; }
  size_t user_count() const { return user_order_.size(); }
  // Known users in first-seen order: the rows of audience().
  const std::vector<std::string>& users() const { return user_order_; }
  int64_t last_time() const { return last_time_; }

  std::string decision_json(const Decision& d) const;
  const Stats& stats() const { return stats_; }
  Stats& stats() { return stats_; }

  // Raw access for the reference evaluator and explain.
  const std::vector<int64_t>* profile_of(const std::string& user) const;
  const std::vector<uint8_t>* profile_present_of(const std::string& user) const;  // which fields have a value
  bytecode::AggValue aggregate_of(const std::string& user, uint32_t g, int64_t now);
  vm::StringPool& strings() { return strings_; }
  const vm::CollectionStore& collections() const { return collections_; }

  // Encodes a JSON or CSV value for a field; false with a message when it does not fit.
  // `present` is false for null in an optional field (`out` is then 0).
  bool encode_field(const bytecode::Field& f, const JsonValue& v, int64_t& out, std::string& error,
                    uint8_t* present = nullptr);

 private:
  enum class GrantState : uint8_t { Open, Redeemed, Expired };
  struct Grant {
    uint32_t strategy;
    uint32_t resource;
    int32_t action;
    int32_t channel;
    int64_t time;
    int64_t amount;   // face value as granted (decayed for repeated red-envelope claims)
    int64_t expires;  // end of the use window; INT64_MAX when it never expires
    GrantState state = GrantState::Open;
  };
  struct User {
    explicit User(const bytecode::Program& p) : aggs(p) {}
    int64_t last_time = INT64_MIN;
    std::vector<int64_t> profile;
    std::vector<uint8_t> present;  // per profile field: the user has a value for it
    state::UserAggregates aggs;
    std::vector<Grant> grants;
    // One entry per delivery of a strategy (all its granted actions at one instant): what
    // per-user limits count, so a strategy that grants a coupon and sends a push counts once.
    std::vector<std::pair<uint32_t, int64_t>> deliveries;
    // What the user would have received as a control user (docs/semantics.md, "Priority and
    // split"): shadow grants and deliveries that per-user caps and policies see when deciding a
    // control delivery, and nothing else (no stock, no budget, no effect on treated decisions).
    std::vector<Grant> shadow_grants;
    std::vector<std::pair<uint32_t, int64_t>> shadow_deliveries;
  };
  class AggSource;
  // Where each completed unit's decisions are in the store's ledger, for idempotent replays.
  // `applied`: an event unit whose event was folded into history in this run (a second arrival
  // of its id is a duplicate); units recorded by an earlier run are replayed once, then applied.
  // `decided` is false only in the slot of the unit being decided now.
  struct UnitRecord {
    int64_t first;   // ledger position of its first decision
    uint32_t count;  // how many
    bool decided, applied;
  };

  User& user(const std::string& id);
  User* find_user(std::string_view id) const;
  void apply(User& u, const Event& ev);
  void decide(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t s, std::vector<Decision>& out);
  bool run_unit(int32_t unit, User& u, const Event* ev, int64_t now, bool& result);
  // Points the VM context at u, ev (may be null), now and zone; every VM run goes through it.
  void bind_context(User& u, const Event* ev, int64_t now, const support::ZoneRules* zone);
  void count_error(const char* kind);
  // Reports the decisions of a scheduled run decided earlier (this run or a previous one); false if none.
  bool replay_schedule(const std::string& unit, std::vector<Decision>& out);
  // Records a freshly decided unit (decisions out[first..]) in the log and the store.
  // `slot`: the unit's entry in event_units_ / schedule_units_ when the caller already has it.
  bool record_unit(const state::Unit& unit, UnitRecord* slot, std::vector<Decision>& out, size_t first, std::string& error);
  bool check_program(state::StateStore& store, size_t recorded_units, std::string& error);
  void restore(const state::LedgerEntry& e, uint32_t strategy, uint32_t resource);
  // Limits of the strategy as a whole (per-user caps, stock, budget), then of one action
  // (claim window, policies). Empty when allowed, else the rejection reason.
  // `with_quotas` false: per-user limits only (a control delivery consumes no stock or budget).
  // With a trace (explain), every limit is noted with its count, whether or not it refuses.
  std::string strategy_limit(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, bool with_quotas = true);
  // A control user's delivery, decided as if treated against the user's real and shadow grants.
  void decide_control(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, Decision d, std::vector<Decision>& out);
  // `ai`: the action's index for explain's checks. `hold_until`: set to the end of the quiet hours
  // when a message passes every other limit but falls in quiet hours that hold rather than drop
  // it (the result is then empty).
  std::string action_limit(User& u, const bytecode::Strategy& s, const bytecode::Action& a, int64_t now,
                           int32_t ai = -1, int64_t* hold_until = nullptr);
  // The end of the holding quiet hours that `now` falls in for strategy s (0: none).
  int64_t quiet_hold(const bytecode::Strategy& s, int64_t now) const;
  // Sends (or refuses) every held message whose quiet hours ended at or before `now`.
  void release(int64_t now, std::vector<Decision>& out);
  int32_t action_of(uint32_t strategy, uint32_t resource, const std::string& channel, const std::string& code) const;
  // Stock, budget and pacing limits of one delivery of s at `now` costing `cost`.
  state::QuotaLimits quota_limits(const bytecode::Strategy& s, int64_t now, int64_t cost) const;
  void bind_quotas(state::Quotas& q);
  // Redemption attempts carried by the event (a `Redeem` event, or any event with a `coupon`
  // field): each is checked against the grant's usage restrictions and recorded in `out`.
  void redeem(User& u, const std::string& user_id, const Event& ev, std::vector<Decision>& out);
  // Records the expiry of every open grant whose use window ended at or before `now`.
  void expire(int64_t now, std::vector<Decision>& out);
  Grant make_grant(const User& u, uint32_t si, int32_t ai, int64_t now) const;
  int64_t expiry_of(uint32_t resource, int64_t claimed) const;
  int64_t face_value(const User& u, uint32_t resource) const;
  bool observe_event(User& u, const Event& ev, std::string& error);

  // Explain's trace of the decision being made (null when deciding for real): decide() then
  // records every check, reserves nothing and leaves no trace in the engine.
  StrategyTrace* trace_ = nullptr;
  std::string trace_error_;  // the evaluation error of a check that failed
  void note(Check c) { if (trace_) trace_->checks.push_back(std::move(c)); }
  void init_schedule(uint32_t s, int64_t upto);
  bool release(int64_t upto, std::vector<Decision>& out, std::string& error);
  struct Held {
    Event ev;
    uint64_t seq;
    // Time order; ties by id, as audience and explain (sort_by_time), so any order of the
    // same events within the lateness gives the same decisions.
    bool operator>(const Held& o) const { return std::tie(ev.time, ev.id, seq) > std::tie(o.ev.time, o.ev.id, o.seq); }
  };
  std::priority_queue<Held, std::vector<Held>, std::greater<Held>> held_;
  int64_t lateness_ = 0;
  int64_t latest_seen_ = INT64_MIN;  // the latest event time submitted
  uint64_t arrivals_ = 0;

  const bytecode::Program& p_;
  std::shared_ptr<const Executor> executor_;
  vm::StringPool strings_;
  vm::CollectionStore collections_;
  vm::Context ctx_;
  std::unique_ptr<AggSource> agg_source_;
  std::vector<std::unique_ptr<User>> users_;  // by interned user id
  std::vector<std::string> user_order_;  // first-seen order, for deterministic batch output
  std::vector<int64_t> default_profile_;
  std::vector<uint8_t> default_present_;  // `user` and fields with a default
  std::vector<std::vector<uint32_t>> aggs_by_event_;
  // Per event type and field: does any compiled code read it? Unread strings (event ids, above
  // all) are not interned, so the string pool does not grow with the length of the stream.
  std::vector<std::vector<uint8_t>> event_field_read_;
  // Per event type: strategies that must always be tested, and strategies found by the value
  // of one event field (see bytecode::Strategy::index_field).
  std::vector<std::vector<uint32_t>> strategies_by_event_;
  std::vector<std::map<int32_t, std::unordered_map<int64_t, std::vector<uint32_t>>>> strategy_index_;
  std::vector<uint32_t> strategy_rank_;  // position in the global priority order
  std::vector<uint32_t> candidates_;
  // Campaign-wide counters: the engine's own until a store is attached, then the store's
  // (shared by every runtime on it). quota_[strategy] is the strategy's handle there.
  state::LocalQuotas own_quotas_;
  state::Quotas* quotas_ = nullptr;
  std::vector<uint32_t> quota_;
  std::vector<int64_t> next_schedule_;
  // `every` strategies whose period is whole days: the next run's local wall-clock time (micros
  // since 1970-01-01T00:00 local), so a daily 09:00 stays 09:00 across daylight-saving changes.
  std::vector<int64_t> schedule_local_;
  std::vector<const support::ZoneRules*> unit_zone_;  // per unit: the zone its date built-ins read
  // Per CSV column: the profile field it fills, kCsvUser, or kCsvIgnored.
  static constexpr int kCsvUser = -1, kCsvIgnored = -2;
  std::vector<int> csv_columns_;
  int64_t last_time_ = INT64_MIN;
  Stats stats_;
  state::StateStore* store_ = nullptr;
  size_t pending_units_ = 0;
  size_t decided_units_ = 0;
  // Completed units by id, one map per key space (state::UnitKind): an event id never names a
  // scheduled run, whatever its text.
  std::unordered_map<std::string, UnitRecord> event_units_, schedule_units_;
  std::unordered_map<std::string, UnitRecord>& units_of(state::UnitKind k) {
    return k == state::UnitKind::Event ? event_units_ : schedule_units_;
  }
  bool allow_program_change_ = false;
  std::vector<std::string> notices_;
  // Appends a recorded unit's decisions (read back from the store) to `out`.
  bool report(const UnitRecord& r, std::vector<Decision>& out, std::string& error);
  std::vector<state::LedgerEntry> replay_;
  // Per event type: the fields a redemption reads (-1 when absent): the grant reference
  // (`resource`, `code` on Redeem events; `coupon` on any), the order `amount`, and the
  // restricted attributes (category, item, store, city).
  struct RedeemFields {
    int32_t resource = -1, code = -1, coupon = -1, amount = -1;
    int32_t restricted[4] = {-1, -1, -1, -1};
    bool any() const { return resource >= 0 || code >= 0 || coupon >= 0; }
  };
  std::vector<RedeemFields> redeem_fields_;
  // Interned names a redemption may use: resource names and action codes of this program.
  // Other coupons were not issued by CRM (the user claimed them elsewhere) and are not ours to check.
  std::vector<int64_t> redeemable_names_;
  std::vector<std::array<std::vector<int64_t>, 4>> allowed_;  // per resource: interned allowed values, sorted
  // Open grants by the end of their use window: (expires, user, index into the user's grants).
  struct Expiry {
    int64_t at;
    std::string user;
    size_t grant;
    // A total order, so expiries due together are reported in the same order after a restart.
    bool operator>(const Expiry& o) const { return std::tie(at, user, grant) > std::tie(o.at, o.user, o.grant); }
  };
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiries_;
  // Messages held by quiet hours, by the time they are due (docs/semantics.md, "Quiet hours").
  struct Release {
    int64_t at;
    std::string user;
    uint32_t strategy;
    int32_t action;
    int64_t held_at;
    bool operator>(const Release& o) const {
      return std::tie(at, user, strategy, action, held_at) > std::tie(o.at, o.user, o.strategy, o.action, o.held_at);
    }
  };
  std::priority_queue<Release, std::vector<Release>, std::greater<Release>> releases_;
  struct Restored {
    std::vector<Grant> grants;
    std::vector<std::pair<uint32_t, int64_t>> deliveries;
    std::vector<Grant> shadow_grants;
    std::vector<std::pair<uint32_t, int64_t>> shadow_deliveries;
  };
  std::unordered_map<std::string, Restored> restored_;  // from the ledger, for users not met yet
  std::string store_error_;
};

}  // namespace crm::engine
