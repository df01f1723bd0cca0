// builtins.h - built-in functions and their typed overloads, expanded from builtins.def. Part of
// the bytecode layer: CALL instructions carry overload ids, the checker resolves calls against
// the overloads' signatures, and the docs' reference is generated from the same rows.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace crm::bytecode {

enum class Builtin : uint8_t {
#define BUILTIN(id, name, sig, doc) id,
#define OVERLOAD(...)
#include "bytecode/builtins.def"
#undef OVERLOAD
#undef BUILTIN
};

// One typed signature of a builtin; its id is what CALL carries.
enum class Overload : uint8_t {
#define BUILTIN(...)
#define OVERLOAD(id, ...) id,
#include "bytecode/builtins.def"
#undef OVERLOAD
#undef BUILTIN
};

// A parameter or result type: a value kind, or (results only) the first argument's type.
enum class SigType : uint8_t { Bool, Int, Decimal, Money, String, Time, Date, Duration, Enum, Set, List, Same };
const char* sig_type_name(SigType t);
// The table's fold column.
enum class OverloadFold : uint8_t { Fold, Runtime };

struct Param {
  const char* name;
  SigType type;
};

struct OverloadInfo {
  Overload id;
  Builtin builtin;
  SigType result;
  bool fold;                 // folded at compile time when every argument is constant
  const char* description;   // what this overload adds to its builtin's description ("" if nothing)
  std::vector<Param> params;
  // `weekday(t: Time): Int`; a result of Same is written with the parameter's type.
  std::string signature() const;
};

struct BuiltinInfo {
  Builtin id;
  const char* name;
  const char* signature;  // the one-line summary diagnostics quote
  const char* description;
  size_t arity() const;   // every overload of a builtin takes the same number of arguments
  std::vector<const OverloadInfo*> overloads() const;
};

const std::vector<BuiltinInfo>& all_builtins();
const BuiltinInfo* find_builtin(std::string_view name);
const std::vector<OverloadInfo>& all_overloads();
// Null for an id outside the table (a forged program).
const OverloadInfo* find_overload(uint32_t id);
inline size_t overload_count() { return all_overloads().size(); }

}  // namespace crm::bytecode
