// crm/runtime.h - public API for embedding compiled strategies in a host program.
//
//   crm::CompiledProgram   compiled, immutable; share one across threads
//   crm::Evaluator         one per thread: fill a user's profile fields, ask about segments
//   crm::Runtime           the streaming engine, thread-safe: events in, decisions out
//   crm::Run (run.h)       the replay loop of `crm run`: one thread, the caller commits
//   crm::ExplainSession    what the engine decides for one user, and why (`crm explain`)
//   crm::Audience          users per segment and strategy at one instant (`crm audience`)
//
// Shapes and units: events, profiles and decisions are the JSON Lines contract of
// docs/runtime.md, or their typed forms (data.h; crm::Decision). Money and decimals are int64
// millionths (139.12 CNY is 139'120'000), times int64 microseconds since the Unix epoch (UTC).
// Errors: nothing here throws. A call that fails returns false with a crm::Error whose kind
// says whose mistake it is (Input, State, Internal; the older overloads give its message as a
// string); a program that does not check fails with diagnostics (CheckResult). Objects made from
// an invalid (default) CompiledProgram fail every call with Input "no program".
// Thread-safety: a CompiledProgram is immutable and used from any number of threads; a Runtime
// takes calls from any number of threads; Evaluator, ExplainSession, Audience and Run are used
// by one thread at a time (one each per thread). The free functions may run concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <crm/check.h>
#include <crm/data.h>

