// formatter.cc - canonical printing of the AST with precedence-aware parentheses.
#include "compiler/format/formatter.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

namespace crm::format {
namespace {

using namespace crm::ast;

constexpr size_t kWidth = 100;

// Binding strength, loosest first; mirrors the layering in grammar/Crm.g4.
enum Prec : int { kIf = 0, kOr, kAnd, kNot, kCmp, kCoalesce, kAdd, kMul, kNeg, kPostfix, kPrimary };

int prec_of(const Expr* e) {
  if (!e) return kPrimary;
  switch (e->kind) {
    case ExprKind::If: return kIf;
    case ExprKind::Unary: return static_cast<const UnaryExpr*>(e)->op == UnaryOp::Not ? kNot : kNeg;
    case ExprKind::Between: return kCmp;
    case ExprKind::Field: return kPostfix;
    case ExprKind::Binary:
      switch (static_cast<const BinaryExpr*>(e)->op) {
        case BinaryOp::Or: return kOr;
        case BinaryOp::And: return kAnd;
        case BinaryOp::Coalesce: return kCoalesce;
        case BinaryOp::Add: case BinaryOp::Sub: return kAdd;
        case BinaryOp::Mul: case BinaryOp::Div: return kMul;
        default: return kCmp;
      }
    default: return kPrimary;
  }
}

std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default: out += c;
    }
  }
  return out + "\"";
}

std::string expr(const Expr* e, int need);

std::string sub(const Expr* e, int need) {
  std::string s = expr(e, need);
  return prec_of(e) < need ? "(" + s + ")" : s;
}

std::string window(const AggregateExpr* a) {
  switch (a->window) {
    case WindowKind::All: return "";
    case WindowKind::Within: return " within " + sub(a->window_expr, kAdd);
    case WindowKind::LastN: return " last " + a->window_n;
    case WindowKind::Previous: return " previous";
    case WindowKind::PreviousN: return " previous " + a->window_n;
    case WindowKind::Since: return " since " + sub(a->window_expr, kAdd);
  }
  return "";
}

std::string expr(const Expr* e, int) {
  if (!e) return "<error>";
  switch (e->kind) {
    case ExprKind::Number: return static_cast<const NumberLit*>(e)->text;
    case ExprKind::Money: {
      auto* m = static_cast<const MoneyLit*>(e);
      return m->amount + " " + m->currency;
    }
    case ExprKind::Duration: {
      auto* d = static_cast<const DurationLit*>(e);
      return d->amount + " " + d->unit;
    }
    case ExprKind::Percent: return static_cast<const PercentLit*>(e)->amount + "%";
    case ExprKind::String: return quote(static_cast<const StringLit*>(e)->value);
    case ExprKind::Time: return static_cast<const TimeLit*>(e)->text;
    case ExprKind::Date: return static_cast<const DateLit*>(e)->text;
    case ExprKind::Bool: return static_cast<const BoolLit*>(e)->value ? "true" : "false";
    case ExprKind::Collection: {
      auto* c = static_cast<const CollectionLit*>(e);
      std::string s = c->is_set ? "{" : "[";
      for (size_t i = 0; i < c->elems.size(); ++i) s += (i ? ", " : "") + sub(c->elems[i], kIf);
      return s + (c->is_set ? "}" : "]");
    }
    case ExprKind::Name: return static_cast<const NameExpr*>(e)->name;
    case ExprKind::Field: {
      auto* f = static_cast<const FieldExpr*>(e);
      return sub(f->base, kPostfix) + "." + f->field;
    }
    case ExprKind::Call: {
      auto* c = static_cast<const CallExpr*>(e);
      std::string s = c->callee + "(";
      for (size_t i = 0; i < c->args.size(); ++i)
        s += (i ? ", " : "") + (c->args[i].name.empty() ? "" : c->args[i].name + ": ") + sub(c->args[i].value, kIf);
      return s + ")";
    }
    case ExprKind::Aggregate: {
      auto* a = static_cast<const AggregateExpr*>(e);
      std::string s = std::string(to_string(a->agg)) + "(" + a->event;
      if (!a->field.empty()) s += "." + a->field;
      if (a->filter) s += " where " + sub(a->filter, kIf);
      return s + window(a) + ")";
    }
    case ExprKind::Unary: {
      auto* u = static_cast<const UnaryExpr*>(e);
      if (u->op == UnaryOp::Not) return "not " + sub(u->operand, kNot);
      return "-" + sub(u->operand, kNeg);
    }
    case ExprKind::Binary: {
      auto* b = static_cast<const BinaryExpr*>(e);
      int p = prec_of(e);
      int l = p, r = p + 1;
      if (p == kCmp) l = r = kCoalesce;
      if (b->op == BinaryOp::Coalesce) { l = kAdd; r = kCoalesce; }
      return sub(b->lhs, l) + " " + to_string(b->op) + " " + sub(b->rhs, r);
    }
    case ExprKind::Between: {
      auto* b = static_cast<const BetweenExpr*>(e);
      return sub(b->value, kCoalesce) + (b->negated ? " not between " : " between ") + sub(b->lo, kCoalesce) +
             " and " + sub(b->hi, kCoalesce);
    }
    case ExprKind::If: {
      auto* i = static_cast<const IfExpr*>(e);
      return "if " + sub(i->cond, kIf) + " then " + sub(i->then_expr, kIf) + " else " + sub(i->else_expr, kIf);
    }
  }
  return "<error>";
}

