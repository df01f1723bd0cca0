// engine.h - the evaluation runtime: events in, decisions out. Engine is a facade over the parts
// an event passes through, each in its own file with a narrow interface (docs/architecture.md,
// "The engine"):
//   decoder.h         JSON Lines / CSV -> typed Event and profile records
//   user_state.h      per user: profile, aggregates, grants, deliveries
//   candidates.h      the strategy index: which strategies an event can concern, by priority
//   evaluator.h       runs units through the executor (executor.h: the VMs, or the JIT)
//   decision_rules.h  split, per-user limits, quotas and policies, in one documented order
//   redemption.h      redemptions and expiries of grants
//   scheduler.h       when `at` / `every` strategies run
//   rollout.h         per-arm counters and the choice of a roll-out's winner
//   recorder.h        decision JSON, the ledger, idempotent replays, program identity
//   audience.h        batch counts per segment and strategy `who`
//
// Streaming: process() takes one event, updates that user's aggregates, then decides only the
// strategies indexed under the event's type, in priority order. Batch: audience() evaluates
// every segment and every strategy's `who` over all known users at one instant. Both use the
// same compiled units through the same executor, so they cannot disagree. Decisions are
// deterministic: the A/B split hashes (user, strategy), and ties in priority are broken by name.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <array>
#include <map>
#include <queue>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/candidates.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/decision_rules.h"
#include "runtime/engine/decoder.h"
#include "runtime/engine/evaluator.h"
#include "runtime/engine/event.h"
#include "runtime/engine/executor.h"
#include "runtime/engine/recorder.h"
#include "runtime/engine/redemption.h"
#include "runtime/engine/rollout.h"
#include "runtime/engine/scheduler.h"
#include "runtime/engine/stream_order.h"
#include "runtime/engine/timers.h"
#include "runtime/engine/user_state.h"
#include "runtime/state/state_store.h"
#include "runtime/vm/vm.h"
#include "support/csv.h"

namespace crm::engine {

struct JsonValueView;

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
  const Executor& executor() const { return eval_.executor(); }

  // Parses one JSON Lines event against the program's schema. `error` explains what is wrong
  // (unknown type, missing or mistyped field, bad time) without a line number; callers add it.
  bool parse_event(std::string_view line, Event& out, std::string& error);
  // Profiles: JSON Lines (key `user`) or CSV with a header row (column `user`). A record read
  // from a file (`file`: its users so far; `line`: where the record starts) whose user has one
  // there already is refused (ProfileFileUsers); one given alone replaces the user's profile.
  bool load_profile_line(std::string_view line, std::string& error, ProfileFileUsers* file = nullptr,
                         size_t line_number = 0);
  // CSV profiles (docs/runtime.md, "Profiles"): the header names the columns; each row's cells
  // are typed strictly by the profile field of their column.
  bool load_profile_csv_header(const std::vector<support::CsvField>& header, std::string& error);
  bool load_profile_csv_row(const std::vector<support::CsvField>& row, std::string& error,
                            ProfileFileUsers* file = nullptr, size_t line_number = 0);
  // Reads a whole profiles file: CSV (records may span lines) or JSON Lines. For each malformed
  // record, on_error(line, message) names the line the record starts on; it returns true to
  // skip the record and go on, false to stop. A second record for a user is malformed (the
  // first, read, stays). A bad CSV header always stops. Returns false when stopped.
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
  void allow_program_change(bool allow) { recorder_.allow_program_change(allow); }
  const std::vector<std::string>& notices() const { return recorder_.notices(); }
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
  const std::string& store_error() const { return recorder_.store_error(); }
  // An exception out of a call that changes state (a host failure: out of memory, a limit of
  // the string pool, a fault in a host function of JIT code) can leave memory half-updated: the
  // event in the user's history without its decisions, counters taken without a record, so a
  // retried event would be applied twice. The engine therefore stops at the first one: from
  // then on every call that changes state or commits (the profile loads, observe, attach,
  // commit, record_decided, process, submit, fire_schedules, advance_to, finish, finish_at)
  // throws std::runtime_error with stopped() (the API turns it into ErrorKind::Internal), so
  // nothing half-done is decided on or committed; a new engine on the same ledger resumes from
  // what was committed. Empty while the engine runs. Reads (explain, evaluate, audience) stay.
  const std::string& stopped() const { return stopped_; }
  // Stops the engine for a failure its caller met outside it (rendering the step's decisions):
  // as an exception inside would. The first reason stands.
  void stop(std::string_view why) noexcept;
  size_t pending_units() const { return recorder_.pending_units(); }
  size_t decided_units() const { return recorder_.decided_units(); }  // units decided (not replayed) in this run
  // The JSON of every decision recorded from now on is also appended to `sink` (null: stop).
  void collect_fresh(std::vector<std::string>* sink) { recorder_.collect_fresh(sink); }
  // Decisions of units already in the ledger are not read back while set (hot reload).
  void quiet_replays(bool quiet) { recorder_.quiet_replays(quiet); }

