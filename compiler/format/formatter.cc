// formatter.cc - canonical printing of the AST with precedence-aware parentheses.
#include "compiler/format/formatter.h"

#include <fmt/format.h>

#include <optional>
#include <vector>

namespace crm::format {
namespace {

using namespace crm::ast;


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
      if (a->source != HistorySource::Events) {
        std::string h = std::string(to_string(a->source)) + "(";
        for (size_t i = 0; i < a->history_args.size(); ++i)
          h += (i ? ", " : "") + (a->history_args[i].name.empty() ? "" : a->history_args[i].name + ": ") +
               sub(a->history_args[i].value, kIf);
        h += ")";
        if (a->bare) return h;
        return std::string(to_string(a->agg)) + "(" + h + window(a) + ")";
      }
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
      // `(a ?? b) > c`: the parentheses are not needed but say how `??` binds, so they stay.
      if (p == kCmp) l = r = kAdd;
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

bool is_comparison(const Expr* e) {
  if (!e || e->kind != ExprKind::Binary) return false;
  switch (static_cast<const BinaryExpr*>(e)->op) {
    case BinaryOp::Eq: case BinaryOp::Ne: case BinaryOp::Lt: case BinaryOp::Le: case BinaryOp::Gt: case BinaryOp::Ge:
    case BinaryOp::In: case BinaryOp::NotIn:
      return true;
    default:
      return false;
  }
}

// Long expressions break before `else` of an if-chain, before top-level `and`/`or`, and before
// the operator of a comparison. `indent` is the indentation of continuation lines and
// `first_col` the column where the expression starts.
std::string layout(const Expr* e, const std::string& indent, size_t first_col, size_t width) {
  std::string flat = expr(e, kIf);
  if (!e || first_col + flat.size() <= width) return flat;
  if (e->kind == ExprKind::If) {
    std::string out;
    const Expr* cur = e;
    bool first = true;
    while (cur && cur->kind == ExprKind::If) {
      auto* i = static_cast<const IfExpr*>(cur);
      std::string prefix = first ? "if " : "else if ";
      size_t col = (first ? first_col : indent.size()) + prefix.size();
      // A condition too long for its line breaks like any expression, under the condition.
      std::string cond = sub(i->cond, kIf);
      std::string then = " then " + sub(i->then_expr, kIf);
      if (col + cond.size() + then.size() > width && prec_of(i->cond) > kIf)
        cond = layout(i->cond, std::string(indent.size() + prefix.size(), ' '), col, width);
      out += (first ? "" : "\n" + indent) + prefix + cond + then;
      first = false;
      cur = i->else_expr;
    }
    return out + "\n" + indent + "else " + sub(cur, kIf);
  }
  if (e->kind == ExprKind::Binary) {
    auto* b = static_cast<const BinaryExpr*>(e);
    if (b->op == BinaryOp::And || b->op == BinaryOp::Or) {
      std::vector<const Expr*> parts;
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
        std::string lead = first ? "" : std::string(to_string(b->op)) + " ";
        int part_need = first ? need : need + 1;
        std::string text = sub(parts[k], part_need);
        // An operand still too long for its line (an `and` chain inside an `or`) breaks in turn,
        // its continuation lines indented under this chain's. Not inside parentheses.
        size_t col = first ? first_col : indent.size() + lead.size();
        if (col + text.size() > width && prec_of(parts[k]) >= part_need)
          text = layout(parts[k], indent + "    ", col, width);
        out += (first ? "" : "\n" + indent) + lead + text;
      }
      return out;
    }
    if (is_comparison(e))
      return sub(b->lhs, kAdd) + "\n" + indent + "    " + to_string(b->op) + " " + sub(b->rhs, kAdd);
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
        // As the grammar's STRING: a string ends at its quote or at a line end (\r or \n).
        while (i < t.size() && t[i] != '"' && t[i] != '\n' && t[i] != '\r') i += t[i] == '\\' ? 2 : 1;
        ++i;
      } else if (c == '#' || (c == '/' && i + 1 < t.size() && t[i + 1] == '/')) {
        size_t b = i;
        // As the grammar's LINE_COMMENT: a bare \r ends it too, or the code after it would be
        // kept as comment text (the fuzz smoke found `// ...\rresource ...` formatted twice).
        while (i < t.size() && t[i] != '\n' && t[i] != '\r') ++i;
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
  // The blanks before a trailing comment, as written (they often align a column of comments).
  std::string gap(uint32_t b, uint32_t e) const {
    std::string g(text.substr(b, e - b));
    return g.empty() ? " " : g;
  }
  // Whether the source has an empty line between b and e.
  bool blank_between(uint32_t b, uint32_t e) const {
    bool newline = false;
    for (uint32_t i = b; i < e && i < text.size(); ++i) {
      char c = text[i];
      if (c == '\n') {
        if (newline) return true;
        newline = true;
      } else if (c != ' ' && c != '\t' && c != '\r') {
        newline = false;
      }
    }
    return false;
  }
  std::string at(const std::pair<uint32_t, uint32_t>& r) const { return std::string(text.substr(r.first, r.second - r.first)); }
  // The offset just past the `=` before `body` (blanks and comments skipped), or npos.
  size_t after_eq_before(uint32_t body) const {
    size_t i = body;
    while (i > 0) {
      --i;
      bool in_comment = false;
      for (auto& r : ranges)
        if (i >= r.first && i < r.second) { i = r.first; in_comment = true; break; }
      if (in_comment) continue;
      char c = text[i];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
      return c == '=' ? i + 1 : std::string_view::npos;
    }
    return std::string_view::npos;
  }
  // Comment lines between b and e, each on its own line after `indent`. Where the source has
  // empty lines between two comments, or between the last comment and e, one empty line is kept.
  std::string between(uint32_t b, uint32_t e, const std::string& indent = "") const {
    std::string out;
    uint32_t last = 0;
    bool any = false;
    for (auto& r : ranges) {
      if (r.first < b || r.first >= e) continue;
      if (any && blank_between(last, r.first)) out += "\n";
      out += indent + std::string(text.substr(r.first, r.second - r.first)) + "\n";
      last = r.second;
      any = true;
    }
    if (any && blank_between(last, e)) out += "\n";
    return out;
  }
};

// The source text of a span.
std::string_view source_of(const Comments& c, const source::Span& s) { return c.text.substr(s.begin, s.end - s.begin); }

// An expression, formatted; as written when a comment is inside it (comments have no place in
// the tree); parenthesised where its position needs it.
std::string part_text(const Expr* e, int need, const Comments& cm) {
  if (!e || !cm.any_in(e->span.begin, e->span.end)) return sub(e, need);
  std::string s(source_of(cm, e->span));
  return prec_of(e) < need ? "(" + s + ")" : s;
}

// An expression with comments in [from, its end), laid out one part per line: the operands of an
// `and`/`or` chain, the branches of an if-chain, or the whole expression. Each line starts with
// `indent` and ends with a newline. A comment on its own line (or between two parts of one line)
// goes on its own line before the line of the part that follows it, a comment at the end of a
// line's last part stays there, and a part with a comment inside it is kept as written.
std::string commented_layout(const Expr* e, const std::string& indent, uint32_t from, const Comments& cm) {
  struct Piece { std::string lead; const Expr* part; int need; };
  std::vector<std::vector<Piece>> lines;
  if (e->kind == ExprKind::Binary && (static_cast<const BinaryExpr*>(e)->op == BinaryOp::And ||
                                      static_cast<const BinaryExpr*>(e)->op == BinaryOp::Or)) {
    BinaryOp op = static_cast<const BinaryExpr*>(e)->op;
    std::vector<const Expr*> parts;
    const Expr* cur = e;
    while (cur->kind == ExprKind::Binary && static_cast<const BinaryExpr*>(cur)->op == op) {
      parts.push_back(static_cast<const BinaryExpr*>(cur)->rhs);
      cur = static_cast<const BinaryExpr*>(cur)->lhs;
    }
    parts.push_back(cur);
    int need = prec_of(e);
    for (size_t k = parts.size(); k-- > 0;) {
      bool first = k + 1 == parts.size();
      lines.push_back({{first ? "" : std::string(to_string(op)) + " ", parts[k], first ? need : need + 1}});
    }
  } else if (e->kind == ExprKind::If) {
    const Expr* cur = e;
    bool first = true;
    while (cur->kind == ExprKind::If) {
      auto* i = static_cast<const IfExpr*>(cur);
      lines.push_back({{first ? "if " : "else if ", i->cond, kIf}, {" then ", i->then_expr, kIf}});
      first = false;
      cur = i->else_expr;
    }
    lines.push_back({{"else ", cur, kIf}});
  } else {
    lines.push_back({{"", e, kIf}});
  }
  std::string out;
  uint32_t pos = from;
  for (size_t li = 0; li < lines.size(); ++li) {
    const auto& line = lines[li];
    const Expr* last = line.back().part;
    for (auto& r : cm.ranges) {
      if (r.first < pos || r.first >= last->span.begin) continue;
      bool inside = false;
      for (auto& p : line) inside |= r.first >= p.part->span.begin && r.first < p.part->span.end;
      if (!inside) out += indent + cm.at(r) + "\n";
    }
    out += indent;
    for (auto& p : line) out += p.lead + part_text(p.part, p.need, cm);
    pos = last->span.end;
    uint32_t next = li + 1 < lines.size() ? lines[li + 1].front().part->span.begin : e->span.end;
    if (auto t = cm.same_line_after(pos); t && t->first < next) {
      out += cm.gap(pos, t->first) + cm.at(*t);
      pos = t->second;
    }
    out += "\n";
  }
  return out;
}

// `head` and, from the next line, `body` with its comments (commented_layout) indented by four
// spaces; `eq` is the offset just past the `=` at the end of the head. A comment right after the
// `=` stays on the head's line.
std::string headed(const std::string& head, const Expr* body, uint32_t eq, const Comments& cm) {
  std::string out = head;
  uint32_t pos = eq;
  if (auto t = cm.same_line_after(eq); t && t->first < body->span.begin) {
    out += cm.gap(eq, t->first) + cm.at(*t);
    pos = t->second;
  }
  return out + "\n" + commented_layout(body, "    ", pos, cm);
}

// The body of a `segment`, `const` or `fn` with a comment in it: formatted around its comments when
// all of them are in the body or right after the `=`; else (a comment among the parameters or in
// the type) the declaration as written. Empty when there is no comment.
std::string commented_definition(const Decl* d, const std::string& head, const Expr* body, const Comments& cm) {
  if (!cm.any_in(d->span.begin, d->span.end) || !body) return "";
  size_t eq = cm.after_eq_before(body->span.begin);
  if (eq == std::string_view::npos || cm.any_in(d->span.begin, static_cast<uint32_t>(eq)))
    return std::string(source_of(cm, d->span)) + "\n";
  return headed(head, body, static_cast<uint32_t>(eq), cm);
}

// One line-oriented member of a block declaration (a field, property, clause or rule).
struct Item {
  source::Span span;
  std::string text;  // formatted, without indentation of the first line and without a newline
  bool keeps_comments = false;  // text already holds the comments inside span
};

// `head {`, the items indented by four spaces, `}`. Comments inside the block are kept: those on
// their own lines stay before the item that follows them (or before `}`), one at the end of an
// item's last line stays there, and an item with a comment inside it is copied as written.
// One empty line between items is kept where the source has one.
std::string block(const std::string& head, const std::vector<Item>& items, const Decl* d, const Comments& cm) {
  if (items.empty() && !cm.any_in(d->span.begin, d->span.end)) return head + " {}\n";
  std::string out = head + " {\n";
  uint32_t pos = d->span.begin;
  for (size_t i = 0; i < items.size(); ++i) {
    const Item& it = items[i];
    if (i > 0 && cm.blank_between(pos, it.span.begin)) {
      // Only a blank line before the first comment or the item itself counts here; the rest
      // is kept by between().
      uint32_t first = it.span.begin;
      for (auto& r : cm.ranges)
        if (r.first >= pos && r.first < it.span.begin) { first = r.first; break; }
      if (cm.blank_between(pos, first)) out += "\n";
    }
    out += cm.between(pos, it.span.begin, "    ");
    if (!it.keeps_comments && cm.any_in(it.span.begin, it.span.end)) out += "    " + std::string(source_of(cm, it.span));
    else out += "    " + it.text;
    pos = it.span.end;
    if (auto trailing = cm.same_line_after(pos); trailing && trailing->first < d->span.end) {
      out += cm.gap(pos, trailing->first) + std::string(cm.text.substr(trailing->first, trailing->second - trailing->first));
      pos = trailing->second;
    }
    out += "\n";
  }
  // Comments after the last item, before the closing brace.
  uint32_t close = d->span.end > 0 ? d->span.end - 1 : d->span.end;
  std::string rest = cm.between(pos, close, "    ");
  if (!rest.empty() && !items.empty()) {
    uint32_t first = close;
    for (auto& r : cm.ranges)
      if (r.first >= pos && r.first < close) { first = r.first; break; }
    if (cm.blank_between(pos, first)) out += "\n";
  }
  while (rest.size() >= 2 && rest[rest.size() - 2] == '\n') rest.pop_back();  // no blank before `}`
  return out + rest + "}\n";
}

std::string field_text(const FieldDecl* f) {
  return f->name + ": " + type(f->type) + (f->default_value ? " = " + expr(f->default_value, kIf) : "");
}

// `items` joined by ", ", or one per line aligned under the first when the line would be too long.
std::string comma_list(const std::vector<std::string>& items, size_t col, size_t width) {
  std::string flat;
  for (size_t i = 0; i < items.size(); ++i) flat += (i ? ", " : "") + items[i];
  if (col + flat.size() <= width) return flat;
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ",\n" + std::string(col, ' ') : "") + items[i];
  return out;
}

std::string limit_text(const Limit& l) {
  switch (l.kind) {
    case Limit::Kind::Budget: return "budget " + sub(l.budget, kAdd);
    case Limit::Kind::Stock: return "stock " + l.count;
    case Limit::Kind::Pacing: return "pacing " + l.count;
    case Limit::Kind::Pool: return "from pool " + l.pool;
    case Limit::Kind::PerUser: break;
  }
  return (l.continued ? "" : "per user ") + l.count + " per " + period(l.period);
}

std::string clause_text(const Clause* c, size_t width) {
  switch (c->kind) {
    case ClauseKind::Who: return "who: " + layout(c->expr, std::string(9, ' '), 9, width);
    case ClauseKind::Where: return "where: " + layout(c->expr, std::string(11, ' '), 11, width);
    case ClauseKind::When: {
      std::string out = "when: ";
      if (c->trigger == TriggerKind::On) out += "on " + c->event;
      else if (c->trigger == TriggerKind::At) out += "at " + sub(c->at, kAdd);
      else out += "every " + sub(c->at, kAdd) + (c->clock.empty() ? "" : " at " + c->clock);
      if (c->from) out += " between " + sub(c->from, kAdd) + " and " + sub(c->to, kAdd);
      // A delayed trigger follows after a comma, on its own line under the trigger when the
      // clause would be too long.
      std::string delay;
      if (c->delay) {
        delay = "after " + sub(c->delay, kAdd);
        if (!c->cancel_event.empty()) delay += " unless " + c->cancel_event;
        if (c->cancel_where) delay += " where " + expr(c->cancel_where, kIf);
      }
      auto with_delay = [&](std::string head, size_t last_line) {
        if (delay.empty()) return head;
        if (last_line + 2 + delay.size() <= width) return head + ", " + delay;
        return head + ",\n" + std::string(10, ' ') + delay;
      };
      if (!c->expr) return with_delay(out, 4 + out.size());
      // The condition goes on its own line, under the trigger, when the clause is too long.
      std::string cond = expr(c->expr, kIf);
      if (4 + out.size() + 4 + cond.size() <= width) return with_delay(out + " if " + cond, 4 + out.size() + 4 + cond.size());
      std::string laid = layout(c->expr, std::string(13, ' '), 13, width);
      size_t nl = laid.rfind('\n');
      size_t last = nl == std::string::npos ? 13 + laid.size() : laid.size() - nl - 1;
      return with_delay(out + "\n" + std::string(10, ' ') + "if " + laid, last);
    }
    case ClauseKind::What: {
      std::vector<std::string> actions;
      for (const auto& a : c->actions) {
        std::string t = std::string(a.verb == Action::Verb::Send ? "send " : "grant ") + a.resource;
        if (a.recipient) t += " to " + sub(a.recipient, kAdd);
        if (!a.chance.empty()) t += " with chance " + a.chance + "%";
        if (a.has_salt) t += " salt " + quote(a.salt);
        if (!a.channel.empty()) t += " via " + a.channel;
        if (a.has_code) t += " code " + quote(a.code);
        if (!a.arm.empty()) t += " for arm " + a.arm;
        actions.push_back(t);
      }
      return "what: " + comma_list(actions, 10, width);
    }
    case ClauseKind::HowMuch: {
      std::vector<std::string> limits;
      for (const auto& l : c->limits) limits.push_back(limit_text(l));
      return "how much: " + comma_list(limits, 14, width);
    }
    case ClauseKind::Split: {
      std::vector<std::string> parts;
      if (c->has_control) parts.push_back("control " + c->number + "%");
      for (size_t i = 0; i < c->arms.size(); ++i)
        parts.push_back((i ? "" : "variants ") + c->arms[i].name + " " + c->arms[i].percent + "%");
      return "split: " + comma_list(parts, 11, width) + (c->has_salt ? " salt " + quote(c->salt) : "");
    }
    case ClauseKind::Priority: return "priority: " + c->number;
    case ClauseKind::Zone: return "zone: " + quote(c->number);
    case ClauseKind::Exclusive: return "exclusive: " + quote(c->number);
    case ClauseKind::Value: return "value: " + layout(c->expr, std::string(11, ' '), 11, width);
    case ClauseKind::Rollout: {
      std::vector<std::string> arms;
      for (const auto& a : c->rollout_arms) arms.push_back(a.name);
      std::string list;
      for (size_t i = 0; i < arms.size(); ++i) list += (i ? ", " : "") + arms[i];
      return "rollout: best of (" + list + ") by " + c->metric + (c->wait ? " after " + sub(c->wait, kAdd) : "");
    }
  }
  return "";
}

std::string rule_text(const PolicyRule* r) {
  if (r->kind == PolicyRule::Kind::Unredeemed) return "unredeemed " + r->subject + " per user <= " + r->count + ";";
  if (r->kind == PolicyRule::Kind::SameType) return "same resource type once per " + period(r->period) + ";";
  if (r->kind == PolicyRule::Kind::Quiet) return "quiet between " + r->clock_from + " and " + r->clock_to + (r->drop ? " drop" : "") + ";";
  return r->subject + " <= " + r->count + " per " + period(r->period) + ";";
}

std::string decl(const Decl* d, const Comments& cm, size_t width) {
  std::string out;
  std::vector<Item> items;
  switch (d->kind) {
    case DeclKind::Profile: {
      for (auto* f : static_cast<const ProfileDecl*>(d)->fields) items.push_back({f->span, field_text(f)});
      return block("profile", items, d, cm);
    }
    case DeclKind::Event: {
      for (auto* f : static_cast<const EventDecl*>(d)->fields) items.push_back({f->span, field_text(f)});
      return block("event " + d->name, items, d, cm);
    }
    case DeclKind::Enum: {
      auto* e = static_cast<const EnumDecl*>(d);
      if (cm.any_in(d->span.begin, d->span.end)) {
        // With comments: one value per line, each with its comma, comments kept as in a block.
        for (const auto& v : e->values) {
          source::Span sp = v.span;
          size_t i = sp.end;
          while (i < cm.text.size() && (cm.text[i] == ' ' || cm.text[i] == '\t' || cm.text[i] == '\n' || cm.text[i] == '\r')) ++i;
          if (i < cm.text.size() && cm.text[i] == ',') sp.end = static_cast<uint32_t>(i + 1);
          items.push_back({sp, v.name + ","});
        }
        return block("enum " + e->name, items, d, cm);
      }
      out += "enum " + e->name + " {";
      for (size_t i = 0; i < e->values.size(); ++i) out += (i ? ", " : " ") + e->values[i].name;
      out += e->values.empty() ? "}\n" : " }\n";
      break;
    }
    case DeclKind::Const: {
      auto* c = static_cast<const ConstDecl*>(d);
      out += "const " + c->name + (c->type ? ": " + type(c->type) : "") + " = ";
      if (std::string t = commented_definition(d, out.substr(0, out.size() - 1), c->value, cm); !t.empty()) return t;
      out += layout(c->value, "    ", out.size(), width) + "\n";
      break;
    }
    case DeclKind::Segment: {
      out += "segment " + d->name + " =";
      auto* v = static_cast<const SegmentDecl*>(d)->value;
      if (std::string t = commented_definition(d, out, v, cm); !t.empty()) return t;
      std::string flat = expr(v, kIf);
      if (out.size() + 1 + flat.size() <= width) out += " " + flat + "\n";
      else out += "\n    " + layout(v, "    ", 4, width) + "\n";
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
      if (out.size() + total + type(f->result).size() + 8 <= width) {
        for (size_t i = 0; i < ps.size(); ++i) out += (i ? ", " : "") + ps[i];
        out += ")";
      } else {
        // One parameter per line, aligned under the first.
        std::string align(out.size(), ' ');
        for (size_t i = 0; i < ps.size(); ++i) out += (i ? ",\n" + align : "") + ps[i];
        out += ")";
      }
      out += ": " + type(f->result) + " =";
      if (std::string t = commented_definition(d, out, f->body, cm); !t.empty()) return t;
      // A short body stays on the line of its signature.
      std::string body = expr(f->body, kIf);
      size_t last_line = out.size() - (out.rfind('\n') == std::string::npos ? 0 : out.rfind('\n') + 1);
      if (last_line + 1 + body.size() <= width) out += " " + body + "\n";
      else out += "\n    " + layout(f->body, "    ", 4, width) + "\n";
      break;
    }
    case DeclKind::Resource: {
      auto* r = static_cast<const ResourceDecl*>(d);
      for (auto* p : r->props) {
        std::string t = p->key + ": ";
        if (p->kind == PropKind::Range) t += "between " + sub(p->a, kAdd) + " and " + sub(p->b, kAdd);
        else if (p->kind == PropKind::AfterClaim) t += "within " + sub(p->a, kAdd) + " after claim";
        else if (p->kind == PropKind::Draw) t += format_draw(p);
        else if (p->kind == PropKind::Capped) t += sub(p->a, kAdd) + " up to " + sub(p->b, kAdd);
        else if (p->kind == PropKind::Funders) {
          t += "{";
          for (size_t i = 0; i < p->funders.size(); ++i)
            t += (i ? ", " : "") + p->funders[i].funder + ": " + p->funders[i].share + "%";
          t += "}";
        }
        else t += expr(p->a, kIf);
        items.push_back({p->span, t});
      }
      return block("resource " + r->resource_kind + " " + r->name, items, d, cm);
    }
    case DeclKind::Strategy: {
      auto* s = static_cast<const StrategyDecl*>(d);
      for (auto* c : s->clauses) {
        Item it{c->span, clause_text(c, width)};
        if ((c->kind == ClauseKind::Who || c->kind == ClauseKind::Where) && c->expr &&
            cm.any_in(c->span.begin, c->span.end)) {
          // `who:`/`where:` with comments: the condition laid out around them, under the clause's value.
          std::string kw = c->kind == ClauseKind::Who ? "who:" : "where:";
          size_t colon = cm.text.find(':', c->keyword_span.end);
          if (colon != std::string_view::npos && colon < c->expr->span.begin &&
              !cm.any_in(c->span.begin, static_cast<uint32_t>(colon))) {
            uint32_t from = static_cast<uint32_t>(colon + 1);
            std::string head = kw, indent(4 + kw.size() + 1, ' ');
            if (auto t = cm.same_line_after(from); t && t->first < c->expr->span.begin) {
              head += cm.gap(from, t->first) + cm.at(*t);
              from = t->second;
            }
            std::string body = commented_layout(c->expr, indent, from, cm);
            body.pop_back();  // block() ends the item's line
            // The first line joins the keyword unless it is a comment or one already ends the head.
            bool own_line = head.size() > kw.size() || body.compare(indent.size(), 2, "//") == 0 ||
                            body.compare(indent.size(), 2, "/*") == 0 || body.compare(indent.size(), 1, "#") == 0;
            it.text = own_line ? head + "\n" + body : head + " " + body.substr(indent.size());
            it.keeps_comments = true;
          }
        }
        items.push_back(it);
      }
      return block("strategy " + s->name + (s->has_business ? " for business " + quote(s->business) : ""), items, d, cm);
    }
    case DeclKind::Pool: {
      for (const auto& l : static_cast<const PoolDecl*>(d)->limits) items.push_back({l.span, limit_text(l)});
      return block("pool " + d->name, items, d, cm);
    }
    case DeclKind::Policy: {
      auto* p = static_cast<const PolicyDecl*>(d);
      for (auto* r : p->rules) items.push_back({r->span, rule_text(r)});
      return block("policy " + p->name + (p->has_business ? " for business " + quote(p->business) : ""), items, d, cm);
    }
  }
  return out;
}

}  // namespace

