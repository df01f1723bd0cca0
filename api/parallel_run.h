// parallel_run.h - crm::Run on worker threads (`crm run --threads N`, library-internal; the rules
// are docs/scaling.md, "Threads in one process").
//
// Each worker owns an engine and the users whose stable_hash(user id) (divided by the partition
// count under --partition) falls to it, so a user's events are decided in order on one worker.
// The calling thread reads the events in batches and routes each line by its `user` (a scan of
// the line, not a parse); per batch, (1) every worker parses its own lines, (2) the caller
// computes, for each line, the latest event time before it in the input (the watermark a
// single engine would have), claims its event id for its thread (with a ledger: an id another
// thread still remembers is refused; EventIdOwners, bounded by the dedup window as the engines'
// ids are), and the first line that may be refused, (3) every worker decides
// its lines in input order, firing its delayed triggers' timers at the other workers' lines as
// one engine would. Campaign-wide counters are the store's, reserved without a global lock
// (state::LocalQuotas). Each worker records into its own state::WorkerLedger; a writer thread
// appends each batch's units to the one ledger and commits them as one group while the workers
// decide the next batch; a batch's decisions are handed to the caller only once their group is
// durable, in input order (a line's decisions after the timers it released on other workers).
// Each worker appends its decision lines to one buffer per batch (runs keyed by line, buffers
// reused from batch to batch); they are merged into one buffer for the caller (Run::replay_bytes)
// by the writer without a ledger, and by the caller's thread with one (the writer then only
// appends and commits).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <istream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <crm/run.h>

#include "api/event_id_owners.h"
#include "api/ordered_quotas.h"
#include "api/program_data.h"
#include "runtime/engine/engine.h"
#include "runtime/state/group_ledger.h"

namespace crm::detail {

class ParallelRun {
 public:
  ParallelRun(std::shared_ptr<const ProgramData> program, size_t threads);
  ~ParallelRun();
  // What in `p` threads do not support yet (empty: nothing).
  static std::string unsupported(const bytecode::Program& p);
  // What of these settings threads do not support yet (empty: nothing).
  static std::string unsupported(int64_t lateness, size_t total_timer_limit);

  size_t threads() const { return workers_.size(); }
  void set_partition(uint32_t index, uint32_t count);
  void set_allowed_lateness(int64_t micros) { lateness_ = micros; }
  // Every worker's engine remembers the ids of its own users' events for the same window, and
  // the reader which thread had each id (ids_) by the same rule.
  void set_dedup_window(int64_t micros) {
    for (auto& w : workers_) w.engine->set_dedup_window(micros);
    ids_.set_window(workers_[0].engine->dedup_window());
  }
  void set_timer_limits(size_t per_user, size_t total);
  // Each worker's engine refuses its own events that would run too many scheduled instants
  // (scheduled strategies are refused with threads for now: see unsupported).
  void set_max_schedule_runs(size_t runs) {
    for (auto& w : workers_) w.engine->set_max_schedule_runs(runs);
  }
  // How far ahead of the stream's clock a line may be (Engine::set_max_time_jump): the reader
  // refuses a line further ahead before any engine sees it (claim_ids), measured from the clock
  // one engine would have before it (else the ledger's), so its clock never moves there; the
  // workers' engines have the same limit for clock moves (--until).
  void set_max_time_jump(int64_t micros) {
    for (auto& w : workers_) w.engine->set_max_time_jump(micros);
    max_time_jump_ = workers_[0].engine->max_time_jump();
  }
  bool attach(state::StateStore* store, bool allow_program_change, std::string& error);
  const std::vector<std::string>& notices() const { return notices_; }

  // `file` and `line_number` as for Engine::load_profile_line (a record of a whole file).
  bool load_profile(std::string_view line, std::string& error, engine::ProfileFileUsers* file = nullptr,
                    size_t line_number = 0);
  bool load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error);

  bool replay(std::istream& in, const ReplayOptions& options, const Run::DecisionBytesFn& on_decisions,
              const Run::RefusedFn& on_refused, Error& error);
  bool add_event(std::string_view line, std::vector<std::string>& decisions, Error& error);
  void skip_line(std::string_view message);
  bool finish(std::vector<std::string>& decisions, Error& error, const int64_t* until = nullptr);
  bool commit(Error& error);
  size_t pending_units() const;
  size_t decided_units() const;
  std::string state_error() const;
  // Why the run stopped at an internal error (an exception on a worker, or a worker's engine
  // stopped: Engine::stopped()); empty while it runs. A stopped run refuses every call that
  // feeds or commits with ErrorKind::Internal and commits nothing more. Not while workers run.
  std::string stopped();
  // Stops the run for an internal failure its caller met (as a worker's exception does).
  void stop(std::string_view why) noexcept;
  RunStats stats() const;
  size_t pending_timers() const;

