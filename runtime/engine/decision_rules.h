// decision_rules.h - the decision rules: what one strategy decides for one user at one instant.
// In this order, each step seeing only strategies that passed the ones before
// (docs/semantics.md, "Priority and split"):
//   1. when      - the strategy's window (`between A and B`);
//   2. if, who, where - the trigger condition, the audience and the event filter (evaluated by
//                  the Evaluator; a fault is no match);
//      recipient - a referral (`grant X to event.f`) decides the rest for the user the event
//                  names, refused when missing, the event's own user or unknown;
//   3. split     - the deterministic A/B bucket of (user, salt): a control user is decided by
//                  steps 4 and 6 against real plus shadow grants and consumes nothing; with
//                  A/B/n arms, a user in no arm is not decided, and a user in an arm gets the
//                  actions for that arm and those for every arm; after a roll-out's decision
//                  point, a user in no arm gets the winning arm's actions (rollout.h);
//      draws     - `with chance P%` per action (a lost draw is that action's reason and consults no
//                  limit) and drawn discounts (the budget needs room for the largest value and
//                  reserves the drawn one);
//   4. per-user limits - `per user N per P` caps, then the exclusive group;
//   5. quotas (early look) - stock, budget, pacing at the cost of every action, then the budget
//                  pool's stock and budget, so a spent quota is the reason reported rather
//                  than a policy's;
//   6. per action - the resource's claim window, then each policy in program order:
//                  unredeemed limit, same resource type per period, quiet hours (hold or drop),
//                  channel caps;
//   7. reservation - the delivery's actions that passed reserve stock and budget, the
//                  strategy's and its pool's together, in one atomic step
//                  (state::Quotas::reserve_parts); if it does not fit, they become rejections.
// Held messages (quiet hours) are released, or rejected, by release() when the hours end.
// With a trace (explain), every step notes a Check and nothing is reserved or queued.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/evaluator.h"
#include "runtime/engine/redemption.h"
#include "runtime/engine/rollout.h"
#include "runtime/engine/user_state.h"
#include "runtime/state/state_store.h"

namespace crm::engine {

class DecisionRules {
 public:
  DecisionRules(const bytecode::Program& program, Evaluator& eval, Redemptions& grants, Users& users, Stats& stats);

  // Campaign-wide counters: the rules' own until a store's are bound (state::Quotas).
  void bind_quotas(state::Quotas& quotas);
  // The roll-outs' choices (the engine's), which send a winner to users in no arm.
  void bind_rollouts(const Rollouts* rollouts) { rollouts_ = rollouts; }
  // Whether user_id is in the rest of strategy si's audience: not in control, in no arm.
  bool in_rest(uint32_t si, const std::string& user_id) const;
  // Decides strategy si for u (`user_id`) against ev (null at a scheduled instant) at `now`:
  // matches(), then deliver().
  void decide(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t si, std::vector<Decision>& out);
  // Steps 1-2: the window and the if/who/where clauses.
  bool matches(User& u, const Event* ev, int64_t now, uint32_t si);
  // Evaluates now, in one Executor::run_clauses call, the clauses of those of ev's
  // `candidates` (in priority order) whose clauses no decision of this event can change (they
  // read no delivery history); matches() then takes each one's verdict at its turn instead of
  // running its clauses. Not while a trace is set. clear_prematch() drops verdicts not taken; the
  // caller calls it however deciding the event ends (Engine::decide_candidates: a scope guard).
  void prematch(User& u, const Event& ev, const std::vector<uint32_t>& candidates);
  void clear_prematch();
  // Choice by value (`value:`, docs/semantics.md "Choice by value"): the candidates of one event
  // that match, each with its value, in the order they are decided: highest value first, then
  // strategies without a value; ties keep the candidates' order (priority, then name). A fault
  // in a value leaves the strategy out (counted, as a fault in `who` is).
  struct Ranked {
    uint32_t strategy;
    bool has_value;
    int64_t value;  // millionths
  };
  std::vector<Ranked> rank(User& u, const Event& ev, const std::vector<uint32_t>& candidates);
  // Evaluates strategy si's `value:`; false on a fault (counted; trace_error() names it).
  bool value_of(User& u, const Event* ev, int64_t now, uint32_t si, int64_t& value);
  // `12.5 CNY`: a value as explain and errors show it.
  std::string value_text(uint32_t si, int64_t value) const;
  // Steps 3-7 for a strategy that matched; `ranked` carries its value into the decisions.
  void deliver(User& u, const std::string& user_id, const Event* ev, int64_t now, uint32_t si, std::vector<Decision>& out,
               const Ranked* ranked = nullptr);
  // Sends (or refuses) every held message whose quiet hours ended at or before `now`.
  void release(int64_t now, std::vector<Decision>& out);
  // Queues a held message restored from the ledger.
  void hold(int64_t due, const std::string& user, uint32_t si, int32_t ai, int64_t held_at) {
    releases_.push(Release{due, user, si, ai, held_at});
  }
  // The end of the holding quiet hours that `now` falls in for strategy s (0: none).
  int64_t quiet_hold(const bytecode::Strategy& s, int64_t now) const;
  size_t pending_releases() const { return releases_.size(); }
  bool release_due(int64_t now) const { return !releases_.empty() && releases_.top().at <= now; }
  // When a message held at `now` is released (0: it is not held): the end of its quiet hours, and
  // while other quiet hours go on then, theirs, as release() re-holds it. Explain states this
  // instant, so it cannot drift from run. INT64_MAX when quiet hours cover every instant.
  int64_t quiet_release(const bytecode::Strategy& s, int64_t now) const;

