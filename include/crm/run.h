// crm/run.h - public API: the replay loop of `crm run` (events in, decisions out, a ledger,
// lateness, schedules, a summary), for hosts that replay a stream from one thread.
//
//   crm::Run        one stream, fed from one thread; the caller decides when to commit
//   crm::RunStats   what a run has done so far (the counts of `crm run`'s summary)
//
// crm::Runtime (runtime.h) is the service form of the same engine: thread-safe, with group
// commit, and a failed call appends no decisions. crm::Run is the batch form `crm run` is
// written over: single-threaded, no lock, the caller commits every N units and reports the
// decisions only after the commit, and every decision the engine made is handed back (also
// those made before a line was refused, e.g. a schedule due before an out-of-order event).
//
// Errors (crm::Error, runtime.h): Input is the caller's data (a malformed, late or
// out-of-order line; a bad profile; a bad state spec); State is the durable state failing
// (the ledger cannot be written, committed, opened or is in use): stop, and do not act on
// decisions after the last successful commit; Internal is a failure inside crm (after one while
// input was applied, the Run takes no more: runtime.h, ErrorKind). Nothing throws.
//
// Threads (set_threads, docs/scaling.md "Threads in one process"): a Run may decide on N worker
// threads, each owning a share of the users; it is still driven from one thread.
//
// Units: money in millionths of its currency, times in microseconds since the Unix epoch (UTC),
// durations in microseconds. Thread-safety: a Run is used by one thread at a time (several Runs
// over one CompiledProgram may run in parallel threads; two on one ledger are refused).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <crm/data.h>
#include <crm/runtime.h>

namespace crm {

namespace detail {
struct RunData;
}  // namespace detail

// How Run::replay reads a stream (threads or not).
struct ReplayOptions {
  // A refused line (malformed, late) stops the replay (true, `crm run`'s default) or is
  // counted as skipped and the replay goes on.
  bool stop_at_first_error = true;
  // Lines decided between two group commits (at most; at least 1).
  size_t batch_lines = 4096;
};

struct RunStats {
  size_t lines = 0;        // event lines given to add_event (empty lines are the caller's to skip)
  size_t events = 0;       // events decided (held events count once they are decided)
  size_t users = 0;        // users known: from profiles or events
  size_t skipped = 0;      // lines the caller skipped (skip_line)
  std::map<std::string, size_t> skipped_by_reason;  // by the kind of message: without its column, quoted values and detail
  size_t evaluation_errors = 0;  // clause evaluations that faulted (counted as no match)
  std::map<std::string, size_t> evaluation_errors_by_kind;  // e.g. "division by zero"
  // Decisions by outcome (docs/runtime.md, "Decisions").
  size_t granted = 0, rejected = 0, control = 0, held = 0, redeemed = 0, redemptions_refused = 0, expired = 0;
  // Delayed triggers: timers armed, cancelled and fired in this run, and pending at the end.
  size_t timers_armed = 0, timers_cancelled = 0, timers_fired = 0, timers_pending = 0;
  // Messages held by quiet hours and not released yet: their release waits for a later unit, a
  // clock move (advance_time) or, with a state, a later run.
  size_t held_pending = 0;
};

class Run {
 public:
  // An invalid program gives a Run whose every call fails with Input "no program".
  explicit Run(const CompiledProgram& program);
  ~Run();
  Run(Run&&) noexcept;
  Run& operator=(Run&&) noexcept;

