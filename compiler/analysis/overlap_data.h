// overlap_data.h - `crm check --data`: how many real users two conflicting strategies share.
//
// The conflict analysis (conflicts.h) proves overlap possible from the text alone; operators
// then ask how much it matters. Given a sample of profiles (and optionally events, folded into
// history first), each W0105 pair is evaluated over every user with the compiled `who:` units
// and the count is added to the warning: "... 1,204 of 4,338 users in `profiles.csv` match both".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/analysis/conflicts.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/sema/program.h"

namespace crm::analysis {

struct DataSample {
  std::string profiles;  // JSON Lines, or CSV with a header row when the name ends in .csv
  std::string events;    // JSON Lines; may be empty
  std::string at;        // ISO-8601 evaluation time; default: the overlap's start or the last event, the later
  std::shared_ptr<const std::string> stdin_text;  // set: "-" is this text (read once by the caller), not std::cin
  bool empty() const { return profiles.empty() && events.empty(); }
};

// Amends the W0105 diagnostics of `conflicts` with counts; a pair that no user of the sample
// matches (and every user could be evaluated) becomes a note rather than a warning. A data file that cannot be read or
// has a malformed line is an error E0109 naming FILE:LINE; nothing is counted then.
void count_overlaps(const sema::Program& program, const std::vector<Conflict>& conflicts, const DataSample& data,
                    diag::DiagnosticSink& sink);

}  // namespace crm::analysis
