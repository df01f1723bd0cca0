// explain.h - `crm explain` and crm::explain(): what the engine decides for one user, and why.
//
// The answer is the engine's own: the events up to the instant are decided by the engine (in
// time order, whatever the order of the input), then Engine::explain() runs decide() for the
// user as a dry run that records each check (window, if/who/where, split, per-user caps, stock,
// budget, pacing, claim window, policies) with its counts. A failed if/who/where is then taken
// apart by evaluating its parts (conjuncts, named segments, both sides of a comparison) as
// extra units of the same compiled program, with the engine's VM in the same context, so the
// values shown are the values the engine used. Without the sources (a .crmc) the clause is
// reported as a whole.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "compiler/sema/program.h"
#include "bytecode/program.h"
#include "runtime/engine/engine.h"

namespace crm::explainer {

// The compiled program plus its probe units.
struct Prepared {
  bytecode::Program program;
  const sema::Program* source = nullptr;  // null: no clause detail
  std::map<const ast::Expr*, int32_t> probe;
  std::vector<const ast::StrategyDecl*> strategy_decl;  // per bytecode strategy (null if not found)
  std::vector<bool> hidden;  // per strategy: from the standard library, not shown
  std::string error;
};
// `source` may be null (a loaded .crmc); then `compiled` is used as is.
std::unique_ptr<Prepared> prepare(const sema::Program* source, const bytecode::Program& compiled);

struct Request {
  std::string user;
  int64_t at = INT64_MIN;  // INT64_MIN: the time of `event`
  std::string event;       // explain the decision on this event id; empty: at `at`
};

struct Segment {
  std::string name;
  bool ok = true, value = false;
  std::string error;
};

struct Result {
  std::string user;
  int64_t at = 0;
  bool known = false;  // the user has a profile or events
  std::vector<engine::StrategyTrace> strategies;  // program order
  std::vector<std::string> why_not_triggered;     // per strategy, for not_triggered
  std::vector<std::string> decisions_json;        // per strategy: its decisions, one JSON each, joined by ','
  std::vector<Segment> segments;
  std::string text, json;
};

// One explanation: feed profiles and events (any order), then run().
class Session {
 public:
  // `options.executor`: what evaluates the units (null: the VM), built for prepared.program.
  Session(const Prepared& prepared, Request request, engine::EngineOptions options = {});
  ~Session();
  engine::Engine& engine() { return *engine_; }
  // One JSON Lines profile / one event line. False with the message (no line number: callers
  // add FILE:LINE). Whole profile files (CSV too) go through engine().load_profiles().
  bool profile(std::string_view line, std::string& error);
  bool event(std::string_view line, std::string& error);
  void add(engine::Event ev);  // an event already parsed by engine()
  // False with `error` when the request cannot be answered (e.g. no such event).
  bool run(Result& out, std::string& error);

 private:
  void describe(Result& r);
  const Prepared& p_;
  Request req_;
  std::unique_ptr<engine::Engine> engine_;
  std::vector<engine::Event> events_;
};

}  // namespace crm::explainer