// Long expressions break before `else` of an if-chain and before top-level `and`/`or`.
std::string layout(const Expr* e, const std::string& indent, size_t first_col) {
  std::string flat = expr(e, kIf);
  if (!e || first_col + flat.size() <= kWidth) return flat;
  if (e->kind == ExprKind::If) {
    std::string out;
    const Expr* cur = e;
    bool first = true;
    while (cur && cur->kind == ExprKind::If) {
      auto* i = static_cast<const IfExpr*>(cur);
      out += (first ? "if " : "\n" + indent + "else if ") + sub(i->cond, kIf) + " then " + sub(i->then_expr, kIf);
      first = false;
      cur = i->else_expr;
    }
    return out + "\n" + indent + "else " + sub(cur, kIf);
  }
  if (e->kind == ExprKind::Binary) {
    auto* b = static_cast<const BinaryExpr*>(e);
    if (b->op == BinaryOp::And || b->op == BinaryOp::Or) {
      std::vector<const Expr*> parts;
      std::vector<const Expr*> stack{e};
      // Flatten the left-leaning chain of the same operator.
      const Expr* cur = e;
      while (cur->kind == ExprKind::Binary && static_cast<const BinaryExpr*>(cur)->op == b->op) {
        parts.push_back(static_cast<const BinaryExpr*>(cur)->rhs);
        cur = static_cast<const BinaryExpr*>(cur)->lhs;
      }
      parts.push_back(cur);
      std::string out;
      int need = prec_of(e);
      for (size_t k = parts.size(); k-- > 0;) {
        bool first = k + 1 == parts.size();
        out += (first ? "" : "\n" + indent + to_string(b->op) + " ") + sub(parts[k], first ? need : need + 1);
      }
      return out;
    }
  }
  return flat;
}

std::string type(const TypeRef* t) {
  if (!t) return "<error>";
  std::string s = t->name;
  if (!t->currency.empty()) s += "(" + t->currency + ")";
  if (t->elem) s += "<" + type(t->elem) + ">";
  if (t->optional) s += "?";
  return s;
}

std::string period(const Period& p) { return p.kind == Period::Kind::Campaign ? "campaign" : p.text; }

// Comment scanner aware of strings, so `"a // b"` is not a comment.
struct Comments {
  std::string_view text;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  explicit Comments(std::string_view t) : text(t) {
    for (size_t i = 0; i < t.size();) {
      char c = t[i];
      if (c == '"') {
        ++i;
        while (i < t.size() && t[i] != '"' && t[i] != '\n') i += t[i] == '\\' ? 2 : 1;
        ++i;
      } else if (c == '#' || (c == '/' && i + 1 < t.size() && t[i + 1] == '/')) {
        size_t b = i;
        while (i < t.size() && t[i] != '\n') ++i;
        ranges.push_back({uint32_t(b), uint32_t(i)});
      } else if (c == '/' && i + 1 < t.size() && t[i + 1] == '*') {
        size_t b = i;
        size_t e = t.find("*/", i + 2);
        i = e == std::string_view::npos ? t.size() : e + 2;
        ranges.push_back({uint32_t(b), uint32_t(i)});
      } else {
        ++i;
      }
    }
  }
  bool any_in(uint32_t b, uint32_t e) const {
    for (auto& r : ranges) if (r.first >= b && r.first < e) return true;
    return false;
  }
  // The comment starting on the same line after `offset`, if nothing but blanks precede it.
  std::optional<std::pair<uint32_t, uint32_t>> same_line_after(uint32_t offset) const {
    for (auto& r : ranges) {
      if (r.first < offset) continue;
      for (uint32_t i = offset; i < r.first; ++i)
        if (text[i] != ' ' && text[i] != '\t') return std::nullopt;
      return r;
    }
    return std::nullopt;
  }
  // Comment lines between b and e, each on its own line; blank-line separation is normalised.
  std::string between(uint32_t b, uint32_t e) const {
    std::string out;
    for (auto& r : ranges)
      if (r.first >= b && r.first < e) out += std::string(text.substr(r.first, r.second - r.first)) + "\n";
    return out;
  }
};

