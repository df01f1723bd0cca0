// reload.h - hot reload of crm::Run and crm::Runtime (docs/semantics.md, "Hot reload";
// library-internal).
//
// A reload is a restart with the new program, done in the process: the running engine commits,
// a new engine for the new program attaches to the same state store (the restart path: the
// ledger's program identity is compared with compare_programs, counters, grants, held messages,
// timers and roll-outs are rebuilt from the ledger), and the input the old engine was given
// (profiles, events, clock moves) is given again to the new one, as a restarted `crm run` is
// given its input again: every unit already in the ledger is answered from it, never decided
// again, and its event is folded into the new program's history aggregates. So a reload and a
// restart with a changed program are one semantics, not two.
//
// The input is kept in a Journal: a temporary file (bounded memory), written as the input
// comes. Each call's outcome is recorded too; the new engine must reach the same outcome for
// each, or the reload is refused (e.g. the new program's schema cannot read an event line the
// old one accepted).
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/program_data.h"
#include "runtime/engine/engine.h"
#include "runtime/state/state_store.h"

namespace crm::detail {

class Journal {
 public:
  Journal() = default;
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Opens the temporary file; false with `error` when it cannot be made.
  bool open(std::string& error);
  bool is_open() const { return file_ != nullptr; }
  // What the engine was given, with whether it accepted it.
  void profile_line(std::string_view line, bool ok);
  // A whole profiles file (load_profiles): its text, and each on_error answer in order.
  void profiles(std::string_view text, bool csv, const std::vector<bool>& answers, bool ok);
  void event(std::string_view line, bool ok);
  void advance(int64_t at, bool ok);
  void finish(bool ok);
  // The first write that failed (then a reload is refused); empty while healthy.
  const std::string& error() const { return error_; }
  size_t records() const { return records_; }

  // Gives `e` everything recorded, in order. False with `error` when `e` does not reach the
  // recorded outcome of a call (or the file cannot be read).
  bool replay(engine::Engine& e, std::string& error);

 private:
  void put(char kind, bool ok, std::string_view a, std::string_view b = {});
  std::FILE* file_ = nullptr;
  std::string error_;
  size_t records_ = 0;
};

// The engine that continues `old` with `program`: attached to `store` (which `old` records in,
// and which must hold everything `old` decided: commit first) and given the journal again.
// Null with `error` when the change is refused (compare_programs, or an outcome that differs);
// then whatever the new engine appended is rolled back, the store's counters are rebuilt from
// its ledger, its current program is `old`'s again, and `old` can go on. `notices` receives
// what the attach accepted; `fresh` the JSON of units the new program decided while given the
// old input again (scheduled runs of a new or changed `at`/`every` strategy whose instants
// have passed, as a restart decides them): recorded, not yet committed.
std::unique_ptr<engine::Engine> rebuild_engine(const ProgramData& program, const engine::Engine& old,
                                               state::StateStore& store, bool allow_program_change, Journal& journal,
                                               std::vector<std::string>& notices, std::vector<std::string>& fresh,
                                               std::string& error);

}  // namespace crm::detail
