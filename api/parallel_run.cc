// parallel_run.cc - crm::Run on worker threads (see parallel_run.h).
#include "api/parallel_run.h"

#include <fmt/format.h>

#include <algorithm>

#ifdef __linux__
#include <cerrno>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "runtime/engine/json_line.h"
#include "runtime/vm/vm.h"
#include "support/csv.h"
#include "support/json_text.h"
#include "support/line_reader.h"
#include "support/text.h"

namespace crm::detail {

std::string ParallelRun::unsupported(const bytecode::Program& p) {
  for (const auto& s : p.strategies) {
    if (s.trigger != bytecode::Trigger::OnEvent)
      return fmt::format("strategy `{}` is scheduled (`at`/`every`): it decides every known user at one instant, and users "
                         "are spread over the threads; scheduled strategies are not supported with more than one thread yet",
                         s.name);
    if (s.recipient_field >= 0)
      return fmt::format("strategy `{}` grants to the user an event names (a referral), who may be another thread's user; "
                         "referral grants are not supported with more than one thread yet",
                         s.name);
    if (s.has_rollout)
      return fmt::format("strategy `{}` rolls out the winner of its test (`rollout:`), chosen from every arm's users, who "
                         "are spread over the threads; automatic roll-out is not supported with more than one thread yet",
                         s.name);
  }
  return {};
}

ParallelRun::ParallelRun(std::shared_ptr<const ProgramData> program, size_t threads) : program_(std::move(program)) {
  workers_.resize(threads);
  ordered_ = std::make_unique<OrderedQuotas>(program_->program, threads);
  ordered_->wrap(quotas_);  // without a store: one set of counters for every worker
  for (size_t i = 0; i < workers_.size(); ++i) {
    auto& w = workers_[i];
    w.engine = std::make_unique<engine::Engine>(program_->program, program_->engine_options());
    w.engine->bind_quotas(*ordered_);
    if (threads > 1) w.engine->set_unit_tag("/" + std::to_string(i));
  }
  for (const auto& s : program_->program.strategies) has_timers_ |= s.delay > 0;
  ids_.set_window(workers_[0].engine->dedup_window());
  for (size_t i = 0; i < workers_.size(); ++i) workers_[i].thread = std::thread([this, i] { work(i); });
  writer_ = std::thread([this] { writer(); });
}

ParallelRun::~ParallelRun() {
  start(Phase::Stop, nullptr);
  for (auto& w : workers_) w.thread.join();
  {
    std::lock_guard lk(wmu_);
    stop_writer_ = true;
  }
  wcv_.notify_all();
  writer_.join();
}

void ParallelRun::set_partition(uint32_t index, uint32_t count) {
  part_index_ = index;
  part_count_ = count ? count : 1;
  for (auto& w : workers_) w.engine->set_partition(index, count);
}

void ParallelRun::set_timer_limits(size_t per_user, size_t total) {
  total_timer_limit_ = total;
  for (auto& w : workers_) w.engine->set_timer_limits(per_user, 0);
}

// The worker of a user: the hash --partition uses, divided by the partition count first, so the
// users of one partition spread over every thread.
uint32_t ParallelRun::route(std::string_view user) const {
  return uint32_t((vm::stable_hash(user) / part_count_) % workers_.size());
}

// A line whose user cannot be told without a full parse is malformed or unusual: worker 0
// parses it, and hands it on if it names another worker's user (Batch::reparse).
uint32_t ParallelRun::route_line(std::string_view line) const {
  std::string user;
  return engine::line_user(line, user) ? route(user) : 0;
}

std::string ParallelRun::unsupported(int64_t lateness, size_t total_timer_limit) {
  if (lateness > 0)
    return "an allowed lateness above 0 is not supported with more than one thread yet (each thread would hold its own "
           "users' events, and a late event is one before every thread's latest)";
  if (total_timer_limit > 0)
    return "a limit on all users' pending timers (--max-pending-timers) is not supported with more than one thread yet; "
           "the per-user limit is";
  return {};
}

std::string ParallelRun::refuse_settings() const { return unsupported(lateness_, total_timer_limit_); }

bool ParallelRun::attach(state::StateStore* store, bool allow_program_change, std::string& error) {
  auto ledger = std::make_unique<state::GroupLedger>(*store);
  if (!ledger->load(error)) return false;
  ledger->make_workers(workers_.size());
  for (size_t w = 0; w < workers_.size(); ++w) {
    auto& e = *workers_[w].engine;
    e.allow_program_change(allow_program_change);
    // Each engine rebuilds its own users' state; stock, budget and pools are the store's,
    // rebuilt once by the load above.
    e.set_restore_filter([this, w](std::string_view user) { return route(user) == w; });
    if (!e.attach(&ledger->worker(w), error)) return false;
  }
  // The store's counters (the same for every worker), still taken in input order.
  ordered_->wrap(ledger->worker(0).quotas());
  for (auto& wk : workers_) wk.engine->bind_quotas(*ordered_);
  // Every worker answers an earlier run's id from the ledger until it meets it itself: the reader
  // holds them for the whole run (EventIdOwners).
  for (const auto& u : ledger->loaded_units())
    if (u.kind == state::UnitKind::Event) ids_.add_earlier(EventIdOwners::hash(u.id));
  ledger->forget_loaded();
  notices_ = workers_[0].engine->notices();
  ledger_clock_ = workers_[0].engine->ledger_clock();  // every worker's: read from all rows
  ledger_ = std::move(ledger);
  return true;
}

bool ParallelRun::load_profile(std::string_view line, std::string& error, engine::ProfileFileUsers* file,
                               size_t line_number) {
  // A stopped run takes no profile, also none for a worker whose own engine still runs.
  if (std::string s = stopped(); !s.empty()) throw std::runtime_error(s);
  return workers_[route_line(line)].engine->load_profile_line(line, error, file, line_number);
}

bool ParallelRun::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  if (std::string s = stopped(); !s.empty()) throw std::runtime_error(s);
  std::string err;
  // The file's users, whichever worker keeps each one: a second record for a user is refused, as
  // with one thread (Engine::load_profiles). Records are handed over one at a time from here.
  engine::ProfileFileUsers users;
  if (!csv) {
    support::LineReader reader(in);
    std::string line;
    while (reader.next(line)) {
      if (line.empty()) continue;
      if (!load_profile(line, err, &users, reader.line()) && !on_error(reader.line(), err)) return false;
    }
    if (reader.failed()) {  // not the end of the file: the profiles after it were never read
      on_error(reader.line() + 1, "read error");
      return false;
    }
    return true;
  }
  // CSV: every engine reads the header; each row goes to the engine of its `user` cell.
  support::CsvReader reader(in);
  std::vector<support::CsvField> cells;
  bool header = true;
  size_t user_column = SIZE_MAX;
  while (true) {
    bool ok = reader.next(cells);
    if (!ok && reader.error().empty()) break;
    if (!ok) {
      err = reader.error();
    } else if (header) {
      bool all = true;
      for (auto& w : workers_) all = all && w.engine->load_profile_csv_header(cells, err);
      if (all) {
        header = false;
        for (size_t i = 0; i < cells.size(); ++i)
          if (cells[i].text == "user") user_column = i;
        continue;
      }
    } else {
      uint32_t w = user_column < cells.size() ? route(cells[user_column].text) : 0;
      if (workers_[w].engine->load_profile_csv_row(cells, err, &users, reader.line())) continue;
    }
    if (!on_error(reader.line(), err) || header || reader.failed()) return false;
  }
  if (header) {
    on_error(1, "empty file: expected a header row naming the columns (one of them `user`)");
    return false;
  }
  return true;
}

