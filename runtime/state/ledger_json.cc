// ledger_json.cc - the head of a decision's JSON record (see ledger_json.h).
#include "runtime/state/ledger_json.h"

#include "support/civil_time.h"
#include "support/json_text.h"

namespace crm::state {

namespace {

// The record's members, in order, from the one table of them (runtime/engine/decisions.def).
enum class Member {
#define CRM_FIELD(id, key, outcomes, meaning) id,
#include "runtime/engine/decisions.def"
};

std::string_view prefix(Member m) {
  static constexpr std::string_view prefixes[] = {
#define CRM_FIELD(id, key, outcomes, meaning) ",\"" key "\":",
#include "runtime/engine/decisions.def"
  };
  return prefixes[static_cast<size_t>(m)];
}

}  // namespace

void append_decision_head(std::string& out, const DecisionHead& h) {
  auto str = [&](Member key, bool present, std::string_view v) {
    out += prefix(key);
    if (present) support::append_json_quoted(out, v);
    else out += "null";
  };
  out += '{';
  out += prefix(Member::Event).substr(1);  // the first member has no comma before it
  if (!h.event.empty()) support::append_json_quoted(out, h.event);
  else out += "null";
  str(Member::User, true, h.user);
  str(Member::Strategy, !h.strategy.empty(), h.strategy);
  str(Member::OutcomeName, true, h.outcome);
  str(Member::ReasonName, !h.reason.empty(), h.reason);
  str(Member::Resource, !h.resource.empty(), h.resource);
  str(Member::Channel, !h.channel.empty(), h.channel);
  str(Member::Code, !h.code.empty(), h.code);
  out += prefix(Member::At);
  out += '"';
  support::append_time(out, h.at);
  out += '"';
}

void append_row_head(std::string& out, UnitKind kind, const LedgerRow& r) {
  append_decision_head(out, {head_event(kind, r.unit), r.user, r.strategy, r.outcome, r.reason, r.resource, r.channel,
                             r.code, r.at});
}

std::string record_of(UnitKind kind, const LedgerRow& row) {
  std::string out;
  out.reserve(128 + row.json.size());
  append_row_head(out, kind, row);
  out += row.json;
  return out;
}

}  // namespace crm::state
