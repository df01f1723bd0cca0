// workspace.cc - include/crm/workspace.h over the compiler: one front-end run per open document
// (the document plus the open buffers it imports), then an index of every name occurrence in
// that run (declaration or use, with a stable key) that hover, definition, references, rename
// and semantic tokens read. Keys are the declaring file's path and the name's byte offset, or,
// for the schema that modules merge (events, their fields, the profile's fields), the name.
#include <crm/workspace.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <unordered_map>

#include "bytecode/builtins.h"
#include "compiler/driver.h"
#include "compiler/format/formatter.h"
#include "stdlib/stdlib.h"
#include "support/text.h"

namespace crm {

namespace fs = std::filesystem;
using source::FileId;

const char* symbol_kind_name(SymbolKind k) {
  switch (k) {
    case SymbolKind::Module: return "module";
    case SymbolKind::Profile: return "profile";
    case SymbolKind::Event: return "event";
    case SymbolKind::Field: return "field";
    case SymbolKind::Enum: return "enum";
    case SymbolKind::EnumValue: return "enum value";
    case SymbolKind::Constant: return "constant";
    case SymbolKind::Segment: return "segment";
    case SymbolKind::Function: return "function";
    case SymbolKind::Parameter: return "parameter";
    case SymbolKind::Resource: return "resource";
    case SymbolKind::Strategy: return "strategy";
    case SymbolKind::Policy: return "policy";
    case SymbolKind::Builtin: return "builtin";
    case SymbolKind::Keyword: return "keyword";
    case SymbolKind::Unit: return "unit";
    case SymbolKind::Channel: return "channel";
    case SymbolKind::Pool: return "pool";
  }
  return "symbol";
}

namespace {

// ---- text positions: byte offsets <-> (line, UTF-16 column) ----------------------------------

std::vector<uint32_t> line_starts(std::string_view t) {
  std::vector<uint32_t> s{0};
  for (size_t i = 0; i < t.size(); ++i)
    if (t[i] == '\n') s.push_back(static_cast<uint32_t>(i + 1));
  return s;
}

// Bytes in the UTF-8 sequence led by `c`, and the UTF-16 units it counts for.
std::pair<uint32_t, uint32_t> utf8_step(unsigned char c) {
  if (c < 0x80) return {1, 1};
  if (c >= 0xF0) return {4, 2};
  if (c >= 0xE0) return {3, 1};
  if (c >= 0xC0) return {2, 1};
  return {1, 1};  // a stray continuation byte counts as one unit
}

uint32_t line_end(std::string_view t, const std::vector<uint32_t>& s, uint32_t line) {
  uint32_t e = line + 1 < s.size() ? s[line + 1] - 1 : static_cast<uint32_t>(t.size());
  if (e > s[line] && t[e - 1] == '\r') --e;
  return e;
}

// The byte offset of `p`, the column clamped to its line; nullopt when the line does not exist.
std::optional<uint32_t> offset_of(std::string_view t, const std::vector<uint32_t>& s, TextPosition p) {
  if (p.line >= s.size()) return std::nullopt;
  uint32_t i = s[p.line], end = line_end(t, s, p.line), units = 0;
  while (i < end && units < p.character) {
    auto [bytes, u] = utf8_step(static_cast<unsigned char>(t[i]));
    if (units + u > p.character) break;  // inside a surrogate pair: stay before it
    i = std::min(end, i + bytes);
    units += u;
  }
  return i;
}

TextPosition position_of(std::string_view t, const std::vector<uint32_t>& s, uint32_t offset) {
  offset = std::min<uint32_t>(offset, static_cast<uint32_t>(t.size()));
  auto it = std::upper_bound(s.begin(), s.end(), offset);
  uint32_t line = static_cast<uint32_t>(it - s.begin()) - 1;
  uint32_t units = 0;
  for (uint32_t i = s[line]; i < offset;) {
    auto [bytes, u] = utf8_step(static_cast<unsigned char>(t[i]));
    i += bytes;
    units += u;
  }
  return {line, units};
}

bool is_ident_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

bool is_identifier(std::string_view s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), is_ident_char);
}

// Words the grammar reserves (they cannot name a declaration); the rest of its keywords are
// also accepted as identifiers (grammar/Crm.g4, rule `ident`).
const std::set<std::string>& reserved_words() {
  static const std::set<std::string> w = {
      "module", "import", "as", "profile", "event", "enum", "const", "segment", "fn", "strategy", "policy",
      "who", "when", "where", "what", "how", "on", "at", "every", "between", "and", "or", "not", "in", "if",
      "then", "else", "true", "false", "count", "sum", "avg", "min", "max", "first", "last", "exists",
      "within", "for", "per", "after", "Set", "List"};
  return w;
}

// ---- the index of one front-end run ------------------------------------------------------------

struct Target {
  SymbolKind kind = SymbolKind::Segment;
  const ast::Decl* decl = nullptr;
  const ast::FieldDecl* field_decl = nullptr;
  const sema::RecordInfo* record = nullptr;  // a field's record, or the event
  std::string field;                         // a field's name
  const sema::EnumInfo* enum_info = nullptr;
  int index = -1;                            // an enum value
  const ast::Param* param = nullptr;
  const ast::FnDecl* fn = nullptr;           // a parameter's function
  const bytecode::OverloadInfo* overload = nullptr;
  const bytecode::BuiltinInfo* builtin = nullptr;
  const sema::ModuleInfo* module = nullptr;  // an import's module, or the declaring module
  const ast::Expr* expr = nullptr;           // the use, for its type
};

struct Occurrence {
  FileId file = source::kNoFile;
  uint32_t begin = 0, end = 0;
  std::string key;
  bool decl = false;
  bool standard = false;
  Target t;
};

struct ExprAt {
  FileId file;
  uint32_t begin, end;
  const ast::Expr* e;
};

struct Analysis {
  std::unique_ptr<Compilation> c;
  std::string internal_error;
  std::vector<Occurrence> occ;
  std::vector<ExprAt> exprs;
  std::map<std::string, FileId> file_of;          // path -> file
  std::vector<std::vector<uint32_t>> starts;      // per file
  // Per file: the client's text starts with a byte order mark, which the SourceManager dropped
  // (so `crm check` columns ignore it) but the client's positions count, as one UTF-16 unit on
  // the first line (tester F14). Only texts the client sent: a file read from disk is shown by
  // an editor without its mark (VS Code, Neovim), so its positions do not count one.
  std::vector<bool> bom;
  std::set<std::string> paths() const {
    std::set<std::string> s;
    for (auto& [p, f] : file_of) s.insert(p);
    return s;
  }
  const sema::Program* program() const { return c ? &c->program : nullptr; }
  std::string_view text(FileId f) const { return c->program.sources.file(f).text(); }
  const std::string& path(FileId f) const { return c->program.sources.file(f).path(); }
  TextPosition pos(FileId f, uint32_t off) const {
    TextPosition p = position_of(text(f), starts[f], off);
    if (p.line == 0 && bom[f]) ++p.character;
    return p;
  }
  // The byte offset in the analysed text of a client's position (see `bom`).
  std::optional<uint32_t> offset(FileId f, TextPosition at) const {
    if (at.line == 0 && bom[f]) at.character = at.character > 0 ? at.character - 1 : 0;
    return offset_of(text(f), starts[f], at);
  }
  TextRange range(FileId f, uint32_t b, uint32_t e) const { return {pos(f, b), pos(f, e)}; }
  TextRange range(source::Span s) const { return s.valid() ? range(s.file, s.begin, s.end) : TextRange{}; }
  TextLocation location(FileId f, uint32_t b, uint32_t e) const { return {path(f), range(f, b, e)}; }
  const sema::ModuleInfo* module_of_file(FileId f) const {
    if (!c) return nullptr;
    for (auto& m : c->program.modules)
      if (m.ast && m.ast->file == f) return &m;
    return nullptr;
  }
};

const sema::Ref* ref_of(const sema::Program& p, const ast::Node* n) {
  if (!n || n->id >= p.refs.size()) return nullptr;
  const sema::Ref& r = p.refs[n->id];
  return r.kind == sema::Ref::Kind::None ? nullptr : &r;
}

std::string decl_key(const sema::Program& p, const ast::Decl* d) {
  if (!d || !d->name_span.valid()) return {};
  return p.sources.file(d->name_span.file).path() + "#" + std::to_string(d->name_span.begin);
}

std::string span_key(const sema::Program& p, source::Span s) {
  return s.valid() ? p.sources.file(s.file).path() + "#" + std::to_string(s.begin) : std::string{};
}

std::string field_key(const std::string& record, const std::string& field) { return "field:" + record + "." + field; }

// Walks every module of a run, recording each name it can attribute.
class Indexer {
 public:
  explicit Indexer(Analysis& a) : a_(a), p_(a.c->program) {}

  void run() {
    for (auto& m : p_.modules)
      for (auto* d : m.ast ? m.ast->decls : std::vector<ast::Decl*>{})
        if (d && (d->kind == ast::DeclKind::Resource || d->kind == ast::DeclKind::Pool))
          (d->kind == ast::DeclKind::Pool ? pools_ : resources_).emplace(d->name, std::make_pair(d, &m));
    for (auto& m : p_.modules) {
      if (!m.ast) continue;
      mod_ = &m;
      for (auto& imp : m.imports)
        if (imp.import && imp.target && imp.target->ast) {
          Target t;
          t.kind = SymbolKind::Module;
          t.module = imp.target;
          // The dotted name sits at the end of the import's span (after `import `).
          auto sp = imp.import->span;
          std::string_view txt = p_.sources.file(sp.file).text().substr(sp.begin, sp.end - sp.begin);
          auto at = txt.find(imp.import->path);
          uint32_t b = at == std::string_view::npos ? sp.begin : sp.begin + static_cast<uint32_t>(at);
          add({sp.file, b, b + static_cast<uint32_t>(imp.import->path.size())}, "module:" + imp.target->name, false, t);
        }
      for (auto* d : m.ast->decls)
        if (d) decl(d);
    }
    std::sort(a_.occ.begin(), a_.occ.end(), [](const Occurrence& x, const Occurrence& y) {
      return std::tie(x.file, x.begin, x.end) < std::tie(y.file, y.begin, y.end);
    });
  }

 private:
  void add(source::Span s, std::string key, bool is_decl, Target t) {
    if (!s.valid() || s.end <= s.begin || key.empty()) return;
    Occurrence o;
    o.file = s.file;
    o.begin = s.begin;
    o.end = s.end;
    o.key = std::move(key);
    o.decl = is_decl;
    o.standard = mod_ && mod_->is_std;
    if (t.module == nullptr) t.module = mod_;
    o.t = t;
    a_.occ.push_back(std::move(o));
  }

  static SymbolKind kind_of(const ast::Decl* d) {
    switch (d->kind) {
      case ast::DeclKind::Profile: return SymbolKind::Profile;
      case ast::DeclKind::Event: return SymbolKind::Event;
      case ast::DeclKind::Enum: return SymbolKind::Enum;
      case ast::DeclKind::Const: return SymbolKind::Constant;
      case ast::DeclKind::Segment: return SymbolKind::Segment;
      case ast::DeclKind::Fn: return SymbolKind::Function;
      case ast::DeclKind::Resource: return SymbolKind::Resource;
      case ast::DeclKind::Strategy: return SymbolKind::Strategy;
      case ast::DeclKind::Policy: return SymbolKind::Policy;
      case ast::DeclKind::Pool: return SymbolKind::Pool;
    }
    return SymbolKind::Segment;
  }

  Target decl_target(const ast::Decl* d) {
    Target t;
    t.kind = kind_of(d);
    t.decl = d;
    return t;
  }

