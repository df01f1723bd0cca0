// runtime.cc - the public embedding API of include/crm/runtime.h over the compiler, the VM
// and the engine. Every entry point catches everything: no exception crosses include/.
#include <crm/runtime.h>
#include <crm/shared.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <sstream>

#include "api/decision.h"
#include "api/entry_point.h"
#include "api/program_data.h"
#include "api/reload.h"
#include "compiler/codegen/codegen.h"
#include "compiler/driver.h"
#include "api/explain.h"
#include "runtime/engine/audience.h"
#include "runtime/engine/decoder.h"
#include "runtime/engine/engine.h"
#include "runtime/engine/json_line.h"
#if CRM_HAVE_JIT
#include "runtime/jit/jit.h"
#include "runtime/jit/jit_executor.h"
#endif
#include "runtime/state/ledger_partition.h"
#include "runtime/state/redis_quotas.h"
#include "runtime/state/state_store.h"
#include "runtime/vm/vm.h"
#include "support/civil_time.h"
#include "support/csv.h"
#include "support/decimal.h"
#include "support/text.h"

namespace crm {

using detail::make_result;

#ifndef CRM_VERSION
#error "CRM_VERSION (the project version) must be defined by the build"
#endif
const char* version() { return CRM_VERSION; }

namespace detail {

struct EvaluatorData {
  std::shared_ptr<const ProgramData> program;
  vm::VM vm;
  vm::StringPool strings;
  vm::CollectionStore collections;  // the program's constant sets: collection defaults
  vm::Context ctx;
  std::vector<int64_t> defaults, row;
  std::vector<uint8_t> default_present, present;  // per field: it has a value
  explicit EvaluatorData(std::shared_ptr<const ProgramData> p)
      : program(std::move(p)), vm(program->program), strings(program->program.strings) {
    vm.prepare(ctx);
    ctx.strings = &strings;
    collections.seed(program->program.sets, program->program.lists);
    ctx.collections = &collections;
    ctx.zone = &program->program.zone;  // segments on their own: the program's default zone
    for (const auto& f : program->program.profile) {
      defaults.push_back(f.has_default ? f.default_value : 0);
      default_present.push_back(f.has_default);
    }
    row = defaults;
    present = default_present;
    ctx.profile = row.data();
    ctx.profile_present = present.data();
    ctx.profile_size = row.size();
  }
  // Every setter stores a value: any int64 (INT64_MIN too) is one, never "missing".
  void set(int f, int64_t v) {
    row[f] = v;
    present[f] = 1;
  }
};

// One engine behind one mutex: decisions on shared counters (stock, budget, caps) are made one
// at a time, so they can never be exceeded, whatever the number of feeding threads. Durability
// is a group commit: a thread whose unit is recorded waits while other threads are queued to
// add theirs, and the last one in commits them all in one transaction.
struct RuntimeData {
  std::shared_ptr<const ProgramData> program;
  std::unique_ptr<state::StateStore> store;  // declared before the engine, which refers to it
  std::unique_ptr<state::SharedOptions> shared;  // share_counters(): open_state puts the counters there
  // The engine deciding now: replaced by reload() (api/reload.h).
  std::unique_ptr<engine::Engine> engine;
  // enable_reload(): the input given to the engine, for the engine of a reloaded program.
  std::unique_ptr<Journal> journal;
  engine::Event event;
  std::vector<engine::Decision> decisions;
  std::mutex mu;
  std::condition_variable durable;
  std::atomic<int> queued{0};  // threads waiting for `mu` in process_event
  uint64_t recorded = 0, committed = 0;  // units appended to / committed in the store
  Runtime::Commit mode = Runtime::Commit::OnReturn;
  std::string commit_error;  // a failed group commit: every waiting caller reports it
  bool fed = false;          // a profile or an event came: too late for enable_reload
  explicit RuntimeData(std::shared_ptr<const ProgramData> p)
      : program(std::move(p)), engine(std::make_unique<engine::Engine>(program->program, program->engine_options())) {}

  static constexpr uint64_t kMaxGroup = 4096;

  // An exception stopped the engine (Engine::stopped()): nothing more is committed, and every
  // caller (a waiting one too) answers Internal with its reason.
  bool stopped() const { return !engine->stopped().empty(); }
  // After an exception: callers waiting for a group commit are woken, as no commit may come.
  void wake() noexcept { durable.notify_all(); }

  // Commits when nobody else is about to add to the group (or the group is full).
  void maybe_commit(bool now = false) {
    if (stopped()) return wake();
    if (committed == recorded || !commit_error.empty()) return;
    if (!now && queued.load() > 0 && recorded - committed < kMaxGroup) return;
    uint64_t target = recorded;  // the commit runs under the lock: nothing is appended meanwhile
    std::string err;
    if (engine->commit(err)) committed = target;
    else commit_error = err.empty() ? "commit failed" : err;
    durable.notify_all();
  }