  // Streaming. Each user's events must arrive in time order; an event earlier than the same
  // user's previous one is refused (returns false). Different users' events may interleave.
  // With a state store attached, an event whose id was already processed is not applied
  // again: its decisions are repeated.
  bool process(const Event& ev, std::vector<Decision>& out, std::string& error);
  // Runs `at`/`every` strategies and delayed triggers' timers due at or before `upto` that have
  // not run yet, in time order (a scheduled instant before a timer due at the same instant).
  // False, with the store's message in `error`, when a unit could not be recorded: nothing
  // after it runs (the failure is sticky: store_error() says it from then on).
  bool fire_schedules(int64_t upto, std::vector<Decision>& out, std::string& error);
  // A scheduled instant decides every known user, in parts of users_per_part() users in
  // first-seen order (docs/semantics.md, "Scheduled runs in parts"): each part but the last is
  // recorded as its own unit, `schedule:NAME@MICROS#END` (END: the users decided through it),
  // the last one under the run's own id `schedule:NAME@MICROS`, which marks the run complete.
  // After each part but the last is recorded, `sink` (when set) is given the decisions so far
  // (`out` of the call that runs the instant) to hand on, and may commit: so what an instant
  // holds in memory does not grow with its audience. After a restart, the parts in the ledger are
  // reported from it and deciding resumes after the last of them.
  using PartSink = std::function<void(std::vector<Decision>& out)>;
  void set_part_sink(PartSink sink) { part_sink_ = std::move(sink); }
  static constexpr size_t kUsersPerPart = 16384;
  void set_users_per_part(size_t n) { users_per_part_ = n ? n : 1; }  // tests: small parts
  size_t users_per_part() const { return users_per_part_; }

  // Scheduled runs one step of the clock may bring due (docs/semantics.md, "Event order"): an
  // event (submit) or a clock move (advance_to) after which more than this many `at`/`every`
  // instants would run at once is refused before anything changes (false, with why in
  // `error`): an event far ahead of the stream, such as a time in year 9999, would otherwise run
  // every instant of a schedule up to it, effectively forever. 0: no limit.
  static constexpr size_t kMaxScheduleRuns = 100000;
  void set_max_schedule_runs(size_t n) { max_schedule_runs_ = n; }
  size_t max_schedule_runs() const { return max_schedule_runs_; }

  // How far ahead of the clock one event or clock move may be (docs/semantics.md, "Event
  // order"), in microseconds: an event (submit) or a clock move (advance_to) more than this
  // after the clock is refused before anything changes (false, with why in `error`). A time far
  // ahead, such as year 2062 typed for 2026, would otherwise move the watermark there and every
  // later event would be refused as late, also on each restart that replays the input. The
  // clock is the latest event time seen (latest_seen: this engine's, another engine's via
  // see_time, or a clock move); before the stream has one, the latest event or decision time in
  // the attached ledger (ledger_clock); with neither (a stream's first event) nothing is refused.
  // 0 (or negative): no limit. Default 366 days: a gap of a year in one stream is almost
  // surely a wrong time, and a stream resumed after a longer pause passes a larger limit.
  static constexpr int64_t kMaxTimeJump = int64_t(366) * 86400 * 1000000;
  void set_max_time_jump(int64_t micros) { max_time_jump_ = micros > 0 ? micros : 0; }
  int64_t max_time_jump() const { return max_time_jump_; }
  // The latest time of the ledger read by attach(): of its units' events (those that decided
  // nothing too) and of every user's decision rows (also those the restore filter keeps from
  // this engine, so each engine of several has the same one); INT64_MIN without a ledger or
  // with an empty one.
  int64_t ledger_clock() const { return ledger_clock_; }
  // Appended to the id of a clock move's unit (`clock:T`): each worker of `--threads` settles its
  // own users' releases and expiries at a clock move, so each records a unit of its own
  // (`clock:T/w`); one id for all made the ledger's rows of one unit non-consecutive.
  void set_unit_tag(std::string tag) { unit_tag_ = std::move(tag); }
  // Hot reload: the engine that replays the input is measured as the running one was (its
  // attach read more rows, the running engine's own decisions among them).
  void keep_ledger_clock(int64_t t) { ledger_clock_ = t; }
  // The clock a step is measured against: the latest time seen, else the ledger's.
  int64_t jump_clock() const { return order_.latest_seen() != INT64_MIN ? order_.latest_seen() : ledger_clock_; }
  // Whether a step to `at` from `clock` (INT64_MIN: none, nothing is refused) keeps within
  // `limit` (0: none); else the refusal, naming the event at `at` (or the clock moved to it),
  // the clock and whether it is the ledger's. Static: the reader of --threads (ParallelRun)
  // refuses such lines with the same words before any engine sees them.
  static bool time_jump_within(int64_t at, int64_t clock, bool clock_from_ledger, int64_t limit, bool clock_move,
                               std::string& error);

