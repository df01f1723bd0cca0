// semantic_model.cc - indexes a checked program's side tables by symbol and position.
#include "compiler/sema/semantic_model.h"

#include <algorithm>

namespace crm::sema {

using namespace crm::ast;
using source::FileId;
using source::Span;

const char* to_string(SymbolKind kind) {
  switch (kind) {
    case SymbolKind::Module: return "module";
    case SymbolKind::ProfileField: return "profile field";
    case SymbolKind::Event: return "event";
    case SymbolKind::EventField: return "event field";
    case SymbolKind::Enum: return "enum";
    case SymbolKind::EnumValue: return "enum value";
    case SymbolKind::Const: return "const";
    case SymbolKind::Segment: return "segment";
    case SymbolKind::Function: return "function";
    case SymbolKind::Param: return "parameter";
    case SymbolKind::Resource: return "resource";
    case SymbolKind::Strategy: return "strategy";
    case SymbolKind::Policy: return "policy";
    case SymbolKind::Builtin: return "built-in function";
    case SymbolKind::Pool: return "budget pool";
  }
  return "?";
}

namespace {

bool contains(Span s, FileId file, uint32_t offset) {
  return s.valid() && s.file == file && s.begin <= offset && offset <= s.end;
}
// Strictly inside wins over touching the end (a cursor between `a` and `+` means `a`).
bool better(Span cand, Span best, uint32_t offset) {
  bool ci = offset < cand.end, bi = offset < best.end;
  if (ci != bi) return ci;
  return cand.end - cand.begin < best.end - best.begin;
}

std::string type_text(const TypeRef* t) {
  if (!t) return "?";
  std::string s = t->name;
  if (!t->currency.empty()) s += "(" + t->currency + ")";
  if (t->elem) s += "<" + type_text(t->elem) + ">";
  if (t->optional) s += "?";
  return s;
}

Span name_prefix(Span s, const std::string& name) {
  return {s.file, s.begin, static_cast<uint32_t>(s.begin + name.size())};
}

}  // namespace

SemanticModel::SemanticModel(const Program& program) : p_(program) {
  build_symbols();
  build_occurrences();
  build_expressions();
}

SemanticModel::Key SemanticModel::key_of(const Target& t) {
  return std::visit(
      [&](const auto& x) -> Key {
        using X = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<X, std::monostate>) return {0, nullptr, 0};
        else if constexpr (std::is_same_v<X, EnumValueRef>) return {t.index(), x.info, x.index};
        else return {t.index(), static_cast<const void*>(x), 0};
      },
      t);
}

SymbolId SemanticModel::add(SymbolInfo s) {
  auto id = static_cast<SymbolId>(symbols_.size());
  auto [it, fresh] = by_target_.emplace(key_of(s.target), id);
  if (!fresh) return it->second;
  symbols_.push_back(std::move(s));
  return id;
}

void SemanticModel::add_declaration(const Target& t, Span span) {
  SymbolId id = symbol_of(t);
  if (id != kNoSymbol && span.valid()) extra_declarations_.push_back({span, id});
}

SymbolId SemanticModel::symbol_of(const Target& target) const {
  auto it = by_target_.find(key_of(target));
  return it == by_target_.end() ? kNoSymbol : it->second;
}