  // `{field}` in a message text: the checker records each as a use of the profile field, with the
  // span of the name inside the string literal.
  void placeholders(source::Span literal) {
    for (const auto& u : p_.uses) {
      auto* const* fi = std::get_if<const sema::FieldInfo*>(&u.target);
      if (!fi || !*fi || u.span.file != literal.file || u.span.begin <= literal.begin || u.span.end >= literal.end) continue;
      Target t;
      t.kind = SymbolKind::Field;
      t.field = (*fi)->name;
      t.field_decl = (*fi)->decl;
      t.record = &p_.profile;
      add(u.span, field_key("profile", (*fi)->name), false, t);
    }
  }

  void field_decls(const std::vector<ast::FieldDecl*>& fields, const std::string& record) {
    const sema::RecordInfo* rec = record == "profile" ? &p_.profile : nullptr;
    if (!rec)
      if (auto it = p_.events.find(record); it != p_.events.end()) rec = it->second.get();
    for (auto* f : fields) {
      if (!f) continue;
      Target t;
      t.kind = SymbolKind::Field;
      t.field_decl = f;
      t.record = rec;
      t.field = f->name;
      add(f->name_span, field_key(record, f->name), true, t);
      type(f->type);
      expr(f->default_value);
    }
  }

  void type(const ast::TypeRef* t) {
    if (!t) return;
    for (auto& info : p_.enums)
      if (info.name == t->name && info.decl) {
        Target x;
        x.kind = SymbolKind::Enum;
        x.decl = info.decl;
        x.enum_info = &info;
        add({t->span.file, t->span.begin, t->span.begin + static_cast<uint32_t>(t->name.size())},
            decl_key(p_, info.decl), false, x);
        break;
      }
    type(t->elem);
  }

  void decl(const ast::Decl* d) {
    if (d->kind != ast::DeclKind::Profile) {
      std::string key = d->kind == ast::DeclKind::Event ? "event:" + d->name : decl_key(p_, d);
      Target t = decl_target(d);
      if (d->kind == ast::DeclKind::Event)
        if (auto it = p_.events.find(d->name); it != p_.events.end()) t.record = it->second.get();
      add(d->name_span, key, true, t);
    }
    switch (d->kind) {
      case ast::DeclKind::Profile: field_decls(static_cast<const ast::ProfileDecl*>(d)->fields, "profile"); break;
      case ast::DeclKind::Event: field_decls(static_cast<const ast::EventDecl*>(d)->fields, d->name); break;
      case ast::DeclKind::Enum: {
        auto* e = static_cast<const ast::EnumDecl*>(d);
        const sema::EnumInfo* info = nullptr;
        if (auto it = p_.enum_of.find(e); it != p_.enum_of.end()) info = it->second;
        for (size_t i = 0; i < e->values.size(); ++i) {
          Target t;
          t.kind = SymbolKind::EnumValue;
          t.decl = d;
          t.enum_info = info;
          t.index = static_cast<int>(i);
          add(e->values[i].span, span_key(p_, e->values[i].span), true, t);
        }
        break;
      }
      case ast::DeclKind::Const: {
        auto* c = static_cast<const ast::ConstDecl*>(d);
        type(c->type);
        expr(c->value);
        break;
      }
      case ast::DeclKind::Segment: expr(static_cast<const ast::SegmentDecl*>(d)->value); break;
      case ast::DeclKind::Fn: {
        auto* f = static_cast<const ast::FnDecl*>(d);
        for (auto* prm : f->params) {
          if (!prm) continue;
          Target t;
          t.kind = SymbolKind::Parameter;
          t.param = prm;
          t.fn = f;
          add({prm->span.file, prm->span.begin, prm->span.begin + static_cast<uint32_t>(prm->name.size())},
              span_key(p_, prm->span), true, t);
          type(prm->type);
          expr(prm->default_value);
        }
        type(f->result);
        expr(f->body);
        break;
      }
      case ast::DeclKind::Resource:
        for (auto* pr : static_cast<const ast::ResourceDecl*>(d)->props)
          if (pr) {
            expr(pr->a);
            expr(pr->b);
            expr(pr->step);
            for (auto& e : pr->draw_table) expr(e.value);
            if (pr->a && pr->a->kind == ast::ExprKind::String) placeholders(pr->a->span);
          }
        break;
      case ast::DeclKind::Strategy:
        for (auto* c : static_cast<const ast::StrategyDecl*>(d)->clauses) clause(c);
        break;
      case ast::DeclKind::Policy:
        for (auto* r : static_cast<const ast::PolicyDecl*>(d)->rules)
          if (r && r->kind == ast::PolicyRule::Kind::ChannelCap) channel(r->subject, r->subject_span);
        break;
      case ast::DeclKind::Pool:
        for (const auto& l : static_cast<const ast::PoolDecl*>(d)->limits) expr(l.budget);
        break;
    }
  }

  void event_use(const std::string& name, source::Span s) {
    auto it = p_.events.find(name);
    if (it == p_.events.end()) return;
    Target t;
    t.kind = SymbolKind::Event;
    t.record = it->second.get();
    add(s, "event:" + name, false, t);
  }

  void channel(const std::string& name, source::Span s) {
    for (auto& info : p_.enums)
      if (info.name == "Channel")
        if (int i = info.find(name); i >= 0 && info.decl) {
          Target t;
          t.kind = SymbolKind::EnumValue;
          t.decl = info.decl;
          t.enum_info = &info;
          t.index = i;
          add(s, span_key(p_, info.decl->values[static_cast<size_t>(i)].span), false, t);
          return;
        }
  }

  void clause(const ast::Clause* c) {
    if (!c) return;
    expr(c->expr);
    expr(c->at);
    expr(c->from);
    expr(c->to);
    if (c->kind == ast::ClauseKind::When && c->trigger == ast::TriggerKind::On) event_use(c->event, c->event_span);
    // Resources and pools by name, this module's declaration first.
    auto named = [&](const auto& decls, const std::string& name, source::Span span) {
      auto range = decls.equal_range(name);
      const ast::Decl* found = nullptr;
      for (auto it = range.first; it != range.second; ++it)
        if (!found || it->second.second == mod_) found = it->second.first;
      if (found) add(span, decl_key(p_, found), false, decl_target(found));
    };
    for (auto& a : c->actions) {
      expr(a.recipient);
      named(resources_, a.resource, a.resource_span);
      if (!a.channel.empty()) channel(a.channel, a.channel_span);
    }
    for (auto& l : c->limits) {
      expr(l.budget);
      if (l.kind == ast::Limit::Kind::Pool) named(pools_, l.pool, l.pool_span);
    }
  }

  void expr(const ast::Expr* e) {
    if (!e) return;
    a_.exprs.push_back({e->span.file, e->span.begin, e->span.end, e});
    using K = ast::ExprKind;
    switch (e->kind) {
      case K::Collection:
        for (auto* x : static_cast<const ast::CollectionLit*>(e)->elems) expr(x);
        break;
      case K::Name: name(static_cast<const ast::NameExpr*>(e)); break;
      case K::Field: {
        auto* f = static_cast<const ast::FieldExpr*>(e);
        const sema::Ref* r = ref_of(p_, f);
        if (r && r->kind == sema::Ref::Kind::EnumValue) {
          auto* info = r->enum_info;
          if (info && info->decl && r->index >= 0 && static_cast<size_t>(r->index) < info->decl->values.size()) {
            Target te;
            te.kind = SymbolKind::Enum;
            te.decl = info->decl;
            te.enum_info = info;
            if (f->base) add(f->base->span, decl_key(p_, info->decl), false, te);
            Target tv = te;
            tv.kind = SymbolKind::EnumValue;
            tv.index = r->index;
            tv.expr = f;
            add(f->field_span, span_key(p_, info->decl->values[static_cast<size_t>(r->index)].span), false, tv);
          }
          break;
        }
        expr(f->base);
        const sema::Type& bt = p_.type_of(f->base);
        if (bt.kind == sema::TypeKind::Record && bt.record) {
          Target t;
          t.kind = SymbolKind::Field;
          t.record = bt.record;
          t.field = f->field;
          t.expr = f;
          if (auto* fi = bt.record->find(f->field)) t.field_decl = fi->decl;
          add(f->field_span, field_key(bt.record->is_profile ? "profile" : bt.record->name, f->field), false, t);
        }
        break;
      }
      case K::Call: {
        auto* c = static_cast<const ast::CallExpr*>(e);
        const sema::Ref* r = ref_of(p_, c);
        const ast::FnDecl* fn = nullptr;
        if (r && r->kind == sema::Ref::Kind::Function) {
          fn = r->function();
          Target t;
          t.kind = SymbolKind::Function;
          t.decl = fn;
          t.expr = c;
          add(c->callee_span, decl_key(p_, fn), false, t);
        } else if (const auto* b = bytecode::find_builtin(c->callee)) {
          Target t;
          t.kind = SymbolKind::Builtin;
          t.builtin = b;
          t.expr = c;
          if (r && r->kind == sema::Ref::Kind::Builtin) t.overload = r->overload;
          add(c->callee_span, "builtin:" + c->callee, false, t);
        }
        for (auto& arg : c->args) {
          if (fn && !arg.name.empty())
            for (auto* prm : fn->params)
              if (prm && prm->name == arg.name) {
                Target t;
                t.kind = SymbolKind::Parameter;
                t.param = prm;
                t.fn = fn;
                add(arg.name_span, span_key(p_, prm->span), false, t);
              }
          expr(arg.value);
        }
        break;
      }
      case K::Aggregate: {
        auto* a = static_cast<const ast::AggregateExpr*>(e);
        if (a->source == ast::HistorySource::Events) event_use(a->event, a->event_span);
        if (!a->field.empty())
          if (auto it = p_.events.find(a->event); it != p_.events.end()) {
            Target t;
            t.kind = SymbolKind::Field;
            t.record = it->second.get();
            t.field = a->field;
            if (auto* fi = t.record->find(a->field)) t.field_decl = fi->decl;
            add(a->field_span, field_key(a->event, a->field), false, t);
          }
        expr(a->filter);
        expr(a->window_expr);
        break;
      }
      case K::Unary: expr(static_cast<const ast::UnaryExpr*>(e)->operand); break;
      case K::Binary: {
        auto* b = static_cast<const ast::BinaryExpr*>(e);
        expr(b->lhs);
        expr(b->rhs);
        break;
      }
      case K::Between: {
        auto* b = static_cast<const ast::BetweenExpr*>(e);
        expr(b->value);
        expr(b->lo);
        expr(b->hi);
        break;
      }
      case K::If: {
        auto* i = static_cast<const ast::IfExpr*>(e);
        expr(i->cond);
        expr(i->then_expr);
        expr(i->else_expr);
        break;
      }
      default: break;
    }
  }

