// user_state.cc - the users the engine has met, by interned id.
#include "runtime/engine/user_state.h"

#include <algorithm>

namespace crm::engine {

Users::Users(const bytecode::Program& program, vm::StringPool& strings)
    : p_(program), strings_(strings), layout_(program), history_(program) {
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
  if (size_t(k) >= users_.size()) users_.resize(std::max(size_t(k) + 1, users_.size() * 2));
  if (users_[k]) return *users_[k];
  auto u = std::make_unique<User>(layout_);
  u->profile = default_profile_;
  u->present = default_present_;
  if (!u->profile.empty()) u->profile[0] = k;
  if (auto r = restored_.find(id); r != restored_.end()) {
    u->grants = std::move(r->second.grants);
    u->deliveries = std::move(r->second.deliveries);
    if (!r->second.shadow_grants.empty() || !r->second.shadow_deliveries.empty()) {
      Shadow& sh = u->shadow.make();
      sh.grants = std::move(r->second.shadow_grants);
      sh.deliveries = std::move(r->second.shadow_deliveries);
    }
    history_.replay(*u, r->second.history);
    restored_.erase(r);
  }
  users_[k] = std::move(u);
  order_.push_back(k);
  return *users_[k];
}

User Users::transient(const std::string& id, bool with_restored) const {
  User u(layout_);
  u.profile = default_profile_;
  u.present = default_present_;
  if (!u.profile.empty()) u.profile[0] = strings_.intern(id);
  if (with_restored)
    if (auto r = restored_.find(id); r != restored_.end()) {
      u.grants = r->second.grants;
      u.deliveries = r->second.deliveries;
      history_.replay(u, r->second.history);
    }
  return u;
}

bytecode::AggValue Users::aggregate_of(const std::string& id, uint32_t g, int64_t now) const {
  if (User* u = find(id)) return u->aggs.value(p_.aggregates[g], g, now);
  // A user with no history: aggregates of an empty history.
  state::UserAggregates empty(layout_);
  return empty.value(p_.aggregates[g], g, now);
}

}  // namespace crm::engine
