// fuzz_crmc.cc - fuzz entry point for loading and running compiled `.crmc` programs.
//
// The input is a `.crmc` file (or a bare payload); its header is rewritten with the right size
// and checksum first, since a forger can compute a checksum too: what must stop a hostile
// program is the verifier. Every program that loads is then disassembled and run: profiles,
// one event of every type for two users over three days (so schedules fire and aggregates and
// limits are exercised), an audience count and every unit evaluated once. Properties: nothing
// crashes, hangs or trips a sanitizer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "bytecode/program.h"
#include "runtime/engine/engine.h"
#include "support/civil_time.h"

namespace {

using crm::bytecode::Field;
using crm::bytecode::Kind;

std::string scalar(Kind k, const Field& f, const crm::bytecode::Program& p, int64_t day) {
  switch (k) {
    case Kind::Bool: return "true";
    case Kind::Int: return "3";
    case Kind::Decimal: return "2.5";
    case Kind::Money: return "120";
    case Kind::String:
      // A resource's name in `coupon`-like fields exercises redemption.
      return p.resources.empty() ? "\"x\"" : "\"" + p.resources[day % p.resources.size()].name + "\"";
    case Kind::Time: return "\"2026-01-01T00:00:00Z\"";
    case Kind::Date: return "\"1990-01-0" + std::to_string(1 + day) + "\"";
    case Kind::Duration: return "60";
    case Kind::Enum: return f.enum_values.empty() ? "\"?\"" : "\"" + f.enum_values[day % f.enum_values.size()] + "\"";
    case Kind::Set:
    case Kind::List: return "[]";
  }
  return "null";
}

std::string value(const Field& f, const crm::bytecode::Program& p, int64_t day) {
  if (f.kind == Kind::Set || f.kind == Kind::List) return "[" + scalar(f.elem, f, p, day) + "]";
  return scalar(f.kind, f, p, day);
}

std::string json_name(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out + "\"";
}

}  // namespace

// Inputs that passed the verifier and ran (reported by the replay driver).
size_t crm_fuzz_crmc_loaded = 0;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() >= 24 && in.substr(0, 4) == "CRMC") in.remove_prefix(24);
  std::string bytes = crm::bytecode::seal(in);
  crm::bytecode::Program p;
  std::string err;
  if (!crm::bytecode::deserialize(bytes, p, err)) return 0;
  ++crm_fuzz_crmc_loaded;
  (void)crm::bytecode::disassemble(p);

  const int64_t t0 = *crm::support::parse_time("2026-01-01T08:00:00Z", true);
  const int64_t end = t0 + 3 * crm::support::kMicrosPerDay;
  // A valid program may ask for a lot of work: hourly runs of a window that opened in 1973 all
  // fire before the first event of 2026 (W0107 warns about such schedules at check time). The
  // target bounds the work it asks for rather than time out on it.
  for (const auto& s : p.strategies)
    if (s.trigger == crm::bytecode::Trigger::Every) {
      int64_t from = s.has_window ? s.from : t0, to = s.has_window ? std::min(s.to, end) : end;
      if (to > from && (to - from) / s.every > 2000) return 0;
    }
  crm::engine::Engine eng(p);
  for (const char* user : {"u1", "u2"}) {
    std::string line = fmt::format("{{\"user\":\"{}\"", user);
    for (size_t f = 1; f < p.profile.size(); ++f)
      line += "," + json_name(p.profile[f].name) + ":" + value(p.profile[f], p, f);
    line += "}";
    (void)eng.load_profile_line(line, err);
  }
  std::vector<crm::engine::Decision> out;
  int n = 0;
  for (int64_t day = 0; day < 3; ++day)
    for (size_t t = 0; t < p.events.size() && t < 16; ++t)
      for (const char* user : {"u1", "u2"}) {
        const auto& et = p.events[t];
        std::string line = fmt::format("{{\"type\":{},\"id\":\"e{}\",\"user\":\"{}\",\"time\":\"{}\"", json_name(et.name),
                                       n++, user, crm::support::format_time(t0 + day * crm::support::kMicrosPerDay + int64_t(t)));
        for (size_t f = 3; f < et.fields.size(); ++f) line += "," + json_name(et.fields[f].name) + ":" + value(et.fields[f], p, day);
        line += "}";
        crm::engine::Event ev;
        if (!eng.parse_event(line, ev, err)) continue;
        (void)eng.fire_schedules(ev.time, out, err);
        (void)eng.process(ev, out, err);
        for (const auto& d : out) (void)eng.decision_json(d);
        out.clear();
      }
  (void)eng.fire_schedules(end, out, err);
  for (const auto& d : out) (void)eng.decision_json(d);
  (void)eng.audience(end);
  for (uint32_t u = 0; u < p.units.size(); ++u) {
    int64_t r;
    (void)eng.evaluate(u, "u1", end, r, err);
  }
  return 0;
}