  // Delayed triggers (docs/semantics.md, "Delayed triggers"): pending timers at most per user
  // and in all (0: no limit); an event that would arm one more is recorded as `rejected` with
  // reason `timer_limit`.
  void set_timer_limits(size_t per_user, size_t total) { timers_.set_limits(per_user, total); }
  size_t pending_timers() const { return timers_.pending(); }
  size_t timer_limit_per_user() const { return timers_.per_user_limit(); }
  size_t timer_limit_total() const { return timers_.total_limit(); }
  // Explain: remember the latest timer of each (user, delayed strategy) and what became of it.
  struct TimerFate {
    std::string trigger;  // the event that armed it
    int64_t armed = 0, due = 0;
    enum class State : uint8_t { Pending, Cancelled, Fired } state = State::Pending;
    std::string by;       // Cancelled: the cancelling event
    int64_t at = 0;       // Cancelled: when
    std::vector<Decision> decisions;  // Fired: what it decided
  };
  void keep_timer_fates(bool keep) { keep_fates_ = keep; }
  const TimerFate* timer_fate(const std::string& user, uint32_t strategy) const;
  // The stream's clock moves to `t` without an event (a heartbeat: no event before t - lateness
  // will come): held events before the new watermark are decided, schedules and timers due by
  // it run, and the expiries and quiet-hour releases due by it are recorded (one unit
  // `clock:<micros>`, when there are any): what is due by then is decided. `settle` false leaves
  // those to the next unit (the per-line catch-up of --threads workers, which is no clock move).
  // Returns false when t is before the watermark already reached.
  bool advance_to(int64_t t, std::vector<Decision>& out, std::string& error, bool settle = true);
  // Messages held by quiet hours and not released yet.
  size_t pending_releases() const { return rules_.pending_releases(); }

  // The stream contract (docs/semantics.md, "Event order"): events may arrive out of time
  // order by at most the allowed lateness L. The watermark is the latest event time seen minus
  // L; an event older than the watermark is refused (submit returns false, nothing changes).
  // Events are held until the watermark passes them and are then decided in time order (ties
  // by id); a scheduled instant S runs once the watermark reaches S and sees exactly the events
  // before S. With L = 0 (the default) nothing is held: events are decided as they come.
  void set_allowed_lateness(int64_t micros) { order_.set_lateness(micros); }
  // Partition `index` of `count` (docs/scaling.md): this engine decides only the users whose
  // stable_hash(user id) % count == index (the language's hash_bucket(user, count)); the events
  // of other users are skipped and counted (skipped_by_reason "other partition"), their profiles
  // not loaded. N processes, one per index, reading one stream cover every user exactly once.
  void set_partition(uint32_t index, uint32_t count) { part_index_ = index, part_count_ = count ? count : 1; }
  uint32_t partition_index() const { return part_index_; }
  uint32_t partition_count() const { return part_count_; }
  bool owns(std::string_view user) const { return part_count_ <= 1 || vm::stable_hash(user) % part_count_ == part_index_; }
  int64_t allowed_lateness() const { return order_.lateness(); }
  // The dedup window H (docs/semantics.md, "Event order"; with a state attached): a decided
  // event's id is remembered, and a retry of it answered from the ledger, while the event's
  // time is at least the watermark minus H; older ids are forgotten a generation at a time,
  // so a retry of one is refused as late. Recorder::kForever keeps every id. Default 7 days.
  void set_dedup_window(int64_t micros) { recorder_.set_dedup_window(micros); }
  int64_t dedup_window() const { return recorder_.dedup_window(); }
  // Event ids remembered now (bounded by the window, not by the length of the stream).
  size_t remembered_events() const { return recorder_.remembered_events(); }
  // Tests: the hash the index of event ids files ids under (Recorder::set_id_hash_for_testing).
  void set_event_id_hash_for_testing(uint64_t (*hash)(std::string_view)) { recorder_.set_id_hash_for_testing(hash); }
  int64_t watermark() const;
  size_t held() const { return order_.held(); }
  // The stream entry point: schedules, expiries and decisions of everything the event releases.
  // `error` is set by a refused event (late, or earlier than its user's previous event) or by
  // a failure deciding a released one.
  bool submit(const Event& ev, std::vector<Decision>& out, std::string& error);
  // End of the stream: decides every held event, then runs schedules due by the latest event.
  bool finish(std::vector<Decision>& out, std::string& error);

