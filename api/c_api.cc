// c_api.cc - include/crm/crm.h over the C++ API (crm/check.h, crm/runtime.h).
//
// Every entry point is noexcept in effect: its body runs inside guard(), which turns any
// exception into CRM_ERR_INTERNAL with the message in the thread's last error. Handles are
// plain structs holding the C++ results; strings handed out point into them.
#include <crm/crm.h>

#include <crm/check.h>
#include <crm/run.h>
#include <crm/runtime.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

struct crm_compile_options {
  crm::CheckOptions options;
};

struct crm_compilation {
  crm::CheckResult result;
  crm::CompiledProgram program;  // valid() when the compilation has no errors
  std::vector<crm_diagnostic> views;  // point into result.diagnostics()
};

struct crm_program {
  crm::CompiledProgram program;
  std::vector<std::string> segments, strategies;
};

struct crm_runtime {
  explicit crm_runtime(const crm::CompiledProgram& p) : runtime(p), segments(p.segments().size()) {}
  crm::Runtime runtime;
  size_t segments;
  std::vector<std::string> notices;
};

struct crm_decisions {
  std::vector<crm::Decision> decisions;
};

struct crm_audience {
  std::vector<std::pair<std::string, int64_t>> counts;
  size_t segments = 0;
};

struct crm_explanation {
  crm::Explanation explanation;
};

