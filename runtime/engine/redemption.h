// redemption.h - redemption and expiry: what happens to a grant after it is made. A redemption
// (a `Redeem` event, or any event with a `coupon` field) is checked against the grant's use
// window and the resource's usage restrictions; a grant whose use window ends expires. Also
// what a grant is: its face value (decay of repeated red-envelope claims) and its expiry.
#pragma once

#include <array>
#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/event.h"
#include "runtime/engine/message_text.h"
#include "runtime/engine/user_state.h"

namespace crm::engine {

class Redemptions {
 public:
  // Interns the resource names and action codes a redemption may name.
  Redemptions(const bytecode::Program& program, vm::StringPool& strings, const vm::CollectionStore& collections,
              Users& users, Stats& stats);

  // Marks the event fields redemptions read (read[type][field] = 1), for the decoder.
  void mark_read(std::vector<std::vector<uint8_t>>& read) const;
  // Redemption attempts carried by the event: each is checked against the grant's usage
  // restrictions and recorded in `out`.
  void redeem(User& u, const std::string& user_id, const Event& ev, std::vector<Decision>& out);
  // Records the expiry of every open grant whose use window ended at or before `now`.
  void expire(int64_t now, std::vector<Decision>& out);
  // Queues the expiry of grant `grant` (an index into the user's grants) at `at`.
  void track(int64_t at, const std::string& user, size_t grant) { expiries_.push({at, user, grant}); }
  // Whether an expiry is queued at or before `now` (it may find its grant redeemed already).
  bool expiry_due(int64_t now) const { return !expiries_.empty() && expiries_.top().at <= now; }

  Grant make_grant(const User& u, uint32_t si, int32_t ai, int64_t now) const;
  // The end of a grant's use window: N days after the claim, or the fixed window's end.
  int64_t expiry_of(uint32_t resource, int64_t claimed) const;
  // What one more grant of a resource is worth to this user: a coupon's face value (a percentage
  // discount's cap), a message's cost (an SMS: per segment of its text rendered for the user).
  int64_t face_value(const User& u, uint32_t resource) const;
  const MessageTexts& texts() const { return texts_; }
  // `percent` (millionths of 1) of an order `amount`, rounded half to even to the minor unit of
  // the currency (`digits` decimal places), at most `cap`: a percentage discount's subsidy.
  static int64_t percent_subsidy(int64_t amount, int64_t percent, int digits, int64_t cap);

 private:
  const bytecode::Program& p_;
  vm::StringPool& strings_;
  const vm::CollectionStore& collections_;
  Users& users_;
  Stats& stats_;
  MessageTexts texts_;
  // Per event type: the fields a redemption reads (-1 when absent): the grant reference
  // (`resource`, `code` on Redeem events; `coupon` on any), the order `amount`, and the
  // restricted attributes (category, item, store, city).
  struct RedeemFields {
    int32_t resource = -1, code = -1, coupon = -1, amount = -1;
    int32_t restricted[4] = {-1, -1, -1, -1};
    bool any() const { return resource >= 0 || code >= 0 || coupon >= 0; }
  };
  std::vector<RedeemFields> fields_;
  // Interned names a redemption may use: the names of this program's coupons and red envelopes and
  // the codes of the actions granting them. Other coupons were not issued by CRM (the user claimed
  // them elsewhere) and are not ours to check; messages and points are never redeemed.
  std::vector<int64_t> redeemable_names_;
  std::vector<std::array<std::vector<int64_t>, 4>> allowed_;  // per resource: interned allowed values, sorted
  // Open grants by the end of their use window: (expires, user, index into the user's grants).
  struct Expiry {
    int64_t at;
    std::string user;
    size_t grant;
    // A total order, so expiries due together are reported in the same order after a restart.
    bool operator>(const Expiry& o) const { return std::tie(at, user, grant) > std::tie(o.at, o.user, o.grant); }
  };
  std::priority_queue<Expiry, std::vector<Expiry>, std::greater<Expiry>> expiries_;
};

}  // namespace crm::engine