std::string decl(const Decl* d) {
  std::string out;
  auto fields = [&](const std::vector<FieldDecl*>& fs) {
    for (auto* f : fs) {
      out += "    " + f->name + ": " + type(f->type);
      if (f->default_value) out += " = " + expr(f->default_value, kIf);
      out += "\n";
    }
  };
  switch (d->kind) {
    case DeclKind::Profile: {
      auto& fs = static_cast<const ProfileDecl*>(d)->fields;
      out += fs.empty() ? "profile {" : "profile {\n";
      fields(fs);
      out += "}\n";
      break;
    }
    case DeclKind::Event: {
      auto& fs = static_cast<const EventDecl*>(d)->fields;
      out += "event " + d->name + (fs.empty() ? " {" : " {\n");
      fields(fs);
      out += "}\n";
      break;
    }
    case DeclKind::Enum: {
      auto* e = static_cast<const EnumDecl*>(d);
      out += "enum " + e->name + " {";
      for (size_t i = 0; i < e->values.size(); ++i) out += (i ? ", " : " ") + e->values[i].name;
      out += e->values.empty() ? "}\n" : " }\n";
      break;
    }
    case DeclKind::Const: {
      auto* c = static_cast<const ConstDecl*>(d);
      out += "const " + c->name + (c->type ? ": " + type(c->type) : "") + " = ";
      out += layout(c->value, "    ", out.size()) + "\n";
      break;
    }
    case DeclKind::Segment: {
      out += "segment " + d->name + " =";
      auto* v = static_cast<const SegmentDecl*>(d)->value;
      std::string flat = expr(v, kIf);
      if (out.size() + 1 + flat.size() <= kWidth) out += " " + flat + "\n";
      else out += "\n    " + layout(v, "    ", 4) + "\n";
      break;
    }
    case DeclKind::Fn: {
      auto* f = static_cast<const FnDecl*>(d);
      out += "fn " + f->name + "(";
      std::vector<std::string> ps;
      size_t total = 0;
      for (auto* p : f->params) {
        ps.push_back(p->name + ": " + type(p->type) + (p->default_value ? " = " + expr(p->default_value, kIf) : ""));
        total += ps.back().size() + 2;
      }
      if (out.size() + total + type(f->result).size() + 8 <= kWidth) {
        for (size_t i = 0; i < ps.size(); ++i) out += (i ? ", " : "") + ps[i];
        out += ")";
      } else {
        out += "\n";
        for (auto& p : ps) out += "    " + p + ",\n";
        out += ")";
      }
      out += ": " + type(f->result) + " =\n    " + layout(f->body, "    ", 4) + "\n";
      break;
    }
    case DeclKind::Resource: {
      auto* r = static_cast<const ResourceDecl*>(d);
      out += "resource " + r->resource_kind + " " + r->name + " {\n";
      for (auto* p : r->props) {
        out += "    " + p->key + ": ";
        if (p->kind == PropKind::Range) out += "between " + sub(p->a, kAdd) + " and " + sub(p->b, kAdd);
        else if (p->kind == PropKind::AfterClaim) out += "within " + sub(p->a, kAdd) + " after claim";
        else out += expr(p->a, kIf);
        out += "\n";
      }
      out += "}\n";
      break;
    }
    case DeclKind::Strategy: {
      auto* s = static_cast<const StrategyDecl*>(d);
      out += "strategy " + s->name + (s->has_business ? " for business " + quote(s->business) : "") + " {\n";
      for (auto* c : s->clauses) {
        switch (c->kind) {
          case ClauseKind::Who: out += "    who: " + layout(c->expr, "        ", 9) + "\n"; break;
          case ClauseKind::Where: out += "    where: " + layout(c->expr, "        ", 11) + "\n"; break;
          case ClauseKind::When: {
            out += "    when: ";
            if (c->trigger == TriggerKind::On) out += "on " + c->event;
            else if (c->trigger == TriggerKind::At) out += "at " + sub(c->at, kAdd);
            else out += "every " + sub(c->at, kAdd) + (c->clock.empty() ? "" : " at " + c->clock);
            if (c->from) out += " between " + sub(c->from, kAdd) + " and " + sub(c->to, kAdd);
            if (c->expr) out += " if " + expr(c->expr, kIf);
            out += "\n";
            break;
          }
          case ClauseKind::What: {
            out += "    what: ";
            for (size_t i = 0; i < c->actions.size(); ++i) {
              auto& a = c->actions[i];
              out += (i ? ", " : "") + std::string(a.verb == Action::Verb::Send ? "send " : "grant ") + a.resource;
              if (!a.channel.empty()) out += " via " + a.channel;
              if (a.has_code) out += " code " + quote(a.code);
            }
            out += "\n";
            break;
          }
          case ClauseKind::HowMuch: {
            out += "    how much: ";
            for (size_t i = 0; i < c->limits.size(); ++i) {
              auto& l = c->limits[i];
              out += i ? ", " : "";
              if (l.kind == Limit::Kind::Budget) out += "budget " + sub(l.budget, kAdd);
              else if (l.kind == Limit::Kind::Stock) out += "stock " + l.count;
              else if (l.kind == Limit::Kind::Pacing) out += "pacing " + l.count;
              else out += (l.continued ? "" : "per user ") + l.count + " per " + period(l.period);
            }
            out += "\n";
            break;
          }
          case ClauseKind::Split:
            out += "    split: control " + c->number + "%" + (c->has_salt ? " salt " + quote(c->salt) : "") + "\n";
            break;
          case ClauseKind::Priority: out += "    priority: " + c->number + "\n"; break;
          case ClauseKind::Zone: out += "    zone: " + quote(c->number) + "\n"; break;
          case ClauseKind::Exclusive: out += "    exclusive: " + quote(c->number) + "\n"; break;
        }
      }
      out += "}\n";
      break;
    }
    case DeclKind::Policy: {
      auto* p = static_cast<const PolicyDecl*>(d);
      out += "policy " + p->name + (p->has_business ? " for business " + quote(p->business) : "") + " {\n";
      for (auto* r : p->rules) {
        if (r->kind == PolicyRule::Kind::Unredeemed)
          out += "    unredeemed " + r->subject + " per user <= " + r->count + ";\n";
        else if (r->kind == PolicyRule::Kind::SameType)
          out += "    same resource type once per " + period(r->period) + ";\n";
        else if (r->kind == PolicyRule::Kind::Quiet)
          out += "    quiet between " + r->clock_from + " and " + r->clock_to + ";\n";
        else
          out += "    " + r->subject + " <= " + r->count + " per " + period(r->period) + ";\n";
      }
      out += "}\n";
      break;
    }
  }
  return out;
}

}  // namespace