namespace crm {

// The library's version, "MAJOR.MINOR.PATCH" (the CMake project's version).
const char* version();

// Why a call failed, by whose mistake it is (cel-cpp's contract: the caller's errors apart from
// the library's):
//   Input     the caller's input is wrong: a malformed or late event line, a bad profile, a
//             call the object cannot answer (no program). Fix the input; the object is usable.
//   State     the durable state failed (the ledger cannot be written or committed). The runtime
//             refuses further events; decisions not committed must not be acted on.
//   Internal  a failure inside the library (a bug, or memory exhausted). One that happens while
//             the runtime is fed (an event, a profile, a time step, a commit, or rendering
//             their decisions) may leave its memory half-updated or decisions recorded but not
//             handed on, so it stops: every later call that feeds
//             it or commits answers Internal with the same reason, and nothing uncommitted is
//             committed. A new Runtime or Run on the same ledger, given its input again
//             from the start (profiles and events, as a restart of `crm run` is), resumes:
//             what was committed is answered from the ledger, the rest is decided once. A
//             failure caused by the input itself (a limit) recurs at the same event.
enum class ErrorKind { None, Input, State, Internal };
struct Error {
  ErrorKind kind = ErrorKind::None;
  std::string message;  // as the string-returning calls give it, e.g. "column 3: expected `:`"
  bool ok() const { return kind == ErrorKind::None; }
};

// One decision as a struct: the fields of its JSON line (docs/runtime.md, "Decisions"), typed.
// It is read from `json` itself, so the two can never disagree (decisions replayed from a
// ledger included). Money is in millionths of `currency` (139.12 CNY is 139'120'000), times in
// microseconds since the Unix epoch (UTC).
struct Decision {
  enum class Outcome { Granted, Rejected, Control, Redeemed, RedeemRejected, Expired, Held, Pending, Cancelled, Rollout };
  Outcome outcome = Outcome::Granted;
  std::string event;     // the trigger event's id; empty for scheduled deliveries and expiries
  std::string user;
  std::string strategy;  // empty for a redemption that names no grant
  std::string reason;    // rejected, redeem_rejected: why
  std::string resource, channel, code;  // the action's; empty when it has none
  int64_t at_micros = 0;
  bool has_amount = false;  // granted and expired coupons: face value; redeemed: the subsidy
  int64_t amount_millionths = 0;
  bool has_sales = false;   // redeemed: the order amount
  int64_t sales_millionths = 0;
  std::string currency;     // of amount and sales; empty when there is no money
  bool has_granted_at = false;  // redeemed, redeem_rejected, expired: when the grant was made
  int64_t granted_at_micros = 0;
  bool released = false;    // a held message released when quiet hours end
  int64_t held_at_micros = 0;  // when released: when it was held
  bool has_value = false;   // the strategy has `value:`: what it was worth for this user and event
  int64_t value_millionths = 0;
  std::string value_currency;  // empty for a Decimal value
  // Messages (granted, held, control without a reason): the text rendered for the user, a push's
  // title or an e-mail's subject, an SMS's segments, and the cost reserved from the budget.
  std::string text, title;
  int64_t segments = 0;
  bool has_cost = false;
  int64_t cost_millionths = 0;
  bool has_percent = false;  // a granted percentage discount: amount is its cap
  int64_t percent_millionths = 0;  // 10% = 100000
  // Delayed triggers (docs/semantics.md): a `pending` timer and a `cancelled` one say when the
  // timer is (was) due; a cancelled one names the event that armed it.
  bool has_due = false;
  int64_t due_micros = 0;
  std::string trigger;
  std::string json;         // the decision exactly as `crm run` writes it
  std::string pool;         // granted, rejected, held, control of a strategy that draws from a budget pool: the pool
  std::string arm;          // a strategy with A/B/n arms (`split: variants ...`): the user's arm;
                            // a `rollout` record: the winning arm (empty: none won, reason "no_winner")
  // A decision for a user of the rest of the audience (in no arm, not in control) after a
  // roll-out: the winning arm whose actions the user got.
  std::string rollout;
  // A `rollout` record (Outcome::Rollout, no user; docs/semantics.md "Automatic roll-out"): the
  // metric, and per group (the control group, then the listed arms) its numbers at the decision
  // point; uplift, low, high, p_value are against the control group (NaN for it, or undefined).
  struct RolloutGroup {
    std::string group;  // "control" or the arm
    int64_t users = 0, converters = 0, orders = 0;
    int64_t spend_millionths = 0;
    int64_t cost_millionths = 0;  // what its deliveries cost before the decision point (subsidy, messages)
    double roi = 0;     // arms: incremental ROI (NaN for the control group, or without cost)
    double value = 0;   // conversion rate, spend per user in currency units, or roi
    double uplift = 0, low = 0, high = 0, p_value = 0;  // of the spend per user for spend_per_user and roi
    bool excludes_zero = false;  // the 95% interval lies above zero
  };
  std::string rollout_metric;  // "conversion", "spend_per_user" or "roi"
  std::vector<RolloutGroup> rollout_groups;
};
// The name in the JSON contract: "granted", "redeem_rejected", ...
const char* outcome_name(Decision::Outcome outcome);

namespace detail {
struct ProgramData;
struct EvaluatorData;
struct RuntimeData;
struct ExplainData;
struct AudienceData;
}  // namespace detail

struct SharedCounters;  // <crm/shared.h>
struct Partition;

// Profiles from a whole file, for Runtime, ExplainSession and Audience: JSON Lines, or CSV with
// a header row when `csv` (records may span lines; docs/runtime.md, "Profiles"). For each
// malformed record on_error(line, message) names the line the record starts on and returns
// true to skip it and go on, false to stop. A second record for a user of the file is malformed
// ("user `ann` appears twice (first on line 2)"; skipped, the first stays). A bad CSV header
// always stops. False when stopped.
using RecordErrorFn = std::function<bool(size_t line, const std::string& message)>;

// Whether the profiles file `path` is CSV (the `csv` of load_profiles), as every crm command
// decides: its name ends in `.csv` in any letter case; standard input (`-`) is CSV unless its
// first character after a byte order mark and blank space is `{` (`head`: its first bytes).
bool profiles_are_csv(std::string_view path, std::string_view head = {});
// Whether `head` holds that first character: a reader of standard input reads on until it does
// or the input ends, however the input's reads are split (a pipe may deliver only the byte order
// mark, or a blank line, first).
bool profiles_head_decides(std::string_view head);

// Whether `dir` can be CompiledProgram::with_jit's `cache_dir`: empty, a directory, or a path
// where one is created now. False with "the JIT cache `DIR` is not a directory" (a regular file
// of that name, or a path under one): with_jit refuses it with that error.
bool check_jit_cache_dir(const std::string& dir, std::string& error);

// Whether this build has the LLVM JIT (CompiledProgram::with_jit).
bool jit_available();

class CompiledProgram {
 public:
  CompiledProgram() = default;  // invalid: what a failed compile or load gives
  // Library-internal (compile_* and load_compiled make programs).
  explicit CompiledProgram(std::shared_ptr<const detail::ProgramData> data) : data_(std::move(data)) {}
  bool valid() const { return data_ != nullptr; }
  // The versioned, checksummed `.crmc` bytes (what `crm compile -o` writes); empty when invalid.
  std::string serialize() const;
  // Names in program order (imports first); empty when invalid.
  std::vector<std::string> segments() const;
  std::vector<std::string> strategies() const;
  // The bytecode as `crm compile --disasm` prints it: text, or one JSON document.
  std::string disassemble(bool json = false) const;
  // The files on disk the program was compiled from: the files given and every module imported
  // from disk (beside an importing file or under an include directory), as the compiler named
  // them; not the standard library nor texts given in memory. Empty for a program loaded from a
  // .crmc, and when invalid. A tool writing a file checks it against these (`crm run -o` may not
  // overwrite an imported module).
  std::vector<std::string> source_files() const;
  size_t unit_count() const;  // compiled units (segments, clauses, actions, probes); 0 when invalid
  size_t cost_bound() const;  // the most instructions any one unit can execute; 0 when invalid

