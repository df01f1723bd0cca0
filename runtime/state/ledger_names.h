// ledger_names.h - the ledger's names of decision outcomes and reasons, expanded from the one
// table of them (runtime/engine/decisions.def), for code of the state layer that reads or writes
// them without the engine (LocalQuotas::rebuild, quota_reason, the check of rows read at load). A
// name written by hand could drift from the table.
#pragma once

#include <string_view>

namespace crm::state {

namespace outcome {
#define CRM_OUTCOME(id, name, meaning) inline constexpr std::string_view id = name;
#include "runtime/engine/decisions.def"
}  // namespace outcome

namespace reason {
#define CRM_REASON(id, name, outcomes, meaning) inline constexpr std::string_view id = name;
#include "runtime/engine/decisions.def"
}  // namespace reason

// Whether `name` is an outcome (a reason) of the table: a ledger row with any other text was
// not written by crm, and its counters cannot be rebuilt from it.
inline bool is_outcome_name(std::string_view name) {
#define CRM_OUTCOME(id, n, meaning) if (name == n) return true;
#include "runtime/engine/decisions.def"
  return false;
}
inline bool is_reason_name(std::string_view name) {
#define CRM_REASON(id, n, outcomes, meaning) if (name == n) return true;
#include "runtime/engine/decisions.def"
  return false;
}

}  // namespace crm::state
