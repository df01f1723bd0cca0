// check_context.h - what the checker's passes share (internal to compiler/sema/): the scope an
// expression is checked in, and the checker's own side tables, which the passes hand each other
// instead of keeping them in one class.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "compiler/ast/ast.h"
#include "compiler/sema/program.h"

namespace crm::sema {

inline std::string bt(const std::string& s) { return "`" + s + "`"; }

// Records what the name written at `span` denotes (Program::uses, the semantic model's occurrences).
inline void record_use(Program& p, source::Span span, Target target) {
  if (span.valid()) p.uses.push_back({span, std::move(target)});
}

struct Local {
  const ast::Param* param;
  Type type;
};

// The scope an expression is checked in.
struct Env {
  ModuleInfo* module = nullptr;
  bool event_unknown = false;  // `on X` named an unknown event: its fields cannot be checked
  const RecordInfo* event = nullptr;  // the trigger event or the aggregated event, fields in scope
  const std::vector<Local>* locals = nullptr;
  const ast::Decl* owner = nullptr;   // for dependency edges
  std::set<const ast::Param*>* static_params = nullptr;
};

enum class VisitState : uint8_t { New, InProgress, Done };

// Orders declarations by node id (source order), so cycle reports do not depend on addresses.
struct ById {
  bool operator()(const ast::Decl* a, const ast::Decl* b) const { return a->id < b->id; }
};

// Parameter types, result type and defaults: what callers need. Done once, on demand.
struct FnSig {
  std::vector<Local> params;
  Type result;
  std::set<const ast::Param*> static_params;  // used as aggregate windows: callers pass constants
  bool body_checked = false;
};

// The checker's working tables, next to Program's (types, consts, refs, uses, decl_types).
struct CheckTables {
  std::vector<uint8_t> is_static;  // by NodeId: known at compile time (a constant or a parameter
                                   // that callers must pass constants for)
  std::map<const ast::Decl*, VisitState> visit;  // constants typed on demand
  std::map<const ast::FnDecl*, FnSig> sigs;
  // Which segments, functions and constants each one refers to (the recursion lint's graph).
  std::map<const ast::Decl*, std::set<const ast::Decl*, ById>, ById> deps;
  std::map<const ast::ResourceDecl*, std::optional<std::pair<int64_t, int64_t>>> resource_claim;
  // Constants and functions are checked on demand, inside the declaration that uses them: a
  // chain used before it is declared recurses once per link. Deeper than this is E0111.
  uint32_t max_decl_depth = 1000;
  uint32_t decl_depth = 0;
  bool decl_depth_reported = false;
};

}  // namespace crm::sema
