// program.h - a checked program: the modules, the merged schema and the side tables that give
// every AST node its type, resolved symbol and folded constant.
//
// Built once by the checker and then only read, so codegen, analyses and the language server
// can share it.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/ast/ast.h"
#include "bytecode/builtins.h"
#include "compiler/sema/types.h"
#include "compiler/source/source_manager.h"

namespace crm::sema {

struct ModuleInfo;

struct Symbol {
  const ast::Decl* decl = nullptr;
  ModuleInfo* module = nullptr;
};

struct ModuleImport {
  ModuleInfo* target = nullptr;
  const ast::Import* import = nullptr;
  bool used = false;
};

struct ModuleInfo {
  ast::Module* ast = nullptr;
  std::string name;
  std::string path;
  bool is_std = false;
  bool is_prelude = false;
  bool from_disk = false;  // read from `path` on disk (a root file or an import), not a text in memory
  std::map<std::string, Symbol> symbols;
  std::vector<ModuleImport> imports;
};

// What a name expression (or a call) resolved to: one typed pointer per kind of target, so
// consumers never cast. Set by the type pass for NameExpr, qualified enum values and calls.
struct Ref {
  enum class Kind : uint8_t { None, Param, EventField, ProfileField, Const, Segment, EnumValue, Function, Builtin } kind = Kind::None;
  const ast::Param* param = nullptr;                  // Param
  const FieldInfo* field = nullptr;                   // EventField, ProfileField
  const ast::Decl* decl = nullptr;                    // Const, Segment, Function
  const EnumInfo* enum_info = nullptr;                // EnumValue
  const bytecode::OverloadInfo* overload = nullptr;   // Builtin: the overload the call resolved to
  int index = 0;                                      // EnumValue: the value's index; Builtin: the overload id

  const ast::ConstDecl* constant() const {
    return kind == Kind::Const ? static_cast<const ast::ConstDecl*>(decl) : nullptr;
  }
  const ast::SegmentDecl* segment() const {
    return kind == Kind::Segment ? static_cast<const ast::SegmentDecl*>(decl) : nullptr;
  }
  const ast::FnDecl* function() const {
    return kind == Kind::Function ? static_cast<const ast::FnDecl*>(decl) : nullptr;
  }
};

// What one occurrence of a name in the source denotes, for tools (the semantic model): a
// declaration, a schema field, an enum value, an event type, a parameter, a built-in or a module.
// Recorded by the passes next to the Ref side table; codegen does not read it.
struct EnumValueRef {
  const EnumInfo* info = nullptr;
  int index = 0;
  bool operator==(const EnumValueRef&) const = default;
};
using Target = std::variant<std::monostate, const ast::Decl*, const FieldInfo*, EnumValueRef, const RecordInfo*,
                            const ast::Param*, const bytecode::BuiltinInfo*, const ModuleInfo*>;

struct Use {
  source::Span span;  // the name as written (for `Stage.Rising`: `Rising`; for `event.amount`: `amount`)
  Target target;
};

// A resource amount drawn at random (`discount: random 1 CNY .. 8 CNY step 0.5 CNY`, or a table
// `random {1 CNY: 70%, 5 CNY: 25%}`), as the checker resolved it: money in millionths.
struct Draw {
  bool range = false;
  int64_t lo = 0, hi = 0, step = 0;  // range: lo, lo + step, ..., hi, equally likely
  std::vector<int64_t> values;       // table: the values, in the order written
  std::vector<int64_t> weights;      // table: their probabilities in millionths, summing to 1,000,000
  int64_t max = 0;                   // the largest value: what a budget reserves for it
  std::string currency;
};

// What a delivery-history aggregate (`received(...)`, `redeemed(...)`) selects, as the checker
// resolved its arguments: declaration names, a channel value, a delivery code; empty = any.
struct HistoryFilter {
  std::string strategy, resource, channel, code;
  // A stable text of the filter: part of the aggregate's identity (codegen::AggKey).
  std::string key() const { return "strategy=" + strategy + ";resource=" + resource + ";channel=" + channel + ";code=" + code; }
};

struct Program {
  source::SourceManager sources;
  ast::AstContext ast;
  std::deque<ModuleInfo> modules;
  RecordInfo profile;
  std::map<std::string, std::unique_ptr<RecordInfo>> events;
  std::deque<EnumInfo> enums;
  std::map<const ast::EnumDecl*, EnumInfo*> enum_of;
  // The program's default zone: the module-level `zone "..."` declarations (which must agree),
  // empty for UTC. Strategies without `zone:` and segments evaluated on their own use it.
  std::string zone;

  // Side tables keyed by NodeId.
  std::vector<Type> types;
  std::vector<std::optional<Value>> consts;
  std::vector<Ref> refs;
  // Every resolved name occurrence, in the order the passes met them (may repeat).
  std::vector<Use> uses;
  // The type of each constant, field default and function signature as declared (tools show it).
  std::map<const ast::Decl*, Type> decl_types;
  // Every well-formed drawn amount, by its property.
  std::map<const ast::Property*, Draw> draws;
  // The trigger event's field each `grant X to FIELD` names (referral rewards), by the expression.
  std::map<const ast::Expr*, const FieldInfo*> recipients;
  // The resolved filter of every checked delivery-history aggregate.
  std::map<ast::NodeId, HistoryFilter> history;

  const Type& type_of(const ast::Node* n) const {
    static const Type kError;
    return n && n->id < types.size() ? types[n->id] : kError;
  }
  const Value* const_of(const ast::Node* n) const {
    return n && n->id < consts.size() && consts[n->id] ? &*consts[n->id] : nullptr;
  }
};

// The expression each parameter of `fn` takes at `call`: the positional or named argument, or
// the parameter's default. Used by every consumer that inlines calls (codegen, the reference
// evaluator), so they bind arguments identically. The call must have passed the checker.
std::vector<const ast::Expr*> bound_arguments(const ast::FnDecl& fn, const ast::CallExpr& call);
// The function a checked call resolved to, or null for a built-in.
const ast::FnDecl* called_function(const Program& p, const ast::CallExpr& call);

}  // namespace crm::sema