  void name(const ast::NameExpr* n) {
    const sema::Ref* r = ref_of(p_, n);
    if (!r) return;
    Target t;
    t.expr = n;
    using RK = sema::Ref::Kind;
    switch (r->kind) {
      case RK::Param: {
        t.kind = SymbolKind::Parameter;
        t.param = r->param;
        if (t.param) add(n->span, span_key(p_, t.param->span), false, t);
        return;
      }
      case RK::EventField:
      case RK::ProfileField: {
        auto* fi = r->field;
        if (!fi) return;
        t.kind = SymbolKind::Field;
        t.field = fi->name;
        t.field_decl = fi->decl;
        if (r->kind == RK::ProfileField) t.record = &p_.profile;
        else
          for (auto& [en, rec] : p_.events)
            if (rec->find(fi->name) == fi) t.record = rec.get();
        std::string record = r->kind == RK::ProfileField ? "profile" : t.record ? t.record->name : "";
        add(n->span, field_key(record, fi->name), false, t);
        return;
      }
      case RK::Const:
      case RK::Segment:
      case RK::Function: {
        auto* d = r->decl;
        if (!d) return;
        t.kind = kind_of(d);
        t.decl = d;
        add(n->span, decl_key(p_, d), false, t);
        return;
      }
      case RK::EnumValue: {
        auto* info = r->enum_info;
        if (!info || !info->decl || r->index < 0 || static_cast<size_t>(r->index) >= info->decl->values.size()) return;
        t.kind = SymbolKind::EnumValue;
        t.decl = info->decl;
        t.enum_info = info;
        t.index = r->index;
        add(n->span, span_key(p_, info->decl->values[static_cast<size_t>(r->index)].span), false, t);
        return;
      }
      default: return;
    }
  }

  Analysis& a_;
  const sema::Program& p_;
  const sema::ModuleInfo* mod_ = nullptr;
  std::multimap<std::string, std::pair<const ast::Decl*, const sema::ModuleInfo*>> resources_, pools_;
};

// ---- rendering declarations ------------------------------------------------------------------

std::string type_text(const ast::TypeRef* t) {
  if (!t) return "";
  std::string s = t->name;
  if (!t->currency.empty()) s += "(" + t->currency + ")";
  if (t->elem) s += "<" + type_text(t->elem) + ">";
  if (t->optional) s += "?";
  return s;
}

std::string fn_signature(const ast::FnDecl* f, std::vector<std::pair<uint32_t, uint32_t>>* params = nullptr) {
  std::string s = f->name + "(";
  for (size_t i = 0; i < f->params.size(); ++i) {
    if (!f->params[i]) continue;
    if (i) s += ", ";
    uint32_t b = static_cast<uint32_t>(s.size());
    s += f->params[i]->name + ": " + type_text(f->params[i]->type);
    if (f->params[i]->default_value) s += " = " + format::format_expr(f->params[i]->default_value);
    if (params) params->push_back({b, static_cast<uint32_t>(s.size())});
  }
  return s + "): " + type_text(f->result);
}

// The comment lines directly above a declaration (`//` or `#`), without their markers.
std::string doc_comment(std::string_view text, uint32_t decl_begin) {
  size_t line_begin = decl_begin;
  while (line_begin > 0 && text[line_begin - 1] != '\n') --line_begin;
  std::vector<std::string> lines;
  while (line_begin > 0) {
    size_t prev_end = line_begin - 1;  // the '\n'
    size_t prev_begin = prev_end;
    while (prev_begin > 0 && text[prev_begin - 1] != '\n') --prev_begin;
    std::string_view l = text.substr(prev_begin, prev_end - prev_begin);
    size_t i = l.find_first_not_of(" \t\r");
    if (i == std::string_view::npos) break;
    l.remove_prefix(i);
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
    if (l.substr(0, 2) == "//") l.remove_prefix(2);
    else if (l.substr(0, 1) == "#") l.remove_prefix(1);
    else break;
    if (!l.empty() && l[0] == ' ') l.remove_prefix(1);
    if (l.find_first_not_of("-=*") == std::string_view::npos && !l.empty()) break;  // a ruler line
    lines.emplace_back(l);
    line_begin = prev_begin;
  }
  std::string out;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) out += (out.empty() ? "" : "\n") + *it;
  return out;
}

std::string fenced(const std::string& code) { return "```crm\n" + code + "\n```"; }

std::string field_line(const std::string& record, const std::string& field, const sema::RecordInfo* rec) {
  std::string type;
  if (rec)
    if (auto* fi = rec->find(field)) type = fi->type.to_string();
  return (record == "profile" ? "profile." : record + ".") + field + (type.empty() ? "" : ": " + type);
}

std::string describe(const Analysis& a, const Occurrence& o) {
  const sema::Program& p = *a.program();
  const Target& t = o.t;
  auto doc_of = [&](const ast::Node* n) -> std::string {
    if (!n || !n->span.valid()) return "";
    return doc_comment(p.sources.file(n->span.file).text(), n->span.begin);
  };
  auto with_doc = [&](std::string head, const std::string& doc) { return doc.empty() ? head : head + "\n\n" + doc; };
  std::string where;
  // The declaring module (an occurrence's own module is where the name is used).
  const sema::ModuleInfo* home = t.decl && t.decl->span.valid() ? a.module_of_file(t.decl->span.file) : t.module;
  if (home && !home->name.empty() && t.kind != SymbolKind::Module && t.kind != SymbolKind::Builtin &&
      t.kind != SymbolKind::Field && t.kind != SymbolKind::Event)
    where = "\n\n*module* `" + home->name + "`";
  switch (t.kind) {
    case SymbolKind::Segment: {
      auto* s = static_cast<const ast::SegmentDecl*>(t.decl);
      return with_doc(fenced("segment " + s->name + " = " + (s->value ? format::format_expr(s->value) : "")), doc_of(s)) + where;
    }
    case SymbolKind::Function: return with_doc(fenced("fn " + fn_signature(static_cast<const ast::FnDecl*>(t.decl))), doc_of(t.decl)) + where;
    case SymbolKind::Constant: {
      auto* c = static_cast<const ast::ConstDecl*>(t.decl);
      const sema::Type& ty = p.type_of(c->value);
      std::string head = "const " + c->name + (ty.is_error() ? "" : ": " + ty.to_string()) + " = " +
                         (c->value ? format::format_expr(c->value) : "");
      std::string value;
      if (const sema::Value* v = p.const_of(c->value)) {
        std::string vs = v->to_string(ty);
        if (c->value && vs != format::format_expr(c->value)) value = "\n\nvalue: `" + vs + "`";
      }
      return with_doc(fenced(head), doc_of(c)) + value + where;
    }
    case SymbolKind::Resource: {
      auto* r = static_cast<const ast::ResourceDecl*>(t.decl);
      std::string s = "resource " + r->resource_kind + " " + r->name + " {";
      for (auto* pr : r->props) {
        if (!pr) continue;
        s += "\n    " + pr->key + ": ";
        if (pr->kind == ast::PropKind::Range) s += "between " + format::format_expr(pr->a) + " and " + format::format_expr(pr->b);
        else if (pr->kind == ast::PropKind::AfterClaim) s += "within " + format::format_expr(pr->a) + " after claim";
        else if (pr->kind == ast::PropKind::Draw) s += format::format_draw(pr);
        else if (pr->kind == ast::PropKind::Capped)
          s += format::format_expr(pr->a) + " up to " + format::format_expr(pr->b);
        else s += pr->a ? format::format_expr(pr->a) : "";
      }
      return with_doc(fenced(s + "\n}"), doc_of(r)) + where;
    }
    case SymbolKind::Builtin: {
      std::string sig = t.overload ? t.overload->signature() : t.builtin->signature;
      std::string desc = t.builtin->description;
      if (t.overload && t.overload->description && *t.overload->description) desc += "\n\n" + std::string(t.overload->description);
      return fenced(sig) + "\n\n" + desc + "\n\n*built-in function*";
    }
    case SymbolKind::Field: {
      std::string record = t.record ? (t.record->is_profile ? "profile" : t.record->name) : "";
      return with_doc(fenced(field_line(record, t.field, t.record)), doc_of(t.field_decl));
    }
    case SymbolKind::Event: {
      std::string s = "event " + (t.record ? t.record->name : std::string(t.decl ? t.decl->name : "")) + " {";
      if (t.record)
        for (auto& f : t.record->fields) s += "\n    " + f.name + ": " + f.type.to_string();
      const ast::Node* d = t.decl;
      if (!d && t.record && t.record->first_decl.valid()) {
        for (auto& o2 : a.occ)
          if (o2.decl && o2.key == o.key) {
            d = o2.t.decl;
            break;
          }
      }
      return with_doc(fenced(s + "\n}"), doc_of(d));
    }
    case SymbolKind::Enum:
    case SymbolKind::EnumValue: {
      auto* e = static_cast<const ast::EnumDecl*>(t.decl);
      std::string values;
      for (auto& v : e->values) values += (values.empty() ? "" : ", ") + v.name;
      if (t.kind == SymbolKind::EnumValue && t.index >= 0)
        return fenced(e->name + "." + e->values[static_cast<size_t>(t.index)].name) + "\n\nvalue of `enum " + e->name + " { " +
               values + " }`" + where;
      return with_doc(fenced("enum " + e->name + " { " + values + " }"), doc_of(e)) + where;
    }
    case SymbolKind::Parameter: {
      std::string s = "(parameter) " + t.param->name + ": " + type_text(t.param->type);
      if (t.param->default_value) s += " = " + format::format_expr(t.param->default_value);
      return fenced(s);
    }
    case SymbolKind::Strategy:
    case SymbolKind::Policy:
    case SymbolKind::Pool: {
      std::string kw = t.kind == SymbolKind::Strategy ? "strategy " : t.kind == SymbolKind::Pool ? "pool " : "policy ";
      return with_doc(fenced(kw + t.decl->name), doc_of(t.decl)) + where;
    }
    case SymbolKind::Module: {
      std::string doc;
      if (t.module && t.module->ast) doc = doc_of(t.module->ast->decls.empty() ? nullptr : t.module->ast);
      return fenced("module " + t.module->name) + "\n\n`" + t.module->path + "`";
    }
    default: return "";
  }
}

// ---- documents -------------------------------------------------------------------------------

struct Document {
  std::string text;
  std::vector<uint32_t> starts;
  bool dirty = true;
  std::shared_ptr<Analysis> analysis;      // the latest run
  std::shared_ptr<Analysis> last_checked;  // the latest run that reached semantic analysis
};

const std::regex& import_re() {
  static const std::regex r(R"((?:^|\n)[ \t]*import[ \t]+([A-Za-z_][A-Za-z_0-9.]*))");
  return r;
}
const std::regex& module_re() {
  static const std::regex r(R"((?:^|\n)[ \t]*module[ \t]+([A-Za-z_][A-Za-z_0-9.]*))");
  return r;
}

std::string declared_module(const std::string& text) {
  std::smatch m;
  // Only the head of the file can hold the module line; do not scan a long file for it (nor its
  // byte order mark, which would hide a first-line `module`).
  size_t from = support::starts_with_bom(text) ? support::kUtf8Bom.size() : 0;
  std::string head = text.substr(from, std::min<size_t>(text.size() - from, 4096));
  return std::regex_search(head, m, module_re()) ? m[1].str() : std::string{};
}

std::vector<std::string> imports_of(const std::string& text) {
  std::vector<std::string> out;
  // Imports precede the declarations; a generous head is enough and keeps this cheap.
  size_t from = support::starts_with_bom(text) ? support::kUtf8Bom.size() : 0;
  std::string head = text.substr(from, std::min<size_t>(text.size() - from, 16384));
  for (std::sregex_iterator it(head.begin(), head.end(), import_re()), end; it != end; ++it) out.push_back((*it)[1].str());
  return out;
}