  bool wait_durable(std::unique_lock<std::mutex>& lk, uint64_t unit, Error& error, bool now = false) {
    for (;;) {
      maybe_commit(now);
      if (!commit_error.empty()) {
        error = {ErrorKind::State, commit_error};
        return false;
      }
      if (committed >= unit) return true;  // durable before the engine stopped, if it did
      if (stopped()) {
        error = {ErrorKind::Internal, engine->stopped()};
        return false;
      }
      durable.wait(lk);
    }
  }
};

}  // namespace detail

std::string CompiledProgram::serialize() const { return data_ ? bytecode::serialize(data_->program) : std::string(); }

std::vector<std::string> CompiledProgram::segments() const {
  std::vector<std::string> out;
  if (data_) for (const auto& s : data_->program.segments) out.push_back(s.name);
  return out;
}

std::vector<std::string> CompiledProgram::source_files() const {
  std::vector<std::string> out;
  if (data_ && data_->front)
    for (const auto& m : data_->front->program.modules)
      if (m.from_disk) out.push_back(m.path);
  return out;
}

std::vector<std::string> CompiledProgram::strategies() const {
  std::vector<std::string> out;
  if (data_) for (const auto& s : data_->program.strategies) out.push_back(s.name);
  return out;
}

namespace {

// A typed event or profile as its JSON line (data.h), then `step(line)`: one decoder for both.
template <class T, class Step>
bool typed(const T& value, std::string (*to_json)(const T&), Step&& step, Error& error) {
  std::string line;
  try {
    line = to_json(value);
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
  return step(std::string_view(line), error);
}

CompileOutput compile_inputs(const std::vector<Input>& inputs, const CheckOptions& options) {
  CompileOutput out;
  try {
    // A program compiled to run: the conflict analysis is `check`'s (check_files), not paid here.
    DriverOptions d = detail::driver_options(options);
    d.conflicts = false;
    d.generate = true;
    std::shared_ptr<Compilation> c = compile(inputs, d);
    // A program beyond the code generator's limits: an E0112 diagnostic, and Input here as well.
    if (!c->codegen_error.empty()) {
      out.error = {ErrorKind::Input, "cannot compile: " + c->codegen_error};
      out.diagnostics = make_result(std::move(c), "");
      return out;
    }
    if (!c->sink.has_errors()) {
      if (!c->verify_error.empty()) {
        out.error = {ErrorKind::Internal, "generated code fails verification: " + c->verify_error};
        out.diagnostics = make_result(std::move(c), "");
        return out;
      }
      auto data = std::make_shared<detail::ProgramData>();
      data->program = std::move(c->code.program);
      data->front = c;
      out.program = CompiledProgram(std::move(data));
    }
    out.diagnostics = make_result(std::move(c), "");
  } catch (const std::exception& e) {
    out.program = CompiledProgram();
    out.diagnostics = make_result(nullptr, e.what());
    out.error = {ErrorKind::Internal, e.what()};
  }
  return out;
}

}  // namespace

std::string CompiledProgram::disassemble(bool json) const {
  if (!data_) return {};
  return json ? bytecode::disassemble_json(data_->program) : bytecode::disassemble(data_->program);
}

bool jit_available() { return CRM_HAVE_JIT != 0; }

bool profiles_are_csv(std::string_view path, std::string_view head) { return support::profiles_are_csv(path, head); }
bool profiles_head_decides(std::string_view head) { return support::profiles_head_decides(head); }

namespace {
[[maybe_unused]] const char* kNoJit = "this build of crm has no JIT (configured with -DCRM_ENABLE_JIT=OFF or without LLVM 16)";
}

bool check_jit_cache_dir(const std::string& dir, std::string& error) try {
  if (dir.empty()) return true;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (std::filesystem::is_directory(dir)) return true;
  error = "the JIT cache `" + dir + "` is not a directory" +
          (ec && !std::filesystem::exists(dir) ? " (cannot create it: " + ec.message() + ")" : "");
  return false;
} catch (const std::exception& e) {
  error = "the JIT cache `" + dir + "`: " + e.what();
  return false;
}

CompiledProgram CompiledProgram::with_jit(std::string& error, bool eager, const std::string& cache_dir) const {
  if (!data_) {
    error = "no program";
    return {};
  }
#if CRM_HAVE_JIT
  try {
    // The cache must be a directory (created if missing): a file of that name, or a path that
    // cannot be one, used to leave the cache silently unused.
    if (std::string why; !check_jit_cache_dir(cache_dir, why)) {
      error = why;
      return {};
    }
    auto d = std::make_shared<detail::ProgramData>();
    d->program = data_->program;
    d->front = data_->front;
    jit::Options options;
    options.cache_dir = cache_dir;
    auto ex = jit::JitExecutor::create(d->program, error, eager, options);
    if (!ex) return {};
    d->executor = std::move(ex);
    return CompiledProgram(std::move(d));
  } catch (const std::exception& e) {
    error = std::string("JIT: ") + e.what();
    return {};
  }
#else
  (void)eager;
  (void)cache_dir;
  error = kNoJit;
  return {};
#endif
}

bool CompiledProgram::uses_jit() const { return data_ && data_->executor && data_->executor->name() == "jit"; }

bool CompiledProgram::emit_llvm(std::string& out, std::string& error) const {
  if (!data_) {
    error = "no program";
    return false;
  }
#if CRM_HAVE_JIT
  try {
    return jit::emit_llvm(data_->program, out, error);
  } catch (const std::exception& e) {
    error = std::string("JIT: ") + e.what();
    return false;
  }
#else
  (void)out;
  error = kNoJit;
  return false;
#endif
}

bool CompiledProgram::jit_stats(JitStats& out) const {
#if CRM_HAVE_JIT
  if (!uses_jit()) return false;
  auto s = static_cast<const jit::JitExecutor&>(*data_->executor).jit().stats();
  out.scalar_units = s.scalar_units;
  out.batch_units = s.batch_units;
  out.modules = s.modules;
  out.code_bytes = s.code_bytes;
  out.compile_seconds = s.compile_seconds;
  out.cache_hits = s.cache_hits;
  out.cache_misses = s.cache_misses;
  out.cache_rejected = s.cache_rejected;
  return true;
#else
  (void)out;
  return false;
#endif
}

size_t CompiledProgram::unit_count() const { return data_ ? data_->program.units.size() : 0; }
size_t CompiledProgram::cost_bound() const { return data_ ? data_->program.cost_bound() : 0; }

CompileOutput compile_files(const std::vector<std::string>& paths, const CheckOptions& options) {
  std::vector<Input> inputs;
  for (const auto& p : paths) inputs.push_back({p, std::nullopt});
  return compile_inputs(inputs, options);
}

CompileOutput compile_sources(const std::vector<SourceInput>& sources, const CheckOptions& options) {
  std::vector<Input> inputs;
  for (const auto& s : sources) inputs.push_back({s.path, s.text});
  return compile_inputs(inputs, options);
}

CompileOutput compile_modules(const std::map<std::string, std::string>& modules, const CheckOptions& options) {
  std::vector<Input> inputs;
  for (const auto& [name, text] : modules) {
    // A key that is no module name (`../x`) names its text as it is: made a path, it became an
    // absolute `//x.crm` (sema::module_file). It is never read from disk either way.
    std::optional<std::string> path = sema::module_file(name);
    inputs.push_back({path ? *path : name, text, name});
  }
  return compile_inputs(inputs, options);
}

CompiledProgram load_compiled(const std::string& bytes, std::string& error) {
  try {
    auto data = std::make_shared<detail::ProgramData>();
    if (!bytecode::deserialize(bytes, data->program, error)) return CompiledProgram();
    return CompiledProgram(std::move(data));
  } catch (const std::exception& e) {
    error = e.what();
    return CompiledProgram();
  }
}

// ---- Evaluator ---------------------------------------------------------------------------------

Evaluator::Evaluator(const CompiledProgram& program)
    : d_(program.valid() ? std::make_unique<detail::EvaluatorData>(program.data()) : nullptr) {}
Evaluator::~Evaluator() = default;
Evaluator::Evaluator(Evaluator&&) noexcept = default;
Evaluator& Evaluator::operator=(Evaluator&&) noexcept = default;

int Evaluator::field(std::string_view name) const {
  return d_ ? d_->program->program.find_profile_field(std::string(name)) : -1;
}

int Evaluator::segment(std::string_view name) const {
  if (!d_) return -1;
  const auto& segs = d_->program->program.segments;
  for (size_t i = 0; i < segs.size(); ++i) if (segs[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {

bool field_ok(const detail::EvaluatorData* d, int f, std::initializer_list<bytecode::Kind> kinds) {
  if (!d || f < 0 || size_t(f) >= d->row.size()) return false;
  auto k = d->program->program.profile[f].kind;
  return std::find(kinds.begin(), kinds.end(), k) != kinds.end();
}

}  // namespace

bool Evaluator::set_int(int f, int64_t v) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::Int})) return false;
  d_->set(f, v);
  return true;
}

bool Evaluator::set_bool(int f, bool v) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::Bool})) return false;
  d_->set(f, v);
  return true;
}

