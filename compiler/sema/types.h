// types.h - semantic types, schema records and constant values used by the checker.
//
// These live in side tables next to the AST (keyed by NodeId), never inside it, so the tree
// stays as parsed and one checked program can be read by many threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "compiler/ast/ast.h"
#include "support/decimal.h"

namespace crm::sema {

enum class TypeKind : uint8_t { Error, Bool, Int, Decimal, Money, String, Time, Date, Duration, Enum, Set, List, Record };

struct EnumInfo;
struct RecordInfo;

struct Type {
  TypeKind kind = TypeKind::Error;
  bool optional = false;
  std::string currency;                // Money
  const EnumInfo* enum_info = nullptr; // Enum
  const RecordInfo* record = nullptr;  // Record (an event)
  std::shared_ptr<const Type> elem;    // Set, List

  static Type of(TypeKind k) { Type t; t.kind = k; return t; }
  static Type money(std::string cur) { Type t; t.kind = TypeKind::Money; t.currency = std::move(cur); return t; }
  static Type collection(TypeKind k, Type e) {
    Type t; t.kind = k; t.elem = std::make_shared<const Type>(std::move(e)); return t;
  }
  Type as_optional(bool opt = true) const { Type t = *this; t.optional = opt; return t; }
  Type required() const { return as_optional(false); }

  bool is_error() const { return kind == TypeKind::Error; }
  bool is_numeric() const { return kind == TypeKind::Int || kind == TypeKind::Decimal; }
  bool is_orderable() const;
  // Same type, optionality ignored (money compares currencies, enums identity).
  bool same_base(const Type& o) const;
  std::string to_string() const;
};

struct FieldInfo {
  std::string name;
  Type type;
  const ast::FieldDecl* decl = nullptr;  // null for implicit fields (`time`)
  source::Span span;
  // Whether reading this profile field can fail: a required field without a default, which a
  // user known only from events has no value for (LOAD_PROFILE faults). An optional field reads
  // as absent, a default fills the gap, and the implicit `user` always has a value; event fields
  // never fail (a line without a required one is refused when it is read).
  bool profile_read_may_fail() const { return decl && !type.optional && !decl->default_value; }
};

// The profile or one event type, merged over every module that declares it.
struct RecordInfo {
  std::string name;  // "profile" or the event name
  bool is_profile = false;
  source::Span first_decl;
  std::vector<FieldInfo> fields;
  std::map<std::string, size_t> index;
  const FieldInfo* find(const std::string& n) const {
    auto it = index.find(n);
    return it == index.end() ? nullptr : &fields[it->second];
  }
  std::vector<std::string> field_names() const {
    std::vector<std::string> v;
    for (auto& f : fields) v.push_back(f.name);
    return v;
  }
};

struct EnumInfo {
  std::string name;
  const ast::EnumDecl* decl = nullptr;
  std::vector<std::string> values;
  int find(const std::string& v) const {
    for (size_t i = 0; i < values.size(); ++i) if (values[i] == v) return static_cast<int>(i);
    return -1;
  }
};

// A folded constant. Money carries its currency in the node's Type, not here.
struct Value {
  struct Time { int64_t micros; };
  struct Date { int32_t days; };
  struct Duration { int64_t micros; };
  struct EnumVal { const EnumInfo* e; int index; };
  struct Collection { std::vector<Value> elems; };
  std::variant<std::monostate, bool, int64_t, support::Decimal, std::string, Time, Date, Duration, EnumVal,
               std::shared_ptr<const Collection>>
      v;

  bool is_none() const { return std::holds_alternative<std::monostate>(v); }
  std::string to_string(const Type& t) const;
  bool operator==(const Value& o) const;
};

// Exact comparison of two constants of the same type: <0, 0, >0.
int compare_values(const Value& a, const Value& b);

}  // namespace crm::sema