std::optional<std::string> read_file(const std::string& path, size_t limit) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  auto size = fs::file_size(path, ec);
  if (ec || size > limit) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Minimal line hunks turning `a` into `b` (an LCS over the lines between the common prefix and
// suffix), as (first line, line count in a, replacement text).
struct Hunk {
  uint32_t line, count;
  std::string text;
};
std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string::npos) j = s.size() - 1;
    out.push_back(s.substr(i, j + 1 - i));
    i = j + 1;
  }
  return out;
}
std::vector<Hunk> line_diff(const std::string& a, const std::string& b) {
  auto la = split_lines(a), lb = split_lines(b);
  size_t pre = 0;
  while (pre < la.size() && pre < lb.size() && la[pre] == lb[pre]) ++pre;
  size_t suf = 0;
  while (suf < la.size() - pre && suf < lb.size() - pre && la[la.size() - 1 - suf] == lb[lb.size() - 1 - suf]) ++suf;
  size_t n = la.size() - pre - suf, m = lb.size() - pre - suf;
  std::vector<Hunk> hunks;
  if (n == 0 && m == 0) return hunks;
  auto join = [&](size_t from, size_t to) {
    std::string s;
    for (size_t k = from; k < to; ++k) s += lb[k];
    return s;
  };
  if (n * m > 4'000'000) {  // too large for the table: one hunk
    hunks.push_back({static_cast<uint32_t>(pre), static_cast<uint32_t>(n), join(pre, pre + m)});
    return hunks;
  }
  std::vector<std::vector<uint32_t>> L(n + 1, std::vector<uint32_t>(m + 1, 0));
  for (size_t i = n; i-- > 0;)
    for (size_t j = m; j-- > 0;)
      L[i][j] = la[pre + i] == lb[pre + j] ? L[i + 1][j + 1] + 1 : std::max(L[i + 1][j], L[i][j + 1]);
  size_t i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && la[pre + i] == lb[pre + j]) {
      ++i, ++j;
      continue;
    }
    size_t i0 = i, j0 = j;
    while ((i < n || j < m) && !(i < n && j < m && la[pre + i] == lb[pre + j])) {
      if (j < m && (i == n || L[i][j + 1] >= L[i + 1][j])) ++j;
      else ++i;
    }
    hunks.push_back({static_cast<uint32_t>(pre + i0), static_cast<uint32_t>(i - i0), join(pre + j0, pre + j)});
  }
  return hunks;
}

}  // namespace

// ---- the workspace ---------------------------------------------------------------------------

struct Workspace::Impl {
  WorkspaceOptions options;
  std::map<std::string, Document> docs;
  std::set<std::string> closed_since;  // closed since the last analyze(): their diagnostics are cleared
  std::set<std::string> unreported;    // analysed (maybe by a query) since the public analyze() last returned
  struct FolderEntry {
    fs::file_time_type mtime;
    std::shared_ptr<Analysis> analysis;
  };
  std::map<std::string, FolderEntry> folder_cache;

  // The open document that `import dotted` from `from` names, if any: the file `crm check` would
  // load for it (module_loader.cc find_or_load: beside the importer, under its module's root, under
  // each include directory, which are the folders here) when that file is open, so unsaved edits
  // count. A file that exists on disk at an earlier candidate wins, as in `crm check`: a buffer of
  // another folder that declares the same module must not replace it (tester F17: `import lib` in
  // B/ resolved to A/lib.crm once that was open, with false errors and renames across folders).
  // Only when no candidate exists on disk does an open buffer declaring the module stand in (a new
  // file not saved yet; `crm check` reports the module not found until it is), the nearest to the
  // importer first. `std.*` is the embedded library, never a buffer, as in `crm check`.
  // `on_disk`, when given, is set to the file the loader reads when that one is not open.
  const std::string* open_import(const std::string& from, const std::string& from_text, const std::string& dotted,
                                 std::string* on_disk = nullptr) const {
    if (dotted.rfind("std.", 0) == 0) return nullptr;
    // As the loader: only a module name is a path (`a..b` is none).
    std::optional<std::string> file = sema::module_file(dotted);
    if (!file) return nullptr;
    const std::string& rel = *file;
    std::vector<std::string> paths;
    paths.push_back((fs::path(from).parent_path() / rel).lexically_normal().string());
    // As the loader: under the importing module's root (shop/campaigns.crm, `module shop.campaigns`).
    if (std::string root = sema::module_root(from, declared_module(from_text)); !root.empty())
      paths.push_back((fs::path(root) / rel).lexically_normal().string());
    for (auto& f : options.folders) paths.push_back((fs::path(f) / rel).lexically_normal().string());
    for (auto& p : paths) {
      if (auto it = docs.find(p); it != docs.end()) return &it->first;
      std::error_code ec;
      if (fs::exists(p, ec)) {  // the loader reads (or refuses) this file
        if (on_disk) *on_disk = p;
        return nullptr;
      }
    }
    const std::string* best = nullptr;
    size_t best_common = 0;
    fs::path dir = fs::path(from).parent_path();
    for (auto& [p, d] : docs) {
      if (p == from || declared_module(d.text) != dotted) continue;
      // Directory components shared with the importer: the same folder first.
      size_t common = 0;
      fs::path pd = fs::path(p).parent_path();
      for (auto a = dir.begin(), b = pd.begin(); a != dir.end() && b != pd.end() && *a == *b; ++a, ++b) ++common;
      if (!best || common > best_common) best = &p, best_common = common;
    }
    return best;
  }

  std::shared_ptr<Analysis> compile(const std::string& root, const std::string& root_text) {
    auto a = std::make_shared<Analysis>();
    std::vector<Input> inputs{{root, root_text}};
    // The open buffers this document imports, transitively, so unsaved edits are seen: through
    // a file that is not open too (A imports B, not open, which imports C, open and edited: the
    // loader reads B from disk and C's buffer, not C's saved text).
    std::vector<std::string> todo{root};
    std::set<std::string> seen{root};
    std::map<std::string, std::string> disk;  // files walked through that are not open
    while (!todo.empty()) {
      std::string cur = todo.back();
      todo.pop_back();
      auto dit = disk.find(cur);
      const std::string& text = cur == root ? root_text : dit != disk.end() ? dit->second : docs.at(cur).text;
      for (auto& dotted : imports_of(text)) {
        std::string file;
        const std::string* p = open_import(cur, text, dotted, &file);
        if (!p && !file.empty() && seen.insert(file).second) {
          // Only walked for its imports; the loader reads it (and reports what is wrong with it).
          if (auto t = read_file(file, options.limits.max_file_bytes)) {
            disk.emplace(file, std::move(*t));
            todo.push_back(file);
          }
          continue;
        }
        if (!p || !seen.insert(*p).second) continue;
        const std::string& t = docs.at(*p).text;
        // A file without a module line is imported by its path: name it so the loader finds the
        // buffer rather than the file on disk.
        inputs.push_back({*p, t, declared_module(t).empty() ? dotted : std::string{}, /*imported=*/true});
        todo.push_back(*p);
      }
    }
    try {
      DriverOptions d;
      d.load.include_dirs = options.folders;
      d.load.parse.max_file_bytes = options.limits.max_file_bytes;
      d.load.parse.max_nesting = options.limits.max_nesting;
      d.max_decl_depth = std::min(options.limits.max_decl_depth, Limits::kMaxDeclDepthCap);
      d.codegen.max_depth = std::min(options.limits.max_code_depth, Limits::kMaxCodeDepthCap);
      d.generate = true;  // E0112 shows in the editor as in `crm check`
      d.load.max_modules = options.limits.max_modules;
      d.max_errors = options.limits.max_errors;
      d.conflicts = options.conflicts;
      d.max_conflict_warnings = options.limits.max_conflict_warnings;
      // An editor wants type errors while a line is half typed: check the partial tree too.
      d.check_after_syntax_errors = true;
      // Only this document's diagnostics are shown: an imported module's errors (the file may not
      // be open) are one error at the `import` line, their places as related information.
      d.import_errors = ImportErrors::AllAtImport;
      a->c = crm::compile(inputs, d);
      const auto& sm = a->c->program.sources;
      for (FileId f = 0; f < sm.size(); ++f) {
        a->file_of.emplace(sm.file(f).path(), f);
        a->starts.push_back(line_starts(sm.file(f).text()));
        // A client's text: every input but a root read from disk (a folder file's analysis).
        bool bom = false;
        for (size_t i = 0; i < inputs.size(); ++i)
          if (inputs[i].path == sm.file(f).path() && (i > 0 || docs.count(root)) && inputs[i].text &&
              support::starts_with_bom(*inputs[i].text))
            bom = true;
        a->bom.push_back(bom);
      }
      Indexer(*a).run();
      std::sort(a->exprs.begin(), a->exprs.end(), [](const ExprAt& x, const ExprAt& y) {
        return std::tie(x.file, x.begin) < std::tie(y.file, y.begin);
      });
    } catch (const std::exception& e) {
      a->c.reset();
      a->internal_error = e.what();
    } catch (...) {
      a->c.reset();
      a->internal_error = "unknown exception";
    }
    return a;
  }

  void analyze_doc(const std::string& path, Document& d) {
    d.analysis = compile(path, d.text);
    if (d.analysis->c && d.analysis->c->checked) d.last_checked = d.analysis;
    d.dirty = false;
  }

  std::vector<std::string> analyze() {
    std::vector<std::string> changed(closed_since.begin(), closed_since.end());
    std::set<std::string> dirty_paths;
    for (auto& [p, d] : docs)
      if (d.dirty) dirty_paths.insert(p);
    dirty_paths.insert(closed_since.begin(), closed_since.end());
    closed_since.clear();
    // Importers of a changed document see it changed too.
    for (auto& [p, d] : docs)
      if (!d.dirty && d.analysis)
        for (auto& q : dirty_paths)
          if (d.analysis->file_of.count(q)) {
            d.dirty = true;
            break;
          }
    for (auto& [p, d] : docs)
      if (d.dirty) {
        analyze_doc(p, d);
        changed.push_back(p);
      }
    unreported.insert(changed.begin(), changed.end());
    return changed;
  }

  Document* doc(const std::string& path) {
    auto it = docs.find(path);
    if (it == docs.end()) return nullptr;
    if (it->second.dirty) analyze();
    return &it->second;
  }

  // The run to answer a query about `path` with: the latest, or the latest checked one when the
  // latest stopped before semantic analysis (its names resolve nowhere).
  const Analysis* current(const std::string& path) {
    Document* d = doc(path);
    if (!d || !d->analysis || !d->analysis->c) return nullptr;
    return d->analysis.get();
  }

  const Occurrence* occurrence_at(const Analysis& a, const std::string& path, TextPosition at) {
    auto fit = a.file_of.find(path);
    if (fit == a.file_of.end()) return nullptr;
    FileId f = fit->second;
    auto off = a.offset(f, at);
    if (!off) return nullptr;
    const Occurrence* best = nullptr;
    for (auto& o : a.occ)
      if (o.file == f && o.begin <= *off && *off <= o.end && (!best || o.end - o.begin < best->end - best->begin)) best = &o;
    return best;
  }

  // Every analysis that may mention a key: the open documents' runs and the folders' files.
  std::vector<std::shared_ptr<Analysis>> all_analyses(bool with_folders) {
    std::vector<std::shared_ptr<Analysis>> out;
    analyze();
    for (auto& [p, d] : docs)
      if (d.analysis && d.analysis->c) out.push_back(d.analysis);
    if (!with_folders) return out;
    size_t n = 0;
    std::set<std::string> live;
    for (auto& folder : options.folders) {
      std::error_code ec;
      fs::recursive_directory_iterator it(folder, fs::directory_options::skip_permission_denied, ec), end;
      for (; !ec && it != end; it.increment(ec)) {
        const auto& pth = it->path();
        std::string name = pth.filename().string();
        if (it->is_directory(ec)) {
          if (!name.empty() && (name[0] == '.' || name == "node_modules" || name == "build")) it.disable_recursion_pending();
          continue;
        }
        if (pth.extension() != ".crm" || ++n > options.max_folder_files) continue;
        std::string p = pth.lexically_normal().string();
        if (docs.count(p)) continue;
        live.insert(p);
        auto mtime = fs::last_write_time(pth, ec);
        auto& e = folder_cache[p];
        if (!e.analysis || e.mtime != mtime) {
          auto text = read_file(p, options.limits.max_file_bytes);
          if (!text) continue;
          e.mtime = mtime;
          e.analysis = compile(p, *text);
        }
        if (e.analysis->c) out.push_back(e.analysis);
      }
    }
    for (auto it = folder_cache.begin(); it != folder_cache.end();)
      it = live.count(it->first) ? std::next(it) : folder_cache.erase(it);
    return out;
  }

