// ledger_names.h - the ledger's names of decision outcomes and reasons, expanded from the one
// table of them (runtime/engine/decisions.def), for code of the state layer that reads or writes
// them without the engine (LocalQuotas::rebuild, quota_reason). A name written by hand could
// drift from the table.
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

}  // namespace crm::state