  // ---- before the first event -----------------------------------------------------------
  // The stream contract (docs/semantics.md, "Event order"): events may be out of time order by
  // at most `micros` (negative counts as 0, the default). Older events are refused (Input);
  // those within it are held and decided in time order once the watermark passes them.
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
  // then grows by about 64 bytes per event). Input when negative or after open_state,
  // a profile or an event.
  bool set_dedup_window(int64_t micros, Error& error);
  // Event ids the dedup window remembers now (one thread; 0 with --threads).
  size_t remembered_events() const;
  // Durable state: "memory" or "sqlite:PATH" (docs/semantics.md, "Durable state"). Rebuilds the
  // counters from the ledger and records every later decision there; units already in it are
  // reported from it instead of decided again (a killed run restarts on the same input). A
  // ledger has one writer (another process's is refused) and records its program: another
  // program is refused unless its strategies are the same, or `allow_program_change` and every
  // changed strategy's counters carry over. Errors: Input for a malformed spec (`:memory:` or a
  // `file:` URI as PATH too: neither is a durable file; the CLI exits 2) and for a PATH that is
  // another application's SQLite database (check_state_ledger; refused untouched); State when the
  // store cannot be opened, is in use, belongs to another program, or serves another partition
  // (set_partition; docs/scaling.md, "Partitions"), and with share_counters, when the campaign
  // decides a strategy in another partition count or by another ledger. At most once per Run.
  bool open_state(const std::string& spec, bool allow_program_change, Error& error);
  // Many processes (<crm/shared.h>, docs/scaling.md), both before open_state: stock and budget
  // counters in Redis (Input for malformed options; open_state then needs a durable ledger,
  // sqlite:PATH: "memory" is Input, as no reconcile could count its grants), and only the users of `partition` decided
  // (the others' events skipped and counted, reason "other partition"; their profiles not kept).
  bool share_counters(const SharedCounters& shared, Error& error);
  bool set_partition(const Partition& partition, Error& error);
  // Decide with `threads` worker threads (default 1), before open_state, profiles and events:
  // each thread owns the users whose stable_hash(user id) (divided by the partition count
  // under set_partition) modulo `threads` is its index, so a user's events stay in order on one
  // thread; stock, budget and pools are reserved on shared counters without a global lock; the
  // ledger is written by one writer thread in group commits. Input errors: 0 threads; and, for
  // more than one, what threads do not support yet: scheduled `at`/`every` strategies, referral
  // grants, automatic roll-out (`rollout:`), an allowed lateness above 0 and a limit on all users' pending timers (set before
  // set_threads; set after it, the first event is refused). The decisions of several threads
  // come in replay()'s documented order. With a ledger open, on Linux, the worker threads
  // crm starts lower their own scheduling priority by 5 (nice, capped at 19), so that the one
  // ledger writer is not starved by them on a busy machine; the calling thread is unchanged.
  bool set_threads(size_t threads, Error& error);
  size_t threads() const;
  // What open_state accepted ("the ledger's strategies are all the same ..."), for the user.
  std::vector<std::string> state_notices() const;
  // The open state as the summary names it ("sqlite:/path/l.db"); empty when none is open.
  std::string state_description() const;

  // Profiles: one JSON line, a typed profile, or a whole file (JSON Lines, or CSV with a
  // header row when `csv`; RecordErrorFn as for Runtime::load_profiles: a user's second record
  // in one file is malformed). A user's profile given alone replaces an earlier one. Input for a
  // malformed record.
  bool load_profile(std::string_view json_line, Error& error);
  bool load_profile(const Profile& profile, Error& error);
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);