 private:
  // A worker's decisions of one batch: its decision lines appended to one buffer (no string per
  // decision), in runs of one key each: (line in batch << 1) | 1 for the line's own decisions,
  // << 1 alone for the timers it released. Kept and reused from batch to batch.
  struct Output {
    std::vector<uint64_t> keys;
    std::vector<size_t> ends;     // per run: where its bytes end
    std::vector<uint32_t> counts;  // per run: its lines
    std::string bytes;
    void clear() { keys.clear(), ends.clear(), counts.clear(), bytes.clear(); }
  };
  struct Batch {
    size_t n = 0;
    std::vector<std::string> text;
    std::vector<size_t> number;  // line numbers in the input
    std::vector<uint32_t> owner;
    // parsed: parsed, and its id not refused by the reader (claim_ids: a line refused there is
    // as one that did not parse, with its message in `error`).
    std::vector<uint8_t> parsed, reparse;
    std::vector<engine::Event> events;
    std::vector<uint64_t> id_hash;  // with a ledger: EventIdOwners::hash of the parsed id
    std::vector<int64_t> time, latest;
    std::vector<std::string> error;  // why the line was refused (parse, or the engine)
    std::vector<uint8_t> refused;
    std::vector<std::vector<uint32_t>> mine;  // per worker: its lines
    void clear(size_t workers);
    size_t add(std::string&& line, size_t number, uint32_t owner);
  };
  struct Worker {
    std::unique_ptr<engine::Engine> engine;
    std::vector<engine::Decision> decisions;
    Output out;
    std::thread thread;
  };
  struct Group {
    std::vector<Output> outputs;
    state::GroupLedger::Units units;  // the ledger's rows: kept with the group, reused with it
    std::string bytes;  // the decision lines merged in input order, once written
    size_t count = 0;   // lines in `bytes`
    std::string error;
    bool done = false;
    bool merged = false;  // `bytes` made: by the writer without a ledger, else by drain()
  };
  // DecideParse: a batch decided, then the next one parsed, without a hand-off between them
  // (one barrier per batch where the whole batch is decided at once).
  enum class Phase { Parse, Decide, DecideParse, Stop };

  uint32_t route(std::string_view user) const;
  uint32_t route_line(std::string_view line) const;
  // With a ledger: the thread that had each event id, within the dedup window (earlier runs'
  // ids: for the whole run); an id again on another thread is refused (claim_ids).
  EventIdOwners ids_;
  // Lines [begin, end) of a parsed batch: the stream's clock before each line (Batch::latest,
  // `running` carried on), and each line's id claimed for its thread in input order, at its time
  // (a line whose id another thread has is refused). In stop mode `end` is just after the first
  // line that may be refused; else the batch's end. Returns `end`.
  size_t claim_ids(Batch& b, size_t begin, bool stop, int64_t& running);
  std::string refuse_settings() const;
  void work(size_t w);
  void parse(size_t w, Batch& b);
  void decide(size_t w, Batch& b, size_t begin, size_t end);
  static void emit(Worker& wk, uint64_t key);
  // Starts a phase on every worker; wait() until they are all done.
  void start(Phase phase, Batch* b, size_t begin = 0, size_t end = 0, Batch* next = nullptr);
  void wait();
  // The lines of `b` decided; refusals reported in order. False when it stopped (stop mode).
  // With `next` (parsed_next set): where the whole of `b` is decided at once, each worker parses
  // its lines of `next` right after deciding `b` (Phase::DecideParse); `next` is parsed then.
  bool run_batch(Batch& b, bool stop_at_first_error, const Run::RefusedFn& on_refused, Error& error,
                 const std::function<void()>& meanwhile, Batch* next = nullptr, bool* parsed_next = nullptr);
  // A group to fill (a spare one, its buffers kept), with every worker's output of the batch
  // decided last (each worker gets the group's cleared buffers in exchange).
  std::shared_ptr<Group> take_outputs();
  static void merge(std::vector<Output>& outputs, std::string& bytes, size_t& count);
  void hand(std::shared_ptr<Group> g);
  void writer();
  // Hands the finished groups' decisions to `on_decisions` in order; `all`: waits for every group.
  bool drain(bool all, const Run::DecisionBytesFn& on_decisions, Error& error);
  void count_skipped(std::string_view message);

  std::shared_ptr<const ProgramData> program_;
  state::LocalQuotas quotas_;  // stock, budget and pools until a store is attached (its own then)
  // Every worker reserves through it: limited counters are taken in input order (its header).
  std::unique_ptr<OrderedQuotas> ordered_;
  std::vector<Worker> workers_;
  uint32_t part_index_ = 0, part_count_ = 1;
  int64_t lateness_ = 0;
  size_t total_timer_limit_ = 0;
  bool has_timers_ = false;
  int64_t latest_ = INT64_MIN;  // the latest event time accepted so far (every worker's)
  int64_t max_time_jump_ = engine::Engine::kMaxTimeJump;  // see set_max_time_jump
  int64_t ledger_clock_ = INT64_MIN;  // the ledger's latest decision (Engine::ledger_clock), after attach
  std::unique_ptr<state::GroupLedger> ledger_;
  std::vector<std::string> notices_;
  size_t lines_ = 0, skipped_ = 0, committed_units_ = 0;
  std::map<std::string, size_t> skipped_by_reason_;
  std::string error_;  // a failed group commit: the run must stop
  std::string internal_;  // an exception on a worker thread (guarded by mu_): the run stops (stopped())
  bool replaying_ = false;
  size_t decided_ = 0;  // units decided by the batches replayed so far

  // Workers: a phase at a time.
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  uint64_t generation_ = 0;
  size_t remaining_ = 0;
  Phase phase_ = Phase::Parse;
  Batch* batch_ = nullptr;
  Batch* next_ = nullptr;  // Phase::DecideParse: the batch parsed after batch_ is decided
  size_t begin_ = 0, end_ = 0;
  // An exception while parsing the next batch in Phase::DecideParse: the run stops once the
  // batch decided before it is handed on (as if the parse had been a phase of its own).
  std::string parse_internal_;

  // The writer: groups in order.
  std::mutex wmu_;
  std::condition_variable wcv_, wdone_cv_;
  std::deque<std::shared_ptr<Group>> groups_;  // handed, in order (the writer takes the next undone one)
  size_t next_to_write_ = 0;                   // index into groups_ of the first unwritten
  bool stop_writer_ = false;
  std::thread writer_;
  std::vector<std::shared_ptr<Group>> spare_;  // handed on and kept for their buffers (the caller's thread only)
};

}  // namespace crm::detail
