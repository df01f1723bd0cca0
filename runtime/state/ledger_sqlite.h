// ledger_sqlite.h - a ledger's number as SQLite holds it (state::LedgerNumber), for every reader
// of a ledger that checks its rows (the store, `crm report`, `crm shared reconcile`'s totals).
#pragma once

#include <sqlite3.h>

#include "runtime/state/ledger_names.h"

namespace crm::state {

// Column `i` of the current row; to be asked before the column is read in any other way (a
// conversion leaves its storage class undefined).
inline LedgerNumber ledger_number(sqlite3_stmt* s, int i) {
  const int type = sqlite3_column_type(s, i);
  if (type == SQLITE_INTEGER) return {LedgerNumber::Type::Integer, sqlite3_column_int64(s, i)};
  return {type == SQLITE_NULL ? LedgerNumber::Type::Null : LedgerNumber::Type::Other, 0};
}

}  // namespace crm::state