// ---- workers -----------------------------------------------------------------------------------

void ParallelRun::start(Phase phase, Batch* b, size_t begin, size_t end, Batch* next) {
  {
    std::lock_guard lk(mu_);
    phase_ = phase;
    batch_ = b;
    next_ = next;
    begin_ = begin;
    end_ = end;
    remaining_ = workers_.size();
    ++generation_;
    if (phase == Phase::Decide || phase == Phase::DecideParse) ordered_->begin_batch();
  }
  work_cv_.notify_all();
}

void ParallelRun::wait() {
  std::unique_lock lk(mu_);
  done_cv_.wait(lk, [&] { return remaining_ == 0; });
}

void ParallelRun::work(size_t w) {
  uint64_t seen = 0;
  bool lowered = false;
  for (;;) {
    Phase phase;
    Batch *b, *next;
    size_t begin, end;
    {
      std::unique_lock lk(mu_);
      work_cv_.wait(lk, [&] { return generation_ != seen; });
      seen = generation_;
      phase = phase_, b = batch_, next = next_, begin = begin_, end = end_;
    }
    if (phase == Phase::Stop) {
      // Each worker frees its own engine (its users' state, allocated on this thread), the
      // workers at once rather than one after the other on the caller's thread.
      workers_[w].engine.reset();
      return;
    }
#ifdef __linux__
    // With a ledger the one writer thread is the serial part: where it competes with the workers
    // for a core it goes first (the workers run at a lower priority, this thread only).
    if (!lowered && ledger_) {
      lowered = true;
      const auto tid = static_cast<id_t>(syscall(SYS_gettid));
      errno = 0;
      int nice = getpriority(PRIO_PROCESS, tid);
      if (errno == 0) setpriority(PRIO_PROCESS, tid, std::min(nice + 5, 19));
    }
#endif
    bool decided = false;
    try {
      if (phase == Phase::Parse) parse(w, *b);
      else decide(w, *b, begin, end);
      decided = true;
    } catch (const std::exception& e) {
      // Reported as the engine's failure (Internal) by the caller, as Run's entry points do.
      std::lock_guard lk(mu_);
      if (internal_.empty()) internal_ = std::string("internal error: ") + e.what();
    }
    if (phase == Phase::DecideParse && decided) {
      try {
        parse(w, *next);
      } catch (const std::exception& e) {
        std::lock_guard lk(mu_);
        if (parse_internal_.empty()) parse_internal_ = std::string("internal error: ") + e.what();
      }
    }
    std::lock_guard lk(mu_);
    if (--remaining_ == 0) done_cv_.notify_one();
  }
}

