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

// A number of a ledger row as SQLite holds it: its storage class, asked before any conversion (a
// conversion leaves sqlite3_column_type undefined), and its value when it is an integer. Every
// reader of a ledger (the store when `crm run` opens it, `crm report`, the totals of `crm shared
// reconcile`) checks the numbers it reads with the functions below, so none takes a row another
// refuses (docs/semantics.md, "Ledger schema").
struct LedgerNumber {
  enum class Type { Integer, Null, Other };
  Type type = Type::Other;
  int64_t value = 0;
  bool integer() const { return type == Type::Integer; }
  bool null() const { return type == Type::Null; }
};

// An integer time crm could have written: an instant of crm's time (support::in_time_range,
// the years 0001-9999 in UTC, micros).
inline bool is_ledger_time(const LedgerNumber& t) { return t.integer() && support::in_time_range(t.value); }

// The first number of a crm_ledger row that crm could not have written, by its column's name, or
// null when all are as crm writes them: `at` (an integer time, is_ledger_time), `amount` (an
// integer of millionths, never negative: a face value, a message's cost and a redemption's
// subsidy are all at least 0, and a negative one would hand budget back when the counters are
// rebuilt, so a budget could be overspent), `sales` (an integer: an order amount, which may be
// negative), `granted_at` (NULL or an integer time). A text, a REAL or a NULL where crm writes an
// integer would be read as some other figure (`abc` as 0, 2.5 as 2).
inline const char* foreign_number(const LedgerNumber& at, const LedgerNumber& amount, const LedgerNumber& sales,
                                  const LedgerNumber& granted_at) {
  if (!is_ledger_time(at)) return "at";
  if (!amount.integer() || amount.value < 0) return "amount";
  if (!sales.integer()) return "sales";
  if (!granted_at.null() && !granted_at.integer()) return "granted_at";
  return nullptr;
}

// The same for a crm_units row: `first_seq` (NULL before schema version 8, else the crm_ledger seq
// where the unit starts: an integer of at least 1) and `at` (NULL, or an integer time). A
// first_seq read as another number would cut or join deliveries when the counters are rebuilt.
inline const char* foreign_unit_number(const LedgerNumber& first_seq, const LedgerNumber& at) {
  if (!first_seq.null() && (!first_seq.integer() || first_seq.value < 1)) return "first_seq";
  if (!at.null() && !is_ledger_time(at)) return "at";
  return nullptr;
}

}  // namespace crm::state