  // One engine of several (`crm run --threads`, docs/scaling.md): each decides its own users and
  // is told the stream's clock the others saw. see_time(t): an event at `t` was accepted by
  // another engine (the watermark moves, nothing runs). finish_at(upto): finish(), with the
  // schedules and timers due by `upto` (the latest event of every engine) rather than by this
  // engine's own latest event. The restore filter keeps attach() to the ledger rows of this
  // engine's users (stock and budget are the store's, recounted once for all engines).
  void see_time(int64_t t) { order_.see(t); }
  bool finish_at(int64_t upto, std::vector<Decision>& out, std::string& error);
  void set_restore_filter(std::function<bool(std::string_view user)> keep) { restore_filter_ = std::move(keep); }
  // Stock, budget and pools on `quotas` rather than the engine's own until a store is attached
  // (several engines without a store share one state::LocalQuotas).
  void bind_quotas(state::Quotas& quotas) { rules_.bind_quotas(quotas); }

  // Explain (dry run, nothing changes): what decide() would do for `user` and strategy `s`
  // against trigger event `ev` (or at the scheduled instant `now` when ev is null). `probe`,
  // when given, is called once per failed or faulted if/who/where check with a function that
  // evaluates any unit of the program in that same context (user state, event, now).
  using UnitProbe = std::function<bool(uint32_t unit, int64_t& value, bool& present, std::string& error)>;
  StrategyTrace explain(const std::string& user, uint32_t s, const Event* ev, int64_t now,
                        const std::function<void(Check&, const UnitProbe&)>& probe = {});
  // Folds an event into the user's history only (no decisions): for audience and explain.
  bool observe(const Event& ev, std::string& error);

  // Batch: counts per segment and per strategy `who`, in program order, over the events applied
  // so far (held ones are not yet: set_allowed_lateness). A read: it changes no user's state, at
  // any instant at or after clock(), later than the stream's latest event too. An instant before
  // clock() is refused (false, why in `error`): the windows have forgotten what it would count,
  // and the totals over all events hold the later events. The vector form: empty when refused.
  bool audience(int64_t at, std::vector<std::pair<std::string, int64_t>>& counts, std::string& error);
  std::vector<std::pair<std::string, int64_t>> audience(int64_t at);

  // Evaluates unit u for a user at `now` (no event), a read as audience() is: false on a runtime
  // fault, or when `now` is before clock().
  // `present`, when given, says whether a unit of optional type has a value.
  bool evaluate(uint32_t unit, const std::string& user, int64_t now, int64_t& result, std::string& error,
                bool* present = nullptr);
  // Strategy s's `who:` for a user at `at`, as audience() counts it: an event strategy's against
  // the event the instant stands for (audience.h: the user's `user`, `time` = at). False with
  // `error` on a fault, or when it reads another field of its trigger event (no value exists).
  bool evaluate_who(uint32_t s, const std::string& user, int64_t at, int64_t& result, std::string& error);
  bool has_user(const std::string& user) const { return users_.find(user) != nullptr; }
  size_t user_count() const { return users_.order().size(); }
  // Known users in first-seen order: the rows of audience() (made on each call).
  std::vector<std::string> users() const {
    std::vector<std::string> ids;
    ids.reserve(users_.order().size());
    for (int64_t k : users_.order()) ids.emplace_back(users_.text(k));
    return ids;
  }
  int64_t last_time() const { return last_time_; }
  // The latest instant the engine has applied an event at or decided at (a scheduled run, a
  // timer, a roll-out's decision point); INT64_MIN before any. Its own reads at those instants
  // drop what has left the windows, so reads off its time line (audience, evaluate) are
  // answered from then on only.
  int64_t clock() const { return clock_; }

