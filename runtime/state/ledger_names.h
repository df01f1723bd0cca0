// ledger_names.h - the ledger's names of decision outcomes and reasons, expanded from the one
// table of them (runtime/engine/decisions.def), for code of the state layer that reads or writes
// them without the engine (LocalQuotas::rebuild, quota_reason, the check of rows read at load). A
// name written by hand could drift from the table.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/state/state_store.h"
#include "support/civil_time.h"

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

// Whether a `kind` column (crm_units, crm_ledger) holds a UnitKind: an integer 0, 1 or 2.
inline bool is_unit_kind(bool integer, int64_t kind) { return integer && kind >= 0 && kind <= int64_t(UnitKind::Timer); }

// The first column of a ledger row that names something crm never writes: "kind", "outcome"
// or "reason" (empty: none); null when there is none. The store refuses such a row at load,
// and `crm report` refuses it too (docs/semantics.md, "Ledger schema").
inline const char* foreign_column(bool integer_kind, int64_t kind, std::string_view outcome, std::string_view reason) {
  if (!is_unit_kind(integer_kind, kind)) return "kind";
  if (!is_outcome_name(outcome)) return "outcome";
  if (!reason.empty() && !is_reason_name(reason)) return "reason";
  return nullptr;
}

// The ledger schema versions this crm reads (crm_meta's `schema_version`; the store migrates the
// older ones when it opens a ledger, `crm report` reads them as they are): 1 to kSchemaVersion,
// written as crm writes them. Empty (no row) is the current one, which opening writes.
inline constexpr int kSchemaVersion = 9;
inline bool readable_schema_version(std::string_view version) {
  if (version.empty()) return true;
  int v = 0;
  auto [end, ec] = std::from_chars(version.data(), version.data() + version.size(), v);
  return ec == std::errc() && end == version.data() + version.size() && v >= 1 && v <= kSchemaVersion &&
         version[0] != '0';
}
// The error for another version, naming the ledger (`crm run` and `crm report` say the same).
inline std::string schema_version_error(std::string_view path, std::string_view version) {
  return "state `" + std::string(path) + "` has ledger schema version " + std::string(version) +
         ", this crm reads versions 1 to " + std::to_string(kSchemaVersion);
}

// The numbers of a ledger row that crm could not have written (docs/semantics.md, "Ledger
// schema"): `at` (an integer time within the years 0001-9999 of an event time), `amount` and
// `sales` (integers, millionths). The column's name, or null when all are as crm writes them.
inline const char* foreign_number(bool at_integer, int64_t at, bool amount_integer, bool sales_integer) {
  if (!at_integer || !support::in_time_range(at)) return "at";
  if (!amount_integer) return "amount";
  if (!sales_integer) return "sales";
  return nullptr;
}

}  // namespace crm::state