  // ---- the stream ----------------------------------------------------------------------
  // One event: a JSON line (docs/runtime.md) or a typed Event (data.h). Appends the decisions
  // it caused, in the order `crm run` writes them: expiries and held messages due, scheduled
  // runs due, the event's own decisions, and those of held events it releases. Decisions as
  // JSON lines (exactly as `crm run` writes them) or as structs (read from those lines).
  // Returns false with Input when the line is malformed, late or out of order for its user
  // (the event changed nothing, but decisions made before it was refused are still appended
  // and recorded: report them); with State when the ledger failed (see state_error()).
  bool add_event(std::string_view json_line, std::vector<std::string>& decisions, Error& error);
  // The same decision lines appended to `decision_lines` (never cleared here), each ending in
  // '\n', and `count` increased by the number of lines appended: for a caller that writes them
  // out as they are (`crm run`), with no string per decision. Errors and thread-safety as the
  // overload above; after an Internal error the buffer holds only whole lines, each counted.
  bool add_event(std::string_view json_line, std::string& decision_lines, size_t& count, Error& error);
  bool add_event(std::string_view json_line, std::vector<Decision>& decisions, Error& error);
  bool add_event(const Event& event, std::vector<Decision>& decisions, Error& error);
  // A whole stream of JSON lines (empty lines skipped; line numbers count them), decided on the
  // Run's threads. `on_decisions` is given decision lines only once they are durable (after
  // the group commit that covers them; without open_state at once), batch by batch in input
  // order: a line's decisions where one engine would have written them, except that expiries
  // and releases of held messages come with a unit of the thread that owns their user, and
  // timers that fire at a line come before its own decisions grouped by thread (docs/scaling.md).
  // It returns false to stop (the output failed). `on_refused` hears of each refused line (its
  // number and Input error) in order. Returns false when the replay stopped: at a refused line
  // in stop mode (`error` is that line's), a failed ledger (State) or inside crm (Internal).
  // finish(), advance_time() and commit() follow as after add_event. With one thread, the lines
  // go through add_event and a commit every `batch_lines` units.
  using DecisionsFn = std::function<bool(std::vector<std::string>& lines)>;
  using RefusedFn = std::function<void(size_t line, const Error& error)>;
  bool replay(std::istream& events, const ReplayOptions& options, const DecisionsFn& on_decisions,
              const RefusedFn& on_refused, Error& error);
  // The same, with the decision lines handed on as bytes: `count` whole lines, each ending in
  // '\n', exactly the lines (and the moments, and the order) on_decisions above is given, with
  // no string per decision (`crm run` writes them out as they are). `lines` is valid during the call.
  using DecisionBytesFn = std::function<bool(std::string_view lines, size_t count)>;
  bool replay_bytes(std::istream& events, const ReplayOptions& options, const DecisionBytesFn& on_decisions,
                    const RefusedFn& on_refused, Error& error);
  // A scheduled `at`/`every` instant decides every known user: it is decided and recorded in
  // parts of a fixed number of users (docs/semantics.md, "Scheduled runs in parts"). Inside
  // add_event (the std::string overloads), finish and advance_time, after each part but the
  // last is recorded, its decision lines are appended to that call's output as the call itself
  // appends them, and then `on_part` (when set) is called: it may commit() and report the lines
  // it was given so far, as between two calls, so that memory does not grow with an instant's
  // audience. Unset, the lines wait in the call's output until it returns. (The overloads with
  // std::vector<Decision> fill the structs when the call returns. One thread: set_threads(1).)
  using PartFn = std::function<void()>;
  void on_schedule_part(PartFn on_part);
  // Counts a line the caller chose to skip after add_event refused it (`crm run
  // --on-error=skip`), under the kind of `message` (RunStats::skipped_by_reason).
  void skip_line(std::string_view message);
  // End of the stream: decides every held event, then runs the schedules due by the latest
  // event's time. Appends decisions as add_event does; Input when a held event is refused.
  bool finish(std::vector<std::string>& decisions, Error& error);
  bool finish(std::vector<Decision>& decisions, Error& error);
  // Moves the stream's clock to `at_micros` without an event (Runtime::advance_time): what is
  // due by then (held events, schedules, delayed triggers' timers) is decided. `crm run --until`.
  bool advance_time(int64_t at_micros, std::vector<std::string>& decisions, Error& error);
  // Pending timers of delayed triggers allowed per user and in all (0: no limit).
  void set_timer_limits(size_t per_user, size_t total);
  // Scheduled runs one event or clock move may bring due at once (`crm run --max-schedule-runs`;
  // docs/semantics.md, "Event order"): an event after which more `at`/`every` instants than this
  // would run (a time far ahead of the stream, such as year 9999) is refused with Input before
  // anything changes, as advance_time to such a time is. 0: no limit. Default 100,000.
  static constexpr size_t kDefaultMaxScheduleRuns = 100000;
  void set_max_schedule_runs(size_t runs);
  // How far ahead of the stream's clock one event or clock move may be, in microseconds (`crm
  // run --max-time-jump`; docs/semantics.md, "Event order"): an event more than this after the
  // clock (the latest event time seen; before the first, the latest event or decision in the open
  // ledger) is refused with Input, not decided, and the clock stays (so later events are not
  // made late by a typo such as year 2062 for 2026); advance_time likewise. A stream's first
  // event with no ledger clock is never refused. 0 (or negative): no limit. Default 366 days.
  // Kept by reload() and set_threads() (the reader refuses the line, as one engine would).
  static constexpr int64_t kDefaultMaxTimeJump = int64_t(366) * 86400 * 1000000;
  void set_max_time_jump(int64_t micros);
  size_t pending_timers() const;