  std::string decision_json(const Decision& d) const { return recorder_.decision_json(d); }
  void append_decision_json(std::string& out, const Decision& d) const { recorder_.append_decision_json(out, d); }
  // Automatic roll-outs: each strategy's choice (decided in this run or read from the ledger).
  const Rollouts& rollouts() const { return rollouts_; }
  const Stats& stats() const { return stats_; }
  Stats& stats() { return stats_; }

  // Raw access for the reference evaluator and explain (reads: aggregate_of changes nothing).
  // A copy of the user's profile values (nullopt for a user the engine does not know).
  std::optional<std::vector<int64_t>> profile_of(const std::string& user) const;
  std::optional<std::vector<uint8_t>> profile_present_of(const std::string& user) const;  // which fields have a value
  // How many of the user's deliveries are kept for per-user caps and exclusive groups (those
  // no cap can count again are dropped: DecisionRules::prune_deliveries), shadow ones (what a
  // control user would have received) included.
  size_t deliveries_kept(const std::string& user) const;
  bytecode::AggValue aggregate_of(const std::string& user, uint32_t g, int64_t now);
  vm::StringPool& strings() { return strings_; }
  const vm::CollectionStore& collections() const { return collections_; }

  // Encodes a JSON or CSV value for a field; false with a message when it does not fit.
  // `present` is false for null in an optional field (`out` is then 0).
  bool encode_field(const bytecode::Field& f, const JsonValueView& v, int64_t& out, std::string& error,
                    uint8_t* present = nullptr);

 private:
  // evaluate() and evaluate_who(): unit's value for a user at `at` without changing any state; with
  // trigger_of, against the event that instant stands for (audience_event).
  bool read_at(uint32_t unit, const bytecode::Strategy* trigger_of, const std::string& user, int64_t at,
               int64_t& result, std::string& error, bool* present);
  // Folds an event into the user's aggregates (aggregate filters evaluated per event).
  void apply(User& u, const Event& ev);
  // The event's candidate strategies, decided in order (by value when one has `value:`).
  void decide_candidates(User& u, const Event& ev, std::vector<Decision>& out);
  std::vector<uint32_t> cands_;  // decide_candidates' scratch (not re-entered), kept to allocate nothing per event
  // Explain of a strategy with `value:` at its place in the event's ranking.
  void explain_value(User& copy, const std::string& id, const Event& ev, uint32_t si,
                     const std::vector<DecisionRules::Ranked>& ranked, size_t position, StrategyTrace& t);
  bool observe_event(User& u, const Event& ev, std::string& error);
  void keep_profile(ProfileRecord& record);
  // Rebuilds grants, deliveries, held messages and expiries from one ledger row (attach).
  void restore(const state::LedgerEntry& e);
  void restore_history(const state::LedgerEntry& e, uint32_t si, int32_t ai, bool redemption);
  void restore_grant(const state::LedgerEntry& e, Outcome o, uint32_t strategy, uint32_t resource);
  int32_t action_of(uint32_t strategy, uint32_t resource, const std::string& channel, const std::string& code) const;
  bool release(int64_t upto, std::vector<Decision>& out, std::string& error);
  // A clock move's expiries and releases due by `at`, as one unit (or its record reported).
  bool settle_due(int64_t at, std::vector<Decision>& out, std::string& error);
  // Whether moving the clock to `upto` keeps within max_schedule_runs(); else why not, naming the
  // step: the event at `at`, or the clock moved to it. `first`: the earliest event time to be
  // decided (where an `every` without a window starts when no event was decided yet).
  bool schedule_runs_within(int64_t upto, int64_t first, int64_t at, bool clock_move, std::string& error) const;
  // A roll-out's decision point: one unit (`rollout:<strategy>@<micros>`) holding the choice and,
  // for an `at` strategy, its delivery to the rest of the audience then.
  bool run_rollout(uint32_t si, std::vector<Decision>& out, std::string& error);
  // Strategy si's scheduled run at `at`, in parts (see set_part_sink), or its record reported.
  bool run_schedule(uint32_t si, int64_t at, std::vector<Decision>& out, std::string& error);
  // Records a unit's decisions; the roll-outs learn who is in which group from them.
  bool record_unit(const state::Unit& unit, Recorder::UnitRecord* slot, std::vector<Decision>& out, size_t first,
                   std::string& error);
  // Delayed triggers: arm a timer for strategy s on ev; cancel the timers ev cancels; fire one.
  void arm_timer(User& u, const Event& ev, uint32_t s, std::vector<Decision>& out);
  void cancel_timers(const Event& ev, std::vector<Decision>& out);
  bool fire_timer(std::vector<Decision>& out, std::string& error);
  bool restore_timers(std::string& error);
  void explain_arming(User& copy, const Event& ev, uint32_t s, StrategyTrace& t);

