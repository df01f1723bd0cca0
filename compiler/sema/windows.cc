// windows.cc - aggregate window and filter rules (see windows.h).
#include "compiler/sema/windows.h"

#include <fmt/format.h>

#include <string>

namespace crm::sema::windows {

using namespace crm::ast;
using diag::Code;

// A filter is evaluated once, when the event arrives, so it may read only that event and
// constants: anything that changes later (now, the profile, other history) would make the
// stored aggregate wrong.
bool filter_reads_only_event(const Program& p_, diag::DiagnosticSink& sink_, const Expr* e) {
  if (!e || p_.const_of(e)) return true;
  auto bad = [&](const Expr* x, const std::string& what) {
    auto& d = sink_.report(Code::E0418, x->span, fmt::format("an aggregate's `where` cannot use {}", what));
    d.help = what.find("now") != std::string::npos || what.find("today") != std::string::npos
                 ? "compare times with a window instead, e.g. `within 30 days`, or `first(Order.time)`"
                 : "filters run once per event; use only the event's fields and constants";
    return false;
  };
  switch (e->kind) {
    case ExprKind::Name: {
      const Ref& r = p_.refs[e->id];
      if (r.kind == Ref::Kind::EventField || r.kind == Ref::Kind::Const || r.kind == Ref::Kind::EnumValue) return true;
      const std::string& n = static_cast<const NameExpr*>(e)->name;
      if (n == "event") return true;
      if (r.kind == Ref::Kind::ProfileField || n == "profile") return bad(e, "profile fields (" + bt(n) + ")");
      if (r.kind == Ref::Kind::Param) return bad(e, "function parameters (" + bt(n) + ")");
      if (r.kind == Ref::Kind::Segment) return bad(e, "segments (" + bt(n) + ")");
      return true;
    }
    case ExprKind::Field: return filter_reads_only_event(p_, sink_, static_cast<const FieldExpr*>(e)->base);
    case ExprKind::Aggregate: return bad(e, "another aggregate");
    case ExprKind::Call: {
      auto* c = static_cast<const CallExpr*>(e);
      if (c->callee == "now" || c->callee == "today") return bad(e, "`" + c->callee + "()`");
      if (p_.refs[e->id].kind == Ref::Kind::Function) return bad(e, "function calls (" + bt(c->callee) + ")");
      for (const Arg& a : c->args) if (!filter_reads_only_event(p_, sink_, a.value)) return false;
      return true;
    }
    case ExprKind::Unary: return filter_reads_only_event(p_, sink_, static_cast<const UnaryExpr*>(e)->operand);
    case ExprKind::Binary:
      return filter_reads_only_event(p_, sink_, static_cast<const BinaryExpr*>(e)->lhs) &&
             filter_reads_only_event(p_, sink_, static_cast<const BinaryExpr*>(e)->rhs);
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return filter_reads_only_event(p_, sink_, b->value) && filter_reads_only_event(p_, sink_, b->lo) && filter_reads_only_event(p_, sink_, b->hi);
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      return filter_reads_only_event(p_, sink_, i->cond) && filter_reads_only_event(p_, sink_, i->then_expr) &&
             filter_reads_only_event(p_, sink_, i->else_expr);
    }
    case ExprKind::Collection:
      for (const Expr* x : static_cast<const CollectionLit*>(e)->elems) if (!filter_reads_only_event(p_, sink_, x)) return false;
      return true;
    default: return true;
  }
}

void collect_static_params(const Program& p_, const Expr* e, Env& env) {
  if (!e || !env.static_params) return;
  if (e->kind == ExprKind::Name && p_.refs[e->id].kind == Ref::Kind::Param)
    env.static_params->insert(p_.refs[e->id].param);
  if (e->kind == ExprKind::Binary) {
    collect_static_params(p_, static_cast<const BinaryExpr*>(e)->lhs, env);
    collect_static_params(p_, static_cast<const BinaryExpr*>(e)->rhs, env);
  } else if (e->kind == ExprKind::Unary) {
    collect_static_params(p_, static_cast<const UnaryExpr*>(e)->operand, env);
  }
}

void positive_duration(const Program& p_, diag::DiagnosticSink& sink_, const Expr* e) {
  if (auto* v = p_.const_of(e); v && std::holds_alternative<Value::Duration>(v->v) &&
                                 std::get<Value::Duration>(v->v).micros <= 0)
    sink_.report(Code::E0510, e->span, fmt::format("duration must be longer than zero, not {}", v->to_string(Type::of(TypeKind::Duration))));
}

}  // namespace crm::sema::windows
