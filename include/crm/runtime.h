// crm/runtime.h - public API for embedding compiled strategies in a host program.
//
//   crm::CompiledProgram   compiled, immutable; share one across threads
//   crm::Evaluator         one per thread: fill a user's profile fields, ask about segments
//   crm::Runtime           the streaming engine: events in, decisions out (JSON Lines contract)
//
// Nothing here throws: failures come back as false plus an error message, or as diagnostics.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <crm/check.h>

namespace crm {

namespace detail {
struct ProgramData;
struct EvaluatorData;
struct RuntimeData;
}  // namespace detail

class CompiledProgram {
 public:
  CompiledProgram() = default;
  explicit CompiledProgram(std::shared_ptr<const detail::ProgramData> data) : data_(std::move(data)) {}
  bool valid() const { return data_ != nullptr; }
  // The versioned, checksummed `.crmc` bytes (what `crm compile -o` writes).
  std::string serialize() const;
  std::vector<std::string> segments() const;
  std::vector<std::string> strategies() const;
  const std::shared_ptr<const detail::ProgramData>& data() const { return data_; }

 private:
  std::shared_ptr<const detail::ProgramData> data_;
};

struct CompileOutput {
  CompiledProgram program;  // valid() when diagnostics.ok()
  CheckResult diagnostics;
};

CompileOutput compile_files(const std::vector<std::string>& paths, const CheckOptions& options = {});
// Loads `.crmc` bytes; on failure returns an invalid program and sets `error`.
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
// decisions are made one at a time, so limits, stock and budgets hold exactly. Each user's
// events must still arrive in time order.
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
  // accepted is in state_notices().
  bool open_state(const std::string& spec, std::string& error, Commit mode = Commit::OnReturn,
                  bool allow_program_change = false);
  std::vector<std::string> state_notices() const;
  // Makes everything recorded so far durable. After a failed commit the runtime refuses events.
  bool commit(std::string& error);

  bool load_profile(std::string_view json_line, std::string& error);
  // Applies one event and appends the decisions it caused (and any scheduled deliveries due
  // by its time, redemptions and expiries) to `decisions`, one JSON object each. On failure
  // nothing is appended.
  bool process_event(std::string_view json_line, std::vector<std::string>& decisions, std::string& error);
  // Users per segment and per strategy audience at `at_micros` (batch evaluation).
  std::vector<std::pair<std::string, int64_t>> audience(int64_t at_micros);

 private:
  std::unique_ptr<detail::RuntimeData> d_;
};

}  // namespace crm