  std::vector<TextLocation> locations_of(const std::string& key, bool decls, bool uses, bool with_folders) {
    std::vector<TextLocation> out;
    std::set<std::pair<std::string, uint32_t>> seen;
    for (auto& a : all_analyses(with_folders))
      for (auto& o : a->occ)
        if (o.key == key && ((o.decl && decls) || (!o.decl && uses)) && seen.insert({a->path(o.file), o.begin}).second)
          out.push_back(a->location(o.file, o.begin, o.end));
    std::sort(out.begin(), out.end(), [](const TextLocation& x, const TextLocation& y) {
      return std::tie(x.path, x.range.start.line, x.range.start.character) <
             std::tie(y.path, y.range.start.line, y.range.start.character);
    });
    return out;
  }
};

Workspace::Workspace(WorkspaceOptions options) : impl_(std::make_unique<Impl>()) { impl_->options = std::move(options); }
Workspace::~Workspace() = default;

void Workspace::set_folders(const std::vector<std::string>& folders) {
  impl_->options.folders = folders;
  impl_->folder_cache.clear();
  for (auto& [p, d] : impl_->docs) d.dirty = true;
}

void Workspace::open(const std::string& path, const std::string& text) {
  auto& d = impl_->docs[path];
  d.text = text;
  d.starts = line_starts(d.text);
  d.dirty = true;
  impl_->closed_since.erase(path);
  // The open documents that import this path, or miss a module this buffer may declare (a new
  // file not saved yet, see open_import), are re-checked as for a change on disk.
  file_changed(path);
}

bool Workspace::edit(const std::string& path, const std::optional<TextRange>& range, const std::string& text) {
  return edit(path, std::vector<Edit>{Edit{range, text}});
}

bool Workspace::edit(const std::string& path, const std::vector<Edit>& edits, size_t* failed) {
  auto it = impl_->docs.find(path);
  if (it == impl_->docs.end()) return false;
  Document& d = it->second;
  // On a copy: the document changes only once every edit applied.
  std::string text = d.text;
  auto starts = d.starts;
  for (size_t i = 0; i < edits.size(); ++i) {
    const auto& [range, with] = edits[i];
    if (!range) {
      text = with;
    } else {
      auto b = offset_of(text, starts, range->start), e = offset_of(text, starts, range->end);
      // LSP allows the end one line past the last (the position after a final newline).
      if (!e && range->end.line == starts.size()) e = static_cast<uint32_t>(text.size());
      if (!b || !e || *b > *e) {
        if (failed) *failed = i;
        return false;
      }
      text.replace(*b, *e - *b, with);
    }
    starts = line_starts(text);
  }
  d.text = std::move(text);
  d.starts = std::move(starts);
  d.dirty = true;
  return true;
}

void Workspace::close(const std::string& path) {
  if (impl_->docs.erase(path)) impl_->closed_since.insert(path);
}

void Workspace::file_changed(const std::string& path) {
  impl_->folder_cache.erase(path);
  for (auto& [p, d] : impl_->docs) {
    if (d.dirty || !d.analysis) continue;
    const Analysis& a = *d.analysis;
    bool affected = a.file_of.count(path) > 0;
    // A module that was not found may be this new file (by path or by its module line).
    if (!affected && a.c)
      for (const auto& dg : a.c->sink.diagnostics())
        if (dg.code == diag::Code::E0201 || dg.code == diag::Code::E0210) {
          affected = true;
          break;
        }
    if (affected) d.dirty = true;
  }
}

bool Workspace::is_open(const std::string& path) const { return impl_->docs.count(path) > 0; }

std::vector<std::string> Workspace::open_documents() const {
  std::vector<std::string> out;
  for (auto& [p, d] : impl_->docs) out.push_back(p);
  return out;
}

std::optional<std::string> Workspace::text(const std::string& path) const {
  if (auto it = impl_->docs.find(path); it != impl_->docs.end()) return it->second.text;
  for (auto& m : stdlib::embedded_modules())
    if (path == m.path) return std::string(m.source);
  // A `<stdlib>/` name that is no embedded module (`<stdlib>/../../etc/passwd`) names no file:
  // the standard library is never read from disk.
  if (path.rfind("<stdlib>/", 0) == 0) return std::nullopt;
  return read_file(path, impl_->options.limits.max_file_bytes);
}

std::vector<std::string> Workspace::analyze() {
  try {
    impl_->analyze();
  } catch (...) {
  }
  std::vector<std::string> out(impl_->unreported.begin(), impl_->unreported.end());
  impl_->unreported.clear();
  return out;
}

std::vector<WorkspaceDiagnostic> Workspace::diagnostics(const std::string& path) const {
  std::vector<WorkspaceDiagnostic> out;
  auto it = impl_->docs.find(path);
  if (it == impl_->docs.end() || !it->second.analysis) return out;
  const Analysis& a = *it->second.analysis;
  if (!a.c) {
    WorkspaceDiagnostic d;
    d.code = "internal";
    d.severity = "error";
    d.message = "internal compiler error: " + a.internal_error;
    out.push_back(d);
    return out;
  }
  auto fit = a.file_of.find(path);
  static const std::regex did_you_mean(R"(^did you mean `([A-Za-z_][A-Za-z_0-9.]*)`\?$)");
  for (const auto& dg : a.c->sink.diagnostics()) {
    bool here = dg.span.valid() && fit != a.file_of.end() && dg.span.file == fit->second;
    // A diagnostic without a location (a limit, an unreadable import) belongs to the root; but
    // after syntax errors a type error located nowhere is about a name the parser's recovery
    // made up (the empty event of a bare `count(`), not something the user wrote.
    if (!here && dg.span.valid()) continue;
    // Such names have no text: an empty span (or none) in a run with syntax errors.
    if ((!dg.span.valid() || dg.span.begin == dg.span.end) && !a.c->syntax_ok &&
        std::string_view(diag::info(dg.code).name).substr(0, 3) != "E01")
      continue;
    WorkspaceDiagnostic w;
    w.code = diag::info(dg.code).name;
    w.severity = diag::severity_name(dg.severity);
    w.message = dg.message;
    w.help = dg.help;
    if (here) w.range = a.range(dg.span);
    for (auto& l : dg.secondary)
      if (l.span.valid()) w.related.push_back({a.location(l.span.file, l.span.begin, l.span.end), l.message});
    std::smatch m;
    if (here && std::regex_match(dg.help, m, did_you_mean)) {
      std::string_view written = a.text(dg.span.file).substr(dg.span.begin, dg.span.end - dg.span.begin);
      bool word = !written.empty() && std::all_of(written.begin(), written.end(), [](char c) { return is_ident_char(c) || c == '.'; });
      if (word) w.fix = m[1].str();
    }
    out.push_back(std::move(w));
  }
  return out;
}

std::optional<Hover> Workspace::hover(const std::string& path, TextPosition at) {
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return std::nullopt;
    if (const Occurrence* o = impl_->occurrence_at(*a, path, at)) {
      std::string md = describe(*a, *o);
      if (o->t.expr && o->t.kind != SymbolKind::Function && o->t.kind != SymbolKind::Builtin) {
        const sema::Type& ty = a->program()->type_of(o->t.expr);
        if (!ty.is_error() && o->t.kind != SymbolKind::Field && o->t.kind != SymbolKind::Constant &&
            o->t.kind != SymbolKind::EnumValue)
          md += "\n\ntype: `" + ty.to_string() + "`";
      }
      if (o->t.kind == SymbolKind::Builtin && o->t.expr) {
        const sema::Type& ty = a->program()->type_of(o->t.expr);
        if (!ty.is_error()) md += "\n\nhere: `" + ty.to_string() + "`";
      }
      if (md.empty()) return std::nullopt;
      return Hover{md, a->range(o->file, o->begin, o->end)};
    }
    // Not on a name: the type (and folded value) of the innermost expression.
    auto fit = a->file_of.find(path);
    if (fit == a->file_of.end()) return std::nullopt;
    auto off = a->offset(fit->second, at);
    if (!off) return std::nullopt;
    const ExprAt* best = nullptr;
    for (auto& e : a->exprs)
      if (e.file == fit->second && e.begin <= *off && *off < e.end && (!best || e.end - e.begin < best->end - best->begin))
        best = &e;
    if (!best) return std::nullopt;
    const sema::Type& ty = a->program()->type_of(best->e);
    if (ty.is_error()) return std::nullopt;
    std::string text = format::format_expr(best->e);
    std::string md = fenced(text + ": " + ty.to_string());
    if (const sema::Value* v = a->program()->const_of(best->e))
      if (std::string vs = v->to_string(ty); vs != text) md += "\n\nvalue: `" + vs + "`";
    return Hover{md, a->range(best->file, best->begin, best->end)};
  } catch (...) {
    return std::nullopt;
  }
}

std::vector<TextLocation> Workspace::definition(const std::string& path, TextPosition at) {
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return {};
    const Occurrence* o = impl_->occurrence_at(*a, path, at);
    if (!o) return {};
    if (o->t.kind == SymbolKind::Module && o->t.module && o->t.module->ast) {
      FileId f = o->t.module->ast->file;
      return {a->location(f, 0, 0)};
    }
    std::vector<TextLocation> out;
    for (auto& d : a->occ)
      if (d.decl && d.key == o->key) out.push_back(a->location(d.file, d.begin, d.end));
    return out;
  } catch (...) {
    return {};
  }
}

std::vector<TextLocation> Workspace::references(const std::string& path, TextPosition at, bool include_declaration) {
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return {};
    const Occurrence* o = impl_->occurrence_at(*a, path, at);
    if (!o) return {};
    std::string key = o->key;
    return impl_->locations_of(key, include_declaration, true, true);
  } catch (...) {
    return {};
  }
}

namespace {

DocumentSymbol symbol_of(const Analysis& a, const ast::Decl* d) {
  DocumentSymbol s;
  s.name = d->kind == ast::DeclKind::Profile ? "profile" : d->name;
  s.range = a.range(d->span);
  s.selection = d->name_span.valid() ? a.range(d->name_span) : s.range;
  auto fields = [&](const std::vector<ast::FieldDecl*>& fs) {
    for (auto* f : fs) {
      if (!f) continue;
      DocumentSymbol c;
      c.name = f->name;
      c.kind = SymbolKind::Field;
      c.detail = type_text(f->type);
      c.range = a.range(f->span);
      c.selection = a.range(f->name_span);
      s.children.push_back(std::move(c));
    }
  };
  switch (d->kind) {
    case ast::DeclKind::Profile: s.kind = SymbolKind::Profile; fields(static_cast<const ast::ProfileDecl*>(d)->fields); break;
    case ast::DeclKind::Event: s.kind = SymbolKind::Event; fields(static_cast<const ast::EventDecl*>(d)->fields); break;
    case ast::DeclKind::Enum:
      s.kind = SymbolKind::Enum;
      for (auto& v : static_cast<const ast::EnumDecl*>(d)->values) {
        DocumentSymbol c;
        c.name = v.name;
        c.kind = SymbolKind::EnumValue;
        c.range = c.selection = a.range(v.span);
        s.children.push_back(std::move(c));
      }
      break;
    case ast::DeclKind::Const: {
      s.kind = SymbolKind::Constant;
      auto* c = static_cast<const ast::ConstDecl*>(d);
      const sema::Type& t = a.program()->type_of(c->value);
      s.detail = c->type ? type_text(c->type) : t.is_error() ? "" : t.to_string();
      break;
    }
    case ast::DeclKind::Segment: s.kind = SymbolKind::Segment; break;
    case ast::DeclKind::Fn: {
      s.kind = SymbolKind::Function;
      std::string sig = fn_signature(static_cast<const ast::FnDecl*>(d));
      s.detail = sig.substr(d->name.size());
      break;
    }
    case ast::DeclKind::Resource: s.kind = SymbolKind::Resource; s.detail = static_cast<const ast::ResourceDecl*>(d)->resource_kind; break;
    case ast::DeclKind::Strategy: {
      s.kind = SymbolKind::Strategy;
      auto* st = static_cast<const ast::StrategyDecl*>(d);
      if (st->has_business) s.detail = "for business \"" + st->business + "\"";
      break;
    }
    case ast::DeclKind::Policy: s.kind = SymbolKind::Policy; break;
    case ast::DeclKind::Pool: s.kind = SymbolKind::Pool; break;
  }
  return s;
}

}  // namespace