std::string format_expr(const ast::Expr* e) { return expr(e, kIf); }

std::string format_module(const ast::Module& m, const source::SourceFile& file) {
  Comments comments(file.text());
  std::string out;
  uint32_t pos = 0;
  auto leading = [&](uint32_t upto) {
    std::string c = comments.between(pos, upto);
    out += c;
  };
  if (!m.name.empty()) {
    leading(m.name_span.begin);
    out += "module " + m.name + "\n";
    pos = m.name_span.end;
  }
  if (!m.imports.empty()) {
    if (!out.empty()) out += "\n";
    for (auto& im : m.imports) {
      leading(im.span.begin);
      out += "import " + im.path + (im.alias.empty() ? "" : " as " + im.alias) + "\n";
      pos = im.span.end;
    }
  }
  if (m.has_zone) {
    if (!out.empty()) out += "\n";
    leading(m.zone_span.begin);
    out += "zone " + quote(m.zone) + "\n";
    pos = m.zone_span.end;
    if (auto trailing = comments.same_line_after(pos)) {
      out.pop_back();
      out += " " + std::string(file.text().substr(trailing->first, trailing->second - trailing->first)) + "\n";
      pos = trailing->second;
    }
  }
  for (const Decl* d : m.decls) {
    if (!out.empty()) out += "\n";
    leading(d->span.begin);
    if (comments.any_in(d->span.begin, d->span.end))
      out += std::string(file.text().substr(d->span.begin, d->span.end - d->span.begin)) + "\n";
    else
      out += decl(d);
    pos = d->span.end;
    // A comment on the same line as the end of the declaration stays on that line.
    if (auto trailing = comments.same_line_after(pos)) {
      out.pop_back();
      out += " " + std::string(file.text().substr(trailing->first, trailing->second - trailing->first)) + "\n";
      pos = trailing->second;
    }
  }
  std::string trailing = comments.between(pos, static_cast<uint32_t>(file.text().size()));
  if (!trailing.empty()) out += (out.empty() ? "" : "\n") + trailing;
  return out;
}

}  // namespace crm::format
