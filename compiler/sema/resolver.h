// resolver.h - the name resolution pass: each module's declarations (duplicates), the program's
// default zone, enums, the profile and event schemas merged across modules, and lookup of a name
// or a written type as seen from a module (its own declarations, its imports, the prelude).
//
// Runs first; the type pass then asks it for every name it meets (an enum value is resolved
// against the type expected there, so expression names are resolved while typing).
#pragma once

#include <functional>
#include <string>
#include <unordered_set>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/check_context.h"
#include "compiler/sema/program.h"

namespace crm::sema {

// ISO 4217 codes in current use.
const std::unordered_set<std::string>& currencies();
void report_currency(diag::DiagnosticSink& sink, const std::string& cur, source::Span span);
std::string join_values(const EnumInfo& e);  // "`A`, `B`, `C`"

class Resolver {
 public:
  Resolver(Program& p, diag::DiagnosticSink& sink, CheckTables& tables) : p_(p), sink_(sink), t_(tables) {}

  // The pass: symbols, zones, enums, schemas. A field's default value is an expression: it is
  // handed to `check_default` (the type pass) with the field's type as it is met.
  using DefaultChecker = std::function<void(ModuleInfo*, const ast::FieldDecl*, const Type&)>;
  void run(DefaultChecker check_default);

  // Finds a declaration by name as seen from `m`. Reports ambiguity (then ambiguous() is true);
  // returns nullptr if absent. Marks the import it came through as used.
  const Symbol* lookup(ModuleInfo* m, const std::string& name, source::Span use);
  bool ambiguous() const { return ambiguous_; }
  // A type as written, resolved in `m`; the error type (reported) when it does not resolve.
  Type resolve_type(ModuleInfo* m, const ast::TypeRef* t);

  std::vector<ModuleImport*> visible_imports(ModuleInfo* m);
  ModuleInfo* prelude();
  std::vector<std::string> visible_names(ModuleInfo* m);
  std::vector<const EnumInfo*> visible_enums(ModuleInfo* m);
  const ast::EnumDecl* find_prelude_channel();
  const EnumInfo* channel_enum();
  void report_currency(const std::string& cur, source::Span span) { sema::report_currency(sink_, cur, span); }

 private:
  void collect_symbols();
  void check_zones();
  void build_enums();
  RecordInfo& event_record(const std::string& name, source::Span first);
  void build_schema();
  void merge_fields(ModuleInfo* m, RecordInfo& rec, const std::vector<ast::FieldDecl*>& fields);
  void use(source::Span span, Target target) { record_use(p_, span, std::move(target)); }

  Program& p_;
  diag::DiagnosticSink& sink_;
  CheckTables& t_;
  DefaultChecker check_default_;
  bool ambiguous_ = false;  // the last lookup failed because two imports define the name (reported)
};

}  // namespace crm::sema
