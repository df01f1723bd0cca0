// program.cc - helpers over a checked program shared by its consumers.
#include "compiler/sema/program.h"

namespace crm::sema {

std::vector<const ast::Expr*> bound_arguments(const ast::FnDecl& fn, const ast::CallExpr& call) {
  std::vector<const ast::Expr*> bound(fn.params.size(), nullptr);
  size_t pos = 0;
  for (const ast::Arg& a : call.args) {
    size_t slot = pos;
    if (a.name.empty()) {
      ++pos;
    } else {
      for (size_t i = 0; i < fn.params.size(); ++i)
        if (fn.params[i]->name == a.name) slot = i;
    }
    if (slot < bound.size()) bound[slot] = a.value;
  }
  for (size_t i = 0; i < bound.size(); ++i)
    if (!bound[i]) bound[i] = fn.params[i]->default_value;
  return bound;
}

const ast::FnDecl* called_function(const Program& p, const ast::CallExpr& call) {
  return call.id < p.refs.size() ? p.refs[call.id].function() : nullptr;
}

}  // namespace crm::sema