// Phase 1: this worker's lines parsed (its own string pool); a line found to name another
// worker's user is parsed again by that worker in phase 2.
void ParallelRun::parse(size_t w, Batch& b) {
  auto& e = *workers_[w].engine;
  for (uint32_t i : b.mine[w]) {
    std::string err;
    if (!e.parse_event(b.text[i], b.events[i], err)) {
      b.error[i] = std::move(err);
      continue;
    }
    b.parsed[i] = 1;
    b.time[i] = b.events[i].time;
    if (ledger_) b.id_hash[i] = EventIdOwners::hash(b.events[i].id);  // for claim_ids, off the reader's thread
    if (uint32_t owner = route(b.events[i].user); owner != w) b.owner[i] = owner, b.reparse[i] = 1;
  }
}

void ParallelRun::emit(Worker& wk, uint64_t key) {
  if (wk.decisions.empty()) return;
  auto& out = wk.out;
  const size_t mark = out.bytes.size();
  try {
    for (const auto& d : wk.decisions) {
      wk.engine->append_decision_json(out.bytes, d);
      out.bytes += '\n';
    }
  } catch (...) {
    out.bytes.resize(mark);  // no line cut short
    wk.decisions.clear();
    throw;
  }
  out.keys.push_back(key);
  out.ends.push_back(out.bytes.size());
  out.counts.push_back(uint32_t(wk.decisions.size()));
  wk.decisions.clear();
}