std::string SemanticModel::doc_comment(FileId file, uint32_t offset) const {
  if (file >= p_.sources.size()) return {};
  std::string_view text = p_.sources.file(file).text();
  if (offset > text.size()) return {};
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
  };
  size_t line_begin = text.rfind('\n', offset == 0 ? 0 : offset - 1);
  line_begin = line_begin == std::string_view::npos || offset == 0 ? 0 : line_begin + 1;
  // The declaration must start its line: `a, b` lists have no comment of their own.
  if (!trim(text.substr(line_begin, offset - line_begin)).empty()) return {};
  std::vector<std::string> lines;
  bool in_block = false;
  size_t end = line_begin;  // one past the '\n' ending the previous line
  while (end > 0) {
    size_t prev_end = end - 1;  // the '\n'
    size_t b = text.rfind('\n', prev_end == 0 ? 0 : prev_end - 1);
    b = (b == std::string_view::npos || prev_end == 0) ? 0 : b + 1;
    std::string_view line = trim(text.substr(b, prev_end - b));
    if (in_block) {
      size_t open = line.find("/*");
      std::string_view body = open == std::string_view::npos ? line : line.substr(open + 2);
      body = trim(body);
      if (!body.empty() && body.front() == '*') body = trim(body.substr(1));
      lines.emplace_back(body);
      if (open != std::string_view::npos) in_block = false;
    } else if (line.substr(0, 2) == "//" || line.substr(0, 1) == "#") {
      line.remove_prefix(line.front() == '#' ? 1 : 2);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      lines.emplace_back(line);
    } else if (line.size() >= 2 && line.substr(line.size() - 2) == "*/") {
      line.remove_suffix(2);
      size_t open = line.find("/*");
      if (open != std::string_view::npos) {
        lines.emplace_back(trim(line.substr(open + 2)));
      } else {
        in_block = true;
        lines.emplace_back(trim(line));
      }
    } else {
      break;
    }
    end = b;
  }
  std::string out;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (!out.empty()) out += '\n';
    out += *it;
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  while (!out.empty() && out.front() == '\n') out.erase(0, 1);
  return out;
}

