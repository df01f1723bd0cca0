// codegen.h - lowers a checked program (AST + side tables) to bytecode.
//
// Segments and functions are inlined at each use (the language has no recursion, so this ends,
// and windows that come from function parameters become constants per call site). Every history
// aggregate is collected into the program's aggregate table so the runtime maintains exactly
// those, incrementally. Constant-folded nodes become single loads.
#pragma once

#include <map>
#include <string>
#include <tuple>

#include "compiler/sema/program.h"
#include "bytecode/program.h"

namespace crm::codegen {

// Identity of a history aggregate: kind, event, field, filter node, window kind and value, and
// for delivery history (event -1 received, -2 redeemed) its filter (sema::HistoryFilter::key()).
using AggKey = std::tuple<int, int, int, int, int, int64_t, std::string>;

struct Options {
  // Expression depth once constants, functions and segments are inlined into a unit: codegen
  // recurses once per level, so this bounds its stack (E0112 beyond it). Values above kMaxDepth
  // count as kMaxDepth, the depth every pass is tested to survive (as Limits::kMaxNestingCap).
  uint32_t max_depth = kMaxDepth;
  static constexpr uint32_t kMaxDepth = 2000;
};

struct Output {
  bytecode::Program program;
  std::map<AggKey, uint32_t> aggregates;  // for the reference evaluator
  // Set when the program checks but cannot be compiled: a limit of the code generator (depth
  // after inlining, 65535 registers per unit) or a construct it does not compile yet. The driver
  // reports it as E0112 at `error_span`, the expression of the unit being compiled (invalid when
  // the failure is not inside a unit), naming `error_unit` (e.g. "strategy x who"), with
  // `error_inner_span`, the innermost expression being compiled when it failed (maybe inlined
  // from another declaration).
  std::string error;
  source::Span error_span, error_inner_span;
  std::string error_unit;
};

Output generate(const sema::Program& program, const Options& options = {});

// The same program, plus one unit per probe after the program's own units (which are exactly
// those of generate()): for `crm explain`, which evaluates parts of a clause with the engine's
// VM. probe_units[i] is probes[i]'s unit, or -1 when that part cannot be compiled on its own
// (a collection literal, a function parameter).
Output generate(const sema::Program& program, const std::vector<const ast::Expr*>& probes, std::vector<int32_t>& probe_units);

// Encodes a folded constant as a VM slot (interning strings into `strings`).
int64_t encode_value(const sema::Value& v, const sema::Type& t, std::vector<std::string>& strings,
                     std::map<std::string, int64_t>& string_ids);

bytecode::Kind kind_of(const sema::Type& t);

}  // namespace crm::codegen