// Phase 2: lines [begin, end) in input order. The worker's own lines are submitted with the
// stream's clock as one engine would have it (the latest time before the line); at another
// worker's accepted line, this worker's timers due by its time fire, as they would in one engine.
void ParallelRun::decide(size_t w, Batch& b, size_t begin, size_t end) {
  auto& wk = workers_[w];
  auto& e = *wk.engine;
  std::string err;
  // However the range ends (a store error, an exception), no worker waits for this one after it.
  struct Done {
    OrderedQuotas& q;
    size_t w;
    ~Done() { q.done(w); }
  } done{*ordered_, w};
  for (size_t i = begin; i < end; ++i) {
    // Timers fired at another worker's line come before that line's event (2i < 2i + 1).
    ordered_->at(w, 2 * uint64_t(i) + (b.owner[i] == w));
    if (b.owner[i] != w) {
      if (has_timers_ && b.parsed[i] && b.time[i] >= b.latest[i]) {
        e.see_time(b.latest[i]);
        if (!e.advance_to(b.time[i], wk.decisions, err, false)) err.clear();
        emit(wk, uint64_t(i) << 1);
        if (!e.store_error().empty()) return;  // a timer's unit was not recorded: nothing after it
      }
      continue;
    }
    if (!b.parsed[i]) continue;
    if (b.reparse[i] && !e.parse_event(b.text[i], b.events[i], err)) {
      b.error[i] = std::move(err), b.refused[i] = 1;
      continue;
    }
    e.see_time(b.latest[i]);
    bool ok = e.submit(b.events[i], wk.decisions, err);
    emit(wk, (uint64_t(i) << 1) | 1);
    if (!ok) b.error[i] = std::move(err), b.refused[i] = 1;
    if (!e.store_error().empty()) return;
  }
}

// ---- batches -----------------------------------------------------------------------------------

void ParallelRun::Batch::clear(size_t workers) {
  n = 0;
  mine.resize(workers);
  for (auto& m : mine) m.clear();
}

size_t ParallelRun::Batch::add(std::string&& line, size_t num, uint32_t who) {
  if (n == text.size()) {
    text.emplace_back();
    number.emplace_back();
    owner.emplace_back();
    parsed.emplace_back();
    reparse.emplace_back();
    events.emplace_back();
    id_hash.emplace_back();
    time.emplace_back();
    latest.emplace_back();
    error.emplace_back();
    refused.emplace_back();
  }
  text[n].swap(line);
  number[n] = num;
  owner[n] = who;
  parsed[n] = reparse[n] = refused[n] = 0;
  error[n].clear();
  mine[who].push_back(uint32_t(n));
  return n++;
}

size_t ParallelRun::claim_ids(Batch& b, size_t begin, bool stop, int64_t& running) {
  // The reader's ids are forgotten by the watermark before each line, which the line's engine
  // also has (see_time) or passed already: never before that engine forgets them.
  constexpr size_t kAhead = 8;  // lines whose slots are fetched ahead of their claims
  if (ledger_)
    for (size_t i = begin; i < std::min(b.n, begin + kAhead); ++i)
      if (b.parsed[i]) ids_.prefetch(b.id_hash[i]);
  for (size_t i = begin; i < b.n; ++i) {
    b.latest[i] = running;
    // A line too far ahead of the clock one engine would have is refused here, as that engine
    // refuses it (Engine::submit, in the same words): no engine sees it, it claims no id and
    // the clock of the lines after it does not move.
    if (b.parsed[i] && !engine::Engine::time_jump_within(b.time[i], running != INT64_MIN ? running : ledger_clock_,
                                                         running == INT64_MIN, max_time_jump_, false, b.error[i]))
      b.parsed[i] = 0;
    if (ledger_ && b.parsed[i]) {
      if (i + kAhead < b.n && b.parsed[i + kAhead]) ids_.prefetch(b.id_hash[i + kAhead]);
      ids_.prune(running);
      // One engine answers an id it remembers from the ledger, whoever the user; a thread knows
      // only the ids it decided (and every id of earlier runs), so an id another thread still
      // remembers is refused rather than decided twice.
      if (ids_.claim(b.id_hash[i], b.time[i], b.owner[i]) != b.owner[i]) {
        b.parsed[i] = 0;
        b.error[i] = fmt::format("event id {} was used in this run by a user of another thread (with --threads, an "
                                 "event id must name one user's event; docs/scaling.md)",
                                 support::json_quote(b.events[i].id));
      }
    }
    // The clock one engine would have before each line: the latest time of the lines before it
    // that parsed (a late line is before that time anyway, so it changes nothing).
    if (b.parsed[i]) running = std::max(running, b.time[i]);
    // Stop mode: up to the first line that may be refused (malformed, or before the clock); a
    // late line that repeats a decided event is answered from the ledger, and the rest follows.
    // A line before the ledger's clock that no earlier run decided may be refused by its engine
    // (Engine::submit; another partition's is not, it only ends the range here).
    if (stop && (!b.parsed[i] || b.time[i] < b.latest[i] ||
                 (ledger_ && b.time[i] < ledger_clock_ && !ids_.is_earlier(b.id_hash[i]))))
      return i + 1;
  }
  return b.n;
}

