// user_state.h - what the engine knows of each user: profile, aggregates over the event history,
// grants, and delivery history (what per-user limits and policies count). Users are found by
// their interned id; they are created in first-seen order, the row order of audience and of
// scheduled deliveries.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bytecode/program.h"
#include "runtime/engine/delivery_history.h"
#include "runtime/state/aggregates.h"
#include "runtime/vm/vm.h"

namespace crm::engine {

// Coupons and red envelopes carry money (a face value, a currency); other resources do not.
inline bool is_coupon(bytecode::ResourceKind k) {
  return k == bytecode::ResourceKind::Coupon || k == bytecode::ResourceKind::RedEnvelope;
}

enum class GrantState : uint8_t { Open, Redeemed, Expired };

struct Grant {
  uint32_t strategy;
  uint32_t resource;
  int32_t action;
  int32_t channel;
  int64_t time;
  int64_t amount;   // face value as granted (decayed for repeated red-envelope claims)
  int64_t expires;  // end of the use window; INT64_MAX when it never expires
  GrantState state = GrantState::Open;
};

// One entry per delivery of a strategy (all its granted actions at one instant): (strategy, time).
using Delivery = std::pair<uint32_t, int64_t>;

// A copyable owning pointer, null until first used: state most users never have costs them one
// pointer.
template <typename T>
class Lazy {
 public:
  Lazy() = default;
  Lazy(const Lazy& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Lazy& operator=(const Lazy& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  Lazy(Lazy&&) noexcept = default;
  Lazy& operator=(Lazy&&) noexcept = default;
  T* get() const { return p_.get(); }
  T& make() {
    if (!p_) p_ = std::make_unique<T>();
    return *p_;
  }

 private:
  std::unique_ptr<T> p_;
};

// What the user would have received as a control user (docs/semantics.md, "Priority and
// split"): shadow grants and deliveries that per-user caps and policies see when deciding a
// control delivery, and nothing else (no stock, no budget, no effect on treated decisions).
struct Shadow {
  std::vector<Grant> grants;
  std::vector<Delivery> deliveries;
};

// What most users never have, behind one pointer made at the user's first grant or delivery
// (real or shadow): a bench user with no grant pays 8 bytes for all of it.
struct UserGrants {
  std::vector<Grant> grants;
  // What per-user limits count, so a strategy that grants a coupon and sends a push counts once.
  std::vector<Delivery> deliveries;
  Lazy<Shadow> shadow;  // made at the user's first shadow grant
};

// Where a program's users keep what: every user is one block (User below) of `bytes`: the
// header, the profile values, the aggregates' block laid out by `aggs`, and the presence bytes.
struct UserShape {
  explicit UserShape(const bytecode::Program& p);
  state::AggLayout aggs;
  uint32_t fields = 0;  // profile fields (field 0 is `user`)
  size_t aggs_at = 0, present_at = 0, bytes = 0;
};

class User;
struct UserDeleter {
  void operator()(User* u) const;
};
// A user owned outside Users: a copy to decide or explain on, a transient user.
using UserPtr = std::unique_ptr<User, UserDeleter>;

// A user is one allocation sized to the program (docs/performance.md §11, "Memory, session
// 11"), where separate vectors for the profile and presence and a separate aggregates block
// cost a pointer, a capacity and malloc's header each. It never moves, so a User& stays valid
// while other users are created. Made by make(), copied by clone(), freed through UserPtr.
class User {
 public:
  User(const User&) = delete;
  User& operator=(const User&) = delete;

  // A user with an empty history, the profile `values` and `present` (shape.fields of each).
  static UserPtr make(const UserShape& shape, const int64_t* values, const uint8_t* present);
  UserPtr clone() const;

  int64_t& last_time() { return last_time_; }
  int64_t last_time() const { return last_time_; }
  std::span<int64_t> profile() { return {reinterpret_cast<int64_t*>(this + 1), shape_->fields}; }
  std::span<const int64_t> profile() const { return {reinterpret_cast<const int64_t*>(this + 1), shape_->fields}; }
  std::span<uint8_t> present() { return {reinterpret_cast<uint8_t*>(base() + shape_->present_at), shape_->fields}; }
  std::span<const uint8_t> present() const {
    return {reinterpret_cast<const uint8_t*>(base() + shape_->present_at), shape_->fields};
  }
  // Reads of a window drop what has left it, so reading aggregates needs a mutable user.
  state::AggregatesRef aggs() { return {shape_->aggs, base() + shape_->aggs_at}; }

  // Grants and deliveries, empty until the first one is added through edit().
  const std::vector<Grant>& grants() const { return extra_ ? extra_->grants : kNoGrants; }
  const std::vector<Delivery>& deliveries() const { return extra_ ? extra_->deliveries : kNoDeliveries; }
  const Shadow* shadow() const { return extra_ ? extra_->shadow.get() : nullptr; }
  // The grants, to change their state (no allocation for a user with none).
  std::span<Grant> grants_mut() { return extra_ ? std::span<Grant>(extra_->grants) : std::span<Grant>(); }
  // Null while the user has no grant or delivery.
  UserGrants* extra() { return extra_; }
  // Asks the CPU for the grants block early, then (once it is in) for its grants and deliveries:
  // with a million users each is a cache miss per event that per-user caps and policies would
  // otherwise wait for (Engine::process calls them around observing the event). Hints only.
  void prefetch_extra() const {
    if (extra_) __builtin_prefetch(extra_);
  }
  void prefetch_grants() const {
    if (!extra_) return;
    if (!extra_->deliveries.empty()) __builtin_prefetch(extra_->deliveries.data());
    if (!extra_->grants.empty()) __builtin_prefetch(extra_->grants.data());
  }
  UserGrants& edit();
  // Frees what edit() made when nothing is left in it (a tentative grant taken back).
  void trim();

 private:
  friend struct UserDeleter;
  explicit User(const UserShape& shape) : shape_(&shape) {}
  ~User();
  std::byte* base() { return reinterpret_cast<std::byte*>(this); }
  const std::byte* base() const { return reinterpret_cast<const std::byte*>(this); }
  static inline const std::vector<Grant> kNoGrants{};
  static inline const std::vector<Delivery> kNoDeliveries{};

  const UserShape* shape_;
  int64_t last_time_ = INT64_MIN;
  UserGrants* extra_ = nullptr;  // owned
};
static_assert(sizeof(User) == 24 && alignof(User) == 8);

// Grants and deliveries rebuilt from a ledger for a user the stream has not met yet.
struct Restored {
  std::vector<Grant> grants;
  std::vector<Delivery> deliveries;
  std::vector<Grant> shadow_grants;
  std::vector<Delivery> shadow_deliveries;
  // The delivery history (received / redeemed aggregates), replayed into the user's aggregates.
  std::vector<HistoryEntry> history;
  // The unit (kind and id) of the last row restore_delivery counted into `deliveries` and into
  // `shadow_deliveries`: rows of one delivery share it. One each: a control row of another
  // strategy between two units' rows must not join them.
  struct LastUnit {
    uint8_t kind = 0;  // a state::UnitKind
    std::string unit;
  };
  LastUnit delivery_unit, shadow_delivery_unit;
  // The last delivery entry's unit, strategy and time: rows of one delivery share them.
  std::string last_unit;
  uint32_t last_strategy = UINT32_MAX;
  int64_t last_at = INT64_MIN;
};

class Users {
 public:
  Users(const bytecode::Program& program, vm::StringPool& strings);

  User* find(std::string_view id) const;
  // Whether the engine knows the user: a profile row, an event of theirs, or grants in the ledger.
  bool known(std::string_view id) const { return find(id) || restored_.count(std::string(id)); }
  // The text of an interned string (an event's String field).
  std::string_view text(int64_t id) const { return strings_.text(id); }
  // The user, created on first use (with the grants restored for it, if any).
  User& get(const std::string& id);
  // A user not kept: the profile defaults and, when `with_restored`, the restored grants and
  // deliveries (explain and evaluate look at users the engine has not met).
  UserPtr transient(const std::string& id, bool with_restored) const;
  // Known users in first-seen order, as interned ids (text(k) is the id, at(k) the user).
  const std::vector<uint32_t>& order() const { return order_; }
  User& at(int64_t k) const { return *users_[size_t(k)]; }
  const UserShape& shape() const { return shape_; }
  // A profile row before any field is set: defaults, and `user` present.
  const std::vector<int64_t>& default_profile() const { return default_profile_; }
  const std::vector<uint8_t>& default_present() const { return default_present_; }
  // Aggregate g of a user at `now` (an empty history for an unknown user).
  bytecode::AggValue aggregate_of(const std::string& id, uint32_t g, int64_t now) const;
  // From the ledger, for users not met yet (moved into the user when the stream meets it).
  std::unordered_map<std::string, Restored>& restored() { return restored_; }
  // After the ledger is read (Engine::attach): users that exist already (a profile loaded
  // before the ledger was attached) take what was restored for them now, as get() does for a
  // user it creates; otherwise their grants would never count, and the expiries queued for
  // them would name grants the user does not have.
  void adopt_restored();
  // The program's delivery-history aggregates (received(...), redeemed(...)).
  const DeliveryHistory& history() const { return history_; }

 private:
  const bytecode::Program& p_;
  vm::StringPool& strings_;
  UserShape shape_;  // every user's layout (before users_: they refer to it)
  // By interned user id (every interned string has a slot: 8 bytes, null for other strings);
  // sized to a power of two, as the pool's table is.
  std::vector<UserPtr> users_;
  // First-seen order, for deterministic batch output: interned ids (the pool's ids are 32-bit).
  std::vector<uint32_t> order_;
  std::vector<int64_t> default_profile_;
  std::vector<uint8_t> default_present_;  // `user` and fields with a default
  std::unordered_map<std::string, Restored> restored_;
  DeliveryHistory history_;
  void take_restored(User& u, Restored& from);
};

}  // namespace crm::engine