  // Native code (docs/architecture.md, "The JIT"): the same program, run by the LLVM JIT. Every
  // Runtime, Run and Audience made from the returned program evaluates its units as native code,
  // with results identical to the VM's (faults included). Units compile on first use (O2), or with
  // `eager` every scalar unit now, cheaper (FastISel; batch loops on first use). An invalid program
  // with `error` when this build has no JIT (jit_available()) or LLVM cannot target this machine:
  // never a silent fallback to the VM. (ExplainSession explains with the JIT too; Evaluator, the VM.)
  // `cache_dir` (empty: none): a directory of native code keyed by the program's identity, the
  // CPU and the versions, so a restart loads the code instead of compiling it.
  CompiledProgram with_jit(std::string& error, bool eager = false, const std::string& cache_dir = "") const;
  bool uses_jit() const;
  // The program's units as optimised LLVM IR, as the JIT compiles them (`crm compile
  // --emit-llvm`); false with `error` in a build without the JIT.
  bool emit_llvm(std::string& out, std::string& error) const;
  struct JitStats {
    size_t scalar_units = 0, batch_units = 0, modules = 0;
    size_t code_bytes = 0;       // object code the JIT has emitted so far
    double compile_seconds = 0;  // spent compiling so far
    size_t cache_hits = 0, cache_misses = 0;  // modules loaded from / stored in the cache
    // Of cache_misses: cache files found but not used (damaged, or another key's), compiled
    // afresh and replaced; damaged native code is never run.
    size_t cache_rejected = 0;
  };
  // What the JIT has compiled so far; false for a program that does not use it.
  bool jit_stats(JitStats& out) const;
  // Library-internal: what the program holds (not part of the API's contract).
  const std::shared_ptr<const detail::ProgramData>& data() const { return data_; }

 private:
  std::shared_ptr<const detail::ProgramData> data_;
};

struct CompileOutput {
  CompiledProgram program;  // valid() when diagnostics.ok() and error.ok()
  CheckResult diagnostics;  // the checker's errors and warnings
  // A program that checks but cannot be compiled: Input for a program beyond the code
  // generator's limits ("cannot compile: the unit needs more than 65535 registers ...", also an
  // E0112 diagnostic with its place), Internal when the generated code fails verification (a bug).
  Error error;
};

// Checks and compiles. The strategy conflict analysis (W0105) is not run here: it is a check
// for authors (check_files), and a program compiled to run does not wait for it. The user's
// mistakes are diagnostics (and Input in `error`); an unreadable file is a diagnostic too; a
// failure inside crm is Internal. Any number of compilations may run at once on different
// threads.
CompileOutput compile_files(const std::vector<std::string>& paths, const CheckOptions& options = {});
// Files and in-memory texts together (e.g. one read from standard input), as check_sources.
CompileOutput compile_sources(const std::vector<SourceInput>& inputs, const CheckOptions& options = {});
// In-memory modules, module name -> text (an embedder's or a language server's sources). Every
// module is part of the program; `import a.b` finds the module named a.b among them (then the
// standard library, then options.include_dirs on disk; never the current directory).
// Diagnostics name a module by its path a/b.crm. A `module` line in a text must match its key.
CompileOutput compile_modules(const std::map<std::string, std::string>& modules, const CheckOptions& options = {});
// Loads `.crmc` bytes; on failure (not a .crmc, another format version, a bad checksum, code
// that fails verification) returns an invalid program and sets `error`.
CompiledProgram load_compiled(const std::string& bytes, std::string& error);

// Evaluates segments for one user at a time, from profile values the host supplies (history
// aggregates are empty: use Runtime for users with event history). Not thread-safe; create one
// per thread. Field and segment handles are looked up once and reused.
class Evaluator {
 public:
  explicit Evaluator(const CompiledProgram& program);
  ~Evaluator();
  Evaluator(Evaluator&&) noexcept;
  Evaluator& operator=(Evaluator&&) noexcept;