  // Explain: while a trace is set, decide() notes every check in it, reserves nothing and
  // queues nothing. trace_error() is the fault of the last clause that failed to evaluate.
  void set_trace(StrategyTrace* t) {
    trace_ = t;
    if (t) trace_error_.clear();  // kept after the trace ends, for the caller to read
  }
  const std::string& trace_error() const { return trace_error_; }
  // Evaluates a clause (if/who/where; true when absent); false on a fault, counted.
  bool run_clause(int32_t unit, User& u, const Event* ev, int64_t now, bool& result);

 private:
  // Limits of the strategy as a whole (per-user caps, stock, budget), then of one action
  // (claim window, policies). Reason::None when allowed, else the rejection reason.
  // `with_quotas` false: per-user limits only (a control delivery consumes no stock or budget).
  // `lost`: per action, a lost `with chance` draw; those actions cost nothing in the early look.
  // `arm`: the user's A/B/n arm; actions for another arm cost nothing either.
  Reason strategy_limit(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, bool with_quotas = true,
                        const std::vector<Reason>* lost = nullptr, int32_t arm = -1);
  // From the split on, for the user who receives the delivery (the event's user, or the
  // recipient a referral names).
  // `d` is the delivery's record so far; it is moved from (into the last row).
  void deliver_to(User& u, const std::string& user_id, int64_t now, uint32_t si, Decision& d, std::vector<Decision>& out);
  // The draws of random rewards for delivery `d` (docs/semantics.md, "Random rewards"): per
  // action, LostDraw when its `with chance` draw lost; the drawn discount, or -1.
  void draw(const bytecode::Strategy& s, const Decision& d, std::vector<Reason>& lost, std::vector<int64_t>& amounts);
  // A control user's delivery, decided as if treated against the user's real and shadow grants.
  void decide_control(User& u, const bytecode::Strategy& s, uint32_t si, int64_t now, Decision d, std::vector<Decision>& out);
  // `ai`: the action's index for explain's checks. `hold_until`: set to the end of the quiet hours
  // when a message passes every other limit but falls in quiet hours that hold rather than drop
  // it (the result is then empty).
  Reason action_limit(User& u, const bytecode::Strategy& s, const bytecode::Action& a, int64_t now, int32_t ai = -1,
                      int64_t* hold_until = nullptr);
  // Stock, budget and pacing limits of one delivery of s at `now` costing `cost`.
  state::QuotaLimits quota_limits(const bytecode::Strategy& s, int64_t now, int64_t cost) const;
  // The counters a delivery of strategy si draws on: its own, then its pool's.
  void quota_parts(uint32_t si, int64_t now, int64_t cost, std::vector<state::QuotaPart>& parts) const;
  // The part of quota_parts() for strategy s's pool (s.pool >= 0): its counters and limits.
  state::QuotaPart pool_part(const bytecode::Strategy& s) const;
  // Whether action a goes to a user in `arm` (-1: a strategy without arms).
  static bool for_arm(const bytecode::Action& a, int32_t arm) { return a.arm < 0 || a.arm == arm; }
  void note(Check c) { if (trace_) trace_->checks.push_back(std::move(c)); }
  // Drops the deliveries (a user's, or a control user's shadow ones) that no per-user cap or
  // exclusive group can count at `now` or later, before a delivery at `now` is added: a user's
  // decisions never go back in time (the stream contract, docs/semantics.md "Event order"), so
  // what is out of every period now stays out. Deliveries of a strategy with a `per campaign`
  // cap or in an exclusive group it shares are kept for good.
  void prune_deliveries(std::vector<Delivery>& deliveries, int64_t now) const;
  void set_text(Decision& d, const User& u, const bytecode::Action& a, bool render) const;

  const bytecode::Program& p_;
  std::vector<uint8_t> prunable_;  // per strategy: its deliveries may be dropped (prune_deliveries)
  // What draw() gives deliver_to() and decide_control() (neither runs inside the other), kept
  // so that a delivery allocates nothing for it.
  std::vector<Reason> lost_;
  std::vector<int64_t> drawn_;
  std::vector<state::QuotaPart> parts_;  // deliver_to's quota_parts
  // prematch(): per strategy, whether it may be prematched, and its verdict for this event.
  static constexpr uint8_t kNotPrematched = 0, kPreNoMatch = 1, kPreMatch = 2, kPreFault = 3;
  std::vector<uint8_t> fusable_;
  std::vector<uint8_t> pre_;
  std::vector<const char*> pre_error_;
  std::vector<uint32_t> prematched_;  // strategies with a verdict in pre_
  std::vector<ClauseGroup> groups_;   // scratch of prematch()
  std::vector<ClauseVerdict> verdicts_;
  Evaluator& eval_;
  Redemptions& grants_;
  Users& users_;
  Stats& stats_;
  state::LocalQuotas own_quotas_;
  state::Quotas* quotas_ = nullptr;
  std::vector<uint32_t> quota_;  // per strategy: its handle in quotas_
  std::vector<uint32_t> pool_quota_;  // per pool: its handle in quotas_
  StrategyTrace* trace_ = nullptr;
  std::string trace_error_;
  const Rollouts* rollouts_ = nullptr;
  // Messages held by quiet hours, by the time they are due (docs/semantics.md, "Quiet hours").
  struct Release {
    int64_t at;
    std::string user;
    uint32_t strategy;
    int32_t action;
    int64_t held_at;
    bool operator>(const Release& o) const {
      return std::tie(at, user, strategy, action, held_at) > std::tie(o.at, o.user, o.strategy, o.action, o.held_at);
    }
  };
  std::priority_queue<Release, std::vector<Release>, std::greater<Release>> releases_;
};

}  // namespace crm::engine
