// decision.h - the typed view of a decision line (crm::Decision), read from its JSON.
#pragma once

#include <string>

#include <crm/runtime.h>

namespace crm::detail {

// Fills `out` from one decision as the engine writes it (docs/runtime.md, "Decisions");
// `out.json` keeps the line. False with `error` when the line is not such a decision.
bool parse_decision(std::string json, Decision& out, std::string& error);

}  // namespace crm::detail