  int field(std::string_view profile_field) const;  // -1 when the profile has no such field
  int segment(std::string_view name) const;         // -1 when there is no such segment

  // Set a field of the current user. Strings are interned once and must be UTF-8; money and decimals are exact
  // decimal text ("139.12"); times are ISO-8601 ("2026-11-11T00:00+08:00"). Each returns false
  // (and leaves the field missing) when the value does not fit the field's type.
  bool set_int(int field, int64_t value);
  bool set_bool(int field, bool value);
  bool set_string(int field, std::string_view value);
  bool set_decimal(int field, std::string_view text);
  bool set_time(int field, std::string_view iso);
  bool set_enum(int field, std::string_view value_name);
  void clear();  // every field back to its default or missing

  struct Verdict {
    bool matched = false;
    bool ok = true;     // false: evaluation failed (e.g. a required field is missing)
    std::string error;  // why, when !ok
  };
  // `now` in microseconds since the Unix epoch (UTC).
  Verdict evaluate(int segment, int64_t now_micros);

 private:
  std::unique_ptr<detail::EvaluatorData> d_;
};

// The streaming runtime: profiles and events as JSON Lines (docs/runtime.md), decisions as
// JSON Lines. Keeps per-user history, grants, stock and budgets in memory.
//
// Thread-safe: any number of threads may call process_event at once (for overlapping users);
// decisions are made one at a time, so limits, stock and budgets hold exactly. Events must
// arrive in time order, up to the allowed lateness (see set_allowed_lateness).
class Runtime {
 public:
  // When decisions become durable once a state is open (docs/semantics.md):
  //   OnReturn  process_event returns only after its decisions are committed; concurrent callers
  //             share one commit (group commit). The default.
  //   Manual    the caller calls commit() and must not act on decisions before it succeeds.
  enum class Commit { OnReturn, Manual };

  explicit Runtime(const CompiledProgram& program);
  ~Runtime();
  Runtime(Runtime&&) noexcept;
  Runtime& operator=(Runtime&&) noexcept;

  // Durable state: "memory" or "sqlite:PATH" (docs/semantics.md). Rebuilds counters from the
  // ledger; later decisions are recorded there. Call before processing events. A ledger has one
  // writer: a ledger another runtime (in any process) has open is refused. A ledger recorded by
  // another program is refused unless its strategies are the same, or `allow_program_change`
  // and every changed strategy's counters can carry over ("Program identity"); what was
  // accepted is in state_notices(). A ledger serves the partition it was first opened with, and
  // with share_counters a strategy is decided in one partition count and by one ledger per
  // partition campaign-wide (docs/scaling.md, "Partitions"): otherwise refused.
  bool open_state(const std::string& spec, std::string& error, Commit mode = Commit::OnReturn,
                  bool allow_program_change = false);
  std::vector<std::string> state_notices() const;
  // Many processes (<crm/shared.h>, docs/scaling.md). Call before open_state: its stock and
  // budget counters are then the campaign's in Redis (the ledger stays this runtime's own, and
  // must be durable: open_state("memory") and enable_reload without a state are then refused).
  bool share_counters(const SharedCounters& shared, std::string& error);
  // Only the users of `partition` are decided; other users' events are skipped, their profiles
  // not loaded. Call before open_state (a ledger serves one partition for its life:
  // docs/scaling.md, "Partitions"; after it, an error), profiles and events.
  bool set_partition(const Partition& partition, std::string& error);
  // Makes everything recorded so far durable. After a failed commit the runtime refuses events.
  // The Error overload says whose failure it is: State (the ledger), Internal (the engine
  // stopped at an internal error; ErrorKind); the string one gives only the message.
  bool commit(std::string& error);
  bool commit(Error& error);