bool ParallelRun::run_batch(Batch& b, bool stop, const Run::RefusedFn& on_refused, Error& error,
                            const std::function<void()>& meanwhile, Batch* next, bool* parsed_next) {
  if (parsed_next) *parsed_next = false;
  int64_t running = latest_;
  size_t begin = 0;
  bool stopped = false;
  while (begin < b.n) {
    // Ids are claimed only for the lines decided next (a stopped run claims none after its stop).
    const size_t end = claim_ids(b, begin, stop, running);
    if (next && next->n > 0 && begin == 0 && end == b.n) {
      start(Phase::DecideParse, &b, begin, end, next);
      *parsed_next = true;
    } else {
      start(Phase::Decide, &b, begin, end);
    }
    if (meanwhile) meanwhile();
    wait();
    for (size_t i = begin; i < end; ++i) {
      bool refused = !b.parsed[i] || b.refused[i];
      if (!refused) continue;
      Error e{ErrorKind::Input, b.error[i]};
      if (on_refused) on_refused(b.number[i], e);
      if (stop) {
        error = std::move(e);
        stopped = true;
        break;
      }
      count_skipped(b.error[i]);
    }
    begin = end;
    if (stopped) break;
  }
  // The lines decided (not those after a stop, which no engine saw).
  for (size_t i = 0; i < begin; ++i)
    if (b.parsed[i] && !b.refused[i]) latest_ = std::max(latest_, b.time[i]);
  return !stopped;
}

void ParallelRun::count_skipped(std::string_view message) {
  ++skipped_;
  ++skipped_by_reason_[support::message_reason(message)];
}

void ParallelRun::skip_line(std::string_view message) { count_skipped(message); }

std::shared_ptr<ParallelRun::Group> ParallelRun::take_outputs() {
  std::shared_ptr<Group> g;
  if (spare_.empty()) {
    g = std::make_shared<Group>();
  } else {
    g = std::move(spare_.back());
    spare_.pop_back();  // its ledger rows' buffers are cleared by GroupLedger::take
    g->bytes.clear();
    g->count = 0;
    g->error.clear();
    g->done = g->merged = false;
  }
  g->outputs.resize(workers_.size());
  for (size_t w = 0; w < workers_.size(); ++w) {
    g->outputs[w].clear();
    std::swap(g->outputs[w], workers_[w].out);
  }
  return g;
}

// Input order: by line; at one line, the timers it released (worker by worker), then its own.
// A worker's runs are in increasing key order, one run per key.
void ParallelRun::merge(std::vector<Output>& outputs, std::string& bytes, size_t& count) {
  size_t total = bytes.size();
  for (const auto& o : outputs) total += o.bytes.size();
  bytes.reserve(total);
  std::vector<size_t> at(outputs.size(), 0);
  for (;;) {
    size_t best = SIZE_MAX;
    for (size_t w = 0; w < outputs.size(); ++w)
      if (at[w] < outputs[w].keys.size() && (best == SIZE_MAX || outputs[w].keys[at[w]] < outputs[best].keys[at[best]])) best = w;
    if (best == SIZE_MAX) return;
    auto& o = outputs[best];
    // Every run of this worker before the next other worker's key, at once.
    uint64_t limit = UINT64_MAX;
    for (size_t w = 0; w < outputs.size(); ++w)
      if (w != best && at[w] < outputs[w].keys.size()) limit = std::min(limit, outputs[w].keys[at[w]]);
    size_t i = at[best];
    const size_t from = i ? o.ends[i - 1] : 0;
    do count += o.counts[i++];
    while (i < o.keys.size() && o.keys[i] < limit);
    bytes.append(o.bytes, from, o.ends[i - 1] - from);
    at[best] = i;
  }
}

// ---- the writer --------------------------------------------------------------------------------

