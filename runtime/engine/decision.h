// decision.h - what the engine produces: decision records, explain's checks and traces, and the
// run's counters. Every part of the engine that decides writes these; the recorder turns them
// into JSON and ledger rows.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm::engine {

// Decisions of strategies (granted, rejected, control, held) and what later happens to a grant
// (redeemed, redeem_rejected, expired), and why a record refuses: both defined once, with their
// names and meanings, in decisions.def.
enum class Outcome : uint8_t {
#define CRM_OUTCOME(id, name, meaning) id,
#include "runtime/engine/decisions.def"
};
enum class Reason : uint8_t {
  None,  // not refused (granted, redeemed, expired; a control row the user would have received)
#define CRM_REASON(id, name, outcomes, meaning) id,
#include "runtime/engine/decisions.def"
};
// The members of a JSON decision record (Recorder::decision_json writes each through its Field).
enum class Field : uint8_t {
#define CRM_FIELD(id, key, outcomes, meaning) id,
#include "runtime/engine/decisions.def"
};
// `,"key":`, what the writer appends before the member's value.
std::string_view field_prefix(Field f);
// The names of the JSON decision stream and of the ledger; reason_name(Reason::None) is "".
const char* outcome_name(Outcome o);
const char* reason_name(Reason r);
// From a ledger row's text; false for a name the table does not have.
bool outcome_from_name(std::string_view name, Outcome& out);
bool reason_from_name(std::string_view name, Reason& out);

// One row of the table, for generated documentation.
struct DecisionName {
  const char* name;
  const char* outcomes;  // reasons: the outcomes that carry it; outcomes: empty
  const char* meaning;
};
const std::vector<DecisionName>& all_outcomes();
const std::vector<DecisionName>& all_reasons();
const std::vector<DecisionName>& all_fields();  // name: the key; outcomes: "every" or a list

constexpr uint32_t kNoStrategy = UINT32_MAX;  // a redemption that names no grant of this user

struct Decision {
  Decision() = default;
  Decision(const Decision&) = default;
  Decision& operator=(const Decision&) = default;
  Decision& operator=(Decision&&) = default;
  // Every row is moved into the engine's output once. Most of a row's ten strings are empty, and
  // libstdc++ moves even an empty short string with a call to memcpy: this moves only the
  // strings that hold text (the moved-from row's strings are then empty or unspecified, as
  // with the default move). A member added below must be added here too (the size check after
  // the struct is there to say so).
  Decision(Decision&& o) noexcept
      : strategy(o.strategy),
        outcome(o.outcome),
        reason(o.reason),
        action(o.action),
        at(o.at),
        amount(o.amount),
        sales(o.sales),
        granted_at(o.granted_at),
        released(o.released),
        has_value(o.has_value),
        value(o.value),
        referral(o.referral),
        segments(o.segments),
        arm(o.arm),
        rollout(o.rollout),
        text_epoch(o.text_epoch),
        text_at(o.text_at),
        text_len(o.text_len),
        text_head(o.text_head) {
    take(event, o.event);
    take(user, o.user);
    take(trigger_user, o.trigger_user);
    take(recipient, o.recipient);
    take(text, o.text);
    take(title, o.title);
    take(trigger, o.trigger);
    take(timer, o.timer);
    take(detail, o.detail);
    take(json, o.json);
  }
  // `to` is empty, as just made: a text is moved in by the string's own move constructor.
  static void take(std::string& to, std::string& from) noexcept {
    if (from.empty()) return;
    std::destroy_at(&to);
    std::construct_at(&to, std::move(from));
  }

