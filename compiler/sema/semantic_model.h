// semantic_model.h - what a checked program knows about its source, indexed for tools.
//
// The checker's passes leave their results in side tables of sema::Program (a type, a folded
// constant and a Ref per AST node, and a Use per resolved name occurrence). A SemanticModel
// indexes those tables by symbol and by source position, so a language server can answer
// hover, go to definition, find references, rename, outline and completion without walking the
// tree or knowing how the checker works:
//
//   symbols()        every declaration of the program, the standard library and the built-ins:
//                    kind, name, container, declaring module, name span, doc comment, detail;
//   occurrences()    every place a symbol's name is written (declarations and uses), sorted;
//   at(file, offset) the name and the innermost expression under a position, with the
//                    symbol it denotes and the expression's type and constant value;
//   scope_at(...)    what is in scope there (module, declaration, clause, the event whose
//                    fields are visible unqualified, the function whose parameters are);
//   visible_symbols  what a module can name (its own declarations, its imports', the prelude's).
//
// The model reads a Program that outlives it and never changes it. It also works on a program
// checked after syntax errors (DriverOptions::check_after_syntax_errors): whatever the partial
// tree resolved is indexed, the rest is simply absent. Offsets are bytes into the file's text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "compiler/sema/program.h"

namespace crm::sema {

enum class SymbolKind : uint8_t {
  Module, ProfileField, Event, EventField, Enum, EnumValue, Const, Segment, Function, Param, Resource,
  Strategy, Policy, Builtin, Pool,
};
const char* to_string(SymbolKind kind);  // "segment", "event field", ...

using SymbolId = uint32_t;
constexpr SymbolId kNoSymbol = ~SymbolId{0};

struct SymbolInfo {
  SymbolKind kind = SymbolKind::Module;
  std::string name;       // as written: `orders_30d`, `amount`, `Rising`, `std.lifecycle`
  std::string container;  // the event of a field, the enum of a value, the function of a parameter
  std::string module;     // the declaring module ("" for built-ins and implicit fields)
  source::Span span;      // the declared name; invalid for built-ins and implicit fields (`user`, `time`)
  source::Span decl_span; // the whole declaration (the outline's range)
  std::string doc;        // the comment lines directly above the declaration, markers stripped
  std::string detail;     // what hover shows first: `Money(CNY)`, `fn f(x: Int): Bool`, `coupon`...
  bool is_std = false;    // declared in the standard library (std.*)
  Target target;          // the typed entity, as in Program::uses
};

struct Occurrence {
  source::Span span;
  SymbolId symbol = kNoSymbol;
  bool declaration = false;  // the name where the symbol is declared (a merged schema field or
                             // event may have several), not a use
};

// What is in scope at a position (for completion).
struct Scope {
  const ModuleInfo* module = nullptr;
  const ast::Decl* decl = nullptr;              // the enclosing declaration
  const ast::Clause* clause = nullptr;          // the enclosing clause of a strategy
  const ast::FnDecl* function = nullptr;        // its parameters are in scope
  const ast::AggregateExpr* aggregate = nullptr; // inside this aggregate's `where`
  const RecordInfo* event = nullptr;            // fields usable unqualified: the aggregated event
                                                // inside a `where`, else a strategy's trigger event
};

class SemanticModel {
 public:
  explicit SemanticModel(const Program& program);

  const Program& program() const { return p_; }

  // ---- symbols ----
  const std::vector<SymbolInfo>& symbols() const { return symbols_; }
  const SymbolInfo& symbol(SymbolId id) const { return symbols_.at(id); }
  // The symbol of an entity (a Use's target, a Ref's pointer), or kNoSymbol.
  SymbolId symbol_of(const Target& target) const;
  // By name: `find(SymbolKind::EventField, "amount", "Order")`; kNoSymbol when absent. Names are
  // unique per kind and container except declarations of different modules (the first wins).
  SymbolId find(SymbolKind kind, std::string_view name, std::string_view container = {}) const;
  // Declared in module `module` (by name), in source order; the module's own symbol first.
  std::vector<SymbolId> module_symbols(std::string_view module) const;
  // What unqualified names in `m` can denote: its declarations, its imports', the prelude's
  // (not schema fields, parameters or built-ins: see scope_at and kind Builtin).
  std::vector<SymbolId> visible_symbols(const ModuleInfo& m) const;

  // ---- modules and files ----
  const ModuleInfo* module_of_file(source::FileId file) const;
  const ModuleInfo* module_named(std::string_view name) const;

  // ---- occurrences ----
  const std::vector<Occurrence>& occurrences() const { return occurrences_; }  // by (file, begin)
  std::vector<Occurrence> references(SymbolId id, bool include_declarations = true) const;

  // ---- positions ----
  struct At {
    const Occurrence* occurrence = nullptr;  // the name under the position
    const SymbolInfo* symbol = nullptr;      // what it denotes
    const ast::Expr* expr = nullptr;         // the innermost expression containing the position
    const Type* type = nullptr;              // its type (null when it has none: not checked or an error)
    const Value* value = nullptr;            // its folded constant, when it has one
  };
  // `offset` may be one past the end of a name (a cursor just after it).
  At at(source::FileId file, uint32_t offset) const;
  const Occurrence* occurrence_at(source::FileId file, uint32_t offset) const;
  const ast::Expr* expr_at(source::FileId file, uint32_t offset) const;
  // Every expression of a file with its span (outermost first at equal starts).
  const std::vector<const ast::Expr*>& expressions(source::FileId file) const;
  Scope scope_at(source::FileId file, uint32_t offset) const;

  // The comment block directly above byte `offset` of `file` (markers stripped, lines joined
  // with '\n'): `//`, `#` and `/* */` comments, ending on the line before `offset`'s line.
  std::string doc_comment(source::FileId file, uint32_t offset) const;

 private:
  using Key = std::tuple<size_t, const void*, int>;  // (alternative, address, enum index): an index key only
  static Key key_of(const Target& t);
  SymbolId add(SymbolInfo s);
  void add_declaration(const Target& t, source::Span span);
  void build_symbols();
  void build_occurrences();
  void build_expressions();

  const Program& p_;
  std::vector<SymbolInfo> symbols_;
  std::map<Key, SymbolId> by_target_;
  std::vector<Occurrence> occurrences_;
  std::vector<std::pair<source::Span, SymbolId>> extra_declarations_;
  std::map<source::FileId, std::vector<const ast::Expr*>> exprs_;
};

}  // namespace crm::sema