std::string format_expr(const ast::Expr* e) { return expr(e, kIf); }

std::string format_draw(const ast::Property* p) {
  if (!p->draw_table.empty()) {
    std::string t = "random {";
    for (size_t i = 0; i < p->draw_table.size(); ++i)
      t += (i ? ", " : "") + sub(p->draw_table[i].value, kAdd) + ": " + p->draw_table[i].weight + "%";
    return t + "}";
  }
  std::string t = "random " + sub(p->a, kAdd) + " .. " + sub(p->b, kAdd);
  if (p->step) t += " step " + sub(p->step, kAdd);
  return t;
}

std::string format_module(const ast::Module& m, const source::SourceFile& file, size_t width) {
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
      out += "import " + im.path + (im.alias.empty() ? "" : " as " + im.alias);
      pos = im.span.end;
      if (auto trailing = comments.same_line_after(pos)) {
        out += comments.gap(pos, trailing->first) +
               std::string(file.text().substr(trailing->first, trailing->second - trailing->first));
        pos = trailing->second;
      }
      out += "\n";
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
    // Blocks keep comments item by item; an expression declaration (segment, const, fn, enum)
    // with a comment inside it is copied as written, since comments have no place in the tree.
    out += decl(d, comments, width);
    pos = d->span.end;
    // A comment on the same line as the end of the declaration stays on that line.
    if (auto trailing = comments.same_line_after(pos)) {
      out.pop_back();
      out += comments.gap(pos, trailing->first) +
             std::string(file.text().substr(trailing->first, trailing->second - trailing->first)) + "\n";
      pos = trailing->second;
    }
  }
  std::string trailing = comments.between(pos, static_cast<uint32_t>(file.text().size()));
  if (!trailing.empty()) out += (out.empty() ? "" : "\n") + trailing;
  while (out.size() >= 2 && out[out.size() - 1] == '\n' && out[out.size() - 2] == '\n') out.pop_back();
  return out;
}

}  // namespace crm::format
