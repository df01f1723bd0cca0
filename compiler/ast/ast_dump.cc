// ast_dump.cc - S-expression dump of the AST (no spans, so equal trees dump equal).
#include "compiler/ast/ast_dump.h"

#include <fmt/format.h>

namespace crm::ast {
namespace {

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') { out += "\\n"; continue; }
    out += c;
  }
  return out + "\"";
}

const char* window_name(WindowKind w) {
  switch (w) {
    case WindowKind::All: return "all";
    case WindowKind::Within: return "within";
    case WindowKind::LastN: return "last";
    case WindowKind::Previous: return "previous";
    case WindowKind::PreviousN: return "previous";
    case WindowKind::Since: return "since";
  }
  return "?";
}

std::string type_str(const TypeRef* t) {
  if (!t) return "<error>";
  std::string s = t->name;
  if (!t->currency.empty()) s += "(" + t->currency + ")";
  if (t->elem) s += "<" + type_str(t->elem) + ">";
  if (t->optional) s += "?";
  return s;
}

std::string period_str(const Period& p) {
  return p.kind == Period::Kind::Campaign ? "campaign" : p.text;
}

std::string limits(const std::vector<Limit>& ls) {
  std::string out;
  for (auto& l : ls) {
    if (l.kind == Limit::Kind::Budget) out += " (budget " + dump(l.budget) + ")";
    else if (l.kind == Limit::Kind::Stock) out += " (stock " + l.count + ")";
    else if (l.kind == Limit::Kind::Pacing) out += " (pacing " + l.count + ")";
    else if (l.kind == Limit::Kind::Pool) out += " (from-pool " + l.pool + ")";
    else out += fmt::format(" (per-user {} per {})", l.count, period_str(l.period));
  }
  return out;
}

}  // namespace

std::string dump(const Expr* e) {
  if (!e) return "<error>";
  switch (e->kind) {
    case ExprKind::Number: return "(number " + static_cast<const NumberLit*>(e)->text + ")";
    case ExprKind::Money: {
      auto* m = static_cast<const MoneyLit*>(e);
      return fmt::format("(money {} {})", m->amount, m->currency);
    }
    case ExprKind::Duration: {
      auto* d = static_cast<const DurationLit*>(e);
      return fmt::format("(duration {} {})", d->amount, d->unit);
    }
    case ExprKind::Percent: return "(percent " + static_cast<const PercentLit*>(e)->amount + ")";
    case ExprKind::String: return "(string " + quote(static_cast<const StringLit*>(e)->value) + ")";
    case ExprKind::Time: return "(time " + static_cast<const TimeLit*>(e)->text + ")";
    case ExprKind::Date: return "(date " + static_cast<const DateLit*>(e)->text + ")";
    case ExprKind::Bool: return static_cast<const BoolLit*>(e)->value ? "true" : "false";
    case ExprKind::Collection: {
      auto* c = static_cast<const CollectionLit*>(e);
      std::string s = c->is_set ? "(set" : "(list";
      for (auto* x : c->elems) s += " " + dump(x);
      return s + ")";
    }
    case ExprKind::Name: return "(name " + static_cast<const NameExpr*>(e)->name + ")";
    case ExprKind::Field: {
      auto* f = static_cast<const FieldExpr*>(e);
      return fmt::format("(. {} {})", dump(f->base), f->field);
    }
    case ExprKind::Call: {
      auto* c = static_cast<const CallExpr*>(e);
      std::string s = "(call " + c->callee;
      for (auto& a : c->args) s += " " + (a.name.empty() ? "" : a.name + ":") + dump(a.value);
      return s + ")";
    }
    case ExprKind::Aggregate: {
      auto* a = static_cast<const AggregateExpr*>(e);
      std::string s = fmt::format("({} {}", to_string(a->agg), a->event);
      if (a->source != HistorySource::Events) {
        s = fmt::format("({}{} ({}", to_string(a->agg), a->bare ? " bare" : "", to_string(a->source));
        for (auto& x : a->history_args) s += " " + (x.name.empty() ? "" : x.name + ":") + dump(x.value);
        s += ")";
      }
      if (!a->field.empty()) s += "." + a->field;
      if (a->filter) s += " (where " + dump(a->filter) + ")";
      if (a->window != WindowKind::All) {
        s += std::string(" (") + window_name(a->window);
        if (a->window_expr) s += " " + dump(a->window_expr);
        if (!a->window_n.empty()) s += " " + a->window_n;
        s += ")";
      }
      return s + ")";
    }
    case ExprKind::Unary: {
      auto* u = static_cast<const UnaryExpr*>(e);
      return fmt::format("({} {})", u->op == UnaryOp::Neg ? "neg" : "not", dump(u->operand));
    }
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      return fmt::format("({} {} {})", to_string(b->op), dump(b->lhs), dump(b->rhs));
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return fmt::format("({} {} {} {})", b->negated ? "not-between" : "between", dump(b->value), dump(b->lo),
                         dump(b->hi));
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      return fmt::format("(if {} {} {})", dump(i->cond), dump(i->then_expr), dump(i->else_expr));
    }
  }
  return "<error>";
}

