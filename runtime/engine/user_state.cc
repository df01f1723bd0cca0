// user_state.cc - the users the engine has met, by interned id.
#include "runtime/engine/user_state.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <new>

namespace crm::engine {

UserShape::UserShape(const bytecode::Program& p) : aggs(p), fields(uint32_t(p.profile.size())) {
  aggs_at = sizeof(User) + fields * sizeof(int64_t);
  present_at = aggs_at + aggs.bytes();  // after the aggregates' flag bytes: presence is bytes too
  bytes = present_at + fields;
}

UserPtr User::make(const UserShape& shape, const int64_t* values, const uint8_t* present) {
  void* block = std::malloc(shape.bytes);
  if (!block) throw std::bad_alloc();
  UserPtr u(new (block) User(shape));
  std::copy_n(values, shape.fields, u->profile().data());
  std::copy_n(present, shape.fields, u->present().data());
  shape.aggs.construct(u->base() + shape.aggs_at);
  return u;
}

// The new user's aggregates are constructed empty (by make) before the copy that can throw (a
// window's allocation): a failed clone is freed by the UserPtr like any other user.
UserPtr User::clone() const {
  UserPtr u = make(*shape_, profile().data(), present().data());
  u->last_time_ = last_time_;
  shape_->aggs.copy(u->base() + shape_->aggs_at, base() + shape_->aggs_at);
  if (extra_) u->extra_ = new UserGrants(*extra_);
  return u;
}

UserGrants& User::edit() {
  if (!extra_) extra_ = new UserGrants();
  return *extra_;
}

void User::trim() {
  if (extra_ && extra_->grants.empty() && extra_->deliveries.empty() && !extra_->shadow.get()) {
    delete extra_;
    extra_ = nullptr;
  }
}

User::~User() {
  shape_->aggs.destroy(base() + shape_->aggs_at);
  delete extra_;
}

void UserDeleter::operator()(User* u) const {
  if (!u) return;
  u->~User();
  std::free(u);
}

Users::Users(const bytecode::Program& program, vm::StringPool& strings)
    : p_(program), strings_(strings), shape_(program), history_(program) {
  for (const auto& f : p_.profile) {
    default_profile_.push_back(f.has_default ? f.default_value : 0);
    default_present_.push_back(f.has_default || default_present_.empty());  // field 0 is `user`
  }
}

// Users are found by their interned id (the profile's `user` value needs it anyway): one hash
// lookup per event rather than a second string-keyed map.
User* Users::find(std::string_view id) const {
  int64_t k = strings_.find(id);
  return k >= 0 && size_t(k) < users_.size() ? users_[k].get() : nullptr;
}

User& Users::get(const std::string& id) {
  int64_t k = strings_.intern(id);
  if (size_t(k) >= users_.size()) users_.resize(std::bit_ceil(size_t(k) + 1));
  if (users_[k]) return *users_[k];
  UserPtr u = User::make(shape_, default_profile_.data(), default_present_.data());
  if (shape_.fields) u->profile()[0] = k;
  if (auto r = restored_.find(id); r != restored_.end()) {
    take_restored(*u, r->second);
    restored_.erase(r);
  }
  users_[k] = std::move(u);
  order_.push_back(uint32_t(k));
  return *users_[k];
}

// The user has no grant or delivery of its own yet (no unit is decided before a ledger is
// attached), so the restored grants keep their indices: those Engine::attach queued expiries by.
void Users::take_restored(User& u, Restored& from) {
  if (!from.grants.empty() || !from.deliveries.empty()) {
    UserGrants& x = u.edit();
    x.grants = std::move(from.grants);
    x.deliveries = std::move(from.deliveries);
  }
  if (!from.shadow_grants.empty() || !from.shadow_deliveries.empty()) {
    Shadow& sh = u.edit().shadow.make();
    sh.grants = std::move(from.shadow_grants);
    sh.deliveries = std::move(from.shadow_deliveries);
  }
  history_.replay(u, from.history);
}

void Users::adopt_restored() {
  for (auto it = restored_.begin(); it != restored_.end();) {
    if (User* u = find(it->first)) {
      take_restored(*u, it->second);
      it = restored_.erase(it);
    } else {
      ++it;
    }
  }
}

UserPtr Users::transient(const std::string& id, bool with_restored) const {
  UserPtr u = User::make(shape_, default_profile_.data(), default_present_.data());
  if (shape_.fields) u->profile()[0] = strings_.intern(id);
  if (with_restored)
    if (auto r = restored_.find(id); r != restored_.end()) {
      if (!r->second.grants.empty() || !r->second.deliveries.empty()) {
        UserGrants& x = u->edit();
        x.grants = r->second.grants;
        x.deliveries = r->second.deliveries;
      }
      history_.replay(*u, r->second.history);
    }
  return u;
}

bytecode::AggValue Users::aggregate_of(const std::string& id, uint32_t g, int64_t now) const {
  if (User* u = find(id)) return u->aggs().peek(p_.aggregates[g], g, now);  // a read: changes nothing
  // A user with no history: aggregates of an empty history.
  state::UserAggregates empty(shape_.aggs);
  return empty.peek(p_.aggregates[g], g, now);
}

}  // namespace crm::engine