std::vector<DocumentSymbol> Workspace::document_symbols(const std::string& path) {
  std::vector<DocumentSymbol> out;
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return out;
    auto fit = a->file_of.find(path);
    if (fit == a->file_of.end()) return out;
    const sema::ModuleInfo* m = a->module_of_file(fit->second);
    if (!m) return out;
    for (auto* d : m->ast->decls)
      if (d && d->span.valid()) out.push_back(symbol_of(*a, d));
  } catch (...) {
  }
  return out;
}

std::vector<WorkspaceSymbol> Workspace::workspace_symbols(const std::string& query) {
  std::vector<WorkspaceSymbol> out;
  try {
    std::string q = query;
    std::transform(q.begin(), q.end(), q.begin(), [](unsigned char c) { return std::tolower(c); });
    // Fuzzy in the usual way: the query's characters appear in the name in order.
    auto matches = [&](const std::string& name) {
      size_t i = 0;
      for (char c : name)
        if (i < q.size() && std::tolower(static_cast<unsigned char>(c)) == q[i]) ++i;
      return i == q.size();
    };
    std::set<std::string> seen;
    for (auto& a : impl_->all_analyses(true))
      for (auto& m : a->c->program.modules) {
        if (!m.ast || m.is_std) continue;
        for (auto* d : m.ast->decls) {
          if (!d || !d->name_span.valid() || !matches(d->name)) continue;
          auto loc = a->location(d->name_span.file, d->name_span.begin, d->name_span.end);
          if (!seen.insert(loc.path + "#" + std::to_string(d->name_span.begin)).second) continue;
          DocumentSymbol s = symbol_of(*a, d);
          out.push_back({s.name, s.detail, s.kind, loc, m.name});
          if (out.size() >= 1000) return out;
        }
      }
  } catch (...) {
  }
  return out;
}

namespace {

// ---- completion ------------------------------------------------------------------------------

// What the text before the cursor says about where it is (the last checked run gives the
// names; this gives the place, so it works while the line does not parse).
struct Context {
  std::string word;          // the identifier being typed
  std::string before;        // the text before it
  int depth = 0;             // braces open at the cursor
  std::string block;         // the keyword owning the innermost open brace: strategy, resource, ...
  std::string clause;        // who, when, where, what, how much, ...
  std::string trigger;       // the strategy's `when: on Event`
  std::string cancel_where;  // in `when: ..., after D unless Event where |`: that cancelling Event
  std::string member_of;     // `X.` before the word
  std::string prev_word;     // the word before, e.g. grant, send, via, on
  bool after_number = false;
  std::string aggregate_event;  // inside count(Event ... ): the event
  bool aggregate_head = false;  // right after `count(`
  bool aggregate_where = false;  // inside count(Event where ...: the filter
  // At the top level: inside the body of a `segment`, `const` or `fn` (after its `=`), an
  // expression; `params` are the function's parameter names.
  bool decl_body = false;
  std::vector<std::string> params;
  std::string self;  // that declaration's name: not offered in its own body (E0412)
};

std::string last_word(std::string_view s) {
  size_t e = s.size();
  while (e > 0 && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  size_t b = e;
  while (b > 0 && is_ident_char(s[b - 1])) --b;
  return std::string(s.substr(b, e - b));
}

// `text` with comments and string contents blanked, so braces and keywords in them do not count.
std::string code_only(std::string_view text) {
  std::string s(text);
  // A byte order mark is no code (it would glue to a first-line `strategy {`): blanked, offsets kept.
  if (support::starts_with_bom(s)) s.replace(0, support::kUtf8Bom.size(), support::kUtf8Bom.size(), ' ');
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      size_t j = i + 1;
      while (j < s.size() && s[j] != '"' && s[j] != '\n') {
        if (s[j] == '\\' && j + 1 < s.size()) s[j++] = ' ';
        s[j++] = ' ';
      }
      i = j;
    } else if (s[i] == '#' || (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '/')) {
      while (i < s.size() && s[i] != '\n') s[i++] = ' ';
    } else if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '*') {
      size_t j = s.find("*/", i + 2);
      j = j == std::string::npos ? s.size() : j + 2;
      for (size_t k = i; k < j; ++k)
        if (s[k] != '\n') s[k] = ' ';
      i = j - 1;
    }
  }
  return s;
}

Context context_at(std::string_view text, uint32_t off) {
  Context c;
  std::string code = code_only(text.substr(0, off));
  size_t b = code.size();
  while (b > 0 && is_ident_char(code[b - 1])) --b;
  c.word = code.substr(b);
  c.before = code.substr(0, b);
  // Braces: find the innermost open one and the keyword that opened it.
  std::vector<size_t> open;
  for (size_t i = 0; i < c.before.size(); ++i) {
    if (c.before[i] == '{') open.push_back(i);
    else if (c.before[i] == '}' && !open.empty()) open.pop_back();
  }
  c.depth = static_cast<int>(open.size());
  size_t block_start = 0;
  if (!open.empty()) {
    block_start = open.back();
    // The declaration keyword starts the line (or statement) holding the brace.
    size_t ls = c.before.rfind('\n', block_start);
    ls = ls == std::string::npos ? 0 : ls + 1;
    std::string head = c.before.substr(ls, block_start - ls);
    std::istringstream in(head);
    in >> c.block;
  }
  std::string_view blk(c.before);
  blk.remove_prefix(block_start);
  if (c.block == "strategy") {
    static const std::regex clause_re(R"((?:^|[\s{])(who|when|where|what|how[ \t]+much|split|priority|zone|exclusive|value|rollout)[ \t]*:)");
    std::string s(blk);
    for (std::sregex_iterator it(s.begin(), s.end(), clause_re), end; it != end; ++it) c.clause = (*it)[1].str();
    if (c.clause.rfind("how", 0) == 0) c.clause = "how much";
    static const std::regex on_re(R"(when[ \t]*:[ \t\n]*on[ \t\n]+([A-Za-z_][A-Za-z_0-9]*))");
    // The trigger may be written after the cursor too: look at the whole strategy block.
    size_t close = text.find('}', off);
    std::string whole = code_only(text.substr(block_start, (close == std::string::npos ? text.size() : close) - block_start));
    std::smatch m;
    if (std::regex_search(whole, m, on_re)) c.trigger = m[1].str();
    // A delayed trigger's `unless C where c == event.e`: left of `==` are C's fields.
    static const std::regex unless_re(R"(unless[ \t\n]+([A-Za-z_][A-Za-z_0-9]*)[ \t\n]+where\b)");
    if (c.clause == "when") {
      std::string s(blk);
      for (std::sregex_iterator it(s.begin(), s.end(), unless_re), end; it != end; ++it) c.cancel_where = (*it)[1].str();
    }
  }
  std::string_view bf(c.before);
  if (!bf.empty() && bf.back() == '.') {
    c.member_of = last_word(bf.substr(0, bf.size() - 1));
    // `last(Order where paid).`: the whole event (language.md §3.4), so Order's fields.
    if (bf.size() >= 2 && bf[bf.size() - 2] == ')') {
      int depth = 0;
      for (size_t i = bf.size() - 1; i-- > 0;) {
        if (bf[i] == ')') ++depth;
        else if (bf[i] == '(' && --depth == 0) {
          std::string callee = last_word(bf.substr(0, i));
          static const std::regex ev_re(R"(^\s*([A-Za-z_][A-Za-z_0-9]*))");
          std::string inside(bf.substr(i + 1));
          std::smatch m;
          if ((callee == "first" || callee == "last") && std::regex_search(inside, m, ev_re)) c.member_of = m[1].str();
          break;
        }
      }
    }
  }
  c.prev_word = last_word(bf);
  static const std::regex num_re(R"((^|[^A-Za-z_0-9.])[0-9]+(\.[0-9]+)?[ \t]*$)");
  c.after_number = std::regex_search(c.before, num_re);
  // An unclosed aggregate call: count( Event . field where ...
  int par = 0;
  for (size_t i = c.before.size(); i-- > block_start;) {
    char ch = c.before[i];
    if (ch == ')') ++par;
    else if (ch == '(') {
      if (par > 0) {
        --par;
        continue;
      }
      std::string callee = last_word(std::string_view(c.before).substr(0, i));
      static const std::set<std::string> aggs = {"count", "sum", "avg", "min", "max", "first", "last", "exists"};
      if (aggs.count(callee)) {
        std::string inside = c.before.substr(i + 1);
        static const std::regex ev_re(R"(^\s*([A-Za-z_][A-Za-z_0-9]*))");
        std::smatch m;
        if (std::regex_search(inside, m, ev_re)) c.aggregate_event = m[1].str();
        else c.aggregate_head = true;
        static const std::regex where_re(R"(\bwhere\b)");
        c.aggregate_where = std::regex_search(inside, where_re);
      }
      break;
    } else if (ch == '\n' && par == 0 && i + 1 < c.before.size() && c.before.find(':', i) != std::string::npos &&
               c.before.substr(i).find_first_of("(") == std::string::npos) {
      break;
    }
  }
  if (c.depth == 0) {
    // The declaration the cursor is in: the last one starting a line before it.
    static const std::regex decl_re(
        R"((?:^|\n)[ \t]*(module|import|zone|profile|event|enum|const|segment|fn|resource|strategy|policy|pool)\b)");
    std::string kw;
    size_t at = std::string::npos;
    for (std::sregex_iterator it(c.before.begin(), c.before.end(), decl_re), end; it != end; ++it) {
      kw = (*it)[1].str();
      at = static_cast<size_t>(it->position(1));
    }
    if (kw == "segment" || kw == "const" || kw == "fn") {
      // Its body starts at the first `=` outside parentheses (a parameter's default is inside)
      // that is no comparison (`==`, `>=`, `<=`, `!=`).
      std::string_view decl = std::string_view(c.before).substr(at);
      int par = 0;
      for (size_t i = 0; i < decl.size(); ++i) {
        char ch = decl[i];
        if (ch == '(') ++par;
        else if (ch == ')' && par > 0) --par;
        else if (ch == '=' && par == 0 && (i + 1 >= decl.size() || decl[i + 1] != '=') &&
                 (i == 0 || std::string_view("=<>!").find(decl[i - 1]) == std::string_view::npos)) {
          c.decl_body = true;
          break;
        }
      }
      static const std::regex self_re(R"(^(?:segment|const|fn)[ \t\n]+([A-Za-z_][A-Za-z_0-9]*))");
      std::string d(decl);
      std::smatch sm;
      if (c.decl_body && std::regex_search(d, sm, self_re)) c.self = sm[1].str();
      static const std::regex params_re(R"(^fn[ \t\n]+[A-Za-z_][A-Za-z_0-9]*[ \t\n]*\(([^)]*)\))");
      static const std::regex param_re(R"((?:^|,)[ \t\n]*([A-Za-z_][A-Za-z_0-9]*)[ \t\n]*:)");
      std::string head(decl);
      std::smatch m;
      if (kw == "fn" && std::regex_search(head, m, params_re)) {
        std::string list = m[1].str();
        for (std::sregex_iterator it(list.begin(), list.end(), param_re), end; it != end; ++it) c.params.push_back((*it)[1].str());
      }
    }
  }
  return c;
}

}  // namespace