bool Evaluator::set_string(int f, std::string_view v) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::String})) return false;
  if (!support::valid_utf8(v)) return false;  // all text is UTF-8 (support/text.h)
  try {
    d_->set(f, d_->strings.intern(v));
  } catch (...) {
    return false;
  }
  return true;
}

bool Evaluator::set_decimal(int f, std::string_view text) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::Decimal, bytecode::Kind::Money})) return false;
  auto v = support::Decimal::parse(text);
  if (!v) return false;
  d_->set(f, v->units());
  return true;
}

bool Evaluator::set_time(int f, std::string_view iso) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::Time})) return false;
  auto t = support::parse_time(iso, true);
  if (!t) return false;
  d_->set(f, *t);
  return true;
}

bool Evaluator::set_enum(int f, std::string_view name) {
  if (!field_ok(d_.get(), f, {bytecode::Kind::Enum})) return false;
  const auto& values = d_->program->program.profile[f].enum_values;
  auto it = std::find(values.begin(), values.end(), name);
  if (it == values.end()) return false;
  d_->set(f, it - values.begin());
  return true;
}

void Evaluator::clear() {
  if (!d_) return;
  std::copy(d_->defaults.begin(), d_->defaults.end(), d_->row.begin());
  std::copy(d_->default_present.begin(), d_->default_present.end(), d_->present.begin());
}

Evaluator::Verdict Evaluator::evaluate(int segment, int64_t now_micros) {
  Verdict v;
  if (!d_ || segment < 0 || size_t(segment) >= d_->program->program.segments.size()) {
    v.ok = false;
    v.error = "no such segment";
    return v;
  }
  d_->ctx.now = now_micros;
  vm::Result r = d_->vm.run(d_->program->program.segments[segment].unit, d_->ctx);
  if (r.status != vm::Status::Ok) {
    v.ok = false;
    v.error = r.error;
    return v;
  }
  v.matched = r.value != 0;
  return v;
}

// ---- Runtime -----------------------------------------------------------------------------------

Runtime::Runtime(const CompiledProgram& program)
    : d_(program.valid() ? std::make_unique<detail::RuntimeData>(program.data()) : nullptr) {}