void SemanticModel::build_symbols() {
  auto field_symbol = [&](SymbolKind kind, const FieldInfo& f, const std::string& container, const ModuleInfo* m,
                          bool std) {
    SymbolInfo s;
    s.kind = kind;
    s.name = f.name;
    s.container = container;
    s.target = &f;
    s.detail = f.type.to_string();
    if (f.decl) {
      s.span = f.decl->name_span;
      s.decl_span = f.decl->span;
      s.doc = doc_comment(f.decl->span.file, f.decl->span.begin);
      s.module = m ? m->name : "";
      s.is_std = std;
    }
    add(std::move(s));
  };
  for (const FieldInfo& f : p_.profile.fields)
    if (!f.decl) field_symbol(SymbolKind::ProfileField, f, "profile", nullptr, false);
  // Built-in fields of every event, declared by no module.
  for (const auto& [name, rec] : p_.events)
    for (const FieldInfo& f : rec->fields)
      if (!f.decl) field_symbol(SymbolKind::EventField, f, name, nullptr, false);

  for (const ModuleInfo& m : p_.modules) {
    SymbolInfo ms;
    ms.kind = SymbolKind::Module;
    ms.name = m.name;
    ms.module = m.name;
    ms.detail = m.path;
    ms.is_std = m.is_std;
    ms.target = &m;
    if (m.ast) {
      ms.span = m.ast->name_span;
      ms.decl_span = m.ast->span;
      if (m.ast->name_span.valid()) ms.doc = doc_comment(m.ast->name_span.file, m.ast->name_span.begin);
    }
    add(std::move(ms));
    if (!m.ast) continue;
    for (const Decl* d : m.ast->decls) {
      if (!d) continue;
      auto decl_symbol = [&](SymbolKind kind, std::string detail) {
        SymbolInfo s;
        s.kind = kind;
        s.name = d->name;
        s.module = m.name;
        s.span = d->name_span;
        s.decl_span = d->span;
        s.doc = doc_comment(d->span.file, d->span.begin);
        s.detail = std::move(detail);
        s.is_std = m.is_std;
        s.target = d;
        return add(std::move(s));
      };
      switch (d->kind) {
        case DeclKind::Profile:
        case DeclKind::Event: {
          const RecordInfo* rec = &p_.profile;
          const auto& fields = d->kind == DeclKind::Profile ? static_cast<const ProfileDecl*>(d)->fields
                                                             : static_cast<const EventDecl*>(d)->fields;
          if (d->kind == DeclKind::Event) {
            auto it = p_.events.find(d->name);
            if (it == p_.events.end()) break;  // not checked (syntax errors before checking)
            rec = it->second.get();
            if (symbol_of(rec) == kNoSymbol) {
              SymbolInfo s;
              s.kind = SymbolKind::Event;
              s.name = d->name;
              s.module = m.name;
              s.span = d->name_span;
              s.decl_span = d->span;
              s.doc = doc_comment(d->span.file, d->span.begin);
              s.detail = "event " + d->name;
              s.is_std = m.is_std;
              s.target = rec;
              add(std::move(s));
            } else {
              add_declaration(rec, d->name_span);
            }
          }
          for (const FieldDecl* fd : fields) {
            if (!fd) continue;
            const FieldInfo* fi = rec->find(fd->name);
            if (!fi) continue;
            if (fi->decl == fd)
              field_symbol(rec->is_profile ? SymbolKind::ProfileField : SymbolKind::EventField, *fi,
                           rec->is_profile ? "profile" : rec->name, &m, m.is_std);
            else
              add_declaration(fi, fd->name_span);
          }
          break;
        }
        case DeclKind::Enum: {
          auto* ed = static_cast<const EnumDecl*>(d);
          std::string values;
          for (const auto& v : ed->values) values += (values.empty() ? "" : ", ") + v.name;
          decl_symbol(SymbolKind::Enum, "enum " + d->name + " { " + values + " }");
          auto it = p_.enum_of.find(ed);
          if (it == p_.enum_of.end()) break;
          const EnumInfo* info = it->second;
          for (const auto& v : ed->values) {
            int idx = info->find(v.name);
            if (idx < 0) continue;
            EnumValueRef ref{info, idx};
            if (symbol_of(ref) != kNoSymbol) continue;  // listed twice (E0306): the first one
            SymbolInfo s;
            s.kind = SymbolKind::EnumValue;
            s.name = v.name;
            s.container = ed->name;
            s.module = m.name;
            s.span = v.span;
            s.decl_span = v.span;
            s.doc = doc_comment(v.span.file, v.span.begin);
            s.detail = ed->name + "." + v.name;
            s.is_std = m.is_std;
            s.target = ref;
            add(std::move(s));
          }
          break;
        }
        case DeclKind::Const: {
          auto* c = static_cast<const ConstDecl*>(d);
          std::string detail = "const " + d->name;
          auto t = p_.decl_types.find(d);
          if (t != p_.decl_types.end() && !t->second.is_error()) {
            detail += ": " + t->second.to_string();
            if (const Value* v = p_.const_of(c->value)) detail += " = " + v->to_string(t->second);
          } else if (c->type) {
            detail += ": " + type_text(c->type);
          }
          decl_symbol(SymbolKind::Const, detail);
          break;
        }
        case DeclKind::Segment: decl_symbol(SymbolKind::Segment, "segment " + d->name + ": Bool"); break;
        case DeclKind::Fn: {
          auto* f = static_cast<const FnDecl*>(d);
          std::string sig = "fn " + d->name + "(";
          for (size_t i = 0; i < f->params.size(); ++i) {
            if (!f->params[i]) continue;
            sig += (i ? ", " : "") + f->params[i]->name + ": " + type_text(f->params[i]->type);
            if (f->params[i]->default_value) {
              Span ds = f->params[i]->default_value->span;
              if (ds.valid() && ds.file < p_.sources.size())
                sig += " = " + std::string(p_.sources.file(ds.file).text().substr(ds.begin, ds.end - ds.begin));
            }
          }
          sig += "): " + type_text(f->result);
          decl_symbol(SymbolKind::Function, sig);
          for (const Param* prm : f->params) {
            if (!prm) continue;
            SymbolInfo s;
            s.kind = SymbolKind::Param;
            s.name = prm->name;
            s.container = d->name;
            s.module = m.name;
            s.span = name_prefix(prm->span, prm->name);
            s.decl_span = prm->span;
            s.detail = prm->name + ": " + type_text(prm->type);
            s.is_std = m.is_std;
            s.target = prm;
            add(std::move(s));
          }
          break;
        }
        case DeclKind::Resource:
          decl_symbol(SymbolKind::Resource,
                      "resource " + d->name + ": " + static_cast<const ResourceDecl*>(d)->resource_kind);
          break;
        case DeclKind::Strategy: {
          auto* s = static_cast<const StrategyDecl*>(d);
          decl_symbol(SymbolKind::Strategy, "strategy " + d->name + (s->has_business ? " for " + s->business : ""));
          break;
        }
        case DeclKind::Pool: decl_symbol(SymbolKind::Pool, "pool " + d->name); break;
        case DeclKind::Policy: {
          auto* pd = static_cast<const PolicyDecl*>(d);
          decl_symbol(SymbolKind::Policy, "policy " + d->name + (pd->has_business ? " for " + pd->business : ""));
          break;
        }
      }
    }
  }
  for (const bytecode::BuiltinInfo& b : bytecode::all_builtins()) {
    SymbolInfo s;
    s.kind = SymbolKind::Builtin;
    s.name = b.name;
    s.detail = b.signature;
    s.doc = b.description;
    s.target = &b;
    add(std::move(s));
  }
}

