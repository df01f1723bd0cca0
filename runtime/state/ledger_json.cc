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

namespace {
void member(std::string& out, Member key, bool present, std::string_view v) {
  out += prefix(key);
  if (present) support::append_json_quoted(out, v);
  else out += "null";
}
}  // namespace

void append_head_start(std::string& out, std::string_view event, std::string_view user) {
  out += '{';
  out += prefix(Member::Event).substr(1);  // the first member has no comma before it
  if (!event.empty()) support::append_json_quoted(out, event);
  else out += "null";
  member(out, Member::User, true, user);
}

void append_head_strategy(std::string& out, std::string_view strategy) {
  member(out, Member::Strategy, !strategy.empty(), strategy);
}

void append_head_outcome(std::string& out, std::string_view outcome, std::string_view reason) {
  member(out, Member::OutcomeName, true, outcome);
  member(out, Member::ReasonName, !reason.empty(), reason);
}

void append_head_action(std::string& out, std::string_view resource, std::string_view channel, std::string_view code) {
  member(out, Member::Resource, !resource.empty(), resource);
  member(out, Member::Channel, !channel.empty(), channel);
  member(out, Member::Code, !code.empty(), code);
  out += prefix(Member::At);
  out += '"';
}

void append_head_end(std::string& out, int64_t at) {
  support::append_time(out, at);
  out += '"';
}

void append_decision_head(std::string& out, const DecisionHead& h) {
  append_head_start(out, h.event, h.user);
  append_head_strategy(out, h.strategy);
  append_head_outcome(out, h.outcome, h.reason);
  append_head_action(out, h.resource, h.channel, h.code);
  append_head_end(out, h.at);
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
