// resolver.cc - the name resolution pass (see resolver.h).
#include "compiler/sema/resolver.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "support/time_zone.h"

namespace crm::sema {

using namespace crm::ast;
using diag::Code;
using source::Span;

// ISO 4217 codes in current use; an unknown code is almost always a typo.
const std::unordered_set<std::string>& currencies() {
  static const std::unordered_set<std::string> kCodes = {
      "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD",
      "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF", "CLP", "CNY",
      "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP",
      "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR",
      "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
      "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
      "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
      "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD",
      "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY",
      "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF",
      "XPF", "YER", "ZAR", "ZMW", "ZWL"};
  return kCodes;
}

void report_currency(diag::DiagnosticSink& sink_, const std::string& cur, Span span) {
  std::vector<std::string> all(currencies().begin(), currencies().end());
  std::sort(all.begin(), all.end());
  auto& d = sink_.report(Code::E0104, span, fmt::format("unknown currency {}", bt(cur)));
  if (auto c = diag::closest_match(cur, all); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
  else d.help = "currencies are ISO 4217 codes such as `CNY`, `USD`, `EUR`";
}

std::string join_values(const EnumInfo& e) {
  std::string s;
  for (size_t i = 0; i < e.values.size(); ++i) s += (i ? ", " : "") + bt(e.values[i]);
  return s;
}

void Resolver::run(DefaultChecker check_default) {
  check_default_ = std::move(check_default);
  collect_symbols();
  check_zones();
  build_enums();
  build_schema();
}

void Resolver::collect_symbols() {
  for (auto& m : p_.modules) {
    for (Decl* d : m.ast->decls) {
      if (d->kind == DeclKind::Profile || d->kind == DeclKind::Event) continue;  // schema is program-wide
      if (d->name.empty()) continue;
      auto [it, fresh] = m.symbols.emplace(d->name, Symbol{d, &m});
      if (!fresh) {
        auto& diag = sink_.report(Code::E0203, d->name_span, fmt::format("{} is defined twice", bt(d->name)));
        diag.secondary.push_back({it->second.decl->name_span, "first defined here"});
      }
    }
  }
  // Strategies and pools are campaign-wide by name: their counters, ledger rows, shared (Redis)
  // keys and report rows carry the bare name, so two modules may not both use one.
  std::map<std::string, const Symbol*> campaign_wide;
  for (auto& m : p_.modules) {
    for (Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Strategy && d->kind != DeclKind::Pool) continue;
      auto own = m.symbols.find(d->name);
      if (own == m.symbols.end() || own->second.decl != d) continue;  // a duplicate in one module: E0203
      auto [it, fresh] = campaign_wide.emplace(d->name, &own->second);
      if (fresh) continue;
      const char* what = d->kind == DeclKind::Strategy ? "strategy" : "budget pool";
      auto& diag = sink_.report(Code::E0209, d->name_span,
                                fmt::format("{} {} is also declared in module {}", what, bt(d->name), bt(it->second->module->name)));
      diag.secondary.push_back({it->second->decl->name_span, "declared here"});
      diag.help = "strategies and pools are identified by name in the ledger and the counters: rename one of them";
    }
  }
}

// The program's default zone: every module-level `zone "..."` must name the same zone, since
// segments and strategies of all modules share it.
void Resolver::check_zones() {
  const ast::Module* first = nullptr;
  for (auto& m : p_.modules) {
    const ast::Module* a = m.ast;
    if (!a || !a->has_zone) continue;
    std::string why;
    if (!support::load_zone(a->zone, why)) {
      sink_.report(Code::E0104, a->zone_span, why)
          .help = "write a zone name such as `\"Asia/Shanghai\"` or a fixed UTC offset such as `\"+08:00\"`";
      continue;
    }
    if (!first) {
      first = a;
      p_.zone = a->zone;
    } else if (a->zone != first->zone) {
      auto& d = sink_.report(Code::E0208, a->zone_span,
                             fmt::format("this module's default zone {} differs from {}", bt(a->zone), bt(first->zone)));
      d.secondary.push_back({first->zone_span, "the program's zone is declared here"});
      d.help = "a program has one default zone; declare it once (or the same everywhere) and give a strategy "
               "another with its own `zone:` clause";
    }
  }
}

// Visible modules for unqualified lookup: the module itself, its direct imports, the prelude.
std::vector<ModuleImport*> Resolver::visible_imports(ModuleInfo* m) {
  std::vector<ModuleImport*> out;
  for (auto& imp : m->imports) if (imp.target) out.push_back(&imp);
  return out;
}

ModuleInfo* Resolver::prelude() {
  for (auto& m : p_.modules) if (m.is_prelude) return &m;
  return nullptr;
}

// Finds a declaration by name as seen from `m`. Reports ambiguity; returns nullptr if absent.
const Symbol* Resolver::lookup(ModuleInfo* m, const std::string& name, Span use) {
  ambiguous_ = false;
  if (auto it = m->symbols.find(name); it != m->symbols.end()) return &it->second;
  const Symbol* found = nullptr;
  ModuleImport* found_imp = nullptr;
  for (auto* imp : visible_imports(m)) {
    auto it = imp->target->symbols.find(name);
    if (it == imp->target->symbols.end()) continue;
    if (found && found->decl != it->second.decl) {
      auto& d = sink_.report(Code::E0205, use,
                             fmt::format("{} is defined in both {} and {}", bt(name), bt(found->module->name),
                                         bt(it->second.module->name)));
      d.secondary.push_back({found->decl->name_span, "one definition"});
      d.secondary.push_back({it->second.decl->name_span, "the other definition"});
      d.help = "rename one of them or split the modules";
      ambiguous_ = true;
      return nullptr;
    }
    found = &it->second;
    found_imp = imp;
  }
  if (found) {
    found_imp->used = true;
    return found;
  }
  if (auto* pre = prelude(); pre && pre != m) {
    if (auto it = pre->symbols.find(name); it != pre->symbols.end()) return &it->second;
  }
  return nullptr;
}

std::vector<std::string> Resolver::visible_names(ModuleInfo* m) {
  std::vector<std::string> out;
  auto add = [&](ModuleInfo* x) { for (auto& [n, s] : x->symbols) out.push_back(n); };
  add(m);
  for (auto* imp : visible_imports(m)) add(imp->target);
  return out;
}

void Resolver::build_enums() {
  for (auto& m : p_.modules) {
    for (Decl* d : m.ast->decls) {
      if (d->kind != DeclKind::Enum) continue;
      auto* ed = static_cast<EnumDecl*>(d);
      auto& info = p_.enums.emplace_back();
      info.name = ed->name;
      info.decl = ed;
      for (auto& v : ed->values) {
        if (info.find(v.name) >= 0) {
          auto& diag = sink_.report(Code::E0306, v.span,
                                    fmt::format("enum {} lists {} twice", bt(ed->name), bt(v.name)));
          for (auto& w : ed->values) if (w.name == v.name) { diag.secondary.push_back({w.span, "first listed here"}); break; }
          continue;
        }
        info.values.push_back(v.name);
      }
      p_.enum_of[ed] = &info;
    }
  }
}

Type Resolver::resolve_type(ModuleInfo* m, const TypeRef* t) {
  if (!t) return {};
  Type out;
  static const std::pair<const char*, TypeKind> kPrims[] = {
      {"Bool", TypeKind::Bool}, {"Int", TypeKind::Int},   {"Decimal", TypeKind::Decimal},
      {"Money", TypeKind::Money}, {"String", TypeKind::String}, {"Time", TypeKind::Time},
      {"Date", TypeKind::Date}, {"Duration", TypeKind::Duration}, {"Set", TypeKind::Set},
      {"List", TypeKind::List}};
  bool prim = false;
  for (auto& [n, k] : kPrims) if (t->name == n) { out.kind = k; prim = true; }
  if (!prim) {
    const Symbol* s = lookup(m, t->name, t->span);
    Span name_span{t->span.file, t->span.begin, static_cast<uint32_t>(t->span.begin + t->name.size())};
    if (s && s->decl->kind == DeclKind::Enum) {
      use(name_span, s->decl);
      out.kind = TypeKind::Enum;
      out.enum_info = p_.enum_of[static_cast<const EnumDecl*>(s->decl)];
    } else if (p_.events.count(t->name)) {
      out.kind = TypeKind::Record;
      out.record = p_.events[t->name].get();
      use(name_span, out.record);
    } else {
      std::vector<std::string> names = {"Bool", "Int", "Decimal", "Money", "String", "Time", "Date",
                                        "Duration", "Set", "List"};
      for (auto& e : p_.enums) names.push_back(e.name);
      auto& d = sink_.report(Code::E0301, t->span, fmt::format("unknown type {}", bt(t->name)));
      if (auto c = diag::closest_match(t->name, names); !c.empty()) d.help = fmt::format("did you mean {}?", bt(c));
      return {};
    }
  }
  if (out.kind == TypeKind::Money) {
    if (t->currency.empty()) {
      sink_.report(Code::E0307, t->span, "`Money` needs a currency").help = "write e.g. `Money(CNY)`";
      return {};
    }
    if (!currencies().count(t->currency)) {
      report_currency(t->currency, t->currency_span);
      return {};
    }
    out.currency = t->currency;
  } else if (!t->currency.empty()) {
    sink_.report(Code::E0307, t->currency_span, fmt::format("only `Money` takes a currency, not {}", bt(t->name)));
    return {};
  }
  if (out.kind == TypeKind::Set || out.kind == TypeKind::List) {
    if (!t->elem) {
      sink_.report(Code::E0307, t->span, fmt::format("{} needs an element type", bt(t->name)))
          .help = fmt::format("write e.g. `{}<String>`", t->name);
      return {};
    }
    Type e = resolve_type(m, t->elem);
    if (e.is_error()) return {};
    if (e.optional || e.kind == TypeKind::Set || e.kind == TypeKind::List) {
      sink_.report(Code::E0307, t->elem->span, fmt::format("{} elements must be plain values", bt(t->name)));
      return {};
    }
    out.elem = std::make_shared<const Type>(e);
  } else if (t->elem) {
    sink_.report(Code::E0307, t->elem->span, fmt::format("{} takes no type argument", bt(t->name)));
    return {};
  }
  out.optional = t->optional;
  return out;
}

RecordInfo& Resolver::event_record(const std::string& name, Span first) {
  auto& slot = p_.events[name];
  if (!slot) {
    slot = std::make_unique<RecordInfo>();
    slot->name = name;
    slot->first_decl = first;
    // Every event carries these, per the event data contract.
    slot->fields.push_back({"id", Type::of(TypeKind::String), nullptr, first});
    slot->fields.push_back({"user", Type::of(TypeKind::String), nullptr, first});
    slot->fields.push_back({"time", Type::of(TypeKind::Time), nullptr, first});
    for (size_t i = 0; i < slot->fields.size(); ++i) slot->index[slot->fields[i].name] = i;
  }
  return *slot;
}

void Resolver::build_schema() {
  p_.profile.name = "profile";
  p_.profile.is_profile = true;
  p_.profile.fields.push_back({"user", Type::of(TypeKind::String), nullptr, {}});
  p_.profile.index["user"] = 0;
  // Event names first, so field types may refer to events declared later.
  for (auto& m : p_.modules)
    for (Decl* d : m.ast->decls)
      if (d->kind == DeclKind::Event) {
        event_record(d->name, d->name_span);
        if (auto it = m.symbols.find(d->name); it != m.symbols.end() && it->second.decl->kind != DeclKind::Event) {
          auto& diag = sink_.report(Code::E0203, d->name_span, fmt::format("{} is defined twice", bt(d->name)));
          diag.secondary.push_back({it->second.decl->name_span, "also defined here"});
        }
      }
  for (auto& m : p_.modules) {
    for (Decl* d : m.ast->decls) {
      if (d->kind == DeclKind::Profile)
        merge_fields(&m, p_.profile, static_cast<ProfileDecl*>(d)->fields);
      else if (d->kind == DeclKind::Event)
        merge_fields(&m, *p_.events[d->name], static_cast<EventDecl*>(d)->fields);
    }
  }
}

void Resolver::merge_fields(ModuleInfo* m, RecordInfo& rec, const std::vector<FieldDecl*>& fields) {
  std::set<std::string> seen_here;
  for (FieldDecl* f : fields) {
    if (!seen_here.insert(f->name).second) {
      sink_.report(Code::E0306, f->name_span, fmt::format("field {} is declared twice here", bt(f->name)));
      continue;
    }
    Type t = resolve_type(m, f->type);
    if (t.kind == TypeKind::Record) {
      sink_.report(Code::E0307, f->type->span, "a field cannot hold a whole event");
      t = {};
    }
    // An event's `scene` is where it happened (000 §2: home page, checkout, after the order): a
    // closed set of places, so strategies can name them and the engine can index by them.
    if (!rec.is_profile && f->name == "scene" && !t.is_error() && (t.kind != TypeKind::Enum || t.optional)) {
      auto& d = sink_.report(Code::E0308, f->type->span,
                             fmt::format("the scene of event {} must be a required enum, not {}", bt(rec.name),
                                         bt(t.to_string())));
      d.help = "declare the scenes, e.g. `enum Scene { Home, Checkout, AfterOrder }`, and write `scene: Scene` "
               "(with a default, `scene: Scene = Home`, for events that may come without one)";
      t = {};
    }
    // The default is typed where it is met, against the schema merged so far.
    if (f->default_value && check_default_) check_default_(m, f, t);
    if (const FieldInfo* prev = rec.find(f->name)) {
      if (!prev->type.is_error() && !t.is_error() &&
          !(prev->type.same_base(t) && prev->type.optional == t.optional)) {
        auto& d = sink_.report(Code::E0302, f->name_span,
                               fmt::format("{} {} is declared as {} here but as {} elsewhere",
                                           rec.is_profile ? "profile field" : "field",
                                           rec.is_profile ? bt(f->name) : bt(rec.name + "." + f->name),
                                           bt(t.to_string()), bt(prev->type.to_string())));
        if (prev->span.valid()) d.secondary.push_back({prev->span, "declared here"});
        else d.help = fmt::format("{} is built in", bt(f->name));
      }
      continue;
    }
    rec.index[f->name] = rec.fields.size();
    rec.fields.push_back({f->name, t, f, f->name_span});
  }
}

const EnumDecl* Resolver::find_prelude_channel() {
  if (auto* pre = prelude())
    if (auto it = pre->symbols.find("Channel"); it != pre->symbols.end() && it->second.decl->kind == DeclKind::Enum)
      return static_cast<const EnumDecl*>(it->second.decl);
  return nullptr;
}

const EnumInfo* Resolver::channel_enum() {
  auto* d = find_prelude_channel();
  return d ? p_.enum_of[d] : nullptr;
}

std::vector<const EnumInfo*> Resolver::visible_enums(ModuleInfo* m) {
  std::vector<const EnumInfo*> out;
  auto add = [&](ModuleInfo* x) {
    for (auto& [n, s] : x->symbols)
      if (s.decl->kind == DeclKind::Enum) out.push_back(p_.enum_of[static_cast<const EnumDecl*>(s.decl)]);
  };
  add(m);
  for (auto* imp : visible_imports(m)) add(imp->target);
  if (auto* pre = prelude(); pre && pre != m) add(pre);
  return out;
}

}  // namespace crm::sema