  // ---- hot reload (docs/semantics.md, "Hot reload") ---------------------------------------
  // Keep what the Run is given (profiles, event lines, clock moves) so reload() can hand it to
  // a new program. After open_state and before any profile or event; without open_state it
  // opens "memory" (an in-memory ledger, so a repeated event id is then answered from it). The
  // input is kept in a temporary file, not in memory. Input with more than one thread
  // (set_threads): reload is not supported there. State when the temporary file cannot be made.
  bool enable_reload(Error& error);
  bool reload_enabled() const;
  // Swaps the program between two events, as a restart with the new program on the same input
  // would continue: commits what is decided, attaches an engine of `program` to the same ledger
  // (refused, as open_state refuses, unless its strategies are the same or
  // `allow_program_change` and every changed strategy's counters carry over: docs/semantics.md
  // "Program identity"), and gives it the input again; every unit already in the ledger is
  // answered from it (never decided again) and folded into the new program's history. So
  // unchanged strategies keep stock, budget, per-user counts, A/B arms, held messages and
  // pending timers; added ones start from zero (or from their rows in the ledger, if an earlier
  // program had them); removed ones' rows count for nothing. Appends to `decisions` what the
  // new program decided for instants already passed (a new `at`/`every` strategy's due runs, as
  // a restart decides them): report them after the next commit.
  // Input when refused (no enable_reload, an invalid program, the identity rules, or the new
  // program reads the kept input differently, e.g. an event field it no longer declares): the
  // running program goes on, nothing changed. State when the ledger fails (then stop).
  bool reload(const CompiledProgram& program, bool allow_program_change, std::vector<std::string>& decisions,
              Error& error);

  // ---- durability ------------------------------------------------------------------------
  // Makes every unit decided so far durable (one transaction). Report decisions to anyone only
  // after the commit that covers them succeeds. State when it fails; the Run then refuses
  // further events. Without open_state it succeeds and does nothing.
  bool commit(Error& error);
  size_t pending_units() const;  // units decided since the last commit (commit every N of them)
  size_t decided_units() const;  // units decided (not replayed from the ledger) in this Run
  // The first failure of the durable state (a write or a commit); empty while it is healthy.
  // Once set, decisions after the last successful commit must not be acted on.
  std::string state_error() const;
  // For a process about to end (`crm run` after its last commit): closes the state as the
  // destructor would (the SQLite connection closed, so its WAL is checkpointed; the ledger's
  // lock released) and leaves the rest of the Run's memory, every user's state, to the
  // operating system instead of freeing it piece by piece. The Run is then empty (every call
  // fails with "no program"). Refused, and nothing changes: with units not committed (State),
  // with more than one thread or shared counters (Input: those close through the destructor).
  bool close_state_and_abandon(Error& error);

  RunStats stats() const;

 private:
  std::unique_ptr<detail::RunData> d_;
};

// Whether `spec` is a well-formed state spec ("memory", or "sqlite:PATH" with an optional
// `?max_pages=N`; not `:memory:` nor a `file:` URI), without opening anything: false with the
// message Run::open_state gives for it (an Input error). Every command taking --state checks
// its spec with this first, so a malformed one is the same usage error (exit 2) everywhere.
bool check_state_spec(const std::string& spec, std::string& error);

// Whether the ledger `spec` names may be opened as one, reading only its schema: "memory", a
// path that does not exist yet, an empty file, a SQLite database without tables, or a ledger crm
// recorded. False with the message (naming the file as not a crm ledger) for a SQLite database
// of another application, which crm would otherwise have added its tables to; also false with
// check_state_spec's message for a malformed spec. Every command that opens a ledger checks this
// before anything is opened (a usage error, exit 2); Run::open_state refuses the same (Input).
// A file that is not a database at all is true here: opening it says why it cannot be used.
bool check_state_ledger(const std::string& spec, std::string& error);

// A state spec read (the parser behind check_state_spec and Run::open_state): "memory", or the
// ledger's file and its page limit. Every reader of a spec takes the ledger's file from here, so
// `sqlite:PATH?max_pages=N` names the file PATH for every command. False with check_state_spec's
// message for a malformed spec.
struct StateSpec {
  bool memory = false;      // "memory": no ledger
  std::string path;         // the ledger's file (a "sqlite:" spec)
  long long max_pages = 0;  // the ledger's page limit (0: none)
};
bool parse_state_spec(const std::string& spec, StateSpec& out, std::string& error);

}  // namespace crm
