// message_text.cc - rendering message templates from the profile, and what a message costs.
#include "runtime/engine/message_text.h"

#include <cstdint>

#include "support/civil_time.h"
#include "support/currency.h"
#include "support/decimal.h"
#include "support/sms.h"

namespace crm::engine {

using bytecode::Kind;

std::string MessageTexts::value_text(const bytecode::Field& f, Kind kind, int64_t v) const {
  switch (kind) {
    case Kind::Bool: return v ? "true" : "false";
    case Kind::Int: return std::to_string(v);
    case Kind::Decimal: return support::Decimal::from_units(v).to_string();
    case Kind::Money:
      return support::Decimal::from_units(v).to_string_fixed(support::minor_unit_digits(f.currency)) + " " + f.currency;
    case Kind::String: return std::string(strings_.text(v));
    case Kind::Time: return support::format_time(v);
    case Kind::Date: return support::format_date(static_cast<int32_t>(v));
    case Kind::Duration: return support::format_duration(v);
    case Kind::Enum: return v >= 0 && size_t(v) < f.enum_values.size() ? f.enum_values[size_t(v)] : std::to_string(v);
    case Kind::Set:
    case Kind::List: {
      std::string out;
      const auto& items = collections_.items(v);
      for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + value_text(f, f.elem, items[i]);
      return out;
    }
  }
  return std::to_string(v);
}

bool MessageTexts::render_parts(const User& u, const std::vector<bytecode::TextPart>& parts, std::string& out,
                                int32_t& missing) const {
  for (const auto& part : parts) {
    if (part.field < 0) {
      out += part.literal;
      continue;
    }
    const auto fi = static_cast<size_t>(part.field);
    bool has = fi < u.profile().size() && fi < u.present().size() && u.present()[fi];
    if (has) out += value_text(p_.profile[fi], p_.profile[fi].kind, u.profile()[fi]);
    else if (part.has_fallback) out += part.fallback;
    else {
      missing = part.field;
      return false;
    }
  }
  return true;
}

RenderedMessage MessageTexts::render(const User& u, uint32_t ri) const {
  RenderedMessage m;
  const auto& r = p_.resources[ri];
  if (!bytecode::is_message(r.kind)) return m;
  if (!render_parts(u, r.text_parts, m.text, m.missing) || !render_parts(u, r.title_parts, m.title, m.missing)) {
    m.text.clear();
    m.title.clear();
    return m;
  }
  m.cost = r.cost;
  if (r.kind == bytecode::ResourceKind::Sms) {
    m.segments = support::sms_size(m.text).segments;
    // Saturating: a cost that does not fit is more than any budget (the reservation refuses it).
    __int128 c = static_cast<__int128>(r.cost) * m.segments;
    m.cost = c > INT64_MAX ? INT64_MAX : static_cast<int64_t>(c);
  }
  return m;
}

}  // namespace crm::engine
