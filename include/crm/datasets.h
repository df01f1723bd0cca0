// crm/datasets.h - public reference datasets as crm data (docs/indicators.md, "The Hillstrom
// data set").
//
// Nothing here throws; failures come back in ImportResult. Not thread-safe for one state:
// a ledger has one writer (docs/semantics.md).
#pragma once

#include <cstddef>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include <crm/runtime.h>

namespace crm {

struct ImportResult {
  bool ok = false;
  std::string error;        // why not; with error_line > 0 it is about that line of the CSV
  size_t error_line = 0;
  size_t rows = 0;          // data rows read
  size_t events = 0;        // events written
  size_t skipped = 0;       // data rows not used by any event (import_purchases)
  std::map<std::string, size_t> skipped_by_reason;
  std::vector<std::string> notices;
};

// The program the Hillstrom ledger is recorded by: examples/hillstrom/hillstrom.crm, embedded in
// the library at build time (strategies `mens_email` and `womens_email`, sent at one declared
// time, sharing one control group).
CompileOutput hillstrom_program();

// Kevin Hillstrom's MineThatData e-mail test (64,000 customers; CSV text, decompressed) as a
// ledger of `program` in `state_spec` ("sqlite:PATH", which must hold no units yet) and the
// event log (JSON Lines, time order) on `events`; with `profiles`, the customers' attributes
// (JSON Lines). The customers of each e-mail's third are `granted` its strategy's e-mail, the
// no-e-mail third is the `control` group of both strategies, exactly as the engine records
// them; ids and times are made up as docs/indicators.md says.
ImportResult import_hillstrom(std::istream& csv, const CompiledProgram& program, const std::string& state_spec,
                              std::ostream& events, std::ostream* profiles = nullptr);

// The public purchase logs as the event contract (docs/runtime.md, "Public datasets"): `dataset`
// "online-retail" (UCI Online Retail, one Order per invoice) or "cdnow" (one Order per row), from
// the decompressed text `in`; exact amounts, events in time order on `events` (JSON Lines). A
// malformed input is !ok with error_line > 0 naming its line; an unknown dataset is !ok.
ImportResult import_purchases(const std::string& dataset, std::istream& in, std::ostream& events);

}  // namespace crm
