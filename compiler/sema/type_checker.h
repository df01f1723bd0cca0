// type_checker.h - the type pass (see type_checker.cc): types every declaration's expressions,
// resolving their names, folding constants and applying the declaration and window rules.
#pragma once

#include <memory>

#include "compiler/diag/diagnostic.h"
#include "compiler/sema/check_context.h"
#include "compiler/sema/program.h"
#include "compiler/sema/resolver.h"

namespace crm::sema {

class TypePass {
 public:
  TypePass(Program& program, diag::DiagnosticSink& sink, Resolver& resolver, CheckTables& tables);
  ~TypePass();
  // A schema field's default value (the resolver calls this while merging the schema).
  void check_field_default(ModuleInfo* m, const ast::FieldDecl* f, const Type& t);
  // Every declaration of every module, in source order.
  void run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crm::sema