  // Hot reload (docs/semantics.md, "Hot reload"). enable_reload keeps what the runtime is
  // given (profiles, events, clock moves) in a temporary file so that reload() can hand it to
  // a new program; call it after open_state (without one it opens "memory": an in-memory ledger,
  // so repeated event ids are then answered from it) and before any profile or event.
  // reload() swaps the program between two events: it takes the lock every call takes (calls
  // on other threads wait for it, then go on with the new program), commits what was decided,
  // and continues exactly as a restart with the new program on the same input would: an engine
  // of `program` attaches to the same ledger (refused as open_state refuses a changed program,
  // unless its strategies are the same or `allow_program_change` and every changed strategy's
  // counters carry over) and is given the kept input again, every unit already decided being
  // answered from the ledger, never decided twice. Unchanged strategies keep stock, budget,
  // per-user counts, A/B arms, held messages and pending timers; added ones start from zero
  // (or from their rows in the ledger, if an earlier program had them); removed ones' rows
  // count for nothing; history aggregates are rebuilt from the input, so
  // the new program's aggregates cover it too. `decisions` receives what the new program
  // decided for instants already passed (a new `at`/`every` strategy's due runs), durable
  // when it returns (Commit::OnReturn). Errors: Input when refused (no enable_reload, an
  // invalid program, the identity rules, or an input line the new program reads differently):
  // the running program goes on and nothing changed; State when the ledger failed; Internal
  // when the runtime stopped at an internal error (ErrorKind: a stopped runtime is not
  // reloaded). The runtime's state_notices() are the new program's after a reload.
  bool enable_reload(Error& error);
  bool reload(const CompiledProgram& program, std::vector<Decision>& decisions, Error& error,
              bool allow_program_change = false);

  bool load_profile(std::string_view json_line, std::string& error);
  // Applies one event and appends the decisions it caused (and any scheduled deliveries due
  // by its time, redemptions and expiries) to `decisions`, one JSON object each; with an
  // allowed lateness, the decisions of the held events it releases. On failure nothing is
  // appended.
  bool process_event(std::string_view json_line, std::vector<std::string>& decisions, std::string& error);
  // The same, with decisions as structs and the error's kind (Input: the line is malformed or
  // late, nothing changed; State: the ledger failed).
  bool process_event(std::string_view json_line, std::vector<Decision>& decisions, Error& error);
  bool load_profile(std::string_view json_line, Error& error);
  // Typed forms (data.h): written as the JSON line and read as one, with the same errors.
  bool process_event(const Event& event, std::vector<Decision>& decisions, Error& error);
  bool load_profile(const Profile& profile, Error& error);
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);
  // The stream contract (docs/semantics.md, "Event order"): events may be out of time order by
  // at most `micros` (default 0). An older event is refused by process_event (nothing changes);
  // events within it are held and decided in time order once the watermark (the latest event
  // time minus this) passes them, so their decisions come back from a later call. Scheduled
  // strategies run once the watermark reaches their instant. Set it before the first event.
  void set_allowed_lateness(int64_t micros);
  // The dedup window H, in microseconds (docs/semantics.md, "Event order"; `crm run
  // --dedup-window`): with a state open, the id of a decided event is remembered while the
  // event's time is at least the watermark minus H, so a retry of it is answered from the
  // ledger (never decided twice); an older retry, its id forgotten, is refused as a late event
  // (Input; it changes nothing). Ids should never be reused: within H a reuse is a retry; beyond
  // H (forgotten) it is decided as a new event and recorded as a unit of its own, which every
  // later attach (restart, reload) keeps apart: a replay of the input, or of its tail, gives
  // each use the unit recorded with its event time (or the nearest within H), so its own
  // recorded decisions (docs/semantics.md, "Event order"). The ledger is then of schema
  // version 8 or later (9 since narrow rows), which an older crm does not open. Memory holds about 1.5 H of event ids,
  // however long the stream. Default 7 days (604800000000); INT64_MAX keeps every id (memory
  // then grows by about 64 bytes per event). Input when negative, or after the first profile or
  // event (the window cannot change once ids are remembered; before or after open_state is fine).
  bool set_dedup_window(int64_t micros, Error& error);
  // Event ids the dedup window remembers now.
  size_t remembered_events() const;
  // End of the stream: decides every held event and runs the schedules due by the latest event.
  // Timers of delayed triggers due later stay pending (in the ledger, with a state open).
  bool finish(std::vector<std::string>& decisions, std::string& error);
  bool finish(std::vector<Decision>& decisions, Error& error);
  // Delayed triggers (docs/semantics.md, "Delayed triggers") fire in event time: the stream's
  // clock is the watermark, which only events move. advance_time moves it to `at_micros`
  // without an event (a heartbeat: no event older than at_micros minus the allowed lateness will
  // come), deciding what is due by then: held events, schedules and timers. Input when
  // at_micros is before the latest event time already seen.
  bool advance_time(int64_t at_micros, std::vector<Decision>& decisions, Error& error);
  // Pending timers allowed per user and in all (0: no limit, the default). An event that would
  // arm one more is recorded as `rejected` with reason `timer_limit`. Set before the first event.
  void set_timer_limits(size_t per_user, size_t total);
  size_t pending_timers() const;
  // Scheduled runs one event or clock move may bring due at once (as Run::set_max_schedule_runs):
  // an event (or advance_time) after which more `at`/`every` instants would run is refused with
  // Input, nothing changed. 0: no limit. Default 100,000 (Run::kDefaultMaxScheduleRuns).
  void set_max_schedule_runs(size_t runs);
  // How far ahead of the clock one event or advance_time may be, in microseconds (as
  // Run::set_max_time_jump): an event more than this after the latest event time seen (before
  // the first, the open ledger's latest event or decision) is refused with Input and changes nothing.
  // 0: no limit. Default 366 days (Run::kDefaultMaxTimeJump). Kept by reload().
  void set_max_time_jump(int64_t micros);
  // Users per segment and per strategy audience at `at_micros` (batch evaluation over the users
  // seen so far and the events decided so far: events held for the allowed lateness are not in
  // it yet); empty on failure (use the overload below to learn why).
  //
  // An audience is a read and changes nothing: asked at any instant at or after the runtime's
  // clock (its latest event decided, or scheduled run, timer or roll-out point run), later than
  // the stream too, it counts the sliding windows as they stand at that instant (`within 30 days`
  // leaves out the events 30 days or more before it) and the later events are decided exactly as
  // without it. An instant before the clock is refused (Input, "cannot count an audience at ...:
  // it is before the engine's clock at ..."): the windows have already forgotten events that far
  // back, and the totals over all events include those after it, so no answer would be the
  // audience of that instant. For an audience in the past, use crm::Audience over the events up
  // to it (`crm audience --at`).
  std::vector<std::pair<std::string, int64_t>> audience(int64_t at_micros);
  // The same, segments first then strategies, in program order (kAudienceNotCounted for an event
  // strategy whose `who:` reads its trigger event's fields other than `user` and `time`, which
  // are the user's id and at_micros); false with the error instead of an empty answer.
  bool audience(int64_t at_micros, std::vector<std::pair<std::string, int64_t>>& counts, Error& error);

