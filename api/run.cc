// run.cc - crm::Run (include/crm/run.h): the replay loop of `crm run` over the engine. One
// engine, one caller thread, no lock: the caller commits and reports (docs/runtime.md). Every
// entry point catches everything: no exception crosses include/.
#include <crm/run.h>

#include "api/decision.h"
#include "api/entry_point.h"
#include "api/parallel_run.h"
#include "api/program_data.h"
#include "api/reload.h"
#include "runtime/engine/engine.h"
#include "runtime/state/ledger_partition.h"
#include "runtime/state/redis_quotas.h"
#include "runtime/state/state_store.h"
#include "support/line_reader.h"
#include "support/text.h"

#include <crm/shared.h>

#include <iterator>
#include <sstream>

namespace crm {

static_assert(Run::kDefaultMaxScheduleRuns == engine::Engine::kMaxScheduleRuns);
static_assert(Run::kDefaultMaxTimeJump == engine::Engine::kMaxTimeJump);

namespace detail {

struct RunData {
  explicit RunData(std::shared_ptr<const ProgramData> p)
      : program(std::move(p)), engine(std::make_unique<engine::Engine>(program->program, program->engine_options())) {
    bind_parts();
  }
  // A scheduled instant's parts (Engine::set_part_sink): while a call runs, `take_part` hands
  // the decisions so far on to the call's output, then the caller's on_part may commit them.
  void bind_parts() {
    engine->set_part_sink([this](std::vector<engine::Decision>& out) {
      if (&out != &decisions || !take_part) return;
      take_part();
      if (on_part) on_part();
    });
  }
  std::function<void()> take_part;
  Run::PartFn on_part;
  std::shared_ptr<const ProgramData> program;  // declared before the engine, which refers to it
  std::unique_ptr<state::StateStore> store;  // declared before the engine, which refers to it
  std::unique_ptr<state::SharedOptions> shared;  // share_counters(): open_state puts the counters there
  // The engine deciding now: replaced by reload() (api/reload.h).
  std::unique_ptr<engine::Engine> engine;
  // enable_reload(): the input given to the engine, for the engine of a reloaded program.
  std::unique_ptr<Journal> journal;
  engine::Event event;
  std::vector<engine::Decision> decisions;
  // set_threads(N > 1): the workers' engines decide instead of `engine` (declared after the
  // store, which it refers to, so it is destroyed first).
  std::unique_ptr<ParallelRun> parallel;
  bool started = false;  // open_state, a profile or an event came: too late for set_threads
  bool fed = false;      // a profile or an event came: too late for enable_reload
  Partition partition{0, 1};
  size_t timer_per_user = 0, timer_total = 0;
};

}  // namespace detail

namespace {

Error no_program() { return {ErrorKind::Input, "no program"}; }

// The engine's records as JSON lines, appended to `out` (all of them, also after a refusal).
void take(detail::RunData& d, std::vector<std::string>& out) {
  out.reserve(out.size() + d.decisions.size());
  for (const auto& dec : d.decisions) out.push_back(d.engine->decision_json(dec));
  d.decisions.clear();
}

// The same records appended to one buffer, a line each, each counted in `count` once whole: a
// failure while rendering one (an Internal error) leaves no line cut short and none uncounted.
void take(detail::RunData& d, std::string& out, size_t& count) {
  for (const auto& dec : d.decisions) {
    const size_t mark = out.size();
    try {
      d.engine->append_decision_json(out, dec);
      out += '\n';
    } catch (...) {
      out.resize(mark);
      throw;
    }
    ++count;
  }
  d.decisions.clear();
}

// Typed decisions are read from their JSON lines (crm::Decision), so they say what the lines say.
bool to_structs(std::vector<std::string>& json, std::vector<Decision>& out, Error& error) {
  for (auto& line : json) {
    std::string err;
    Decision d;
    if (!detail::parse_decision(std::move(line), d, err)) {
      error = {ErrorKind::Internal, "cannot read a decision: " + err};
      return false;
    }
    out.push_back(std::move(d));
  }
  return true;
}

// After a step: a failed ledger outranks the step's own result (the stream must stop).
bool settle(detail::RunData& d, bool ok, std::string& msg, Error& error) {
  if (!d.engine->store_error().empty()) {
    error = {ErrorKind::State, d.engine->store_error()};
    return false;
  }
  if (!ok) error = {ErrorKind::Input, std::move(msg)};
  return ok;
}

// An internal failure while the run was fed stops it (Engine::stopped(), runtime.h ErrorKind),
// also one after the engine's step, in rendering its decisions: their units are recorded, but
// not all of their lines were handed on.
Error stop_run(detail::RunData& d, const std::exception& e) {
  if (d.parallel) d.parallel->stop(e.what());
  else d.engine->stop(e.what());
  return {ErrorKind::Internal, e.what()};
}

}  // namespace

Run::Run(const CompiledProgram& program) {
  try {
    if (program.valid()) d_ = std::make_unique<detail::RunData>(program.data());
  } catch (...) {
    d_.reset();  // reported as "no program" by every call
  }
}
Run::~Run() = default;
Run::Run(Run&&) noexcept = default;
Run& Run::operator=(Run&&) noexcept = default;

void Run::set_allowed_lateness(int64_t micros) {
  if (!d_) return;
  d_->engine->set_allowed_lateness(micros);
  if (d_->parallel) d_->parallel->set_allowed_lateness(micros);
}

bool Run::set_dedup_window(int64_t micros, Error& error) {
  if (!d_) return error = no_program(), false;
  if (micros < 0) return error = {ErrorKind::Input, "the dedup window must not be negative"}, false;
  if (d_->started)
    return error = {ErrorKind::Input, "set_dedup_window must come before open_state, profiles and events"}, false;
  d_->engine->set_dedup_window(micros);
  if (d_->parallel) d_->parallel->set_dedup_window(micros);
  return true;
}

size_t Run::remembered_events() const {
  return d_ && !d_->parallel ? d_->engine->remembered_events() : 0;
}

bool Run::set_threads(size_t threads, Error& error) {
  if (!d_) return error = no_program(), false;
  if (threads == 0) return error = {ErrorKind::Input, "threads must be at least 1"}, false;
  if (threads > 256) return error = {ErrorKind::Input, "threads must be at most 256"}, false;
  if (d_->started)
    return error = {ErrorKind::Input, "set_threads must come before open_state, profiles and events"}, false;
  try {
    if (threads == 1) {
      d_->parallel.reset();
      return true;
    }
    std::string why = detail::ParallelRun::unsupported(d_->program->program);
    if (why.empty()) why = detail::ParallelRun::unsupported(d_->engine->allowed_lateness(), d_->timer_total);
    if (!why.empty()) return error = {ErrorKind::Input, std::move(why)}, false;
    d_->parallel = std::make_unique<detail::ParallelRun>(d_->program, threads);
    d_->parallel->set_partition(d_->partition.index, d_->partition.count);
    d_->parallel->set_allowed_lateness(d_->engine->allowed_lateness());
    d_->parallel->set_dedup_window(d_->engine->dedup_window());
    d_->parallel->set_timer_limits(d_->timer_per_user, d_->timer_total);
    d_->parallel->set_max_schedule_runs(d_->engine->max_schedule_runs());
    d_->parallel->set_max_time_jump(d_->engine->max_time_jump());
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

size_t Run::threads() const { return d_ && d_->parallel ? d_->parallel->threads() : 1; }

bool check_state_spec(const std::string& spec, std::string& error) try {
  return state::state_spec_valid(spec, error);
} catch (const std::exception& e) {
  error = e.what();
  return false;
}

bool check_state_ledger(const std::string& spec, std::string& error) try {
  state::StateSpec parsed;
  if (!state::parse_state_spec(spec, parsed, error)) return false;
  return parsed.memory || state::check_ledger_file(parsed.path, error);
} catch (const std::exception& e) {
  error = e.what();
  return false;
}

bool parse_state_spec(const std::string& spec, StateSpec& out, std::string& error) try {
  state::StateSpec parsed;
  if (!state::parse_state_spec(spec, parsed, error)) return false;
  out = {parsed.memory, parsed.path, parsed.max_pages};
  return true;
} catch (const std::exception& e) {
  error = e.what();
  return false;
}

bool Run::open_state(const std::string& spec, bool allow_program_change, Error& error) {
  if (!d_) return error = no_program(), false;
  if (d_->store) return error = {ErrorKind::Input, "state is already open"}, false;
  try {
    std::string msg;
    if (d_->shared && !shared_ledger_durable(spec)) return error = {ErrorKind::Input, kSharedNeedsLedger}, false;
    // Another application's database named as the ledger is a wrong argument, like a malformed
    // spec (the store refuses it too, as State, for its other callers).
    if (!check_state_ledger(spec, msg)) return error = {ErrorKind::Input, std::move(msg)}, false;
    auto store = state::open_store(spec, msg);
    if (!store) {
      std::string spec_error;
      error = {state::state_spec_valid(spec, spec_error) ? ErrorKind::State : ErrorKind::Input, std::move(msg)};
      return false;
    }
    // The ledger serves one partition for its life (docs/scaling.md, "Partitions").
    std::string ledger_id;
    if (!state::keep_partition(*store, d_->partition.index, d_->partition.count, ledger_id, msg)) {
      error = {ErrorKind::State, std::move(msg)};
      return false;
    }
    if (d_->shared) {
      d_->shared->partition_index = d_->partition.index;
      d_->shared->partition_count = d_->partition.count;
      d_->shared->ledger_id = ledger_id;  // read once (keep_partition), registered with the partition
      d_->shared->strategies.clear();
      for (const auto& st : d_->program->program.strategies) d_->shared->strategies.push_back(st.name);
      if (!(store = state::open_shared_store(std::move(store), *d_->shared, msg))) {
        error = {ErrorKind::Input, std::move(msg)};
        return false;
      }
    }
    d_->started = true;
    d_->engine->allow_program_change(allow_program_change);
    if (d_->parallel ? !d_->parallel->attach(store.get(), allow_program_change, msg) : !d_->engine->attach(store.get(), msg)) {
      error = {ErrorKind::State, std::move(msg)};
      return false;
    }
    // The engine refers to the store from here on: kept even when the record below fails.
    d_->store = std::move(store);
    // Recorded only now: a start refused above (by Redis, by the program's identity) records nothing.
    if (!state::record_partition(*d_->store, d_->partition.index, d_->partition.count, msg)) {
      error = {ErrorKind::State, std::move(msg)};
      return false;
    }
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

bool Run::share_counters(const SharedCounters& shared, Error& error) {
  if (!d_) return error = no_program(), false;
  if (d_->store) return error = {ErrorKind::Input, "share_counters must come before open_state"}, false;
  try {
    auto o = std::make_unique<state::SharedOptions>(shared_options(shared));
    std::string msg;
    if (!state::RedisQuotas::create(*o, msg)) return error = {ErrorKind::Input, std::move(msg)}, false;
    d_->shared = std::move(o);
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

bool Run::set_partition(const Partition& p, Error& error) {
  if (!d_) return error = no_program(), false;
  if (p.count == 0 || p.index >= p.count)
    return error = {ErrorKind::Input, "partition index must be below the count"}, false;
  if (d_->store) return error = {ErrorKind::Input, "set_partition must come before open_state"}, false;
  d_->engine->set_partition(p.index, p.count);
  d_->partition = p;
  if (d_->parallel) d_->parallel->set_partition(p.index, p.count);
  return true;
}

std::vector<std::string> Run::state_notices() const {
  try {
    return !d_ ? std::vector<std::string>() : d_->parallel ? d_->parallel->notices() : d_->engine->notices();
  } catch (...) {
    return {};
  }
}

std::string Run::state_description() const {
  try {
    return d_ && d_->store ? d_->store->describe() : std::string();
  } catch (...) {
    return {};
  }
}

bool Run::load_profile(std::string_view line, Error& error) {
  if (!d_) return error = no_program(), false;
  d_->started = d_->fed = true;
  return feed_line(
      [&](std::string& msg) {
        if (d_->parallel) return d_->parallel->load_profile(line, msg);
        bool ok = d_->engine->load_profile_line(line, msg);
        if (d_->journal) d_->journal->profile_line(line, ok);
        return ok;
      },
      error);
}

bool Run::load_profile(const Profile& profile, Error& error) {
  if (!d_) return error = no_program(), false;
  std::string line;
  try {
    line = profile_json(profile);
  } catch (const std::exception& e) {
    return error = {ErrorKind::Internal, e.what()}, false;
  }
  return load_profile(line, error);
}

bool Run::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  if (!d_) return false;
  try {
    d_->started = d_->fed = true;
    auto report = [&](size_t line, const std::string& message) { return on_error ? on_error(line, message) : false; };
    if (d_->parallel) return d_->parallel->load_profiles(in, csv, report);
    if (!d_->journal) return d_->engine->load_profiles(in, csv, report);
    // Kept for a reload: the text, and what the caller answered to each malformed record.
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::istringstream copy(text);
    std::vector<bool> answers;
    bool ok = d_->engine->load_profiles(copy, csv, [&](size_t line, const std::string& message) {
      bool go_on = report(line, message);
      answers.push_back(go_on);
      return go_on;
    });
    d_->journal->profiles(text, csv, answers, ok);
    return ok;
  } catch (const std::exception& e) {
    if (on_error) on_error(0, e.what());
    return false;
  }
}

namespace {

// For the length of one call: the parts of a scheduled instant go where `take` puts the call's
// decisions (Run::on_schedule_part).
struct PartTaker {
  template <typename Take>
  PartTaker(detail::RunData& d, Take& take) : d_(d) { d_.take_part = [&take] { take(); }; }
  ~PartTaker() { d_.take_part = nullptr; }
  PartTaker(const PartTaker&) = delete;
  PartTaker& operator=(const PartTaker&) = delete;
  detail::RunData& d_;
};

// One event on the Run's own engine; `take_decisions` hands on what it decided.
template <typename Take>
bool add_event_to(detail::RunData& d, std::string_view line, Take&& take_decisions, Error& error) {
  ++d.engine->stats().lines;
  if (!d.engine->stopped().empty()) return error = {ErrorKind::Internal, d.engine->stopped()}, false;
  if (!d.engine->store_error().empty()) return error = {ErrorKind::State, d.engine->store_error()}, false;
  std::string msg;
  if (!d.engine->parse_event(line, d.event, msg)) return error = {ErrorKind::Input, std::move(msg)}, false;
  d.decisions.clear();
  // The stream contract: a late event is refused; held events are decided in time order.
  PartTaker parts(d, take_decisions);
  bool ok = d.engine->submit(d.event, d.decisions, msg);
  if (d.journal) d.journal->event(line, ok);
  take_decisions();
  return settle(d, ok, msg, error);
}

}  // namespace

bool Run::add_event(std::string_view line, std::vector<std::string>& decisions, Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  try {
    d.started = d.fed = true;
    if (d.parallel) return d.parallel->add_event(line, decisions, error);
    return add_event_to(d, line, [&] { take(d, decisions); }, error);
  } catch (const std::exception& e) {
    error = stop_run(d, e);
    return false;
  }
}

bool Run::add_event(std::string_view line, std::string& decision_lines, size_t& count, Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  try {
    d.started = d.fed = true;
    if (d.parallel) {
      std::vector<std::string> lines;
      bool ok = d.parallel->add_event(line, lines, error);
      for (const auto& l : lines) decision_lines.append(l) += '\n';
      count += lines.size();
      return ok;
    }
    return add_event_to(d, line, [&] { take(d, decision_lines, count); }, error);
  } catch (const std::exception& e) {
    error = stop_run(d, e);
    return false;
  }
}

bool Run::add_event(std::string_view line, std::vector<Decision>& decisions, Error& error) {
  std::vector<std::string> json;
  bool ok = add_event(line, json, error);
  try {
    Error read;
    if (!to_structs(json, decisions, read)) return error = read, false;
  } catch (const std::exception& e) {
    return error = {ErrorKind::Internal, e.what()}, false;
  }
  return ok;
}

bool Run::add_event(const Event& event, std::vector<Decision>& decisions, Error& error) {
  if (!d_) return error = no_program(), false;
  std::string line;
  try {
    line = event_json(event);
  } catch (const std::exception& e) {
    return error = {ErrorKind::Internal, e.what()}, false;
  }
  return add_event(line, decisions, error);
}

void Run::skip_line(std::string_view message) {
  if (!d_) return;
  try {
    if (d_->parallel) return d_->parallel->skip_line(message);
    auto& st = d_->engine->stats();
    ++st.skipped;
    ++st.skipped_by_reason[support::message_reason(message)];
  } catch (...) {
  }
}

bool Run::finish(std::vector<std::string>& decisions, Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  try {
    if (d.parallel) return d.parallel->finish(decisions, error);
    d.decisions.clear();
    std::string msg;
    auto take_all = [&] { take(d, decisions); };
    PartTaker parts(d, take_all);
    bool ok = d.engine->finish(d.decisions, msg);
    if (d.journal) d.journal->finish(ok);
    take(d, decisions);
    // A refused held event is reported as such even when the ledger failed too: state_error()
    // tells the caller about the ledger. A unit that could not be recorded (the step stops
    // there, with the store's message) is the ledger's failure.
    if (!ok && msg != d.engine->store_error()) return error = {ErrorKind::Input, std::move(msg)}, false;
    return settle(d, ok, msg, error);
  } catch (const std::exception& e) {
    error = stop_run(d, e);
    return false;
  }
}

bool Run::advance_time(int64_t at_micros, std::vector<std::string>& decisions, Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  try {
    if (d.parallel) return d.parallel->finish(decisions, error, &at_micros);
    d.decisions.clear();
    std::string msg;
    auto take_all = [&] { take(d, decisions); };
    PartTaker parts(d, take_all);
    bool ok = d.engine->advance_to(at_micros, d.decisions, msg);
    if (d.journal) d.journal->advance(at_micros, ok);
    take(d, decisions);
    if (!ok && msg != d.engine->store_error()) return error = {ErrorKind::Input, std::move(msg)}, false;
    return settle(d, ok, msg, error);
  } catch (const std::exception& e) {
    error = stop_run(d, e);
    return false;
  }
}

void Run::set_timer_limits(size_t per_user, size_t total) {
  if (!d_) return;
  d_->engine->set_timer_limits(per_user, total);
  d_->timer_per_user = per_user, d_->timer_total = total;
  if (d_->parallel) d_->parallel->set_timer_limits(per_user, total);
}

void Run::set_max_schedule_runs(size_t runs) {
  if (!d_) return;
  d_->engine->set_max_schedule_runs(runs);
  if (d_->parallel) d_->parallel->set_max_schedule_runs(runs);
}

void Run::set_max_time_jump(int64_t micros) {
  if (!d_) return;
  d_->engine->set_max_time_jump(micros);
  if (d_->parallel) d_->parallel->set_max_time_jump(micros);
}

size_t Run::pending_timers() const {
  return !d_ ? 0 : d_->parallel ? d_->parallel->pending_timers() : d_->engine->pending_timers();
}

bool Run::finish(std::vector<Decision>& decisions, Error& error) {
  std::vector<std::string> json;
  bool ok = finish(json, error);
  try {
    Error read;
    if (!to_structs(json, decisions, read)) return error = read, false;
  } catch (const std::exception& e) {
    return error = {ErrorKind::Internal, e.what()}, false;
  }
  return ok;
}

bool Run::commit(Error& error) {
  if (!d_) return error = no_program(), false;
  try {
    if (d_->parallel) return d_->parallel->commit(error);
    std::string msg;
    if (d_->engine->commit(msg)) return true;
    error = {ErrorKind::State, std::move(msg)};
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
  }
  return false;
}

// Builds with AddressSanitizer free the Run here, so that their leak check still sees the
// engine's destruction (as the CLI's exit_without_freeing does).
#if defined(__SANITIZE_ADDRESS__)
#define CRM_RUN_FREES_ON_ABANDON 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CRM_RUN_FREES_ON_ABANDON 1
#endif
#endif

bool Run::close_state_and_abandon(Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  if (d.parallel || d.shared)
    return error = {ErrorKind::Input, "close_state_and_abandon: not with threads or shared counters"}, false;
  if (d.engine->pending_units() > 0)
    return error = {ErrorKind::State, "close_state_and_abandon: decided units are not committed"}, false;
  // The store alone is destroyed, as ~RunData would (its destructor finalizes the statements,
  // closes the connection, which checkpoints the WAL, and then releases the ledger's lock);
  // the engine, which refers to it, is never used again: the Run is emptied below.
  d.store.reset();
#ifdef CRM_RUN_FREES_ON_ABANDON
  d_.reset();
#else
  (void)d_.release();  // left to the process's end on purpose (about 4 % of a run's instructions)
#endif
  return true;
}

size_t Run::pending_units() const {
  return !d_ ? 0 : d_->parallel ? d_->parallel->pending_units() : d_->engine->pending_units();
}
size_t Run::decided_units() const {
  return !d_ ? 0 : d_->parallel ? d_->parallel->decided_units() : d_->engine->decided_units();
}

std::string Run::state_error() const {
  try {
    return !d_ ? std::string() : d_->parallel ? d_->parallel->state_error() : d_->engine->store_error();
  } catch (...) {
    return "out of memory";
  }
}

bool Run::enable_reload(Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  if (d.parallel)
    return error = {ErrorKind::Input, "reload is not supported with more than one thread (set_threads): the workers' "
                                      "engines would all have to be quiesced and rebuilt"}, false;
  if (d.fed) return error = {ErrorKind::Input, "enable_reload must come before profiles and events"}, false;
  if (d.journal) return true;
  try {
    // Without a state, an in-memory ledger: what the new program continues (the old engine's
    // counters, grants and timers are rebuilt from it, and its units are not decided again).
    if (!d.store && !open_state("memory", false, error)) return false;
    auto j = std::make_unique<detail::Journal>();
    std::string msg;
    if (!j->open(msg)) return error = {ErrorKind::State, std::move(msg)}, false;
    d.journal = std::move(j);
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

bool Run::reload(const CompiledProgram& program, bool allow_program_change, std::vector<std::string>& decisions,
                 Error& error) {
  if (!d_) return error = no_program(), false;
  auto& d = *d_;
  if (!program.valid()) return error = {ErrorKind::Input, "reload: no program (it did not compile)"}, false;
  if (!d.journal) return error = {ErrorKind::Input, "reload needs enable_reload() before profiles and events"}, false;
  try {
    // Everything decided so far becomes durable first: the new engine continues the ledger.
    std::string msg;
    if (!d.engine->commit(msg)) return error = {ErrorKind::State, std::move(msg)}, false;
    std::vector<std::string> notices;
    std::vector<std::string> fresh;
    auto next = detail::rebuild_engine(*program.data(), *d.engine, *d.store, allow_program_change, *d.journal, notices,
                                       fresh, msg);
    if (!next) {
      if (!d.engine->store_error().empty()) return error = {ErrorKind::State, d.engine->store_error()}, false;
      return error = {ErrorKind::Input, "reload refused, the running program goes on: " + msg}, false;
    }
    d.engine = std::move(next);  // the old engine goes; then its program
    d.bind_parts();
    d.program = program.data();
    decisions.insert(decisions.end(), std::make_move_iterator(fresh.begin()), std::make_move_iterator(fresh.end()));
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

void Run::on_schedule_part(PartFn on_part) {
  if (d_) d_->on_part = std::move(on_part);
}

bool Run::reload_enabled() const { return d_ && d_->journal; }

RunStats Run::stats() const {
  RunStats out;
  if (!d_) return out;
  try {
    if (d_->parallel) return d_->parallel->stats();
    const auto& st = d_->engine->stats();
    out.lines = st.lines;
    out.events = st.events;
    out.users = d_->engine->user_count();
    out.skipped = st.skipped;
    out.skipped_by_reason = st.skipped_by_reason;
    out.evaluation_errors = st.eval_errors;
    out.evaluation_errors_by_kind = st.eval_errors_by_kind;
    out.granted = st.granted;
    out.rejected = st.rejected;
    out.control = st.control;
    out.held = st.held;
    out.redeemed = st.redeemed;
    out.redemptions_refused = st.redeem_rejected;
    out.expired = st.expired;
    out.timers_armed = st.timers_armed;
    out.timers_cancelled = st.timers_cancelled;
    out.timers_fired = st.timers_fired;
    out.timers_pending = d_->engine->pending_timers();
    out.held_pending = d_->engine->pending_releases();
  } catch (...) {
  }
  return out;
}

bool Run::replay(std::istream& in, const ReplayOptions& options, const DecisionsFn& on_decisions,
                 const RefusedFn& on_refused, Error& error) {
  // The bytes, cut into lines: one string per decision, for callers that want them so.
  std::vector<std::string> lines;
  DecisionBytesFn as_lines;
  if (on_decisions)
    as_lines = [&](std::string_view bytes, size_t count) {
      lines.clear();
      lines.reserve(count);
      for (size_t at = 0; at < bytes.size();) {
        size_t nl = bytes.find('\n', at);
        if (nl == std::string_view::npos) nl = bytes.size();
        lines.emplace_back(bytes.substr(at, nl - at));
        at = nl + 1;
      }
      return on_decisions(lines);
    };
  return replay_bytes(in, options, as_lines, on_refused, error);
}

bool Run::replay_bytes(std::istream& in, const ReplayOptions& options, const DecisionBytesFn& on_decisions,
                       const RefusedFn& on_refused, Error& error) {
  if (!d_) return error = no_program(), false;
  try {
    d_->started = d_->fed = true;
    if (d_->parallel) return d_->parallel->replay(in, options, on_decisions, on_refused, error);
    // One thread: add_event line by line, a commit every batch_lines units, decisions handed on
    // after the commit that covers them.
    support::LineReader reader(in);
    std::string line;
    std::string decided;
    size_t count = 0;
    const size_t every = std::max<size_t>(1, options.batch_lines);
    auto durable = [&] {
      if (!commit(error)) return false;
      if (count && on_decisions && !on_decisions(decided, count)) {
        error = {ErrorKind::Input, "stopped: the decisions could not be handed on"};
        return false;
      }
      decided.clear();
      count = 0;
      return true;
    };
    while (reader.next(line)) {
      if (line.empty()) continue;
      Error e;
      bool ok = add_event(line, decided, count, e);
      if (e.kind == ErrorKind::State || e.kind == ErrorKind::Internal) return error = e, false;
      if (!ok) {
        if (on_refused) on_refused(reader.line(), e);
        if (options.stop_at_first_error) {
          if (!durable()) return false;
          error = e;
          return false;
        }
        skip_line(e.message);
      }
      if (pending_units() >= every && !durable()) return false;
    }
    if (reader.failed()) {  // not the end of the stream: what was read is decided and durable
      if (!durable()) return false;
      error = {ErrorKind::Input, "read error after line " + std::to_string(reader.line()) + ": the events after it were not read"};
      return false;
    }
    return durable();
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

}  // namespace crm