void ParallelRun::hand(std::shared_ptr<Group> p) {
  {
    std::unique_lock lk(wmu_);
    // At most a few groups in flight: their decisions wait in memory until written.
    wdone_cv_.wait(lk, [&] { return groups_.size() - next_to_write_ < 3; });
    groups_.push_back(std::move(p));
  }
  wcv_.notify_all();
}

void ParallelRun::writer() {
  for (;;) {
    std::shared_ptr<Group> g;
    {
      std::unique_lock lk(wmu_);
      wcv_.wait(lk, [&] { return stop_writer_ || next_to_write_ < groups_.size(); });
      if (next_to_write_ >= groups_.size()) return;
      g = groups_[next_to_write_];
    }
    try {
      if (ledger_ && !g->units.empty()) {
        std::string err;
        if (!ledger_->write(g->units, err)) g->error = err.empty() ? "commit failed" : err;
      }
      // With a ledger the writer is the busiest thread: the caller's thread merges (drain), and
      // the rows' buffers are cleared when the group is reused (GroupLedger::take), not here.
      if (g->error.empty() && !ledger_) merge(g->outputs, g->bytes, g->count), g->merged = true;
    } catch (const std::exception& e) {
      g->error = std::string("internal error: ") + e.what();
    }
    {
      std::lock_guard lk(wmu_);
      g->done = true;
      ++next_to_write_;
    }
    wdone_cv_.notify_all();
  }
}

bool ParallelRun::drain(bool all, const Run::DecisionBytesFn& on_decisions, Error& error) {
  for (;;) {
    std::shared_ptr<Group> g;
    {
      std::unique_lock lk(wmu_);
      if (all) wdone_cv_.wait(lk, [&] { return groups_.empty() || groups_.front()->done; });
      if (groups_.empty() || !groups_.front()->done) return true;
      g = std::move(groups_.front());
      groups_.pop_front();
      --next_to_write_;
    }
    wdone_cv_.notify_all();
    if (!g->error.empty()) {
      if (error_.empty()) error_ = g->error;
      error = {ErrorKind::State, g->error};
      return false;
    }
    if (!g->merged) {
      try {
        merge(g->outputs, g->bytes, g->count);
      } catch (const std::exception& e) {
        error = {ErrorKind::Internal, std::string("internal error: ") + e.what()};
        return false;
      }
      g->merged = true;
    }
    if (on_decisions && g->count && !on_decisions(g->bytes, g->count)) {
      error = {ErrorKind::Input, "stopped: the decisions could not be handed on"};
      return false;
    }
    if (spare_.size() < 4) spare_.push_back(std::move(g));  // its buffers for a later batch
  }
}

// ---- the stream --------------------------------------------------------------------------------