void SemanticModel::build_occurrences() {
  for (SymbolId id = 0; id < symbols_.size(); ++id)
    if (symbols_[id].span.valid() && symbols_[id].kind != SymbolKind::Builtin)
      occurrences_.push_back({symbols_[id].span, id, true});
  for (const auto& [span, id] : extra_declarations_) occurrences_.push_back({span, id, true});
  for (const Use& u : p_.uses) {
    SymbolId id = symbol_of(u.target);
    if (id != kNoSymbol) occurrences_.push_back({u.span, id, false});
  }
  for (const ModuleInfo& m : p_.modules)
    for (const ModuleImport& imp : m.imports)
      if (imp.target && imp.import) occurrences_.push_back({imp.import->span, symbol_of(imp.target), false});
  std::sort(occurrences_.begin(), occurrences_.end(), [](const Occurrence& a, const Occurrence& b) {
    return std::tie(a.span.file, a.span.begin, a.span.end, a.symbol, b.declaration) <
           std::tie(b.span.file, b.span.begin, b.span.end, b.symbol, a.declaration);
  });
  // A name checked twice (a default read by two callers) is one occurrence.
  occurrences_.erase(std::unique(occurrences_.begin(), occurrences_.end(),
                                 [](const Occurrence& a, const Occurrence& b) {
                                   return a.span.file == b.span.file && a.span.begin == b.span.begin &&
                                          a.span.end == b.span.end && a.symbol == b.symbol;
                                 }),
                     occurrences_.end());
}

void SemanticModel::build_expressions() {
  for (NodeId id = 0; id < p_.ast.size(); ++id) {
    auto* e = dynamic_cast<const Expr*>(p_.ast.node(id));
    if (e && e->span.valid()) exprs_[e->span.file].push_back(e);
  }
  for (auto& [file, v] : exprs_)
    std::stable_sort(v.begin(), v.end(), [](const Expr* a, const Expr* b) {
      return a->span.begin != b->span.begin ? a->span.begin < b->span.begin : a->span.end > b->span.end;
    });
}

SymbolId SemanticModel::find(SymbolKind kind, std::string_view name, std::string_view container) const {
  for (SymbolId id = 0; id < symbols_.size(); ++id) {
    const auto& s = symbols_[id];
    if (s.kind == kind && s.name == name && (container.empty() || s.container == container)) return id;
  }
  return kNoSymbol;
}

std::vector<SymbolId> SemanticModel::module_symbols(std::string_view module) const {
  std::vector<SymbolId> out;
  for (SymbolId id = 0; id < symbols_.size(); ++id)
    if (symbols_[id].kind != SymbolKind::Builtin && symbols_[id].span.valid() && symbols_[id].module == module)
      out.push_back(id);
  std::stable_sort(out.begin(), out.end(), [&](SymbolId a, SymbolId b) {
    bool ma = symbols_[a].kind == SymbolKind::Module, mb = symbols_[b].kind == SymbolKind::Module;
    if (ma != mb) return ma;
    return symbols_[a].span.begin < symbols_[b].span.begin;
  });
  return out;
}

