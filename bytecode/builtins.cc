// builtins.cc - the built-in function and overload tables expanded from builtins.def.
#include "bytecode/builtins.h"

#include <string>

namespace crm::bytecode {

const char* sig_type_name(SigType t) {
  switch (t) {
    case SigType::Bool: return "Bool";
    case SigType::Int: return "Int";
    case SigType::Decimal: return "Decimal";
    case SigType::Money: return "Money";
    case SigType::String: return "String";
    case SigType::Time: return "Time";
    case SigType::Date: return "Date";
    case SigType::Duration: return "Duration";
    case SigType::Enum: return "Enum";
    case SigType::Set: return "Set";
    case SigType::List: return "List";
    case SigType::Same: return "Same";
  }
  return "?";
}

const std::vector<BuiltinInfo>& all_builtins() {
  static const std::vector<BuiltinInfo> kAll = {
#define BUILTIN(id, name, sig, doc) {Builtin::id, name, sig, doc},
#define OVERLOAD(...)
#include "bytecode/builtins.def"
#undef OVERLOAD
#undef BUILTIN
  };
  return kAll;
}

const std::vector<OverloadInfo>& all_overloads() {
  static const std::vector<OverloadInfo> kAll = {
#define BUILTIN(...)
#define ARG(n, t) Param{#n, SigType::t}
#define OVERLOAD(id, fn, result, fold, doc, ...) \
  {Overload::id, Builtin::fn, SigType::result, OverloadFold::fold == OverloadFold::Fold, doc, {__VA_ARGS__}},
    // (Fold / Runtime are spelled as enumerators so a typo in the table does not compile.)
#include "bytecode/builtins.def"
#undef OVERLOAD
#undef ARG
#undef BUILTIN
  };
  return kAll;
}

const BuiltinInfo* find_builtin(std::string_view name) {
  for (const auto& b : all_builtins())
    if (name == b.name) return &b;
  return nullptr;
}

const OverloadInfo* find_overload(uint32_t id) {
  const auto& all = all_overloads();
  return id < all.size() ? &all[id] : nullptr;
}

std::vector<const OverloadInfo*> BuiltinInfo::overloads() const {
  std::vector<const OverloadInfo*> out;
  for (const auto& o : all_overloads())
    if (o.builtin == id) out.push_back(&o);
  return out;
}

size_t BuiltinInfo::arity() const {
  for (const auto& o : all_overloads())
    if (o.builtin == id) return o.params.size();
  return 0;
}

std::string OverloadInfo::signature() const {
  std::string s = all_builtins()[static_cast<size_t>(builtin)].name;
  s += "(";
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) s += ", ";
    s += params[i].name;
    s += ": ";
    s += sig_type_name(params[i].type);
  }
  s += "): ";
  s += sig_type_name(result == SigType::Same && !params.empty() ? params[0].type : result);
  return s;
}

}  // namespace crm::bytecode
