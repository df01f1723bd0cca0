// hillstrom_importer.h - Kevin Hillstrom's MineThatData e-mail test (2008) as a crm ledger and
// event log (docs/indicators.md, "The Hillstrom data set").
//
// The CSV (recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,
// conversion,spend; 64,000 rows) has no ids and no dates. The import makes them up the same way
// every time:
//   * user = the 1-based data row number, as text;
//   * the send time T = the `when: at T` of the program's two e-mail strategies (the same T);
//   * the ledger: one scheduled-run unit per e-mail strategy at T (`schedule:NAME@MICROS`, the
//     unit the engine itself would record), in the engine's order (priority, then name); in it,
//     per row in file order, each action of the strategy is `granted` to the customers of that
//     e-mail's third and recorded as `control` (no reason) for the no-e-mail third, which is the
//     control group of both strategies. Rows are written by Engine::record_decided, so their
//     columns and JSON are exactly the engine's;
//   * the events, sorted by time: a `Visit` at T + 1 day for each row with visit = 1 (id
//     `v<row>`), then an `Order` at T + 1 day + 1 hour for each row with conversion = 1 (id
//     `o<row>`, amount = spend exactly);
//   * profiles (optional): the row's customer attributes, `segment` as `offer`.
// A row is malformed (an error with its line) when a field is missing or out of its domain,
// when conversion is 1 without a visit, or when spend is positive without a conversion.
#pragma once

#include <iosfwd>
#include <string>

#include "bytecode/program.h"
#include "runtime/ingest/importers.h"
#include "runtime/state/state_store.h"

namespace crm::ingest {

struct HillstromOptions {
  std::string mens_strategy = "mens_email";
  std::string womens_strategy = "womens_email";
};

// `store` must hold no units yet. `profiles` may be null. On failure nothing is committed to
// the store (what was written to the streams is incomplete) and `stats.error_line` is set as
// for the other importers.
bool import_hillstrom(std::istream& csv, const bytecode::Program& program, state::StateStore& store,
                      std::ostream& events, std::ostream* profiles, const HillstromOptions& options,
                      ImportStats& stats, std::string& error);

}  // namespace crm::ingest