 private:
  std::unique_ptr<detail::RuntimeData> d_;
};

// Explain (docs/semantics.md, "Explain"): what the engine decides for one user and why, exactly
// as `crm explain` prints it. The events up to the instant are decided by the engine in time
// order (the lines may come in any order), then each strategy is decided for the user as a dry
// run that records every check: window, if/who/where (the first false part, with its values,
// when the program was compiled from sources), split, per-user caps with their counts, stock,
// budget, pacing, claim window and policies, and the decisions the engine would record.
struct ExplainRequest {
  std::string user;
  int64_t at_micros = INT64_MIN;  // microseconds since the epoch; INT64_MIN: the time of `event`
  // The decision on this event (its strategies, at its time). Empty: scheduled strategies as a
  // run at `at`, event strategies against the user's latest event of their type by then.
  std::string event;
};

struct Explanation {
  bool ok = false;
  std::string error;  // when !ok: "events:LINE: ..." for a malformed line, or why it cannot answer
  ErrorKind error_kind = ErrorKind::None;  // Input: a bad line or request; Internal otherwise
  struct Check {
    std::string clause;  // when, if, who, where, split, per_user, exclusive, stock, budget, pacing,
                         // claim_window, use_window, unredeemed_limit, same_type, quiet_hours, channel_cap
    bool passed = true;
    std::string detail;  // e.g. "per user 1 per day: 1 already granted today (latest at 2026-04-01 10:02 +08:00)"
    int action = 0;      // 1-based action of an action check; 0 for the strategy as a whole
    std::string policy;  // the policy of a policy check
  };
  struct Strategy {
    std::string name;
    // granted, held, rejected, control, no_match, outside_window, not_triggered, pending (a timer
    // armed, not yet due)
    std::string verdict;
    std::string event;  // the trigger event; empty for a scheduled run
    int64_t at_micros = 0;
    std::vector<Check> checks;
    std::vector<std::string> decisions;  // JSON, as `crm run` would write them
  };
  struct Segment {
    std::string name;
    bool ok = true, value = false;
    std::string error;
  };
  std::vector<Strategy> strategies;  // program order
  std::vector<Segment> segments;
  std::string text;  // as `crm explain` prints it
  std::string json;  // as `crm explain --format json` prints it
};