std::string dump(const Module& m) {
  std::string out = "(module " + (m.name.empty() ? std::string("-") : m.name) + "\n";
  for (auto& im : m.imports) out += "  (import " + im.path + (im.alias.empty() ? "" : " as " + im.alias) + ")\n";
  if (m.has_zone) out += "  (zone " + quote(m.zone) + ")\n";
  auto fields = [&](const std::vector<FieldDecl*>& fs) {
    for (auto* f : fs) {
      out += fmt::format("\n    (field {} {}", f->name, type_str(f->type));
      if (f->default_value) out += " = " + dump(f->default_value);
      out += ")";
    }
  };
  for (const Decl* d : m.decls) {
    switch (d->kind) {
      case DeclKind::Profile:
        out += "  (profile";
        fields(static_cast<const ProfileDecl*>(d)->fields);
        out += ")\n";
        break;
      case DeclKind::Event:
        out += "  (event " + d->name;
        fields(static_cast<const EventDecl*>(d)->fields);
        out += ")\n";
        break;
      case DeclKind::Enum: {
        out += "  (enum " + d->name;
        for (auto& v : static_cast<const EnumDecl*>(d)->values) out += " " + v.name;
        out += ")\n";
        break;
      }
      case DeclKind::Const: {
        auto* c = static_cast<const ConstDecl*>(d);
        out += fmt::format("  (const {}{} {})\n", c->name, c->type ? " : " + type_str(c->type) : "", dump(c->value));
        break;
      }
      case DeclKind::Segment:
        out += fmt::format("  (segment {} {})\n", d->name, dump(static_cast<const SegmentDecl*>(d)->value));
        break;
      case DeclKind::Fn: {
        auto* f = static_cast<const FnDecl*>(d);
        out += "  (fn " + f->name + " (";
        for (size_t i = 0; i < f->params.size(); ++i) {
          auto* p = f->params[i];
          out += fmt::format("{}({} {}{})", i ? " " : "", p->name, type_str(p->type),
                             p->default_value ? " = " + dump(p->default_value) : "");
        }
        out += fmt::format(") {} {})\n", type_str(f->result), dump(f->body));
        break;
      }
      case DeclKind::Resource: {
        auto* r = static_cast<const ResourceDecl*>(d);
        out += fmt::format("  (resource {} {}", r->resource_kind, r->name);
        for (auto* p : r->props) {
          out += "\n    (" + p->key + " ";
          if (p->kind == PropKind::Range) out += "(between " + dump(p->a) + " " + dump(p->b) + ")";
          else if (p->kind == PropKind::AfterClaim) out += "(after-claim " + dump(p->a) + ")";
          else if (p->kind == PropKind::Draw && p->draw_table.empty())
            out += "(random " + dump(p->a) + " " + dump(p->b) + (p->step ? " step " + dump(p->step) : "") + ")";
          else if (p->kind == PropKind::Draw) {
            out += "(random-table";
            for (auto& e : p->draw_table) out += " (" + dump(e.value) + " " + e.weight + "%)";
            out += ")";
          }
          else if (p->kind == PropKind::Capped) out += "(up-to " + dump(p->a) + " " + dump(p->b) + ")";
          else if (p->kind == PropKind::Funders) {
            out += "(funders";
            for (auto& f : p->funders) out += " (" + f.funder + " " + f.share + "%)";
            out += ")";
          }
          else out += dump(p->a);
          out += ")";
        }
        out += ")\n";
        break;
      }
      case DeclKind::Strategy: {
        auto* s = static_cast<const StrategyDecl*>(d);
        out += "  (strategy " + s->name + (s->has_business ? " business " + quote(s->business) : "");
        for (auto* c : s->clauses) {
          out += "\n    ";
          switch (c->kind) {
            case ClauseKind::Who: out += "(who " + dump(c->expr) + ")"; break;
            case ClauseKind::Where: out += "(where " + dump(c->expr) + ")"; break;
            case ClauseKind::Value: out += "(value " + dump(c->expr) + ")"; break;
            case ClauseKind::When: {
              out += "(when ";
              if (c->trigger == TriggerKind::On) out += "(on " + c->event + ")";
              else if (c->trigger == TriggerKind::At) out += "(at " + dump(c->at) + ")";
              else out += "(every " + dump(c->at) + (c->clock.empty() ? "" : " at " + c->clock) + ")";
              if (c->from) out += " (between " + dump(c->from) + " " + dump(c->to) + ")";
              if (c->expr) out += " (if " + dump(c->expr) + ")";
              if (c->delay) {
                out += " (after " + dump(c->delay);
                if (!c->cancel_event.empty()) out += " (unless " + c->cancel_event + (c->cancel_where ? " " + dump(c->cancel_where) : "") + ")";
                out += ")";
              }
              out += ")";
              break;
            }
            case ClauseKind::What: {
              out += "(what";
              for (auto& a : c->actions) {
                out += fmt::format(" ({} {}", a.verb == Action::Verb::Send ? "send" : "grant", a.resource);
                if (a.recipient) out += " to " + dump(a.recipient);
                if (!a.chance.empty()) out += " chance " + a.chance + "%";
                if (a.has_salt) out += " salt " + quote(a.salt);
                if (!a.channel.empty()) out += " via " + a.channel;
                if (a.has_code) out += " code " + quote(a.code);
                if (!a.arm.empty()) out += " for-arm " + a.arm;
                out += ")";
              }
              out += ")";
              break;
            }
            case ClauseKind::HowMuch:
              out += "(how-much" + limits(c->limits) + ")";
              break;
            case ClauseKind::Split: {
              out += "(split";
              if (c->has_control) out += " control " + c->number + "%";
              if (!c->arms.empty()) {
                out += " (variants";
                for (const auto& a : c->arms) out += " " + a.name + " " + a.percent + "%";
                out += ")";
              }
              out += (c->has_salt ? " salt " + quote(c->salt) : "") + ")";
              break;
            }
            case ClauseKind::Priority: out += "(priority " + c->number + ")"; break;
            case ClauseKind::Zone: out += "(zone " + quote(c->number) + ")"; break;
            case ClauseKind::Exclusive: out += "(exclusive " + quote(c->number) + ")"; break;
            case ClauseKind::Rollout: {
              out += "(rollout (best-of";
              for (const auto& a : c->rollout_arms) out += " " + a.name;
              out += ") by " + c->metric + (c->wait ? " (after " + dump(c->wait) + ")" : "") + ")";
              break;
            }
          }
        }
        out += ")\n";
        break;
      }
      case DeclKind::Pool:
        out += "  (pool " + d->name + limits(static_cast<const PoolDecl*>(d)->limits) + ")\n";
        break;
      case DeclKind::Policy: {
        auto* p = static_cast<const PolicyDecl*>(d);
        out += "  (policy " + p->name + (p->has_business ? " business " + quote(p->business) : "");
        for (auto* r : p->rules) {
          if (r->kind == PolicyRule::Kind::Unredeemed)
            out += fmt::format("\n    (unredeemed {} <= {})", r->subject, r->count);
          else if (r->kind == PolicyRule::Kind::Quiet)
            out += fmt::format("\n    (quiet {} {}{})", r->clock_from, r->clock_to, r->drop ? " drop" : "");
          else if (r->kind == PolicyRule::Kind::SameType)
            out += fmt::format("\n    (same-type once per {})", period_str(r->period));
          else
            out += fmt::format("\n    (cap {} <= {} per {})", r->subject, r->count, period_str(r->period));
        }
        out += ")\n";
        break;
      }
    }
  }
  return out + ")\n";
}

}  // namespace crm::ast