std::vector<CompletionCandidate> Workspace::completion(const std::string& path, TextPosition at) {
  std::vector<CompletionCandidate> out;
  try {
    Document* d = impl_->doc(path);
    if (!d) return out;
    auto off = offset_of(d->text, d->starts, at);
    if (!off) return out;
    Context cx = context_at(d->text, *off);
    const Analysis* a = d->last_checked ? d->last_checked.get() : d->analysis ? d->analysis.get() : nullptr;
    const sema::Program* p = a && a->c ? a->program() : nullptr;
    std::set<std::string> labels;
    auto add = [&](std::string label, SymbolKind k, std::string detail = {}, std::string doc = {}, std::string insert = {}) {
      if (label == cx.self && (k == SymbolKind::Segment || k == SymbolKind::Constant || k == SymbolKind::Function)) return;
      if (labels.insert(label).second) out.push_back({std::move(label), k, std::move(detail), std::move(doc), std::move(insert)});
    };
    auto fields_of = [&](const sema::RecordInfo* r) {
      if (r)
        for (auto& f : r->fields) add(f.name, SymbolKind::Field, f.type.to_string(), r->is_profile ? "profile field" : "field of `" + r->name + "`");
    };
    auto event_of = [&](const std::string& n) -> const sema::RecordInfo* {
      if (!p) return nullptr;
      auto it = p->events.find(n);
      return it == p->events.end() ? nullptr : it->second.get();
    };
    auto events = [&]() {
      if (p)
        for (auto& [n, r] : p->events) add(n, SymbolKind::Event, "event", "");
    };
    auto decls = [&](ast::DeclKind kind) {
      if (!p) return;
      for (auto& m : p->modules)
        for (auto& [n, s] : m.symbols) {
          if (!s.decl || s.decl->kind != kind) continue;
          std::string doc = s.decl->span.valid() ? doc_comment(p->sources.file(s.decl->span.file).text(), s.decl->span.begin) : "";
          switch (kind) {
            case ast::DeclKind::Fn: {
              auto* f = static_cast<const ast::FnDecl*>(s.decl);
              add(n, SymbolKind::Function, "fn " + fn_signature(f), doc);
              break;
            }
            case ast::DeclKind::Segment: add(n, SymbolKind::Segment, "segment", doc); break;
            case ast::DeclKind::Const: {
              auto* c = static_cast<const ast::ConstDecl*>(s.decl);
              const sema::Type& t = p->type_of(c->value);
              add(n, SymbolKind::Constant, t.is_error() ? "const" : t.to_string(), doc);
              break;
            }
            case ast::DeclKind::Resource:
              add(n, SymbolKind::Resource, static_cast<const ast::ResourceDecl*>(s.decl)->resource_kind, doc);
              break;
            case ast::DeclKind::Pool: add(n, SymbolKind::Pool, "pool", doc); break;
            default: break;
          }
        }
    };
    auto enum_values = [&]() {
      if (p)
        for (auto& e : p->enums)
          for (auto& v : e.values) add(e.name + "." + v, SymbolKind::EnumValue, "enum " + e.name);
    };
    auto builtins = [&]() {
      for (auto& b : bytecode::all_builtins()) add(b.name, SymbolKind::Builtin, b.signature, b.description);
      for (const char* agg : {"count", "sum", "avg", "min", "max", "first", "last", "exists"})
        add(agg, SymbolKind::Keyword, "aggregate", "`" + std::string(agg) + "(Event.field where ... within ...)`");
      add("received", SymbolKind::Keyword, "delivery history",
          "`received(strategy or resource, channel: C, code: \"X\")`: the user's own deliveries (alone: exists; "
          "`count(received(...) within 7 days)`)");
      add("redeemed", SymbolKind::Keyword, "delivery history",
          "`redeemed(strategy or resource)`: redemptions of the user's grants (`exists(redeemed(...))`)");
    };
    auto expression = [&](bool event_fields) {
      if (event_fields) fields_of(event_of(cx.trigger));
      if (p) fields_of(&p->profile);
      decls(ast::DeclKind::Segment);
      decls(ast::DeclKind::Fn);
      decls(ast::DeclKind::Const);
      enum_values();
      builtins();
      for (const char* kw : {"and", "or", "not", "in", "between", "if", "then", "else", "true", "false", "profile"})
        add(kw, SymbolKind::Keyword);
      if (event_fields) add("event", SymbolKind::Keyword);
    };

    if (!cx.member_of.empty()) {
      if (cx.member_of == "profile" && p) fields_of(&p->profile);
      else if (cx.member_of == "event") fields_of(event_of(cx.trigger));
      else if (auto* r = event_of(cx.member_of)) fields_of(r);
      else if (p)
        for (auto& e : p->enums)
          if (e.name == cx.member_of)
            for (auto& v : e.values) add(v, SymbolKind::EnumValue, "enum " + e.name);
      return out;
    }
    if (cx.after_number && cx.word.empty() == false) {
      // `30 d|`: a unit.
    }
    if (cx.after_number) {
      for (const char* u : {"days", "day", "hours", "hour", "minutes", "minute", "seconds", "second", "weeks", "week"})
        add(u, SymbolKind::Unit, "duration unit");
      std::set<std::string> currencies;
      if (p) {
        std::function<void(const sema::Type&)> cur = [&](const sema::Type& t) {
          if (t.kind == sema::TypeKind::Money && !t.currency.empty()) currencies.insert(t.currency);
          if (t.elem) cur(*t.elem);
        };
        for (auto& f : p->profile.fields) cur(f.type);
        for (auto& [n, r] : p->events)
          for (auto& f : r->fields) cur(f.type);
      }
      if (currencies.empty()) currencies = {"CNY", "USD", "EUR", "GBP"};
      for (auto& c : currencies) add(c, SymbolKind::Unit, "currency");
      return out;
    }
    if (cx.aggregate_head) {
      events();
      return out;
    }
    if (!cx.aggregate_event.empty()) {
      if (!cx.aggregate_where) {
        // `count(Order |`: a filter or a window comes next.
        for (const char* kw : {"where", "within", "last", "previous", "since"}) add(kw, SymbolKind::Keyword);
        return out;
      }
      // A filter reads only the counted event's fields and constants (E0418), builtins of them
      // (not `now()`, `today()`), then a window may follow.
      fields_of(event_of(cx.aggregate_event));
      decls(ast::DeclKind::Const);
      enum_values();
      for (auto& b : bytecode::all_builtins())
        if (std::string_view(b.name) != "now" && std::string_view(b.name) != "today")
          add(b.name, SymbolKind::Builtin, b.signature, b.description);
      for (const char* kw : {"and", "or", "not", "in", "between", "if", "then", "else", "true", "false", "within", "last",
                             "previous", "since"})
        add(kw, SymbolKind::Keyword);
      return out;
    }
    if (cx.prev_word == "grant" || cx.prev_word == "send") {
      decls(ast::DeclKind::Resource);
      return out;
    }
    if (cx.prev_word == "via") {
      if (p)
        for (auto& e : p->enums)
          if (e.name == "Channel")
            for (auto& v : e.values) add(v, SymbolKind::Channel, "channel");
      return out;
    }
    if ((cx.prev_word == "on" || cx.prev_word == "unless") && cx.clause == "when") {
      events();
      return out;
    }
    // At the start of a line: declarations at the top level, clauses in a strategy.
    std::string_view line(cx.before);
    size_t nl = line.rfind('\n');
    std::string_view line_head = nl == std::string_view::npos ? line : line.substr(nl + 1);
    bool line_start = line_head.find_first_not_of(" \t") == std::string_view::npos;
    if (cx.depth == 0) {
      // In a segment, constant or function body: an expression (tester F9: only the declaration
      // keywords were offered there). At the start of an unindented line the next declaration
      // may begin as well, so its keywords come too.
      bool new_decl = !cx.decl_body || (line_start && line_head.empty());
      if (cx.decl_body) {
        for (auto& prm : cx.params) add(prm, SymbolKind::Parameter, "parameter");
        expression(false);
      }
      if (new_decl)
        for (const char* kw : {"module", "import", "zone", "profile", "event", "enum", "const", "segment", "fn", "resource",
                               "strategy", "policy", "pool"})
          add(kw, SymbolKind::Keyword);
      return out;
    }
    if (cx.block == "strategy" && line_start) {
      for (const char* kw : {"who", "when", "where", "what", "how much", "split", "priority", "zone", "exclusive", "value",
                             "rollout"})
        add(std::string(kw) + ":", SymbolKind::Keyword, "clause", "", std::string(kw) + ": ");
      return out;
    }
    if (cx.block == "strategy") {
      if (cx.clause == "who") expression(false);
      else if (cx.clause == "where" || cx.clause == "value") expression(true);
      else if (cx.clause == "when" && !cx.cancel_where.empty()) {
        fields_of(event_of(cx.cancel_where));  // `unless C where c == event.e and ...`
        for (const char* kw : {"and", "event"}) add(kw, SymbolKind::Keyword);
      } else if (cx.clause == "when") {
        for (const char* kw : {"on", "at", "every", "between", "and", "if", "after", "unless", "where"}) add(kw, SymbolKind::Keyword);
        if (!cx.trigger.empty()) expression(true);
      } else if (cx.clause == "what") {
        for (const char* kw : {"grant", "send", "to", "with chance", "salt", "via", "code", "for arm"})
          add(kw, SymbolKind::Keyword);
      } else if (cx.clause == "how much") {
        for (const char* kw : {"budget", "stock", "per user", "pacing", "per", "campaign", "day", "week", "from pool"})
          add(kw, SymbolKind::Keyword);
        decls(ast::DeclKind::Const);
        decls(ast::DeclKind::Pool);
      } else if (cx.clause == "split") {
        for (const char* kw : {"control", "variants", "salt"}) add(kw, SymbolKind::Keyword);
      } else if (cx.clause == "rollout") {
        // `rollout: best of (A, B) by roi after 3 days`: the keywords and the metrics.
        for (const char* kw : {"best of", "by", "after", "conversion", "spend_per_user", "roi"}) add(kw, SymbolKind::Keyword);
      } else {
        expression(false);
      }
      return out;
    }
    if (cx.block == "resource" && line_start) {
      // Every kind's properties (type_checker.cc props_for), messages' texts and costs included.
      for (const char* kw : {"discount", "threshold", "category", "item", "store", "city", "claim", "use", "decay",
                             "fixed_from_third", "funded", "amount", "title", "body", "text", "subject", "link", "cost"})
        add(std::string(kw) + ":", SymbolKind::Keyword, "property", "", std::string(kw) + ": ");
      return out;
    }
    if ((cx.block == "profile" || cx.block == "event") && !line_start) {
      for (const char* t : {"Int", "Decimal", "Money", "String", "Bool", "Time", "Date", "Duration", "Set", "List"})
        add(t, SymbolKind::Keyword, "type");
      if (p)
        for (auto& e : p->enums) add(e.name, SymbolKind::Enum, "enum");
      return out;
    }
    expression(false);
  } catch (...) {
  }
  return out;
}

