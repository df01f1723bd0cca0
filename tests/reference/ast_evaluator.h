// ast_evaluator.h - a direct evaluator over the checked AST: the reference semantics.
//
// Deliberately simple and independent of the code generator and of bytecode/operations.h (it
// shares only the value encoding, the fault texts and the A/B hash), so differential tests can
// compare it with the VMs on the same programs, and `crm explain` can show the value of any
// sub-expression.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "compiler/codegen/codegen.h"
#include "compiler/sema/program.h"
#include "runtime/vm/vm.h"

namespace crm::vm {

// One entry of a user's delivery history, as the reference evaluator reads it: a delivery (the
// actions of one strategy granted or held at one instant) or a redemption (of one grant).
struct HistoryRecord {
  bool redemption = false;
  std::string strategy;
  int64_t time = 0;
  struct Action { std::string resource, channel, code; };
  std::vector<Action> actions;  // a redemption: the one redeemed grant's action
};

struct AstEnv {
  // Values of the fields, and beside them which fields have one (null: all of them do).
  const std::vector<int64_t>* profile = nullptr;
  const std::vector<uint8_t>* profile_present = nullptr;
  const std::vector<int64_t>* event = nullptr;
  const std::vector<uint8_t>* event_present = nullptr;
  int64_t now = 0;
  const support::ZoneRules* zone = nullptr;  // for date built-ins; null: UTC (see vm::Context)
  // Aggregate g for the current user at now.
  std::function<bytecode::AggValue(uint32_t)> aggregate;
  // The user's delivery history in the order it happened; when given, `received(...)` and
  // `redeemed(...)` are computed from it by scanning (else read through `aggregate`).
  const std::vector<HistoryRecord>* history = nullptr;
  StringPool* strings = nullptr;
  const CollectionStore* collections = nullptr;
};

class AstEvaluator {
 public:
  AstEvaluator(const sema::Program& program, const codegen::Output& compiled);
  // Returns false (with `error`) on a runtime fault, exactly where the VM would. `present`, when
  // given, says whether an optional value is there (`out` is then 0 when it is not).
  bool eval(const ast::Expr* e, const AstEnv& env, int64_t& out, std::string& error, bool* present = nullptr);

 private:
  struct Frame {
    std::map<const ast::Param*, int64_t> values;
    std::map<const ast::Param*, bool> present;
    std::map<const ast::Param*, const ast::Expr*> args;  // for windows bound to parameters
    const Frame* parent = nullptr;
  };
  // A value that must be there (non-optional types), and one that may be absent.
  bool ev(const ast::Expr* e, const AstEnv& env, const Frame& f, int64_t& out);
  bool evp(const ast::Expr* e, const AstEnv& env, const Frame& f, int64_t& out, bool& present);
  bool aggregate(const ast::AggregateExpr* a, int field, const AstEnv& env, const Frame& f, int64_t& out, bool& present);
  bool history(const ast::AggregateExpr* a, int64_t window_value, const AstEnv& env, int64_t& out);
  bool static_duration(const ast::Expr* e, const Frame& f, int64_t& out);
  bool fix(int64_t& v, const sema::Type& t);
  bool builtin(const ast::CallExpr* c, const std::vector<int64_t>& args, const AstEnv& env, int64_t& out);
  // Collections: a constant one is made here (a negative handle), one read from the data is a
  // handle of env.collections.
  bool constant_collection(const sema::Value& v, const sema::Type& t, const AstEnv& env, int64_t& out);
  const std::vector<int64_t>& elements(int64_t handle, const AstEnv& env) const;

  const sema::Program& p_;
  const codegen::Output& c_;
  std::string error_;
  std::vector<std::vector<int64_t>> constants_;  // constant collection -1 - i
};

}  // namespace crm::vm