  std::string event;  // empty for scheduled deliveries and expiries
  std::string user;
  uint32_t strategy = 0;
  Outcome outcome = Outcome::Granted;
  Reason reason = Reason::None;  // why refused
  int32_t action = 0;
  int64_t at = 0;
  int64_t amount = 0;      // face value (granted) or subsidy (redeemed), millionths of the resource's currency
  int64_t sales = 0;       // redeemed: the order amount
  int64_t granted_at = 0;  // redemptions and expiries: when the grant they concern was made;
                           // a held message's release: when it was held
  bool released = false;   // the release of a held message (granted or rejected at the end of quiet hours)
  bool has_value = false;  // the strategy has `value:`: what it was worth for this user and event
  int64_t value = 0;       // millionths of the strategy's value_currency (or of a Decimal)
  // Referral rewards (`grant X to event.f`): the trigger event's own user, and the recipient the
  // event named (`user` is the recipient once it is a known user other than the event's user).
  bool referral = false;
  std::string trigger_user, recipient;
  // A message sent, held, or (control) that would have been: its text rendered for the user, its
  // title (push) or subject (e-mail), and an SMS's segments.
  std::string text, title;
  int64_t segments = 0;
  // Delayed triggers: a `pending` row's due time is granted_at; `trigger` is the event that armed
  // the timer (a `cancelled` row), `timer` the ledger's copy of the trigger event (a `pending` row).
  std::string trigger, timer;
  int32_t arm = -1;        // a strategy with A/B/n arms: the user's arm (Strategy::arms); -1: none
                           // (a `rollout` record: the winning arm)
  int32_t rollout = -1;    // a user in no arm and not in control, decided after the roll-out: the winner they get
  std::string detail;      // a `rollout` record: its numbers, as JSON members (",\"metric\":...")
  std::string json;  // set when the decision is replayed from the ledger: reported as recorded
  // Set by Recorder::record: the decision's text as recorded in the ledger is bytes
  // [text_at, text_at + text_len) of that recorder's text buffer while the buffer is in epoch
  // `text_epoch` (0: none). Epochs are unique in the process, so a decision given to another
  // recorder, or kept past a reuse of the buffer, is rendered again (the same text).
  uint64_t text_epoch = 0;
  uint32_t text_at = 0, text_len = 0;
  uint32_t text_head = 0;  // where in that text its head ends (state::append_decision_head); 0: unknown
};
// Decision's move constructor names every member: a member added to Decision changes its size,
// and must be added there (then update the size here).
static_assert(sizeof(void*) != 8 || sizeof(std::string) != 32 || sizeof(Decision) == 432,
              "a member was added to Decision: move it in Decision(Decision&&) too");

// Explain: one step of a decision, in the order the engine takes them (docs/semantics.md,
// "Explain"). Recorded by the decision rules themselves while they decide, so an explanation
// cannot differ from the decision.
struct Check {
  Check() = default;
  Check(std::string c, bool p, std::string d) : clause(std::move(c)), passed(p), detail(std::move(d)) {}
  std::string clause;  // when, if, who, where, split, per_user, exclusive, stock, budget, pacing,
                       // pool_stock, pool_budget, claim_window, use_window, unredeemed_limit, same_type,
                       // quiet_hours, channel_cap, rollout, order (explain: an event out of order)
  bool passed = true;
  std::string detail;  // the values involved: counts, limits, the window, the error
  int32_t unit = -1;   // if/who/where: the unit the engine evaluated
  int32_t action = -1; // action checks: the action's index
  std::string policy;  // policy checks: the policy's name
};

// What the engine decides (or would decide) for one user and one strategy at one instant.
struct StrategyTrace {
  uint32_t strategy = 0;
  std::string event;  // the trigger event's id; empty for a scheduled instant
  int64_t at = 0;
  // granted (at least one action), held (none granted, a message held by quiet hours), rejected, control, no_match (a clause is false or failed),
  // outside_window, not_triggered (no trigger event for this strategy), out_of_order (the event is
  // older than the user's latest: the run refuses it)
  std::string verdict;
  std::vector<Check> checks;
  std::vector<Decision> decisions;  // the records the engine would write
};

struct Stats {
  size_t lines = 0, events = 0, skipped = 0, eval_errors = 0;
  std::map<std::string, size_t> eval_errors_by_kind;  // what failed, e.g. "division by zero"
  size_t granted = 0, rejected = 0, control = 0, redeemed = 0, redeem_rejected = 0, expired = 0, held = 0;
  size_t timers_armed = 0, timers_cancelled = 0, timers_fired = 0;  // delayed triggers
  std::map<std::string, size_t> skipped_by_reason;
  // One failed evaluation of a unit, by its fault text (null: unnamed).
  void count_error(const char* kind) {
    ++eval_errors;
    ++eval_errors_by_kind[kind ? kind : "evaluation error"];
  }
};

}  // namespace crm::engine