std::vector<SymbolId> SemanticModel::visible_symbols(const ModuleInfo& m) const {
  std::vector<SymbolId> out;
  auto add_module = [&](const ModuleInfo& x) {
    for (const auto& [name, sym] : x.symbols) {
      if (!sym.decl) continue;
      SymbolId id = symbol_of(sym.decl);
      if (id != kNoSymbol && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
      if (sym.decl->kind == DeclKind::Enum)  // enum values are visible unqualified too
        if (auto it = p_.enum_of.find(static_cast<const EnumDecl*>(sym.decl)); it != p_.enum_of.end())
          for (size_t i = 0; i < it->second->values.size(); ++i)
            if (SymbolId v = symbol_of(EnumValueRef{it->second, static_cast<int>(i)}); v != kNoSymbol) out.push_back(v);
    }
  };
  add_module(m);
  for (const ModuleImport& imp : m.imports)
    if (imp.target) add_module(*imp.target);
  for (const ModuleInfo& x : p_.modules)
    if (x.is_prelude && &x != &m) add_module(x);
  return out;
}

const ModuleInfo* SemanticModel::module_of_file(FileId file) const {
  for (const ModuleInfo& m : p_.modules)
    if (m.ast && m.ast->file == file) return &m;
  return nullptr;
}

const ModuleInfo* SemanticModel::module_named(std::string_view name) const {
  for (const ModuleInfo& m : p_.modules)
    if (m.name == name) return &m;
  return nullptr;
}

std::vector<Occurrence> SemanticModel::references(SymbolId id, bool include_declarations) const {
  std::vector<Occurrence> out;
  for (const Occurrence& o : occurrences_)
    if (o.symbol == id && (include_declarations || !o.declaration)) out.push_back(o);
  return out;
}

const Occurrence* SemanticModel::occurrence_at(FileId file, uint32_t offset) const {
  const Occurrence* best = nullptr;
  for (const Occurrence& o : occurrences_)
    if (contains(o.span, file, offset) && (!best || better(o.span, best->span, offset))) best = &o;
  return best;
}

const std::vector<const Expr*>& SemanticModel::expressions(FileId file) const {
  static const std::vector<const Expr*> kNone;
  auto it = exprs_.find(file);
  return it == exprs_.end() ? kNone : it->second;
}

const Expr* SemanticModel::expr_at(FileId file, uint32_t offset) const {
  const Expr* best = nullptr;
  for (const Expr* e : expressions(file)) {
    if (e->span.begin > offset) break;
    if (contains(e->span, file, offset) && (!best || better(e->span, best->span, offset))) best = e;
  }
  return best;
}

SemanticModel::At SemanticModel::at(FileId file, uint32_t offset) const {
  At a;
  a.occurrence = occurrence_at(file, offset);
  if (a.occurrence) a.symbol = &symbols_[a.occurrence->symbol];
  a.expr = expr_at(file, offset);
  if (a.expr && a.expr->id < p_.types.size() && !p_.types[a.expr->id].is_error()) a.type = &p_.types[a.expr->id];
  if (a.expr) a.value = p_.const_of(a.expr);
  return a;
}

Scope SemanticModel::scope_at(FileId file, uint32_t offset) const {
  Scope s;
  s.module = module_of_file(file);
  if (!s.module || !s.module->ast) return s;
  for (const Decl* d : s.module->ast->decls)
    if (d && contains(d->span, file, offset)) s.decl = d;
  if (!s.decl) return s;
  if (s.decl->kind == DeclKind::Fn) s.function = static_cast<const FnDecl*>(s.decl);
  if (s.decl->kind == DeclKind::Strategy) {
    auto* st = static_cast<const StrategyDecl*>(s.decl);
    for (const Clause* c : st->clauses) {
      if (!c) continue;
      if (contains(c->span, file, offset)) s.clause = c;
      if (c->kind == ClauseKind::When && c->trigger == TriggerKind::On)
        if (auto it = p_.events.find(c->event); it != p_.events.end()) s.event = it->second.get();
    }
  }
  // The innermost aggregate whose `where` holds the position: its event's fields are in scope.
  for (const Expr* e : expressions(file)) {
    if (e->span.begin > offset) break;
    if (e->kind != ExprKind::Aggregate || !contains(e->span, file, offset)) continue;
    auto* a = static_cast<const AggregateExpr*>(e);
    if (a->filter && contains(a->filter->span, file, offset)) {
      s.aggregate = a;
      if (auto it = p_.events.find(a->event); it != p_.events.end()) s.event = it->second.get();
    }
  }
  return s;
}

}  // namespace crm::sema
