// ledger_json.h - the head of a decision's JSON record: its members from `event` to `at`, the
// ones the ledger keeps as columns too (schema version 9: narrow rows).
//
// The engine renders every decision record through append_decision_head (then the members that
// depend on the outcome: Recorder::append_decision_json), and the SQLite ledger keeps of such a
// record only what follows the head (the `json` column's tail, as TEXT), when the head
// can be rendered again from the row's own columns: the event is the unit's id (an event's
// decision) or none (a scheduled run's or a timer's), and the other members are the columns
// (docs/semantics.md, "Ledger schema"). Reading the row renders the head again with this same
// function and appends the tail: the record as it was reported, byte for byte. So the head's
// bytes are part of the ledger format: a change to them (escaping, the time's text, a member)
// needs a new schema version (test NarrowRows.TheHeadIsRenderedToTheseExactBytes).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "runtime/state/state_store.h"

namespace crm::state {

// Each view empty: the member is null (`user`: always a string). Names are never empty.
struct DecisionHead {
  std::string_view event, user, strategy, outcome, reason, resource, channel, code;
  int64_t at = 0;
};

// Appends `{"event":...,"at":"..."` (no closing brace: the record goes on).
void append_decision_head(std::string& out, const DecisionHead& head);

// append_decision_head in its five runs, in this order, so that a renderer can keep the runs
// that are constant for a strategy, a verdict or an action (Recorder renders them once per
// program) and still write exactly these bytes: `{"event":..,"user":..`; `,"strategy":..`;
// `,"outcome":..,"reason":..`; `,"resource":..,"channel":..,"code":..,"at":"`; the time and `"`.
void append_head_start(std::string& out, std::string_view event, std::string_view user);
void append_head_strategy(std::string& out, std::string_view strategy);
void append_head_outcome(std::string& out, std::string_view outcome, std::string_view reason);
void append_head_action(std::string& out, std::string_view resource, std::string_view channel, std::string_view code);
void append_head_end(std::string& out, int64_t at);

// The event a narrow row's head names: its unit's id for an event's decision, else none.
inline std::string_view head_event(UnitKind kind, std::string_view unit) {
  return kind == UnitKind::Event ? unit : std::string_view();
}

// The head of a ledger row (its columns) appended to `out`.
void append_row_head(std::string& out, UnitKind kind, const LedgerRow& row);

// A row read back whose `json` holds only the tail (`tail` true): its record rendered whole.
std::string record_of(UnitKind kind, const LedgerRow& row);

}  // namespace crm::state