namespace {

thread_local std::string last_error;

// Never throws: a message that cannot be stored (no memory) is replaced by a fixed one.
crm_status fail(crm_status s, std::string_view message) noexcept {
  try {
    last_error.assign(message);
  } catch (...) {
    last_error.clear();  // keeps its capacity: cannot throw
  }
  return s;
}

crm_status invalid(std::string_view what) noexcept { return fail(CRM_ERR_INVALID_ARGUMENT, what); }

// Runs `body`, which returns a crm_status; any exception is an internal error.
template <typename F>
crm_status guard(F&& body) {
  try {
    last_error.clear();
    return body();
  } catch (const std::bad_alloc&) {
    return fail(CRM_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return fail(CRM_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return fail(CRM_ERR_INTERNAL, "internal error");
  }
}

// The output convention: the text and a NUL when it fits, else CRM_ERR_BUFFER_TOO_SMALL.
crm_status copy_out(const std::string& text, char* buf, size_t cap, size_t* len) {
  if (len) *len = text.size();
  if (!buf && cap) return invalid("buf is NULL but cap is not 0");
  if (cap <= text.size()) {
    return fail(CRM_ERR_BUFFER_TOO_SMALL, "the buffer holds " + std::to_string(cap) + " bytes; " +
                                              std::to_string(text.size() + 1) + " are needed");
  }
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  return CRM_OK;
}

crm_status from_kind(crm::ErrorKind k) {
  switch (k) {
    case crm::ErrorKind::None: return CRM_OK;
    case crm::ErrorKind::Input: return CRM_ERR_INPUT;
    case crm::ErrorKind::State: return CRM_ERR_STATE;
    case crm::ErrorKind::Internal: return CRM_ERR_INTERNAL;
  }
  return CRM_ERR_INTERNAL;
}

crm_status from_error(const crm::Error& e) { return fail(from_kind(e.kind), e.message); }

crm_severity severity_of(const std::string& s) {
  return s == "warning" ? CRM_SEVERITY_WARNING : s == "note" ? CRM_SEVERITY_NOTE : CRM_SEVERITY_ERROR;
}

// A finished compilation: the status says whether it produced a program.
crm_status finish_compilation(crm::CompileOutput out, crm_compilation** result) {
  auto owned = std::make_unique<crm_compilation>(crm_compilation{std::move(out.diagnostics), std::move(out.program), {}});
  crm_compilation* c = owned.get();
  for (const auto& d : c->result.diagnostics())
    c->views.push_back({d.code.c_str(), severity_of(d.severity), d.begin.file.c_str(), d.begin.line, d.begin.column,
                        d.end.line, d.end.column, d.message.c_str(), d.help.c_str()});
  *result = owned.release();
  // A program that checks but that the code generator cannot compile: a limit (the program's
  // problem) or a failed verification (crm's).
  if (!out.error.ok()) {
    return fail(out.error.kind == crm::ErrorKind::Input ? CRM_ERR_PROGRAM : CRM_ERR_INTERNAL, out.error.message);
  }
  if (c->program.valid()) return CRM_OK;
  // No program: the user's errors, or an internal failure reported as a diagnostic.
  for (const auto& d : c->result.diagnostics())
    if (d.code == "internal") return fail(CRM_ERR_INTERNAL, d.message);
  return fail(CRM_ERR_PROGRAM, std::to_string(c->result.error_count()) + " error(s) in the program");
}

crm_status new_decisions(std::vector<crm::Decision> ds, crm_decisions** out) {
  *out = new crm_decisions{std::move(ds)};
  return CRM_OK;
}

crm_outcome c_outcome(crm::Decision::Outcome o) {
  switch (o) {
    case crm::Decision::Outcome::Granted: return CRM_OUTCOME_GRANTED;
    case crm::Decision::Outcome::Rejected: return CRM_OUTCOME_REJECTED;
    case crm::Decision::Outcome::Control: return CRM_OUTCOME_CONTROL;
    case crm::Decision::Outcome::Redeemed: return CRM_OUTCOME_REDEEMED;
    case crm::Decision::Outcome::RedeemRejected: return CRM_OUTCOME_REDEEM_REJECTED;
    case crm::Decision::Outcome::Expired: return CRM_OUTCOME_EXPIRED;
    case crm::Decision::Outcome::Held: return CRM_OUTCOME_HELD;
    case crm::Decision::Outcome::Pending: return CRM_OUTCOME_PENDING;
    case crm::Decision::Outcome::Cancelled: return CRM_OUTCOME_CANCELLED;
    case crm::Decision::Outcome::Rollout: return CRM_OUTCOME_ROLLOUT;
  }
  return CRM_OUTCOME_REJECTED;
}

// Splits JSON Lines text into lines (LF or CRLF), keeping empty ones so line numbers hold.
std::vector<std::string> split_lines(const char* text, size_t size) {
  std::vector<std::string> lines;
  if (!text || size == 0) return lines;
  std::string_view all(text, size);
  size_t start = 0;
  while (start < all.size()) {
    size_t nl = all.find('\n', start);
    std::string_view line = all.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.emplace_back(line);
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  // A byte order mark at the very start is not data (support/line_reader.h).
  if (!lines.empty() && lines[0].rfind("\xEF\xBB\xBF", 0) == 0) lines[0].erase(0, 3);
  return lines;
}

}  // namespace

extern "C" {

const char* crm_status_name(crm_status s) {
  switch (s) {
    case CRM_OK: return "CRM_OK";
    case CRM_ERR_INVALID_ARGUMENT: return "CRM_ERR_INVALID_ARGUMENT";
    case CRM_ERR_BUFFER_TOO_SMALL: return "CRM_ERR_BUFFER_TOO_SMALL";
    case CRM_ERR_PROGRAM: return "CRM_ERR_PROGRAM";
    case CRM_ERR_INPUT: return "CRM_ERR_INPUT";
    case CRM_ERR_STATE: return "CRM_ERR_STATE";
    case CRM_ERR_INTERNAL: return "CRM_ERR_INTERNAL";
    case CRM_ERR_UNSUPPORTED: return "CRM_ERR_UNSUPPORTED";
  }
  return "CRM_ERR_UNKNOWN";
}

const char* crm_last_error(void) { return last_error.c_str(); }
const char* crm_version(void) { return crm::version(); }
int crm_api_version(void) { return CRM_C_API_VERSION; }

// ---- compile options ---------------------------------------------------------------------------

crm_status crm_compile_options_new(crm_compile_options** out) {
  if (!out) return invalid("out is NULL");
  return guard([&] {
    *out = new crm_compile_options();
    return CRM_OK;
  });
}

void crm_compile_options_free(crm_compile_options* o) { delete o; }

crm_status crm_compile_options_add_include_dir(crm_compile_options* o, const char* dir) {
  if (!o || !dir) return invalid("options or dir is NULL");
  return guard([&] {
    o->options.include_dirs.emplace_back(dir);
    return CRM_OK;
  });
}

crm_status crm_compile_options_set_limit(crm_compile_options* o, crm_limit limit, uint64_t value) {
  if (!o) return invalid("options is NULL");
  if (value == 0) return invalid("a limit must be at least 1");
  auto& l = o->options.limits;
  switch (limit) {
    case CRM_LIMIT_MAX_FILE_BYTES: l.max_file_bytes = value; return CRM_OK;
    case CRM_LIMIT_MAX_NESTING:
      if (value > crm::Limits::kMaxNestingCap) return invalid("max nesting is at most " + std::to_string(crm::Limits::kMaxNestingCap));
      l.max_nesting = static_cast<uint32_t>(value);
      return CRM_OK;
    case CRM_LIMIT_MAX_ERRORS: l.max_errors = value; return CRM_OK;
    case CRM_LIMIT_MAX_MODULES: l.max_modules = value; return CRM_OK;
  }
  return invalid("no such limit");
}

// ---- compiling ---------------------------------------------------------------------------------

crm_status crm_compile_files(const char* const* paths, size_t count, const crm_compile_options* options,
                             crm_compilation** out) {
  if (!out) return invalid("out is NULL");
  *out = nullptr;
  if (count == 0) return invalid("no files");
  if (!paths) return invalid("paths is NULL");
  for (size_t i = 0; i < count; ++i)
    if (!paths[i]) return invalid("a path is NULL");
  return guard([&] {
    std::vector<std::string> files(paths, paths + count);
    static const crm::CheckOptions defaults;
    return finish_compilation(crm::compile_files(files, options ? options->options : defaults), out);
  });
}

crm_status crm_compile_sources(const char* const* names, const char* const* texts, const size_t* lengths,
                               size_t count, const crm_compile_options* options, crm_compilation** out) {
  if (!out) return invalid("out is NULL");
  *out = nullptr;
  if (count == 0) return invalid("no sources");
  if (!names || !texts) return invalid("names or texts is NULL");
  return guard([&] {
    std::map<std::string, std::string> modules;
    for (size_t i = 0; i < count; ++i) {
      if (!names[i] || !texts[i]) return invalid("a name or a text is NULL");
      std::string name = names[i];
      if (name.empty()) return invalid("a module name is empty");
      std::string text = lengths ? std::string(texts[i], lengths[i]) : std::string(texts[i]);
      if (!modules.emplace(name, std::move(text)).second) return fail(CRM_ERR_INVALID_ARGUMENT, "module `" + name + "` is given twice");
    }
    static const crm::CheckOptions defaults;
    return finish_compilation(crm::compile_modules(modules, options ? options->options : defaults), out);
  });
}

void crm_compilation_free(crm_compilation* c) { delete c; }

size_t crm_compilation_error_count(const crm_compilation* c) { return c ? c->result.error_count() : 0; }
size_t crm_compilation_warning_count(const crm_compilation* c) { return c ? c->result.warning_count() : 0; }
size_t crm_compilation_diagnostic_count(const crm_compilation* c) { return c ? c->views.size() : 0; }

crm_status crm_compilation_diagnostic(const crm_compilation* c, size_t index, crm_diagnostic* out) {
  if (!c || !out) return invalid("compilation or out is NULL");
  if (index >= c->views.size()) return invalid("index out of range");
  *out = c->views[index];
  return CRM_OK;
}

crm_status crm_compilation_render(const crm_compilation* c, crm_render_format format, char* buf, size_t cap,
                                  size_t* len) {
  if (!c) return invalid("compilation is NULL");
  return guard([&] {
    switch (format) {
      case CRM_RENDER_TEXT: return copy_out(c->result.render_text(false), buf, cap, len);
      case CRM_RENDER_TEXT_COLOR: return copy_out(c->result.render_text(true), buf, cap, len);
      case CRM_RENDER_JSON: return copy_out(c->result.render_json(), buf, cap, len);
    }
    return invalid("no such format");
  });
}

crm_status crm_compilation_program(const crm_compilation* c, crm_program** out) {
  if (!c || !out) return invalid("compilation or out is NULL");
  if (!c->program.valid()) return fail(CRM_ERR_PROGRAM, "the program has errors");
  return guard([&] {
    *out = new crm_program{c->program, c->program.segments(), c->program.strategies()};
    return CRM_OK;
  });
}

// ---- programs ----------------------------------------------------------------------------------

crm_status crm_program_load(const void* bytes, size_t size, crm_program** out) {
  if (!out) return invalid("out is NULL");
  if (!bytes && size) return invalid("bytes is NULL");
  return guard([&] {
    std::string error;
    crm::CompiledProgram p = crm::load_compiled(std::string(static_cast<const char*>(bytes), size), error);
    if (!p.valid()) return fail(CRM_ERR_INPUT, error.empty() ? "not a compiled program" : error);
    *out = new crm_program{p, p.segments(), p.strategies()};
    return CRM_OK;
  });
}

void crm_program_free(crm_program* p) { delete p; }

crm_status crm_program_serialize(const crm_program* p, char* buf, size_t cap, size_t* len) {
  if (!p) return invalid("program is NULL");
  return guard([&] { return copy_out(p->program.serialize(), buf, cap, len); });
}

size_t crm_program_segment_count(const crm_program* p) { return p ? p->segments.size() : 0; }
const char* crm_program_segment_name(const crm_program* p, size_t i) {
  return p && i < p->segments.size() ? p->segments[i].c_str() : nullptr;
}
int crm_jit_available(void) { return crm::jit_available() ? 1 : 0; }

crm_status crm_program_with_jit(const crm_program* p, crm_program** out) {
  if (!p || !out) return invalid("program or out is NULL");
  if (!crm::jit_available()) return fail(CRM_ERR_UNSUPPORTED, "this build of crm has no JIT (built without LLVM 16)");
  return guard([&] {
    std::string error;
    crm::CompiledProgram native = p->program.with_jit(error);
    if (!native.valid()) return fail(CRM_ERR_INTERNAL, error);
    *out = new crm_program{native, p->segments, p->strategies};
    return CRM_OK;
  });
}

size_t crm_program_strategy_count(const crm_program* p) { return p ? p->strategies.size() : 0; }
const char* crm_program_strategy_name(const crm_program* p, size_t i) {
  return p && i < p->strategies.size() ? p->strategies[i].c_str() : nullptr;
}

// ---- runtime -----------------------------------------------------------------------------------

void crm_runtime_options_init(crm_runtime_options* o) {
  if (!o) return;
  o->ledger_path = nullptr;
  o->manual_commit = 0;
  o->allow_program_change = 0;
  o->allowed_lateness_micros = 0;
  o->dedup_window_micros = 7LL * 86400 * 1000000;
  o->max_schedule_runs = crm::Run::kDefaultMaxScheduleRuns;
  o->max_time_jump_micros = crm::Run::kDefaultMaxTimeJump;
}

crm_status crm_runtime_new(const crm_program* program, const crm_runtime_options* options, crm_runtime** out) {
  if (!program || !out) return invalid("program or out is NULL");
  *out = nullptr;
  crm_runtime_options o;
  crm_runtime_options_init(&o);
  if (options) o = *options;
  if (o.allowed_lateness_micros < 0) return invalid("allowed_lateness_micros is negative");
  if (o.dedup_window_micros < 0) return invalid("dedup_window_micros is negative");
  // 0 is the default (a zero-initialised struct, or a caller written before the field existed).
  if (o.dedup_window_micros == 0) o.dedup_window_micros = 7LL * 86400 * 1000000;
  // The limits likewise: 0 is the default, and "no limit" (the C++ API's 0) is the largest value.
  if (o.max_time_jump_micros < 0) return invalid("max_time_jump_micros is negative");
  if (o.max_schedule_runs == 0) o.max_schedule_runs = crm::Run::kDefaultMaxScheduleRuns;
  if (o.max_time_jump_micros == 0) o.max_time_jump_micros = crm::Run::kDefaultMaxTimeJump;
  const size_t schedule_runs =
      o.max_schedule_runs == UINT64_MAX ? 0 : size_t(std::min<uint64_t>(o.max_schedule_runs, SIZE_MAX - 1));
  const int64_t time_jump = o.max_time_jump_micros == INT64_MAX ? 0 : o.max_time_jump_micros;
  if (o.manual_commit && !o.ledger_path) return invalid("manual_commit needs a ledger_path");
  if (o.ledger_path && !*o.ledger_path) return invalid("ledger_path is empty");
  return guard([&] {
    auto rt = std::make_unique<crm_runtime>(program->program);
    rt->runtime.set_allowed_lateness(o.allowed_lateness_micros);
    rt->runtime.set_max_schedule_runs(schedule_runs);
    rt->runtime.set_max_time_jump(time_jump);
    if (crm::Error e; !rt->runtime.set_dedup_window(o.dedup_window_micros, e)) return invalid(e.message.c_str());
    if (o.ledger_path) {
      std::string error;
      auto mode = o.manual_commit ? crm::Runtime::Commit::Manual : crm::Runtime::Commit::OnReturn;
      if (!rt->runtime.open_state(std::string("sqlite:") + o.ledger_path, error, mode, o.allow_program_change != 0))
        return fail(CRM_ERR_STATE, error);
      rt->notices = rt->runtime.state_notices();
    }
    *out = rt.release();
    return CRM_OK;
  });
}

void crm_runtime_free(crm_runtime* rt) { delete rt; }

size_t crm_runtime_notice_count(const crm_runtime* rt) { return rt ? rt->notices.size() : 0; }

crm_status crm_runtime_notice(const crm_runtime* rt, size_t index, char* buf, size_t cap, size_t* len) {
  if (!rt) return invalid("runtime is NULL");
  if (index >= rt->notices.size()) return invalid("index out of range");
  return guard([&] { return copy_out(rt->notices[index], buf, cap, len); });
}

crm_status crm_runtime_load_profile(crm_runtime* rt, const char* json, size_t size) {
  if (!rt || (!json && size)) return invalid("runtime or json is NULL");
  return guard([&] {
    crm::Error e;
    if (!rt->runtime.load_profile(std::string_view(json ? json : "", size), e)) return from_error(e);
    return CRM_OK;
  });
}

crm_status crm_runtime_process_event(crm_runtime* rt, const char* json, size_t size, crm_decisions** out) {
  if (!rt || !out || (!json && size)) return invalid("runtime, json or out is NULL");
  *out = nullptr;
  return guard([&] {
    std::vector<crm::Decision> ds;
    crm::Error e;
    if (!rt->runtime.process_event(std::string_view(json ? json : "", size), ds, e)) return from_error(e);
    return new_decisions(std::move(ds), out);
  });
}

crm_status crm_runtime_finish(crm_runtime* rt, crm_decisions** out) {
  if (!rt || !out) return invalid("runtime or out is NULL");
  *out = nullptr;
  return guard([&] {
    std::vector<crm::Decision> ds;
    crm::Error e;
    if (!rt->runtime.finish(ds, e)) return from_error(e);
    return new_decisions(std::move(ds), out);
  });
}

crm_status crm_runtime_commit(crm_runtime* rt) {
  if (!rt) return invalid("runtime is NULL");
  return guard([&] {
    crm::Error e;
    return rt->runtime.commit(e) ? CRM_OK : from_error(e);
  });
}

crm_status crm_runtime_enable_reload(crm_runtime* rt) {
  if (!rt) return invalid("runtime is NULL");
  return guard([&] {
    crm::Error e;
    return rt->runtime.enable_reload(e) ? CRM_OK : from_error(e);
  });
}

crm_status crm_runtime_reload(crm_runtime* rt, const crm_program* program, int allow_program_change,
                              crm_decisions** out) {
  if (!rt || !program || !out) return invalid("runtime, program or out is NULL");
  *out = nullptr;
  return guard([&] {
    std::vector<crm::Decision> ds;
    crm::Error e;
    if (!rt->runtime.reload(program->program, ds, e, allow_program_change != 0)) return from_error(e);
    rt->segments = program->program.segments().size();  // audience entries: the new program's
    rt->notices = rt->runtime.state_notices();
    return new_decisions(std::move(ds), out);
  });
}

crm_status crm_runtime_audience(crm_runtime* rt, int64_t at_micros, crm_audience** out) {
  if (!rt || !out) return invalid("runtime or out is NULL");
  *out = nullptr;
  return guard([&] {
    auto a = std::make_unique<crm_audience>();
    crm::Error e;
    if (!rt->runtime.audience(at_micros, a->counts, e)) return from_error(e);
    a->segments = rt->segments;
    *out = a.release();
    return CRM_OK;
  });
}

void crm_audience_free(crm_audience* a) { delete a; }
size_t crm_audience_count(const crm_audience* a) { return a ? a->counts.size() : 0; }

crm_status crm_audience_entry(const crm_audience* a, size_t index, const char** name, int64_t* users,
                              int* is_strategy) {
  if (!a || !name || !users) return invalid("audience, name or users is NULL");
  if (index >= a->counts.size()) return invalid("index out of range");
  *name = a->counts[index].first.c_str();
  *users = a->counts[index].second;
  if (is_strategy) *is_strategy = index >= a->segments;
  return CRM_OK;
}

// ---- decisions ---------------------------------------------------------------------------------

void crm_decisions_free(crm_decisions* d) { delete d; }
size_t crm_decisions_count(const crm_decisions* d) { return d ? d->decisions.size() : 0; }

crm_status crm_decisions_get(const crm_decisions* ds, size_t index, crm_decision* out) {
  if (!ds || !out) return invalid("decisions or out is NULL");
  if (index >= ds->decisions.size()) return invalid("index out of range");
  const crm::Decision& d = ds->decisions[index];
  out->outcome = c_outcome(d.outcome);
  out->outcome_name = crm::outcome_name(d.outcome);
  out->event = d.event.c_str();
  out->user = d.user.c_str();
  out->strategy = d.strategy.c_str();
  out->reason = d.reason.c_str();
  out->resource = d.resource.c_str();
  out->channel = d.channel.c_str();
  out->code = d.code.c_str();
  out->at_micros = d.at_micros;
  out->has_amount = d.has_amount;
  out->amount_millionths = d.amount_millionths;
  out->has_sales = d.has_sales;
  out->sales_millionths = d.sales_millionths;
  out->currency = d.currency.c_str();
  out->has_granted_at = d.has_granted_at;
  out->granted_at_micros = d.granted_at_micros;
  out->released = d.released;
  out->held_at_micros = d.held_at_micros;
  out->json = d.json.c_str();
  return CRM_OK;
}

crm_status crm_decisions_json(const crm_decisions* ds, size_t index, char* buf, size_t cap, size_t* len) {
  if (!ds) return invalid("decisions is NULL");
  if (index >= ds->decisions.size()) return invalid("index out of range");
  return guard([&] { return copy_out(ds->decisions[index].json, buf, cap, len); });
}

// ---- explain -----------------------------------------------------------------------------------

crm_status crm_explain(const crm_program* program, const char* profiles, size_t profiles_size, const char* events,
                       size_t events_size, const char* user, int64_t at_micros, const char* event_id,
                       crm_explanation** out) {
  if (!program || !user || !out) return invalid("program, user or out is NULL");
  *out = nullptr;
  if ((!profiles && profiles_size) || (!events && events_size)) return invalid("profiles or events is NULL");
  bool by_event = event_id && *event_id;
  if (by_event == (at_micros != INT64_MIN))
    return invalid("give either at_micros or event_id (and at_micros = INT64_MIN)");
  return guard([&] {
    crm::ExplainRequest req;
    req.user = user;
    req.at_micros = at_micros;
    if (by_event) req.event = event_id;
    auto x = std::make_unique<crm_explanation>();
    x->explanation = crm::explain(program->program, split_lines(profiles, profiles_size),
                                  split_lines(events, events_size), req);
    if (!x->explanation.ok) return fail(from_kind(x->explanation.error_kind), x->explanation.error);
    *out = x.release();
    return CRM_OK;
  });
}

void crm_explanation_free(crm_explanation* x) { delete x; }

crm_status crm_explanation_render(const crm_explanation* x, crm_render_format format, char* buf, size_t cap,
                                  size_t* len) {
  if (!x) return invalid("explanation is NULL");
  if (format != CRM_RENDER_TEXT && format != CRM_RENDER_JSON) return invalid("explanations render as text or JSON");
  return guard([&] { return copy_out(format == CRM_RENDER_JSON ? x->explanation.json : x->explanation.text, buf, cap, len); });
}

size_t crm_explanation_strategy_count(const crm_explanation* x) { return x ? x->explanation.strategies.size() : 0; }

crm_status crm_explanation_strategy(const crm_explanation* x, size_t index, crm_explained_strategy* out) {
  if (!x || !out) return invalid("explanation or out is NULL");
  if (index >= x->explanation.strategies.size()) return invalid("index out of range");
  const auto& s = x->explanation.strategies[index];
  out->name = s.name.c_str();
  out->verdict = s.verdict.c_str();
  out->event = s.event.c_str();
  out->at_micros = s.at_micros;
  out->check_count = s.checks.size();
  out->decision_count = s.decisions.size();
  return CRM_OK;
}

crm_status crm_explanation_check(const crm_explanation* x, size_t strategy, size_t check, crm_explained_check* out) {
  if (!x || !out) return invalid("explanation or out is NULL");
  if (strategy >= x->explanation.strategies.size() || check >= x->explanation.strategies[strategy].checks.size())
    return invalid("index out of range");
  const auto& c = x->explanation.strategies[strategy].checks[check];
  out->clause = c.clause.c_str();
  out->passed = c.passed;
  out->detail = c.detail.c_str();
  out->action = c.action;
  out->policy = c.policy.c_str();
  return CRM_OK;
}

crm_status crm_explanation_decision(const crm_explanation* x, size_t strategy, size_t decision, char* buf, size_t cap,
                                    size_t* len) {
  if (!x) return invalid("explanation is NULL");
  if (strategy >= x->explanation.strategies.size() || decision >= x->explanation.strategies[strategy].decisions.size())
    return invalid("index out of range");
  return guard([&] { return copy_out(x->explanation.strategies[strategy].decisions[decision], buf, cap, len); });
}

}  // extern "C"