  const bytecode::Program& p_;
  // Shared by the parts: interned strings and collections of data and program.
  vm::StringPool strings_;
  vm::CollectionStore collections_;
  Stats stats_;
  Users users_;
  Evaluator eval_;
  Redemptions redemptions_;  // interns the names redemptions use (first after the program's strings)
  CandidateIndex candidates_;
  Decoder decoder_;
  DecisionRules rules_;
  Scheduler scheduler_;
  Timers timers_;
  Rollouts rollouts_;
  Recorder recorder_;
  std::vector<std::vector<uint8_t>> read_;  // per event type and field: read by compiled code
  // Ledger rebuild of pending timers: the `pending` rows not cancelled, in ledger order.
  struct RestoredTimer {
    uint32_t strategy;
    std::string trigger, json;
    int64_t due;
    int64_t at;  // the trigger event's time
    bool cancelled = false;
  };
  std::vector<RestoredTimer> restored_timers_;
  std::unordered_map<std::string, size_t> restored_timer_index_;  // "<strategy>\x1f<trigger id>\x1f<due>"
  // Timers that fired before a restart, by trigger event id: replaying that event re-arms them
  // to report their recorded decisions at their time (as scheduled runs are reported). Each
  // names its trigger event's time: an id used again (after the dedup window) re-arms, at each
  // use, only the timers that use armed.
  struct FiredTimer {
    uint32_t strategy;
    int64_t due, at;
  };
  std::unordered_map<std::string, std::vector<FiredTimer>> fired_by_trigger_;
  bool keep_fates_ = false;
  std::map<std::pair<std::string, uint32_t>, TimerFate> fates_;
  std::vector<std::vector<uint32_t>> aggs_by_event_;  // per event type: the aggregates it feeds
  int64_t last_time_ = INT64_MIN;
  int64_t clock_ = INT64_MIN;  // clock()
  int64_t settled_ = INT64_MIN;  // the latest clock move's watermark settled (settle_due): one unit per instant
  std::string stopped_;  // stopped(): why the engine takes no more input
  // Every state-changing entry point is a function-try-block: check_running() first, and on an
  // exception stop_on_exception() (keeps the first reason) before it propagates.
  void check_running() const;
  void stop_on_exception() noexcept;
  // Ledger rebuild (attach): name lookups, and held messages not yet released.
  std::unordered_map<std::string, uint32_t> strategy_of_, resource_of_;
  // How many held rows of each (user, strategy, action, held time) have no release row yet: two
  // messages held at one instant for one user are two releases.
  std::map<std::tuple<std::string, uint32_t, int32_t, int64_t>, size_t> restored_held_;
  // Counts a restored row's delivery for the user's caps: the rows of one delivery are one
  // strategy's in one work unit (consecutive in the ledger), so two units at the same instant are
  // two deliveries.
  static void restore_delivery(Restored::LastUnit& last, std::vector<Delivery>& deliveries, const state::LedgerEntry& e,
                               uint32_t si);

  StreamOrder order_;  // the stream contract (see submit())
  PartSink part_sink_;
  size_t users_per_part_ = kUsersPerPart;
  size_t max_schedule_runs_ = kMaxScheduleRuns;
  int64_t max_time_jump_ = kMaxTimeJump;
  int64_t ledger_clock_ = INT64_MIN;  // see ledger_clock()
  std::string unit_tag_;  // see set_unit_tag
  uint32_t part_index_ = 0, part_count_ = 1;
  std::function<bool(std::string_view user)> restore_filter_;  // attach(): which users' rows to restore
};

}  // namespace crm::engine