Runtime::~Runtime() = default;
Runtime::Runtime(Runtime&&) noexcept = default;
Runtime& Runtime::operator=(Runtime&&) noexcept = default;

bool Runtime::open_state(const std::string& spec, std::string& error, Commit mode, bool allow_program_change) {
  if (!d_) { error = "no program"; return false; }
  std::lock_guard lk(d_->mu);
  if (d_->store) { error = "state is already open"; return false; }
  if (d_->shared && !shared_ledger_durable(spec)) { error = kSharedNeedsLedger; return false; }
  d_->mode = mode;
  try {
    auto store = state::open_store(spec, error);
    // The ledger serves one partition for its life (docs/scaling.md, "Partitions").
    std::string ledger_id;
    if (store && !state::keep_partition(*store, d_->engine->partition_index(), d_->engine->partition_count(), ledger_id,
                                        error))
      return false;
    if (store && d_->shared) {
      d_->shared->partition_index = d_->engine->partition_index();
      d_->shared->partition_count = d_->engine->partition_count();
      d_->shared->ledger_id = ledger_id;  // read once (keep_partition), registered with the partition
      d_->shared->strategies.clear();
      for (const auto& st : d_->program->program.strategies) d_->shared->strategies.push_back(st.name);
      store = state::open_shared_store(std::move(store), *d_->shared, error);
    }
    d_->engine->allow_program_change(allow_program_change);
    if (!store || !d_->engine->attach(store.get(), error)) return false;
    // The engine refers to the store from here on: kept even when the record below fails.
    d_->store = std::move(store);
    // Recorded only now: a start refused above (by Redis, by the program's identity) records nothing.
    return state::record_partition(*d_->store, d_->engine->partition_index(), d_->engine->partition_count(), error);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
}

bool Runtime::share_counters(const SharedCounters& shared, std::string& error) {
  if (!d_) { error = "no program"; return false; }
  std::lock_guard lk(d_->mu);
  if (d_->store) { error = "share_counters must come before open_state"; return false; }
  auto o = std::make_unique<state::SharedOptions>(shared_options(shared));
  if (!state::RedisQuotas::create(*o, error)) return false;  // the options are checked now, not at open_state
  d_->shared = std::move(o);
  return true;
}

bool Runtime::set_partition(const Partition& p, std::string& error) {
  if (!d_) { error = "no program"; return false; }
  if (p.count == 0 || p.index >= p.count) { error = "partition index must be below the count"; return false; }
  std::lock_guard lk(d_->mu);
  if (d_->store) { error = "set_partition must come before open_state"; return false; }
  d_->engine->set_partition(p.index, p.count);
  return true;
}

std::vector<std::string> Runtime::state_notices() const {
  if (!d_) return {};
  std::lock_guard lk(d_->mu);
  return d_->engine->notices();
}

bool Runtime::commit(std::string& error) {
  Error e;
  if (commit(e)) return true;
  error = std::move(e.message);
  return false;
}

bool Runtime::commit(Error& error) {
  if (!d_) return error = {ErrorKind::Input, "no program"}, false;
  std::unique_lock lk(d_->mu);
  // A stopped runtime answers Internal also with nothing left to commit (ErrorKind): the
  // caller learns of the stop here, not at its next event.
  if (d_->stopped()) return error = {ErrorKind::Internal, d_->engine->stopped()}, false;
  try {
    return d_->wait_durable(lk, d_->recorded, error, /*now=*/true);
  } catch (const std::exception& e) {
    d_->wake();
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

static bool to_structs(std::vector<std::string>& json, std::vector<Decision>& out, Error& error);

bool Runtime::enable_reload(Error& error) {
  if (!d_) return error = {ErrorKind::Input, "no program"}, false;
  std::lock_guard lk(d_->mu);
  auto& d = *d_;
  if (d.fed) return error = {ErrorKind::Input, "enable_reload must come before profiles and events"}, false;
  if (d.journal) return true;
  try {
    std::string msg;
    if (!d.store && d.shared) return error = {ErrorKind::Input, kSharedNeedsLedger}, false;
    if (!d.store) {
      // Without a state, an in-memory ledger: what the new program continues.
      auto store = state::open_store("memory", msg);
      if (store && d.shared) store = state::open_shared_store(std::move(store), *d.shared, msg);
      if (!store || !d.engine->attach(store.get(), msg)) return error = {ErrorKind::State, std::move(msg)}, false;
      d.store = std::move(store);
    }
    auto j = std::make_unique<detail::Journal>();
    if (!j->open(msg)) return error = {ErrorKind::State, std::move(msg)}, false;
    d.journal = std::move(j);
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

bool Runtime::reload(const CompiledProgram& program, std::vector<Decision>& decisions, Error& error,
                     bool allow_program_change) {
  if (!d_) return error = {ErrorKind::Input, "no program"}, false;
  if (!program.valid()) return error = {ErrorKind::Input, "reload: no program (it did not compile)"}, false;
  std::unique_lock lk(d_->mu);
  auto& d = *d_;
  if (!d.journal) return error = {ErrorKind::Input, "reload needs enable_reload() before profiles and events"}, false;
  // A stopped engine is not rebuilt here: a new Runtime on the ledger, given the input again, is.
  if (d.stopped()) return error = {ErrorKind::Internal, d.engine->stopped()}, false;
  try {
    std::string msg;
    // Everything decided so far becomes durable first (the group of every caller waiting).
    if (!d.wait_durable(lk, d.recorded, error, /*now=*/true)) return false;
    std::vector<std::string> notices, fresh;
    auto next = detail::rebuild_engine(*program.data(), *d.engine, *d.store, allow_program_change, *d.journal, notices,
                                       fresh, msg);
    if (!next) {
      if (!d.engine->store_error().empty()) return error = {ErrorKind::State, d.engine->store_error()}, false;
      return error = {ErrorKind::Input, "reload refused, the running program goes on: " + msg}, false;
    }
    d.recorded += next->decided_units();
    d.engine = std::move(next);  // the old engine goes; then its program
    d.program = program.data();
    if (d.mode == Runtime::Commit::OnReturn && !d.wait_durable(lk, d.recorded, error, /*now=*/true)) return false;
    return to_structs(fresh, decisions, error);
  } catch (const std::exception& e) {
    d.wake();
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

bool Runtime::load_profile(std::string_view line, std::string& error) {
  Error e;
  if (load_profile(line, e)) return true;
  error = std::move(e.message);
  return false;
}

bool Runtime::load_profile(std::string_view line, Error& error) {
  if (!d_) { error = {ErrorKind::Input, "no program"}; return false; }
  std::lock_guard lk(d_->mu);
  d_->fed = true;
  if (d_->stopped()) return error = {ErrorKind::Internal, d_->engine->stopped()}, false;
  bool ok = feed_line(
      [&](std::string& msg) {
        bool ok = d_->engine->load_profile_line(line, msg);
        if (d_->journal) d_->journal->profile_line(line, ok);
        return ok;
      },
      error);
  if (!ok && d_->stopped()) d_->wake();
  return ok;
}

namespace {

Error failed(ErrorKind kind, std::string message) { return {kind, std::move(message)}; }

}  // namespace

// The one implementation of process_event: decisions as JSON, the error with its kind.
static bool process_json(detail::RuntimeData* dp, std::string_view line, std::vector<std::string>& decisions,
                         Error& error) {
  if (!dp) { error = failed(ErrorKind::Input, "no program"); return false; }
  auto& d = *dp;
  d.queued.fetch_add(1);
  std::unique_lock lk(d.mu);
  d.queued.fetch_sub(1);
  try {
    if (d.stopped()) return error = failed(ErrorKind::Internal, d.engine->stopped()), false;
    if (!d.commit_error.empty()) {
      error = failed(ErrorKind::State, d.commit_error);  // the state is behind what was decided: refuse to go on
      return false;
    }
    d.fed = true;
    size_t before = d.engine->decided_units();
    std::string err;
    bool ok = d.engine->parse_event(line, d.event, err);
    ErrorKind kind = ErrorKind::Input;  // a malformed, late or out-of-order line
    if (ok) {
      d.decisions.clear();
      // The stream contract: a late event is refused; held events are decided in time order.
      ok = d.engine->submit(d.event, d.decisions, err);
      if (d.journal) d.journal->event(line, ok);
      if (!d.engine->store_error().empty()) {
        if (ok) err = d.engine->store_error();
        kind = ErrorKind::State;
        ok = false;
      }
    }
    if (!ok) {
      d.recorded += d.engine->decided_units() - before;  // scheduled units may have been recorded
      d.maybe_commit();  // others may be waiting for this caller to close the group
      error = failed(kind, std::move(err));
      return false;
    }
    std::vector<std::string> out;
    out.reserve(d.decisions.size());
    for (const auto& dec : d.decisions) out.push_back(d.engine->decision_json(dec));
    if (d.store) {
      // Wait for everything recorded so far: an idempotent replay may repeat decisions another
      // thread recorded that are not durable yet.
      d.recorded += d.engine->decided_units() - before;
      if (d.mode == Runtime::Commit::OnReturn && !d.wait_durable(lk, d.recorded, error)) return false;
    }
    decisions.insert(decisions.end(), std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()));
    return true;
  } catch (const std::exception& e) {
    d.engine->stop(e.what());  // also a failure after the step (rendering): see Engine::stopped()
    d.wake();
    error = failed(ErrorKind::Internal, e.what());
    return false;
  }
}

// The end of the stream, or (advance) the clock moved to `until` without an event.
static bool finish_json(detail::RuntimeData* dp, std::vector<std::string>& decisions, Error& error,
                        const int64_t* until = nullptr) {
  if (!dp) { error = failed(ErrorKind::Input, "no program"); return false; }
  auto& d = *dp;
  std::unique_lock lk(d.mu);
  try {
    size_t before = d.engine->decided_units();
    d.decisions.clear();
    std::string err;
    bool ok = until ? d.engine->advance_to(*until, d.decisions, err) : d.engine->finish(d.decisions, err);
    if (d.journal) until ? d.journal->advance(*until, ok) : d.journal->finish(ok);
    ErrorKind kind = ErrorKind::Input;
    if (!d.engine->store_error().empty()) {
      if (ok) err = d.engine->store_error();
      kind = ErrorKind::State;
      ok = false;
    }
    d.recorded += d.engine->decided_units() - before;
    if (!ok) {
      d.maybe_commit();
      error = failed(kind, std::move(err));
      return false;
    }
    std::vector<std::string> out;
    for (const auto& dec : d.decisions) out.push_back(d.engine->decision_json(dec));
    if (d.store && d.mode == Runtime::Commit::OnReturn && !d.wait_durable(lk, d.recorded, error, /*now=*/true))
      return false;
    decisions.insert(decisions.end(), std::make_move_iterator(out.begin()), std::make_move_iterator(out.end()));
    return true;
  } catch (const std::exception& e) {
    d.engine->stop(e.what());  // also a failure after the step (rendering): see Engine::stopped()
    d.wake();
    error = failed(ErrorKind::Internal, e.what());
    return false;
  }
}

// Typed decisions are read from their JSON lines (see Decision), so they say what the lines say.
static bool to_structs(std::vector<std::string>& json, std::vector<Decision>& out, Error& error) {
  std::vector<Decision> typed;
  typed.reserve(json.size());
  for (auto& line : json) {
    std::string err;
    Decision d;
    if (!detail::parse_decision(std::move(line), d, err)) {
      error = failed(ErrorKind::Internal, "cannot read a decision: " + err);
      return false;
    }
    typed.push_back(std::move(d));
  }
  out.insert(out.end(), std::make_move_iterator(typed.begin()), std::make_move_iterator(typed.end()));
  return true;
}

bool Runtime::process_event(std::string_view line, std::vector<std::string>& decisions, std::string& error) {
  Error e;
  if (process_json(d_.get(), line, decisions, e)) return true;
  error = std::move(e.message);
  return false;
}

bool Runtime::process_event(std::string_view line, std::vector<Decision>& decisions, Error& error) {
  std::vector<std::string> json;
  return process_json(d_.get(), line, json, error) && to_structs(json, decisions, error);
}

void Runtime::set_allowed_lateness(int64_t micros) {
  if (!d_) return;
  std::lock_guard lk(d_->mu);
  d_->engine->set_allowed_lateness(micros);
}

bool Runtime::set_dedup_window(int64_t micros, Error& error) {
  if (!d_) return error = {ErrorKind::Input, "no program"}, false;
  if (micros < 0) return error = {ErrorKind::Input, "the dedup window must not be negative"}, false;
  std::lock_guard lk(d_->mu);
  // The remembered ids are kept in generations of the window's width: a window changed once
  // ids are remembered would prune them by the wrong width (a retry decided twice).
  if (d_->fed) return error = {ErrorKind::Input, "set_dedup_window must come before profiles and events"}, false;
  d_->engine->set_dedup_window(micros);
  return true;
}

size_t Runtime::remembered_events() const {
  if (!d_) return 0;
  std::lock_guard lk(d_->mu);
  return d_->engine->remembered_events();
}

bool Runtime::finish(std::vector<std::string>& decisions, std::string& error) {
  Error e;
  if (finish_json(d_.get(), decisions, e)) return true;
  error = std::move(e.message);
  return false;
}

bool Runtime::finish(std::vector<Decision>& decisions, Error& error) {
  std::vector<std::string> json;
  return finish_json(d_.get(), json, error) && to_structs(json, decisions, error);
}

bool Runtime::advance_time(int64_t at_micros, std::vector<Decision>& decisions, Error& error) {
  std::vector<std::string> json;
  return finish_json(d_.get(), json, error, &at_micros) && to_structs(json, decisions, error);
}

void Runtime::set_timer_limits(size_t per_user, size_t total) {
  if (!d_) return;
  std::lock_guard lk(d_->mu);
  d_->engine->set_timer_limits(per_user, total);
}

void Runtime::set_max_schedule_runs(size_t runs) {
  if (!d_) return;
  std::lock_guard lk(d_->mu);
  d_->engine->set_max_schedule_runs(runs);
}

void Runtime::set_max_time_jump(int64_t micros) {
  if (!d_) return;
  std::lock_guard lk(d_->mu);
  d_->engine->set_max_time_jump(micros);
}

size_t Runtime::pending_timers() const {
  if (!d_) return 0;
  std::lock_guard lk(d_->mu);
  return d_->engine->pending_timers();
}

std::vector<std::pair<std::string, int64_t>> Runtime::audience(int64_t at_micros) {
  std::vector<std::pair<std::string, int64_t>> counts;
  Error error;
  audience(at_micros, counts, error);
  return counts;
}

bool Runtime::audience(int64_t at_micros, std::vector<std::pair<std::string, int64_t>>& counts, Error& error) {
  if (!d_) { error = failed(ErrorKind::Input, "no program"); return false; }
  std::lock_guard lk(d_->mu);
  try {
    std::string why;
    if (d_->engine->audience(at_micros, counts, why)) return true;
    error = failed(ErrorKind::Input, why);  // an instant before the engine's clock
    return false;
  } catch (const std::exception& e) {
    counts.clear();
    error = failed(ErrorKind::Internal, e.what());
    return false;
  }
}

// ---- explain ----------------------------------------------------------------------------------

namespace detail {

struct ExplainData {
  std::unique_ptr<explainer::Prepared> prepared;
  std::unique_ptr<explainer::Session> session;  // refers to *prepared
};

// The one reader of profile files: the engine's (JSON Lines or CSV).
static bool load_profiles(engine::Engine& eng, std::istream& in, bool csv, const RecordErrorFn& on_error) {
  return eng.load_profiles(in, csv, [&](size_t line, const std::string& message) {
    return on_error ? on_error(line, message) : false;
  });
}

}  // namespace detail

bool Runtime::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  if (!d_) return false;
  std::lock_guard lk(d_->mu);
  try {
    d_->fed = true;
    if (!d_->journal) return detail::load_profiles(*d_->engine, in, csv, on_error);
    // Kept for a reload: the text, and what the caller answered to each malformed record.
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    std::istringstream copy(text);
    std::vector<bool> answers;
    bool ok = detail::load_profiles(*d_->engine, copy, csv, [&](size_t line, const std::string& message) {
      bool go_on = on_error ? on_error(line, message) : false;
      answers.push_back(go_on);
      return go_on;
    });
    d_->journal->profiles(text, csv, answers, ok);
    return ok;
  } catch (const std::exception& e) {
    d_->wake();
    if (on_error) on_error(0, e.what());
    return false;
  }
}

ExplainSession::ExplainSession(const CompiledProgram& program, const ExplainRequest& request) {
  if (!program.valid()) {
    error_ = {ErrorKind::Input, "no program"};
    return;
  }
  try {
    const auto& data = *program.data();
    auto d = std::make_unique<detail::ExplainData>();
    d->prepared = explainer::prepare(data.front ? &data.front->program : nullptr, data.program);
    if (!d->prepared->error.empty()) {
      error_ = {ErrorKind::Internal, d->prepared->error};
      return;
    }
    // An instant past the program's horizon would have explain compute (and print) a release or
    // expiry past the last instant crm writes: refused as an event at that time is.
    if (request.at_micros != INT64_MIN && request.at_micros > data.program.latest_event_time()) {
      error_ = {ErrorKind::Input, engine::past_time_horizon(data.program, request.at_micros, "--at")};
      return;
    }
    if (request.at_micros != INT64_MIN && request.at_micros < support::kFirstInstant) {
      error_ = {ErrorKind::Input, engine::before_time_begins(request.at_micros, "--at")};
      return;
    }
    explainer::Request req;
    req.user = request.user;
    req.at = request.at_micros;
    req.event = request.event;
    engine::EngineOptions eo;
#if CRM_HAVE_JIT
    // A program run by the JIT is explained by it too: the explanation's program (the
    // compiled one plus its probe units) gets its own JIT, compiling lazily only what the
    // explanation evaluates.
    if (program.uses_jit()) {
      std::string jit_error;
      auto ex = jit::JitExecutor::create(d->prepared->program, jit_error);
      if (!ex) {
        error_ = {ErrorKind::Internal, jit_error};
        return;
      }
      eo.executor = std::move(ex);
    }
#endif
    d->session = std::make_unique<explainer::Session>(*d->prepared, req, eo);
    d_ = std::move(d);
  } catch (const std::exception& e) {
    error_ = {ErrorKind::Internal, e.what()};
  }
}

ExplainSession::~ExplainSession() = default;
ExplainSession::ExplainSession(ExplainSession&&) noexcept = default;
ExplainSession& ExplainSession::operator=(ExplainSession&&) noexcept = default;

bool ExplainSession::load_profile(std::string_view line, Error& error) {
  if (!d_) { error = error_; return false; }
  return feed_line([&](std::string& msg) { return d_->session->profile(line, msg); }, error);
}

bool ExplainSession::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  if (!d_) return false;
  try {
    return detail::load_profiles(d_->session->engine(), in, csv, on_error);
  } catch (const std::exception& e) {
    if (on_error) on_error(0, e.what());
    return false;
  }
}

bool ExplainSession::add_event(std::string_view line, Error& error) {
  if (!d_) { error = error_; return false; }
  return feed_line([&](std::string& msg) { return d_->session->event(line, msg); }, error);
}

Explanation ExplainSession::finish() {
  Explanation out;
  if (!d_) {
    out.error = error_.message;
    out.error_kind = error_.kind;
    return out;
  }
  try {
    auto& session = *d_->session;
    const auto& prepared = *d_->prepared;
    explainer::Result r;
    std::string err;
    if (!session.run(r, err)) {
      out.error = err;
      out.error_kind = ErrorKind::Input;  // no such event, or not this user's
      return out;
    }
    for (uint32_t s = 0; s < r.strategies.size(); ++s) {
      if (prepared.hidden[s]) continue;
      const auto& t = r.strategies[s];
      Explanation::Strategy st;
      st.name = prepared.program.strategies[s].name;
      st.verdict = t.verdict;
      st.event = t.event;
      st.at_micros = t.at;
      for (const auto& c : t.checks) st.checks.push_back({c.clause, c.passed, c.detail, c.action >= 0 ? c.action + 1 : 0, c.policy});
      for (const auto& d : t.decisions) st.decisions.push_back(session.engine().decision_json(d));
      out.strategies.push_back(std::move(st));
    }
    for (const auto& sg : r.segments) out.segments.push_back({sg.name, sg.ok, sg.value, sg.error});
    out.text = std::move(r.text);
    out.json = std::move(r.json);
    out.ok = true;
  } catch (const std::exception& e) {
    out = Explanation();
    out.error = e.what();
    out.error_kind = ErrorKind::Internal;
  }
  return out;
}

Explanation explain(const CompiledProgram& program, const std::vector<std::string>& profile_lines,
                    const std::vector<std::string>& event_lines, const ExplainRequest& request) {
  ExplainSession session(program, request);
  Explanation out;
  Error e;
  auto failed_at = [&](const char* what, size_t i) {
    out.error = std::string(what) + ":" + std::to_string(i + 1) + ": " + e.message;
    out.error_kind = e.kind;
    return out;
  };
  if (!session.error().ok()) {
    out.error = session.error().message;
    out.error_kind = session.error().kind;
    return out;
  }
  // The lines are one profiles file: a second record for a user is refused naming both lines, as
  // every reader of a profiles file refuses it (engine::ProfileFileUsers), not loaded over the first.
  engine::ProfileFileUsers users;
  std::vector<engine::JsonMember> members;
  for (size_t i = 0; i < profile_lines.size(); ++i) {
    if (profile_lines[i].empty()) continue;
    if (!session.load_profile(profile_lines[i], e)) return failed_at("profiles", i);
    std::string ignored;
    if (!engine::parse_json_object(profile_lines[i], members, ignored)) continue;  // loaded: cannot happen
    for (const auto& m : members)
      if (m.key == "user" && m.value.kind == engine::JsonValue::Kind::String &&
          !users.add(m.value.text, i + 1, e.message)) {
        e.kind = ErrorKind::Input;
        return failed_at("profiles", i);
      }
  }
  for (size_t i = 0; i < event_lines.size(); ++i)
    if (!event_lines[i].empty() && !session.add_event(event_lines[i], e)) return failed_at("events", i);
  return session.finish();
}

// ---- audience ---------------------------------------------------------------------------------

namespace detail {

struct AudienceData {
  AudienceData(std::shared_ptr<const ProgramData> p, int64_t at)
      : program(std::move(p)), engine(program->program, program->engine_options()), at(at) {}
  std::shared_ptr<const ProgramData> program;
  engine::Engine engine;
  int64_t at;
  engine::Event event;
  std::vector<engine::Event> events;  // those at or before `at`, in input order
};

}  // namespace detail

Audience::Audience(const CompiledProgram& program, int64_t at_micros)
    : d_(program.valid() ? std::make_unique<detail::AudienceData>(program.data(), at_micros) : nullptr) {}
Audience::~Audience() = default;
Audience::Audience(Audience&&) noexcept = default;
Audience& Audience::operator=(Audience&&) noexcept = default;

bool Audience::load_profiles(std::istream& in, bool csv, const RecordErrorFn& on_error) {
  if (!d_) return false;
  try {
    return detail::load_profiles(d_->engine, in, csv, on_error);
  } catch (const std::exception& e) {
    if (on_error) on_error(0, e.what());
    return false;
  }
}

bool Audience::add_event(std::string_view line, Error& error) {
  if (!d_) { error = {ErrorKind::Input, "no program"}; return false; }
  return feed_line(
      [&](std::string& msg) {
        if (!d_->engine.parse_event(line, d_->event, msg)) return false;
        if (d_->event.time <= d_->at) d_->events.push_back(d_->event);
        return true;
      },
      error);
}

bool Audience::count(Result& out, Error& error) {
  if (!d_) { error = {ErrorKind::Input, "no program"}; return false; }
  try {
    auto& eng = d_->engine;
    // Any order of the input gives the same counts: time order, ties by id.
    engine::sort_by_time(d_->events);
    std::string msg;
    for (const auto& ev : d_->events)
      if (!eng.observe(ev, msg)) {
        error = {ErrorKind::Input, "event `" + ev.id + "`: " + msg};
        return false;
      }
    d_->events.clear();
    out = Result();
    // Every event folded is at or before `at`, so the engine's clock is too: never refused.
    if (!eng.audience(d_->at, out.counts, msg)) {
      error = {ErrorKind::Input, msg};
      return false;
    }
    out.segments = d_->program->program.segments.size();
    for (const auto& s : d_->program->program.strategies)
      if (std::string f = engine::unknown_trigger_field_name(d_->program->program, s); !f.empty())
        out.not_counted.emplace_back(s.name, f);
    out.users = eng.user_count();
    out.evaluation_errors = eng.stats().eval_errors;
    out.evaluation_errors_by_kind = eng.stats().eval_errors_by_kind;
    return true;
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
    return false;
  }
}

}  // namespace crm

namespace crm {

// ---- typed events and profiles (data.h) -------------------------------------------------------

bool Runtime::process_event(const Event& event, std::vector<Decision>& decisions, Error& error) {
  return typed(event, &event_json, [&](std::string_view line, Error& e) { return process_event(line, decisions, e); }, error);
}

bool Runtime::load_profile(const Profile& profile, Error& error) {
  return typed(profile, &profile_json, [&](std::string_view line, Error& e) { return load_profile(line, e); }, error);
}

bool ExplainSession::load_profile(const Profile& profile, Error& error) {
  return typed(profile, &profile_json, [&](std::string_view line, Error& e) { return load_profile(line, e); }, error);
}

bool ExplainSession::add_event(const Event& event, Error& error) {
  return typed(event, &event_json, [&](std::string_view line, Error& e) { return add_event(line, e); }, error);
}

bool Audience::load_profile(std::string_view line, Error& error) {
  if (!d_) { error = {ErrorKind::Input, "no program"}; return false; }
  return feed_line([&](std::string& msg) { return d_->engine.load_profile_line(line, msg); }, error);
}

bool Audience::load_profile(const Profile& profile, Error& error) {
  return typed(profile, &profile_json, [&](std::string_view line, Error& e) { return load_profile(line, e); }, error);
}

bool Audience::add_event(const Event& event, Error& error) {
  return typed(event, &event_json, [&](std::string_view line, Error& e) { return add_event(line, e); }, error);
}

}  // namespace crm