namespace {
// The parameter the cursor's argument fills: the one it names (`silent_after: |`), else the first
// not given yet by an earlier argument, by position or by name (tester F21: it was the count of
// commas, so `stage(churn_after: |` showed the first parameter). `args` runs from after the `(`
// to the cursor; `names` are the parameters' names.
uint32_t active_parameter(std::string_view args, const std::vector<std::string>& names) {
  std::vector<std::string_view> parts;
  int depth = 0;
  size_t from = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    char ch = args[i];
    if (ch == '(' || ch == '[' || ch == '{') ++depth;
    else if ((ch == ')' || ch == ']' || ch == '}') && depth > 0) --depth;
    else if (ch == ',' && depth == 0) {
      parts.push_back(args.substr(from, i - from));
      from = i + 1;
    }
  }
  parts.push_back(args.substr(from));
  // `name:` at the start of an argument (a time's `12:00` starts with a digit).
  auto named = [](std::string_view a) -> std::string {
    size_t i = a.find_first_not_of(" \t\r\n");
    if (i == std::string_view::npos || !(std::isalpha(static_cast<unsigned char>(a[i])) || a[i] == '_')) return {};
    size_t e = i;
    while (e < a.size() && is_ident_char(a[e])) ++e;
    size_t colon = a.find_first_not_of(" \t\r\n", e);
    return colon != std::string_view::npos && a[colon] == ':' ? std::string(a.substr(i, e - i)) : std::string{};
  };
  auto index_of = [&](const std::string& n) {
    return static_cast<uint32_t>(std::find(names.begin(), names.end(), n) - names.begin());
  };
  if (std::string n = named(parts.back()); !n.empty()) return index_of(n);  // names.size(): none
  std::vector<bool> given(names.size(), false);
  for (size_t k = 0; k + 1 < parts.size(); ++k) {
    uint32_t i = static_cast<uint32_t>(k);
    if (std::string n = named(parts[k]); !n.empty()) i = index_of(n);
    if (i < given.size()) given[i] = true;
  }
  for (uint32_t i = 0; i < given.size(); ++i)
    if (!given[i]) return i;
  return static_cast<uint32_t>(parts.size() - 1);
}
}  // namespace

std::optional<SignatureHelp> Workspace::signature_help(const std::string& path, TextPosition at) {
  try {
    Document* d = impl_->doc(path);
    if (!d) return std::nullopt;
    auto off = offset_of(d->text, d->starts, at);
    if (!off) return std::nullopt;
    std::string code = code_only(std::string_view(d->text).substr(0, *off));
    int par = 0;
    for (size_t i = code.size(); i-- > 0;) {
      char ch = code[i];
      if (ch == ')' || ch == ']') ++par;
      else if ((ch == '(' || ch == '[') && par > 0) --par;
      else if (ch == '{' || ch == '}') return std::nullopt;
      else if (ch == '(' && par == 0) {
        std::string callee = last_word(std::string_view(code).substr(0, i));
        const Analysis* a = d->last_checked ? d->last_checked.get() : d->analysis.get();
        if (a && a->c)
          for (auto& m : a->c->program.modules)
            if (auto it = m.symbols.find(callee); it != m.symbols.end() && it->second.decl &&
                                                  it->second.decl->kind == ast::DeclKind::Fn) {
              auto* f = static_cast<const ast::FnDecl*>(it->second.decl);
              SignatureHelp h;
              h.label = fn_signature(f, &h.parameters);
              h.documentation = doc_comment(a->c->program.sources.file(f->span.file).text(), f->span.begin);
              std::vector<std::string> names;
              for (auto* prm : f->params)
                if (prm) names.push_back(prm->name);
              h.active_parameter = active_parameter(std::string_view(code).substr(i + 1), names);
              return h;
            }
        if (const auto* b = bytecode::find_builtin(callee)) {
          SignatureHelp h;
          h.label = b->signature;
          h.documentation = b->description;
          // Parameters sit between the parentheses, separated by ", ".
          size_t lp = h.label.find('('), rp = h.label.find(')');
          if (lp != std::string::npos && rp != std::string::npos && rp > lp + 1) {
            size_t s = lp + 1;
            while (s < rp) {
              size_t e = h.label.find(", ", s);
              if (e == std::string::npos || e > rp) e = rp;
              h.parameters.push_back({static_cast<uint32_t>(s), static_cast<uint32_t>(e)});
              s = e + 2;
            }
          }
          // A builtin's parameters are `name: Type` (or `name: Type = default`) in its label.
          std::vector<std::string> names;
          for (auto [b0, e0] : h.parameters) {
            std::string prm = h.label.substr(b0, e0 - b0);
            names.push_back(prm.substr(0, prm.find(':')));
          }
          h.active_parameter = active_parameter(std::string_view(code).substr(i + 1), names);
          return h;
        }
        return std::nullopt;
      }
    }
  } catch (...) {
  }
  return std::nullopt;
}

namespace {
// Declared in the standard library: its keys name the declaration's place, "<stdlib>/...#N" (a use
// in the user's file is not `standard`, but what it names is).
bool standard_symbol(const Occurrence& o) {
  return o.standard || o.key.rfind("<stdlib>/", 0) == 0 || (o.t.module && o.t.module->is_std);
}

bool renamable(const Occurrence& o) {
  if (standard_symbol(o)) return false;
  switch (o.t.kind) {
    case SymbolKind::Segment:
    case SymbolKind::Function:
    case SymbolKind::Resource:
    case SymbolKind::Constant:
    case SymbolKind::Parameter: return true;
    default: return false;
  }
}
// Why `name` cannot be a new name in the program `a` analysed (empty: it can); see rename().
std::string rename_conflict(const Analysis& a, const std::string& name) {
  if (bytecode::find_builtin(name)) return "it is a builtin function";
  const sema::Program* p = a.program();
  if (!p) return {};
  if (p->profile.index.count(name)) return "the profile has a field of that name";
  for (const auto& [event, info] : p->events) {
    if (event == name) return "an event has that name";
    if (info && info->index.count(name)) return "event `" + event + "` has a field of that name";
  }
  for (const auto& m : p->modules)
    if (m.symbols.count(name)) return "the program already declares it";
  for (const auto& o : a.occ)
    if (o.end > o.begin && a.text(o.file).substr(o.begin, o.end - o.begin) == name)
      return "the program already uses that name";
  return {};
}
}  // namespace

std::optional<TextRange> Workspace::prepare_rename(const std::string& path, TextPosition at) {
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return std::nullopt;
    const Occurrence* o = impl_->occurrence_at(*a, path, at);
    if (!o || !renamable(*o)) return std::nullopt;
    return a->range(o->file, o->begin, o->end);
  } catch (...) {
    return std::nullopt;
  }
}

RenameResult Workspace::rename(const std::string& path, TextPosition at, const std::string& new_name) {
  RenameResult r;
  try {
    const Analysis* a = impl_->current(path);
    const Occurrence* o = a ? impl_->occurrence_at(*a, path, at) : nullptr;
    if (!o) {
      r.error = "no symbol to rename here";
      return r;
    }
    if (!renamable(*o)) {
      r.error = standard_symbol(*o) ? "symbols of the standard library cannot be renamed"
                            : std::string(std::string_view("aeiou").find(symbol_kind_name(o->t.kind)[0]) != std::string_view::npos
                                                      ? "an "
                                                      : "a ") +
                                          symbol_kind_name(o->t.kind) + " cannot be renamed";
      return r;
    }
    if (!is_identifier(new_name) || reserved_words().count(new_name)) {
      r.error = "`" + new_name + "` is not a valid name";
      return r;
    }
    // A name already in use anywhere the renamed symbol could be seen would capture or shadow it:
    // `const k` renamed to a profile field `a` made `a > k` read `a > a`, a program that still
    // checks and counts other users. Refused when the new name is a builtin function, a field of
    // the profile or of any event (`user`, `id` and `time` included), an event, or any name the
    // program's files write (declarations, parameters, enum values), conservatively: a name a
    // distant scope also uses is refused too.
    const bool same = a->text(o->file).substr(o->begin, o->end - o->begin) == new_name;  // no change: no conflict
    if (std::string why = same ? std::string() : rename_conflict(*a, new_name); !why.empty()) {
      r.error = "cannot rename to `" + new_name + "`: " + why;
      return r;
    }
    std::string key = o->key;
    // Only files the editor holds or the workspace contains are edited: a name also written in the
    // standard library or in a file imported from elsewhere (an include directory) is not renamed.
    auto inside = [&](const std::string& p) {
      if (impl_->docs.count(p)) return true;
      if (p.rfind("<stdlib>/", 0) == 0) return false;
      for (auto& f : impl_->options.folders) {
        auto rel = fs::path(p).lexically_relative(f);
        if (!rel.empty() && *rel.begin() != "..") return true;
      }
      return false;
    };
    for (auto& loc : impl_->locations_of(key, true, true, true)) {
      if (!inside(loc.path)) {
        r.edits.clear();
        r.error = "the name also appears in `" + loc.path + "`, outside the workspace: it cannot be renamed";
        return r;
      }
      r.edits[loc.path].push_back({loc.range, new_name});
    }
    r.ok = true;
  } catch (const std::exception& e) {
    r.error = e.what();
  }
  return r;
}

FormatEdits Workspace::format(const std::string& path, const std::optional<TextRange>& range) {
  FormatEdits out;
  try {
    auto it = impl_->docs.find(path);
    if (it == impl_->docs.end()) return out;
    const Document& d = it->second;
    FormatResult f = format_source(path, d.text, impl_->options.limits);
    if (!f.ok) return out;
    out.ok = true;
    // The formatter drops a byte order mark; the buffer keeps it (its encoding is the editor's):
    // no edit removes it, and line 0's hunks are computed on the same footing.
    if (support::starts_with_bom(d.text) && !support::starts_with_bom(f.text)) f.text.insert(0, support::kUtf8Bom);
    for (auto& h : line_diff(d.text, f.text)) {
      if (range && (h.line > range->end.line || h.line + std::max<uint32_t>(h.count, 1) <= range->start.line)) continue;
      TextEdit e;
      e.range.start = {h.line, 0};
      e.range.end = {h.line + h.count, 0};
      e.new_text = h.text;
      out.edits.push_back(std::move(e));
    }
  } catch (...) {
    out.ok = false;
    out.edits.clear();
  }
  return out;
}

std::vector<SemanticToken> Workspace::semantic_tokens(const std::string& path) {
  std::vector<SemanticToken> out;
  try {
    const Analysis* a = impl_->current(path);
    if (!a) return out;
    auto fit = a->file_of.find(path);
    if (fit == a->file_of.end()) return out;
    uint32_t last_end = 0;
    bool any = false;
    for (auto& o : a->occ) {
      if (o.file != fit->second || (any && o.begin < last_end)) continue;
      TextRange r = a->range(o.file, o.begin, o.end);
      if (r.start.line != r.end.line) continue;
      SemanticToken t;
      t.start = r.start;
      t.length = r.end.character - r.start.character;
      t.kind = o.t.kind;
      t.declaration = o.decl;
      t.standard = o.standard || o.t.kind == SymbolKind::Builtin || (o.t.module && o.t.module->is_std);
      out.push_back(t);
      last_end = o.end;
      any = true;
    }
  } catch (...) {
    out.clear();
  }
  return out;
}

}  // namespace crm
