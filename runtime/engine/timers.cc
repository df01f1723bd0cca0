// timers.cc - pending timers of delayed triggers, and the trigger event's copy in the ledger.
#include "runtime/engine/timers.h"

#include <algorithm>

#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::engine {

Timers::Timers(const bytecode::Program& program, const CandidateIndex& priority) : p_(program), priority_(priority) {
  for (const auto& s : p_.strategies) any_ |= s.delay > 0;
}

bool Timers::full(const std::string& user) const {
  if (total_limit_ && timers_.size() >= total_limit_) return true;
  return per_user_limit_ && pending_of(user) >= per_user_limit_;
}

size_t Timers::pending_of(const std::string& user) const {
  auto it = by_user_.find(user);
  return it == by_user_.end() ? 0 : it->second.size();
}

void Timers::arm(Timer t) {
  uint64_t seq = next_seq_++;
  queue_.emplace(t.due, priority_.rank(t.strategy), seq);
  by_user_[t.trigger.user].push_back(seq);
  timers_.emplace(seq, std::move(t));
}

void Timers::cancel(const Event& ev, std::vector<Timer>& cancelled) {
  auto it = by_user_.find(ev.user);
  if (it == by_user_.end()) return;
  auto& mine = it->second;
  std::vector<std::tuple<int64_t, uint32_t, uint64_t>> hit;
  for (uint64_t seq : mine) {
    const Timer& t = timers_.at(seq);
    const auto& s = p_.strategies[t.strategy];
    if (s.cancel_event < 0 || uint32_t(s.cancel_event) != ev.type) continue;
    // `where c == event.e and ...`: == on values, missing equals missing (docs/language.md, 3.3).
    bool match = true;
    for (auto [cf, tf] : s.cancel_keys) {
      bool a = ev.present[cf], b = t.trigger.present[tf];
      if (a != b || (a && ev.fields[cf] != t.trigger.fields[tf])) { match = false; break; }
    }
    if (match) hit.emplace_back(t.due, priority_.rank(t.strategy), seq);
  }
  if (hit.empty()) return;
  std::sort(hit.begin(), hit.end());
  for (const auto& key : hit) {
    uint64_t seq = std::get<2>(key);
    queue_.erase(key);
    auto node = timers_.extract(seq);
    cancelled.push_back(std::move(node.mapped()));
    mine.erase(std::find(mine.begin(), mine.end(), seq));
  }
  if (mine.empty()) by_user_.erase(it);
}

bool Timers::next_due(int64_t upto, int64_t& due) const {
  if (queue_.empty() || std::get<0>(*queue_.begin()) > upto) return false;
  due = std::get<0>(*queue_.begin());
  return true;
}

Timer Timers::pop() {
  auto key = *queue_.begin();
  queue_.erase(queue_.begin());
  uint64_t seq = std::get<2>(key);
  auto node = timers_.extract(seq);
  Timer t = std::move(node.mapped());
  auto it = by_user_.find(t.trigger.user);
  it->second.erase(std::find(it->second.begin(), it->second.end(), seq));
  if (it->second.empty()) by_user_.erase(it);
  return t;
}

namespace {

void append_value(std::string& out, const bytecode::Field& f, bytecode::Kind kind, int64_t v, const vm::StringPool& strings,
                  const vm::CollectionStore& collections, bool read) {
  using bytecode::Kind;
  switch (kind) {
    case Kind::Bool: out += v ? "true" : "false"; return;
    case Kind::Int: out += std::to_string(v); return;
    case Kind::Decimal:
    case Kind::Money:
    case Kind::Duration: out += support::Decimal::from_units(v).to_string(); return;  // Duration: seconds
    case Kind::String: support::append_json_quoted(out, read ? strings.text(v) : std::string_view()); return;
    case Kind::Time: out += '"'; support::append_time(out, v); out += '"'; return;
    case Kind::Date: out += '"' + support::format_date(int32_t(v)) + '"'; return;
    case Kind::Enum:
      support::append_json_quoted(out, v >= 0 && size_t(v) < f.enum_values.size() ? std::string_view(f.enum_values[v]) : "");
      return;
    case Kind::Set:
    case Kind::List: {
      out += '[';
      const auto& items = collections.items(v);
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ',';
        append_value(out, f, f.elem, items[i], strings, collections, read);
      }
      out += ']';
      return;
    }
  }
}

}  // namespace

std::string event_json(const bytecode::Program& p, const Event& ev, const vm::StringPool& strings,
                       const vm::CollectionStore& collections, const std::vector<uint8_t>& read) {
  const auto& et = p.events[ev.type];
  std::string out = "{\"type\":";
  support::append_json_quoted(out, et.name);
  out += ",\"id\":";
  support::append_json_quoted(out, ev.id);
  out += ",\"user\":";
  support::append_json_quoted(out, ev.user);
  out += ",\"time\":\"";
  support::append_time(out, ev.time);
  out += '"';
  for (size_t i = 3; i < et.fields.size(); ++i) {
    out += ',';
    support::append_json_quoted(out, et.fields[i].name);
    out += ':';
    if (!ev.present[i]) out += "null";
    else append_value(out, et.fields[i], et.fields[i].kind, ev.fields[i], strings, collections, i < read.size() && read[i]);
  }
  out += '}';
  return out;
}

}  // namespace crm::engine
