// builtins.h - built-in function ids and metadata, expanded from builtins.def. Part of the
// bytecode layer: CALL instructions carry these ids, and the checker resolves calls by them.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace crm::bytecode {

enum class Builtin : uint8_t {
#define BUILTIN(id, name, sig, doc) id,
#include "bytecode/builtins.def"
#undef BUILTIN
};

struct BuiltinInfo {
  Builtin id;
  const char* name;
  const char* signature;
  const char* description;
};

const std::vector<BuiltinInfo>& all_builtins();
const BuiltinInfo* find_builtin(std::string_view name);

}  // namespace crm::bytecode
