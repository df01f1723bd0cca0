// builtins.cc - the built-in function table expanded from builtins.def.
#include "bytecode/builtins.h"

namespace crm::bytecode {

const std::vector<BuiltinInfo>& all_builtins() {
  static const std::vector<BuiltinInfo> kAll = {
#define BUILTIN(id, name, sig, doc) {Builtin::id, name, sig, doc},
#include "bytecode/builtins.def"
#undef BUILTIN
  };
  return kAll;
}

const BuiltinInfo* find_builtin(std::string_view name) {
  for (const auto& b : all_builtins())
    if (name == b.name) return &b;
  return nullptr;
}

}  // namespace crm::bytecode