bool ParallelRun::replay(std::istream& in, const ReplayOptions& options, const Run::DecisionBytesFn& on_decisions,
                         const Run::RefusedFn& on_refused, Error& error) {
  if (std::string why = refuse_settings(); !why.empty()) return error = {ErrorKind::Input, why}, false;
  if (std::string s = stopped(); !s.empty()) return error = {ErrorKind::Internal, std::move(s)}, false;
  if (!error_.empty()) return error = {ErrorKind::State, error_}, false;
  const size_t batch_lines = std::max<size_t>(1, options.batch_lines);
  support::LineReader reader(in);
  Batch batches[3];
  std::string line;
  bool eof = false;
  auto fill = [&](Batch& b) {
    b.clear(workers_.size());
    while (b.n < batch_lines && !eof) {
      if (!reader.next(line)) {
        eof = true;
        break;
      }
      if (line.empty()) continue;
      const uint32_t who = route_line(line);
      b.add(std::move(line), reader.line(), who);
      ++lines_;
    }
  };
  // Three batches in turn: `cur` parsed and being decided, `nxt` filled (and parsed by the workers
  // right after deciding `cur` where they decide all of it at once), the third filled meanwhile.
  size_t cur = 0, nxt = 1;
  fill(batches[cur]);
  if (batches[cur].n > 0) {
    start(Phase::Parse, &batches[cur]);
    fill(batches[nxt]);
    wait();
  }
  // on_decisions runs while the workers decide: it sees the units decided by the last batch.
  decided_ = decided_units();
  replaying_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{replaying_};
  bool ok = true;
  Error drained;
  bool drain_failed = false;
  auto drop_and_stop = [&](std::string internal) {
    // A batch in which a worker failed is neither handed on nor committed: its units (also other
    // workers' complete ones) are dropped with the stopped run, as one engine's uncommitted are.
    if (ledger_) {
      state::GroupLedger::Units dropped;
      ledger_->take(dropped);
    }
    return error = {ErrorKind::Internal, std::move(internal)}, false;
  };
  while (batches[cur].n > 0) {
    Batch& b = batches[cur];
    Batch& next = batches[nxt];
    Batch& third = batches[3 - cur - nxt];
    bool parsed_next = false, filled_third = false;
    bool go_on = run_batch(
        b, options.stop_at_first_error, on_refused, error,
        [&] {
          if (!drain_failed && !drain(false, on_decisions, drained)) drain_failed = true;
          if (parsed_next && !filled_third) fill(third), filled_third = true;
        },
        &next, &parsed_next);
    replaying_ = false;
    decided_ = decided_units();
    replaying_ = true;
    if (std::string internal = stopped(); !internal.empty()) return drop_and_stop(std::move(internal));
    auto g = take_outputs();
    if (ledger_) ledger_->take(g->units);
    committed_units_ += g->units.size();
    hand(std::move(g));
    for (auto& w : workers_)
      if (!w.engine->store_error().empty()) return error = {ErrorKind::State, w.engine->store_error()}, false;
    if (drain_failed) return error = drained, false;
    if (!go_on) {
      ok = false;
      break;
    }
    // The next batch parsed (if the workers did not parse it after deciding this one), while this
    // thread reads the one after it.
    if (!parsed_next && next.n > 0) {
      start(Phase::Parse, &next);
      fill(third), filled_third = true;
      wait();
    }
    if (!filled_third) fill(third);
    {
      std::lock_guard lk(mu_);
      if (internal_.empty() && !parse_internal_.empty()) internal_ = std::move(parse_internal_);
    }
    if (std::string internal = stopped(); !internal.empty()) return drop_and_stop(std::move(internal));
    const size_t after = 3 - cur - nxt;
    cur = nxt, nxt = after;
  }
  // Everything decided is durable and handed on, also after a refused line (as one engine's
  // decisions before it are).
  Error e;
  if (!drain(true, on_decisions, e)) return error = e, false;
  // A read error is not the end of the stream: what was read is decided and durable, and the
  // caller hears that the rest was never read.
  if (ok && reader.failed())
    return error = {ErrorKind::Input, fmt::format("read error after line {}: the events after it were not read", reader.line())}, false;
  return ok;
}

bool ParallelRun::add_event(std::string_view text, std::vector<std::string>& decisions, Error& error) {
  if (std::string why = refuse_settings(); !why.empty()) return error = {ErrorKind::Input, why}, false;
  if (std::string s = stopped(); !s.empty()) return error = {ErrorKind::Internal, std::move(s)}, false;
  if (std::string s = state_error(); !s.empty()) return error = {ErrorKind::State, s}, false;
  Batch b;
  b.clear(workers_.size());
  b.add(std::string(text), 1, route_line(text));
  ++lines_;
  start(Phase::Parse, &b);
  wait();
  Error refused;
  bool ok = run_batch(b, true, nullptr, refused, nullptr);
  auto g = take_outputs();
  std::string bytes;
  size_t count = 0;
  merge(g->outputs, bytes, count);
  for (auto& o : g->outputs) o.clear();
  spare_.push_back(std::move(g));
  for (size_t at = 0; at < bytes.size();) {
    size_t nl = bytes.find('\n', at);
    decisions.emplace_back(bytes, at, nl - at);
    at = nl + 1;
  }
  if (std::string s = stopped(); !s.empty()) return error = {ErrorKind::Internal, std::move(s)}, false;
  if (std::string s = state_error(); !s.empty()) return error = {ErrorKind::State, s}, false;
  if (!ok) return error = refused, false;
  return true;
}