// `profile_lines` and `event_lines` are JSON Lines (empty lines are skipped). The profile lines
// are one profiles file: a second record for a user is refused, !ok with error_kind Input and
// "profiles:N: user `u` appears twice (first on line M)", as every reader of a profiles file
// refuses it (it replaced the first silently).
Explanation explain(const CompiledProgram& program, const std::vector<std::string>& profile_lines,
                    const std::vector<std::string>& event_lines, const ExplainRequest& request);

// The same, fed as the data is read (`crm explain`): profiles, then event lines in any order,
// then finish(). Not thread-safe.
class ExplainSession {
 public:
  ExplainSession(const CompiledProgram& program, const ExplainRequest& request);
  ~ExplainSession();
  ExplainSession(ExplainSession&&) noexcept;
  ExplainSession& operator=(ExplainSession&&) noexcept;
  // Set when the program cannot be explained (then every call fails with it): Input for an
  // invalid program, Internal when its clause probes cannot be compiled.
  const Error& error() const { return error_; }
  bool load_profile(std::string_view json_line, Error& error);
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);
  // One event line; Input for a malformed one (nothing is kept). Events after the request's
  // instant are read and checked but cannot change the answer.
  bool add_event(std::string_view json_line, Error& error);
  // Typed forms (data.h): written as the JSON line and read as one, with the same errors.
  bool load_profile(const Profile& profile, Error& error);
  bool add_event(const Event& event, Error& error);
  // The explanation of everything added; !ok with error_kind Input when the request cannot be
  // answered (no such event, another user's).
  Explanation finish();

 private:
  std::unique_ptr<detail::ExplainData> d_;
  Error error_;
};

// The count an audience gives a strategy it cannot count: an event strategy whose `who:` reads a
// field of its trigger event other than `user` and `time` (`amount > 5 CNY`, `id`, a field with a
// default or an optional one). An audience instant stands for an event of the trigger's type
// arriving then, for each user: its `user` is that user and its `time` the instant; what else it
// carries no audience knows (docs/semantics.md, "Audiences"). Never a real count (those are >= 0).
inline constexpr int64_t kAudienceNotCounted = -1;

// Batch audience (`crm audience`, docs/semantics.md): the events up to `at_micros`, in any order,
// are folded into the users' history in time order (ties by id), then every segment and every
// strategy's `who` is counted at that instant (kAudienceNotCounted: see above). Not thread-safe.
class Audience {
 public:
  Audience(const CompiledProgram& program, int64_t at_micros);
  ~Audience();
  Audience(Audience&&) noexcept;
  Audience& operator=(Audience&&) noexcept;
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);
  // One profile line; Input for a malformed one.
  bool load_profile(std::string_view json_line, Error& error);
  // One event line; Input for a malformed one. Events after `at_micros` are checked, not kept.
  bool add_event(std::string_view json_line, Error& error);
  // Typed forms (data.h): written as the JSON line and read as one, with the same errors.
  bool load_profile(const Profile& profile, Error& error);
  bool add_event(const Event& event, Error& error);
  struct Result {
    std::vector<std::pair<std::string, int64_t>> counts;  // segments, then strategies, program order
    size_t segments = 0;                                  // how many of `counts` are segments
    // The strategies counted kAudienceNotCounted, in program order, each with the trigger event
    // field its `who:` reads ("amount").
    std::vector<std::pair<std::string, std::string>> not_counted;
    size_t users = 0;                                     // users known (profiles or events)
    size_t evaluation_errors = 0;                         // evaluations that failed, counted as no match
    std::map<std::string, size_t> evaluation_errors_by_kind;  // e.g. "division by zero"
  };
  // Input "event `ID`: ..." when an event cannot be folded into its user's history.
  bool count(Result& out, Error& error);

 private:
  std::unique_ptr<detail::AudienceData> d_;
};

}  // namespace crm
