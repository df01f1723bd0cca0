// checker.cc - semantic analysis as a sequence of passes over the loaded modules:
//
//   1. name resolution (resolver.h): each module's declarations (duplicates), the default zone,
//      enums, the profile and event schemas merged across modules;
//   2. types (type_checker.h): every declaration's expressions typed, names resolved against the
//      expected type, constants folded with the VM's operations (fold.h), the rules of
//      resources, strategies, policies and aggregate windows (windows.h) applied;
//   3. lints (lints.h): recursion among definitions, unused imports.
//
// Results are side tables: the Program's (types, consts, refs, uses, decl_types: what codegen,
// the analyses and the semantic model read) and the checker's own (CheckTables) that the passes
// hand each other.
#include "compiler/sema/checker.h"

#include "compiler/sema/check_context.h"
#include "compiler/sema/lints.h"
#include "compiler/sema/resolver.h"
#include "compiler/sema/type_checker.h"

namespace crm::sema {

void check_program(Program& program, diag::DiagnosticSink& sink, uint32_t max_decl_depth) {
  program.types.assign(program.ast.size(), Type{});
  program.consts.assign(program.ast.size(), std::nullopt);
  program.refs.assign(program.ast.size(), Ref{});
  program.uses.clear();
  program.decl_types.clear();
  CheckTables tables;
  tables.is_static.assign(program.ast.size(), 0);
  tables.max_decl_depth = max_decl_depth;

  Resolver resolver(program, sink, tables);
  TypePass types(program, sink, resolver, tables);
  resolver.run([&](ModuleInfo* m, const ast::FieldDecl* f, const Type& t) { types.check_field_default(m, f, t); });
  types.run();
  lints::check_recursion(tables, sink);
  lints::check_unused_imports(program, sink);
}

}  // namespace crm::sema
