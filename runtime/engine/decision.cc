// decision.cc - names of outcomes and reasons, from decisions.def.
#include "runtime/engine/decision.h"

namespace crm::engine {

const char* outcome_name(Outcome o) {
  switch (o) {
#define CRM_OUTCOME(id, name, meaning) \
  case Outcome::id:                    \
    return name;
#include "runtime/engine/decisions.def"
  }
  return "?";
}

std::string_view field_prefix(Field f) {
  static constexpr std::string_view prefixes[] = {
#define CRM_FIELD(id, key, outcomes, meaning) ",\"" key "\":",
#include "runtime/engine/decisions.def"
  };
  return prefixes[static_cast<size_t>(f)];
}

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::None: return "";
#define CRM_REASON(id, name, outcomes, meaning) \
  case Reason::id:                              \
    return name;
#include "runtime/engine/decisions.def"
  }
  return "?";
}

bool outcome_from_name(std::string_view name, Outcome& out) {
#define CRM_OUTCOME(id, text, meaning) \
  if (name == text) {                  \
    out = Outcome::id;                 \
    return true;                       \
  }
#include "runtime/engine/decisions.def"
  return false;
}

bool reason_from_name(std::string_view name, Reason& out) {
  if (name.empty()) {
    out = Reason::None;
    return true;
  }
#define CRM_REASON(id, text, outcomes, meaning) \
  if (name == text) {                           \
    out = Reason::id;                           \
    return true;                                \
  }
#include "runtime/engine/decisions.def"
  return false;
}

const std::vector<DecisionName>& all_outcomes() {
  static const std::vector<DecisionName> table = {
#define CRM_OUTCOME(id, name, meaning) {name, "", meaning},
#include "runtime/engine/decisions.def"
  };
  return table;
}

const std::vector<DecisionName>& all_reasons() {
  static const std::vector<DecisionName> table = {
#define CRM_REASON(id, name, outcomes, meaning) {name, outcomes, meaning},
#include "runtime/engine/decisions.def"
  };
  return table;
}

const std::vector<DecisionName>& all_fields() {
  static const std::vector<DecisionName> table = {
#define CRM_FIELD(id, key, outcomes, meaning) {key, outcomes, meaning},
#include "runtime/engine/decisions.def"
  };
  return table;
}

}  // namespace crm::engine
