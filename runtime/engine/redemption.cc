// redemption.cc - redemptions checked against usage restrictions, expiries, and what a grant is worth.
#include "runtime/engine/redemption.h"

#include <algorithm>

#include "support/currency.h"
#include "support/decimal.h"

namespace crm::engine {

using bytecode::Kind;

Redemptions::Redemptions(const bytecode::Program& program, vm::StringPool& strings, const vm::CollectionStore& collections,
                         Users& users, Stats& stats)
    : p_(program), strings_(strings), collections_(collections), users_(users), stats_(stats),
      texts_(program, strings, collections) {
  // Redemptions are read from fields found by name (docs/semantics.md, "Redemption").
  fields_.resize(p_.events.size());
  for (size_t e = 0; e < p_.events.size(); ++e) {
    const auto& et = p_.events[e];
    auto& rf = fields_[e];
    auto is_strings = [](const bytecode::Field& f) {
      return f.kind == Kind::String || ((f.kind == Kind::Set || f.kind == Kind::List) && f.elem == Kind::String);
    };
    for (size_t f = 3; f < et.fields.size(); ++f) {
      const auto& fd = et.fields[f];
      int32_t fi = static_cast<int32_t>(f);
      if (fd.name == "coupon" && fd.kind == Kind::String) rf.coupon = fi;
      if (et.name == "Redeem" && fd.name == "resource" && fd.kind == Kind::String) rf.resource = fi;
      if (et.name == "Redeem" && fd.name == "code" && fd.kind == Kind::String) rf.code = fi;
      if (fd.name == "amount" && fd.kind == Kind::Money) rf.amount = fi;
      for (int k = 0; k < 4; ++k)
        if (fd.name == bytecode::kRestrictionNames[k] && is_strings(fd)) rf.restricted[k] = fi;
    }
  }
  // Only coupons and red envelopes are redeemed (docs/language.md 3.4.1: messages and points never
  // are): a message's or points' name, or a code only they carry, names no CRM coupon.
  for (const auto& r : p_.resources)
    if (is_coupon(r.kind)) redeemable_names_.push_back(strings_.intern(r.name));
  for (const auto& s : p_.strategies)
    for (const auto& a : s.actions)
      if (!a.code.empty() && is_coupon(p_.resources[a.resource].kind)) redeemable_names_.push_back(strings_.intern(a.code));
  std::sort(redeemable_names_.begin(), redeemable_names_.end());
  allowed_.resize(p_.resources.size());
  for (size_t r = 0; r < p_.resources.size(); ++r)
    for (int k = 0; k < 4; ++k) {
      for (const auto& v : p_.resources[r].restrictions[k]) allowed_[r][k].push_back(strings_.intern(v));
      std::sort(allowed_[r][k].begin(), allowed_[r][k].end());
    }
}

void Redemptions::mark_read(std::vector<std::vector<uint8_t>>& read) const {
  for (size_t e = 0; e < fields_.size(); ++e) {
    const auto& rf = fields_[e];
    if (!rf.any()) continue;
    for (int32_t f : {rf.resource, rf.code, rf.coupon, rf.amount, rf.restricted[0], rf.restricted[1], rf.restricted[2],
                      rf.restricted[3]})
      if (f >= 0) read[e][f] = 1;
  }
}

void Redemptions::expire(int64_t now, std::vector<Decision>& out) {
  while (!expiries_.empty() && expiries_.top().at <= now) {
    Expiry x = expiries_.top();
    expiries_.pop();
    // The index is the grant's in the user's grants, which only grow once an expiry is queued
    // (a grant taken back was never tracked; attach gives restored grants to users that exist
    // already: Users::adopt_restored). The bound keeps a broken invariant from writing past the
    // end of them (a user found with fewer grants, or none: an empty span).
    Grant* g = nullptr;
    if (User* u = users_.find(x.user)) {
      std::span<Grant> grants = u->grants_mut();
      if (x.grant < grants.size()) g = &grants[x.grant];
    } else if (auto r = users_.restored().find(x.user); r != users_.restored().end() && x.grant < r->second.grants.size()) {
      g = &r->second.grants[x.grant];
    }
    if (!g || g->state != GrantState::Open) continue;  // redeemed in the meantime
    g->state = GrantState::Expired;
    Decision d;
    d.user = x.user;
    d.strategy = g->strategy;
    d.action = g->action;
    d.outcome = Outcome::Expired;
    d.at = x.at;
    d.granted_at = g->time;
    d.amount = g->amount;
    ++stats_.expired;
    out.push_back(std::move(d));
  }
}

// A redemption names a grant by the resource's name or the granting action's channel code. The
// user's oldest open coupon or red envelope of it is checked against the use window, then the resource's usage
// restrictions (threshold on the order `amount`, category, item, store, city).
void Redemptions::redeem(User& u, const std::string& user_id, const Event& ev, std::vector<Decision>& out) {
  const RedeemFields& rf = fields_[ev.type];
  if (!rf.any()) return;
  int32_t ref = -1;
  bool by_code = false;
  for (int32_t f : {rf.coupon, rf.code, rf.resource})
    if (f >= 0 && ev.present[f]) {
      ref = f;
      by_code = f != rf.resource;
      break;
    }
  if (ref < 0) return;  // an order without a coupon
  if (!std::binary_search(redeemable_names_.begin(), redeemable_names_.end(), ev.fields[ref])) return;
  std::string_view name = strings_.text(ev.fields[ref]);
  // A code shared by a coupon and the push announcing it designates the coupon: the push's grant,
  // never redeemed, is passed over (before, the order "redeemed" the push and the coupon stayed open).
  auto names = [&](const Grant& g) {
    if (!is_coupon(p_.resources[g.resource].kind)) return false;
    if (p_.resources[g.resource].name == name) return true;
    return by_code && p_.strategies[g.strategy].actions[g.action].code == name;
  };
  Decision d;
  d.event = ev.id;
  d.user = user_id;
  d.at = ev.time;
  d.outcome = Outcome::RedeemRejected;
  d.strategy = kNoStrategy;
  d.sales = rf.amount >= 0 && ev.present[rf.amount] ? ev.fields[rf.amount] : 0;
  Grant* chosen = nullptr;
  Reason why = Reason::NoGrant;
  for (auto& g : u.grants_mut()) {
    if (g.time > ev.time || !names(g)) continue;
    const auto& res = p_.resources[g.resource];
    Reason w = Reason::None;
    if (g.state == GrantState::Redeemed) w = Reason::AlreadyRedeemed;
    else if (g.state == GrantState::Expired || ev.time >= g.expires) w = Reason::Expired;
    else if (res.has_use_window && ev.time < res.use_from) w = Reason::NotYetValid;
    if (w == Reason::None) {
      chosen = &g;
      break;
    }
    // Report the most useful reason: an expired grant says more than an old redeemed one.
    if (why == Reason::NoGrant || w != Reason::AlreadyRedeemed) {
      why = w;
      d.strategy = g.strategy;
      d.action = g.action;
      d.granted_at = g.time;
    }
  }
  if (chosen) {
    const auto& res = p_.resources[chosen->resource];
    d.strategy = chosen->strategy;
    d.action = chosen->action;
    d.granted_at = chosen->time;
    why = Reason::None;
    const bool has_amount = rf.amount >= 0 && ev.present[rf.amount];
    // An amount is an order amount for this coupon only in the coupon's currency: 100 GBP is not
    // at least a 50 CNY threshold (the raw numbers were compared before), nor sales of a CNY
    // coupon. Which coupon an event redeems is known only from its text at run time, so the
    // checker cannot refuse the pair; it is refused here, as for a percentage discount.
    const bool in_currency = has_amount && p_.events[ev.type].fields[rf.amount].currency == res.currency;
    if (res.threshold > 0) {
      if (!has_amount) why = Reason::BelowThreshold;
      else if (!in_currency) why = Reason::NoOrderAmount;
      else if (ev.fields[rf.amount] < res.threshold) why = Reason::BelowThreshold;
    }
    // A percentage discount is computed from the order amount, which must be in its currency.
    if (why == Reason::None && res.percent > 0 && !in_currency) why = Reason::NoOrderAmount;
    // In the order of bytecode::kRestrictionNames.
    static constexpr Reason kWrong[4] = {Reason::WrongCategory, Reason::WrongItem, Reason::WrongStore, Reason::WrongCity};
    for (int k = 0; k < 4 && why == Reason::None; ++k) {
      const auto& allowed = allowed_[chosen->resource][k];
      if (allowed.empty()) continue;
      int32_t f = rf.restricted[k];
      bool ok = false;
      if (f >= 0 && ev.present[f]) {
        const auto& fd = p_.events[ev.type].fields[f];
        auto in = [&](int64_t v) { return std::binary_search(allowed.begin(), allowed.end(), v); };
        if (fd.kind == Kind::String) ok = in(ev.fields[f]);
        else
          for (int64_t v : collections_.items(ev.fields[f])) ok |= in(v);
      }
      if (!ok) why = kWrong[k];
    }
    if (why == Reason::None) {
      chosen->state = GrantState::Redeemed;
      users_.history().redeemed(u, chosen->strategy, chosen->action, ev.time);
      d.outcome = Outcome::Redeemed;
      d.amount = chosen->amount;
      if (!in_currency) d.sales = 0;  // no order amount in the coupon's currency: no sales of it
      if (res.percent > 0)
        d.amount = percent_subsidy(ev.fields[rf.amount], res.percent, support::minor_unit_digits(res.currency),
                                   chosen->amount);
      ++stats_.redeemed;
      out.push_back(std::move(d));
      return;
    }
  }
  d.reason = why;
  d.sales = 0;
  ++stats_.redeem_rejected;
  out.push_back(std::move(d));
}

// What one more grant of a resource is worth to this user. A shared red envelope with `decay`
// pays less on repeated claims (000 section 4): the full discount first, then discount x
// (1 - decay) rounded to a hundredth, then `fixed_from_third` for every later claim.
int64_t Redemptions::face_value(const User& u, uint32_t ri) const {
  const auto& r = p_.resources[ri];
  if (bytecode::is_message(r.kind)) return r.cost > 0 ? texts_.render(u, ri).cost : 0;
  if (!is_coupon(r.kind)) return 0;
  if (r.decay <= 0) return r.discount;
  int64_t earlier = 0;
  for (const auto& g : u.grants()) earlier += g.resource == ri;
  if (earlier == 0) return r.discount;
  if (earlier >= 2) return r.fixed_from_third;
  constexpr int64_t kCent = support::Decimal::kScale / 100;
  __int128 v = static_cast<__int128>(r.discount) * (support::Decimal::kScale - r.decay) / support::Decimal::kScale;
  return static_cast<int64_t>((v + kCent / 2) / kCent * kCent);
}

int64_t Redemptions::percent_subsidy(int64_t amount, int64_t percent, int digits, int64_t cap) {
  if (amount <= 0 || percent <= 0) return 0;
  auto pow10 = [](int n) {
    __int128 v = 1;
    while (n-- > 0) v *= 10;
    return v;
  };
  // amount (millionths) x percent (millionths) is exact in 10^-12; keep `digits` places.
  const __int128 exact = static_cast<__int128>(amount) * percent, q = pow10(12 - digits);
  __int128 n = exact / q;
  const __int128 rest = exact % q;
  if (rest * 2 > q || (rest * 2 == q && (n & 1))) ++n;  // half to even
  const __int128 subsidy = n * pow10(6 - digits);
  return subsidy > cap ? cap : static_cast<int64_t>(subsidy);
}

Grant Redemptions::make_grant(const User& u, uint32_t si, int32_t ai, int64_t now) const {
  const auto& a = p_.strategies[si].actions[ai];
  return {si, a.resource, ai, a.channel, now, face_value(u, a.resource), expiry_of(a.resource, now)};
}

// The end of a grant's use window: N days after the claim, or the fixed window's end.
int64_t Redemptions::expiry_of(uint32_t ri, int64_t claimed) const {
  const auto& res = p_.resources[ri];
  if (res.use_after_claim > 0) return claimed + res.use_after_claim;
  if (res.has_use_window) return res.use_to;
  return INT64_MAX;
}

}  // namespace crm::engine