// The end of the stream (every engine's timers due by the latest event anywhere), or the clock
// moved to `until`. Decisions worker by worker.
bool ParallelRun::finish(std::vector<std::string>& decisions, Error& error, const int64_t* until) {
  if (std::string s = stopped(); !s.empty()) return error = {ErrorKind::Internal, std::move(s)}, false;
  if (!error_.empty()) return error = {ErrorKind::State, error_}, false;
  int64_t last = INT64_MIN;
  for (auto& w : workers_) last = std::max(last, w.engine->last_time());
  std::string err;
  for (auto& w : workers_) {
    bool ok;
    if (until) {
      w.engine->see_time(latest_);
      ok = w.engine->advance_to(*until, w.decisions, err);
    } else {
      ok = w.engine->finish_at(last, w.decisions, err);
    }
    for (auto& d : w.decisions) decisions.push_back(d.json.empty() ? w.engine->decision_json(d) : std::move(d.json));
    w.decisions.clear();
    // A timer's or scheduled instant's unit that was not recorded is the ledger's failure.
    // (A false step with no store error is the input's fault, with or without a message.)
    if (!ok && w.engine->store_error().empty())
      return error = {ErrorKind::Input, err.empty() ? "a timer or scheduled step failed without a message" : err}, false;
    if (!w.engine->store_error().empty()) return error = {ErrorKind::State, w.engine->store_error()}, false;
  }
  if (until) latest_ = std::max(latest_, *until);
  return true;
}

bool ParallelRun::commit(Error& error) {
  if (std::string s = stopped(); !s.empty()) return error = {ErrorKind::Internal, std::move(s)}, false;
  Error e;
  if (!drain(true, nullptr, e)) return error = e, false;
  if (!error_.empty()) return error = {ErrorKind::State, error_}, false;
  if (!ledger_) return true;
  state::GroupLedger::Units units;
  ledger_->take(units);
  committed_units_ += units.size();
  std::string err;
  if (!ledger_->write(units, err)) {
    error_ = err;
    return error = {ErrorKind::State, err}, false;
  }
  return true;
}

size_t ParallelRun::decided_units() const {
  if (replaying_) return decided_;
  size_t n = 0;
  for (const auto& w : workers_) n += w.engine->decided_units();
  return n;
}

size_t ParallelRun::pending_units() const { return ledger_ ? ledger_->pending() : 0; }

void ParallelRun::stop(std::string_view why) noexcept {
  try {
    std::lock_guard lk(mu_);
    if (internal_.empty()) internal_ = "internal error: " + std::string(why);
  } catch (...) {
  }
}

std::string ParallelRun::stopped() {
  {
    std::lock_guard lk(mu_);
    if (!internal_.empty()) return internal_;
  }
  for (const auto& w : workers_)
    if (!w.engine->stopped().empty()) return w.engine->stopped();
  return {};
}

std::string ParallelRun::state_error() const {
  if (!error_.empty()) return error_;
  for (const auto& w : workers_)
    if (!w.engine->store_error().empty()) return w.engine->store_error();
  return ledger_ ? ledger_->error() : std::string();
}

size_t ParallelRun::pending_timers() const {
  size_t n = 0;
  for (const auto& w : workers_) n += w.engine->pending_timers();
  return n;
}

RunStats ParallelRun::stats() const {
  RunStats out;
  out.lines = lines_;
  out.skipped = skipped_;
  out.skipped_by_reason = skipped_by_reason_;
  for (const auto& w : workers_) {
    const auto& st = w.engine->stats();
    out.events += st.events;
    out.users += w.engine->user_count();
    out.skipped += st.skipped;
    for (const auto& [k, v] : st.skipped_by_reason) out.skipped_by_reason[k] += v;
    out.evaluation_errors += st.eval_errors;
    for (const auto& [k, v] : st.eval_errors_by_kind) out.evaluation_errors_by_kind[k] += v;
    out.granted += st.granted;
    out.rejected += st.rejected;
    out.control += st.control;
    out.held += st.held;
    out.redeemed += st.redeemed;
    out.redemptions_refused += st.redeem_rejected;
    out.expired += st.expired;
    out.timers_armed += st.timers_armed;
    out.timers_cancelled += st.timers_cancelled;
    out.timers_fired += st.timers_fired;
    out.timers_pending += w.engine->pending_timers();
    out.held_pending += w.engine->pending_releases();
  }
  return out;
}

}  // namespace crm::detail
