// conflicts.cc - overlapping strategies within one business (see conflicts.h).
#include "compiler/analysis/conflicts.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "compiler/analysis/constraints.h"

namespace crm::analysis {
namespace {

using namespace crm::ast;
using sema::Value;

constexpr int64_t kMin = kNoLow;
constexpr int64_t kMax = kNoHigh;

struct Window {
  int64_t from = kMin, to = kMax;  // [from, to)
};

Window window_of(const StrategyDecl* s, const sema::Program& p) {
  Window w;
  for (const Clause* c : s->clauses) {
    if (c->kind != ClauseKind::When) continue;
    auto time_of = [&](const Expr* e, int64_t fallback) {
      const Value* v = p.const_of(e);
      auto* t = v ? std::get_if<Value::Time>(&v->v) : nullptr;
      return t ? t->micros : fallback;
    };
    if (c->trigger == TriggerKind::At) {
      w.from = time_of(c->at, kMin);
      w.to = w.from == kMin ? kMax : w.from + 1;
    }
    if (c->from) {
      w.from = std::max(w.from, time_of(c->from, kMin));
      w.to = std::min(w.to, time_of(c->to, kMax));
    }
  }
  return w;
}

}  // namespace

std::vector<Conflict> check_strategy_conflicts(const sema::Program& p, diag::DiagnosticSink& sink) {
  std::vector<Conflict> found;
  struct Info {
    const StrategyDecl* decl;
    Window window;
    bool has_priority = false;
    std::string priority;
    std::string exclusive;
    Constraints who;
  };
  std::map<std::string, std::vector<Info>> by_business;
  ConstraintExtractor extract(p, /*event_fields=*/false);
  for (const auto& m : p.modules) {
    if (m.is_std) continue;
    for (const Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Strategy) continue;
      auto* s = static_cast<const StrategyDecl*>(d);
      if (!s->has_business) continue;  // the rule is per business
      Info info{s, window_of(s, p), false, "", "", {}};
      for (const Clause* c : s->clauses) {
        if (c->kind == ClauseKind::Priority) { info.has_priority = true; info.priority = c->number; }
        if (c->kind == ClauseKind::Exclusive) info.exclusive = c->number;
        if (c->kind == ClauseKind::Who) info.who = extract.of(c->expr);
      }
      by_business[s->business].push_back(std::move(info));
    }
  }
  constexpr size_t kMaxPairs = 2'000'000;  // keeps `crm check` fast on generated catalogues
  size_t pairs = 0;
  for (const auto& [business, list] : by_business) {
    for (size_t i = 0; i < list.size(); ++i) {
      for (size_t j = i + 1; j < list.size(); ++j) {
        if (++pairs > kMaxPairs) return found;
        const Info& a = list[i];
        const Info& b = list[j];
        if (a.has_priority && b.has_priority && a.priority != b.priority) continue;  // declared winner
        if (!a.exclusive.empty() && a.exclusive == b.exclusive) continue;  // the runtime keeps them apart
        if (!(a.window.from < b.window.to && b.window.from < a.window.to)) continue;
        std::vector<std::string> witness;
        if (!may_overlap(a.who, b.who, witness)) continue;
        std::string example;
        for (size_t k = 0; k < witness.size(); ++k) example += (k ? ", " : "") + witness[k];
        auto& d = sink.report(diag::Code::W0105, b.decl->name_span,
                              fmt::format("strategies `{}` and `{}` of business \"{}\" may target the same users at "
                                          "the same time",
                                          a.decl->name, b.decl->name, business));
        d.secondary.push_back({a.decl->name_span, "the other strategy"});
        d.help = (example.empty() ? std::string("their `who:` conditions do not exclude each other")
                                  : "a user with " + example + " can match both") +
                 "; give them different `priority:` values or one `exclusive:` group, or make their `who:` exclusive";
        found.push_back({a.decl->name, b.decl->name, sink.diagnostics().size() - 1});
      }
    }
  }
  return found;
}

}  // namespace crm::analysis
