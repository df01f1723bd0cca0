// lints.cc - whole-program checks over the side tables (see lints.h).
#include "compiler/sema/lints.h"

#include <fmt/format.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace crm::sema::lints {

using namespace crm::ast;
using diag::Code;

void check_recursion(const CheckTables& t, diag::DiagnosticSink& sink_) {
  static const std::set<const Decl*, ById> kNone;
  auto deps_at = [&](const Decl* d) -> const std::set<const Decl*, ById>& {
    auto it = t.deps.find(d);
    return it == t.deps.end() ? kNone : it->second;
  };
  std::map<const Decl*, int, ById> state;
  std::vector<const Decl*> stack;
  std::set<const Decl*, ById> reported;
  std::function<void(const Decl*)> visit = [&](const Decl* d) {
    state[d] = 1;
    stack.push_back(d);
    for (const Decl* t : deps_at(d)) {
      if (state[t] == 1) {
        if (reported.count(t)) continue;
        std::string chain;
        bool on = false;
        for (const Decl* x : stack) {
          if (x == t) on = true;
          if (on) { chain += bt(x->name) + " -> "; reported.insert(x); }
        }
        chain += bt(t->name);
        std::string msg = stack.back() == t ? fmt::format("{} refers to itself", bt(t->name))
                                            : fmt::format("{} depends on itself: {}", bt(t->name), chain);
        sink_.report(Code::E0412, t->name_span, msg)
            .help = "definitions cannot be recursive; every program must finish in bounded time";
      } else if (state[t] == 0) {
        visit(t);
      }
    }
    stack.pop_back();
    state[d] = 2;
  };
  for (auto& [d, _] : t.deps) if (state[d] == 0) visit(d);
}

void check_unused_imports(const Program& p_, diag::DiagnosticSink& sink_) {
  for (auto& m : p_.modules) {
    if (m.is_std) continue;
    for (auto& imp : m.imports) {
      if (!imp.target || imp.used) continue;
      bool has_schema = false;
      for (const Decl* d : imp.target->ast->decls)
        if (d->kind == DeclKind::Profile || d->kind == DeclKind::Event) has_schema = true;
      if (has_schema) continue;
      sink_.report(Code::W0103, imp.import->span, fmt::format("nothing from {} is used", bt(imp.import->path)))
          .help = "remove the import";
    }
  }
}

}  // namespace crm::sema::lints
