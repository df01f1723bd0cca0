// decoder.cc - JSON Lines and CSV records into typed values of the program's schema.
#include "runtime/engine/decoder.h"
#include "runtime/engine/event_id_window.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

#include "runtime/engine/json_line.h"
#include "support/civil_time.h"
#include "support/decimal.h"
#include "support/text.h"

namespace crm::engine {

using bytecode::Kind;

std::vector<std::vector<uint8_t>> event_fields_read(const bytecode::Program& p_) {
  std::vector<std::vector<uint8_t>> read;
  read.resize(p_.events.size());
  for (size_t e = 0; e < p_.events.size(); ++e) read[e].assign(p_.events[e].fields.size(), 0);
  auto mark_unit = [&](int32_t unit, uint32_t event) {
    if (unit < 0) return;
    for (const auto& in : p_.units[unit].code)
      if (in.op == bytecode::Op::LOAD_EVENT && in.a < read[event].size()) read[event][in.a] = 1;
  };
  for (const auto& a : p_.aggregates) {
    if (a.source != bytecode::AggSource::Events) continue;  // delivery history reads no event
    if (a.field >= 0) read[a.event][a.field] = 1;
    mark_unit(a.filter_unit, a.event);
  }
  for (const auto& s : p_.strategies)
    if (s.trigger == bytecode::Trigger::OnEvent) {
      mark_unit(s.who, s.event);
      mark_unit(s.where, s.event);
      mark_unit(s.trigger_if, s.event);
      if (s.index_field >= 0) read[s.event][s.index_field] = 1;
      if (s.recipient_field >= 0) read[s.event][s.recipient_field] = 1;
      // A delayed trigger's cancelling keys are compared by value: strings must be interned.
      for (auto [cf, tf] : s.cancel_keys) {
        if (s.cancel_event >= 0 && size_t(s.cancel_event) < read.size() && cf < read[s.cancel_event].size())
          read[s.cancel_event][cf] = 1;
        if (tf < read[s.event].size()) read[s.event][tf] = 1;
      }
    }
  return read;
}

bool ProfileFileUsers::add(std::string_view user, size_t line, std::string& error) {
  bool inserted = false;
  const size_t* first = lines_.try_emplace(user, line, &inserted);
  if (inserted) return true;
  error = fmt::format("user `{}` appears twice (first on line {})", support::visible(user), *first);
  return false;
}

template <class Names>
Decoder::NameTable Decoder::name_table(const Names& names) {
  NameTable t;
  t.fill(kNoName);
  for (size_t i = 0; i < names.size(); ++i) {
    int32_t& slot = t[name_slot(names[i].name)];
    slot = slot == kNoName ? static_cast<int32_t>(i) : kManyNames;
  }
  return t;
}

template <class Names>
int Decoder::find_name(const Names& names, const NameTable& table, std::string_view name) {
  const int32_t c = table[name_slot(name)];
  if (c >= 0) return names[size_t(c)].name == name ? c : -1;
  if (c == kNoName) return -1;
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].name == name) return static_cast<int>(i);
  return -1;
}

// Program::find_event and find_profile_field, for a name the reader gives as a view.
int Decoder::find_event(std::string_view name) const {
  return find_name(p_.events, event_names_, name);
}

int Decoder::find_profile_field(std::string_view name) const {
  for (size_t i = 0; i < p_.profile.size(); ++i)
    if (p_.profile[i].name == name) return static_cast<int>(i);
  return -1;
}

Decoder::Decoder(const bytecode::Program& program, vm::StringPool& strings, vm::CollectionStore& collections,
                 std::vector<std::vector<uint8_t>> read_fields, const std::vector<int64_t>& default_profile,
                 const std::vector<uint8_t>& default_present)
    : p_(program),
      latest_time_(program.latest_event_time()),
      strings_(strings),
      collections_(collections),
      read_(std::move(read_fields)),
      default_profile_(default_profile),
      default_present_(default_present) {
  event_names_ = name_table(p_.events);
  for (const auto& et : p_.events) field_names_.push_back(name_table(et.fields));
}

namespace {

// What a Decimal, Money or Duration value must be, after Decimal::parse_json refused `text`. A
// malformed text (only a string or a CSV cell can be: the reader checked JSON numbers) is shown.
std::string number_error(support::Decimal::JsonError why, std::string_view text, const char* what) {
  using E = support::Decimal::JsonError;
  switch (why) {
    case E::TooManyDecimals: return fmt::format("{} with at most 6 decimal places", what);
    case E::OutOfRange: return fmt::format("{} between -9223372036854.775808 and 9223372036854.775807", what);
    case E::Malformed: break;
  }
  return fmt::format("{}, not \"{}\"", what, support::visible(text));
}

}  // namespace

bool Decoder::encode_field(const bytecode::Field& f, const JsonValueView& v, int64_t& out, std::string& err,
                           uint8_t* present) {
  using K = JsonValue::Kind;
  if (present) *present = 1;
  if (v.kind == K::Null) {
    if (f.optional) {
      out = 0;
      if (present) *present = 0;
      return true;
    }
    if (f.has_default) { out = f.default_value; return true; }
    err = fmt::format("`{}` is null but not optional", f.name);
    return false;
  }
  auto want = [&](std::string_view what) {
    err = fmt::format("`{}` must be {}", f.name, what);
    return false;
  };
  Kind kind = f.kind;
  switch (kind) {
    case Kind::Bool:
      if (v.kind != K::Bool) return want("true or false");
      out = v.boolean;
      return true;
    case Kind::Int: {
      if (v.kind != K::Number || v.text.find_first_of(".eE") != std::string_view::npos) return want("an integer");
      // The text is -?[0-9]+ (the reader's number grammar): only its range can be wrong.
      int64_t x = 0;
      auto [end, ec] = std::from_chars(v.text.data(), v.text.data() + v.text.size(), x);
      if (ec != std::errc() || end != v.text.data() + v.text.size()) return want("an integer in range");
      out = x;
      return true;
    }
    case Kind::Decimal:
    case Kind::Money: {
      if (v.kind != K::Number && v.kind != K::String) return want(kind == Kind::Money ? "a money amount" : "a number");
      // One rule for a JSON number, the text of a numeric string and a CSV cell: the JSON number
      // grammar (exponents too), the exact value, at most six decimals.
      support::Decimal::JsonError why{};
      auto d = support::Decimal::parse_json(v.text, &why);
      if (!d) return want(number_error(why, v.text, "a number"));
      out = d->units();
      return true;
    }
    case Kind::String:
      if (v.kind != K::String) return want("a string");
      out = strings_.intern(v.text);
      return true;
    case Kind::Time: {
      if (v.kind != K::String) return want("an ISO-8601 time string");
      if (!last_time_text_.empty() && v.text == last_time_text_) {
        out = last_time_;
        return true;
      }
      auto t = parse_event_time(v.text);
      if (!t) {
        // A well-formed time finer than a microsecond: say why it is refused.
        const size_t dot = v.text.find('.');
        const bool finer = dot != std::string::npos && dot + 7 < v.text.size() &&
                           v.text.find_first_not_of("0123456789", dot + 1) > dot + 7;
        // A well-formed time outside crm's time (an offset can carry a four-digit local time
        // out: `0001-01-01T00:00+01:00`): say so, as it was not a syntax mistake.
        return want(fmt::format("an ISO-8601 time, not \"{}\"{}", support::visible(v.text),
                                finer ? " (times are kept to the microsecond: at most 6 fractional digits that are not 0)"
                                      : support::time_range_note(v.text, true))
                        .c_str());
      }
      out = *t;
      if (v.text.size() <= 64) last_time_text_.assign(v.text), last_time_ = *t;  // valid texts only
      return true;
    }
    case Kind::Date: {
      if (v.kind != K::String) return want("a date string");
      auto d = support::parse_date(v.text);
      if (!d) return want(fmt::format("a date like 2026-11-11, not \"{}\"", support::visible(v.text)).c_str());
      out = *d;
      return true;
    }
    case Kind::Duration: {
      if (v.kind != K::Number) return want("a number of seconds");
      support::Decimal::JsonError why{};
      auto d = support::Decimal::parse_json(v.text, &why);
      if (!d) return want(number_error(why, v.text, "a number of seconds"));
      out = d->units();  // millionths of a second are microseconds
      return true;
    }
    case Kind::Enum: {
      if (v.kind != K::String) return want("a string naming an enum value");
      auto it = std::find(f.enum_values.begin(), f.enum_values.end(), v.text);
      if (it == f.enum_values.end()) {
        std::string list;
        for (auto& e : f.enum_values) list += (list.empty() ? "" : ", ") + e;
        err = fmt::format("`{}` is \"{}\", not one of {}", f.name, support::visible(v.text), list);
        return false;
      }
      out = it - f.enum_values.begin();
      return true;
    }
    case Kind::Set:
    case Kind::List: {
      if (v.kind != K::Array) return want("an array");
      std::vector<int64_t> items;
      bytecode::Field ef = f;
      ef.kind = f.elem;
      ef.optional = false;
      ef.has_default = false;
      for (const auto& item : v.items) {
        int64_t x;
        if (!encode_field(ef, item, x, err)) return false;
        items.push_back(x);
      }
      out = collections_.add(std::move(items), f.kind == Kind::List);  // a list keeps its JSON order and duplicates
      return true;
    }
  }
  return want("a value");
}

bool Decoder::event(std::string_view line, Event& ev, std::string& err) {
  if (!reader_.parse_object(line, err)) return false;
  const auto& members = reader_.members();
  const JsonMemberView* type = nullptr;
  for (const auto& m : members)
    if (m.key == "type") {
      if (type) return err = duplicate_member_error(m.key, type->at, m.at), false;
      type = &m;
    }
  if (type && type->value.kind == JsonValue::Kind::Nested) {
    err = nested_member_error(line, "type", type->value.text);
    return false;
  }
  if (!type || type->value.kind != JsonValue::Kind::String) {
    err = "missing `type` (a string naming the event type)";
    return false;
  }
  int t = find_event(type->value.text);
  if (t < 0) {
    err = fmt::format("unknown event type \"{}\"", support::visible(type->value.text));
    return false;
  }
  const auto& et = p_.events[t];
  ev.type = static_cast<uint32_t>(t);
  ev.fields.assign(et.fields.size(), 0);
  ev.present.assign(et.fields.size(), 0);
  // Per declared field, the member that gave it (+1; 0: none yet): a field given twice is refused
  // rather than read as whichever came last (for `user`, the thread a line goes to under
  // --threads and the user it is decided for could differ). Members the program does not
  // declare are never read, so their repeats are not looked for. Reused: no allocation per line.
  auto& given = given_;
  given.assign(et.fields.size(), 0);
  for (size_t k = 0; k < members.size(); ++k) {
    const auto& m = members[k];
    if (m.key == "type") continue;
    const int found = find_name(et.fields, field_names_[t], m.key);
    if (found < 0) continue;  // fields the program does not use are ignored, nested or not
    const size_t i = static_cast<size_t>(found);
    if (given[i]) return err = duplicate_member_error(m.key, members[given[i] - 1].at, m.at), false;
    if (m.value.kind == JsonValue::Kind::Nested) {
      err = nested_member_error(line, et.fields[i].name, m.value.text);
      return false;
    }
    if (i <= 1 && m.value.kind != JsonValue::Kind::String) {
      err = fmt::format("`{}` must be a string", m.key);
      return false;
    }
    // An empty id would make every such event one unit (the second a "repeat" of the first) and
    // print as a scheduled decision's `"event":null`; an empty user would be everyone's profile-less twin.
    if (i <= 1 && m.value.text.empty()) {
      err = fmt::format("`{}` must not be empty", m.key);
      return false;
    }
    if (i == 0) ev.id = m.value.text;
    if (i == 1) ev.user = m.value.text;
    given[i] = static_cast<uint32_t>(k + 1);
    if (et.fields[i].kind == Kind::String && m.value.kind == JsonValue::Kind::String && !read_[t][i]) {
      ev.fields[i] = 0;  // never read by the program: not interned (see read_)
      ev.present[i] = 1;
      continue;
    }
    if (!encode_field(et.fields[i], m.value, ev.fields[i], err, &ev.present[i])) return false;
  }
  for (size_t i = 0; i < et.fields.size(); ++i) {
    if (given[i]) continue;
    const auto& f = et.fields[i];
    if (i <= 2) {
      err = fmt::format("missing `{}`", f.name);
      return false;
    }
    if (f.has_default) {
      ev.fields[i] = f.default_value;
      ev.present[i] = 1;
    } else if (!f.optional) {
      err = fmt::format("missing `{}` ({} events require it)", f.name, et.name);
      return false;
    }
  }
  ev.time = ev.fields[2];
  if (ev.time > latest_time_) {
    err = past_time_horizon(p_, ev.time, "`time`");
    return false;
  }
  return true;
}

std::string past_time_horizon(const bytecode::Program& program, int64_t t, const char* what) {
  const int64_t horizon = program.time_horizon();
  return fmt::format("{} {} is too late: {}crm's time ends at {}, so {} up to {} are accepted", what,
                     support::format_time(t),
                     horizon ? fmt::format("this program computes instants up to {} after an event (the longest delayed "
                                           "trigger, use period after claim and quiet hours together), and ",
                                           support::format_duration(horizon))
                             : "",
                     support::format_time(support::kLastInstant), std::string_view(what) == "`time`" ? "event times" : std::string_view(what) == "--at" ? "instants" : "clock moves",
                     support::format_time(program.latest_event_time()));
}

std::string before_time_begins(int64_t t, const char* what) {
  return fmt::format("{} {} is too early: crm's time begins at {}", what, support::format_time(t),
                     support::format_time(support::kFirstInstant));
}

bool Decoder::profile_line(std::string_view line, ProfileRecord& out, std::string& err) {
  if (!reader_.parse_object(line, err)) return false;
  const auto& members = reader_.members();
  const JsonMemberView* id = nullptr;
  for (const auto& m : members)
    if (m.key == "user") {
      if (id) return err = duplicate_member_error(m.key, id->at, m.at), false;
      id = &m;
    }
  if (id && id->value.kind == JsonValue::Kind::Nested) {
    err = nested_member_error(line, "user", id->value.text);
    return false;
  }
  if (!id || id->value.kind != JsonValue::Kind::String) {
    err = "missing `user` (a string)";
    return false;
  }
  // As an event's: an empty user would be a profile every profile-less user could be taken for.
  if (id->value.text.empty()) {
    err = "`user` must not be empty";
    return false;
  }
  std::vector<int64_t> row = default_profile_;
  std::vector<uint8_t> present = default_present_;
  row[0] = strings_.intern(id->value.text);
  // A declared field given twice is refused, as in an event (Decoder::event).
  auto& given = given_;
  given.assign(p_.profile.size(), 0);
  for (size_t k = 0; k < members.size(); ++k) {
    const auto& m = members[k];
    int f = find_profile_field(m.key);
    if (f <= 0) continue;  // members the program does not declare are ignored, nested or not
    if (given[f]) return err = duplicate_member_error(m.key, members[given[f] - 1].at, m.at), false;
    given[f] = static_cast<uint32_t>(k + 1);
    if (m.value.kind == JsonValue::Kind::Nested) {
      err = nested_member_error(line, m.key, m.value.text);
      return false;
    }
    if (!encode_field(p_.profile[f], m.value, row[f], err, &present[f])) return false;
  }
  for (size_t f = 1; f < row.size(); ++f)
    if (!present[f] && !p_.profile[f].optional) {
      err = fmt::format("missing profile field `{}`", p_.profile[f].name);
      return false;
    }
  out.user = id->value.text;
  out.values = std::move(row);
  out.present = std::move(present);
  return true;
}

bool Decoder::csv_header(const std::vector<support::CsvField>& header, std::string& err) {
  csv_columns_.clear();
  bool has_user = false;
  std::vector<uint8_t> seen(p_.profile.size(), 0);
  for (const auto& h : header) {
    for (const auto& other : header) {
      if (&other == &h) break;
      if (other.text == h.text) {
        err = fmt::format("column `{}` appears twice in the header", support::visible(h.text));
        return false;
      }
    }
    int f = p_.find_profile_field(h.text);
    if (h.text == "user") {
      has_user = true;
      csv_columns_.push_back(kCsvUser);
    } else if (f > 0) {
      seen[f] = 1;
      csv_columns_.push_back(f);
    } else {
      csv_columns_.push_back(kCsvIgnored);  // columns the program does not declare are ignored
    }
  }
  if (!has_user) {
    err = "the header has no `user` column";
    return false;
  }
  for (size_t f = 1; f < p_.profile.size(); ++f)
    if (!seen[f] && !p_.profile[f].optional && !p_.profile[f].has_default) {
      err = fmt::format("the header has no column for the required profile field `{}`", p_.profile[f].name);
      return false;
    }
  return true;
}

namespace {

// ASCII case-insensitive equality, for the Bool spellings of spreadsheet exports (TRUE, False).
bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != b[i]) return false;
  return true;
}

// A CSV cell as the JSON value the same field would have in JSON Lines, so both formats share
// encode_field's typing. Strict: a cell that is not exactly one spelling of its type is an error.
// `v` views the cell's text, or (a Set or List cell) what `reader` read from it.
bool csv_cell_value(const bytecode::Field& f, const support::CsvField& cell, JsonLineReader& reader, JsonValueView& v,
                    std::string& err) {
  using K = JsonValue::Kind;
  const std::string& t = cell.text;
  auto bad = [&](const char* what) {
    err = fmt::format("`{}` must be {}, not \"{}\"", f.name, what, support::visible(t));
    return false;
  };
  if (t.empty() && !cell.quoted) {  // an empty cell: the field is missing
    if (!f.optional && !f.has_default) {
      err = fmt::format("`{}` is empty, but the field is required", f.name);
      return false;
    }
    v.kind = K::Null;
    return true;
  }
  switch (f.kind) {
    case Kind::Bool:
      v.kind = K::Bool;
      if (equals_ignoring_case(t, "true") || t == "1") v.boolean = true;
      else if (equals_ignoring_case(t, "false") || t == "0") v.boolean = false;
      else return bad("true, false, 1 or 0");
      return true;
    case Kind::Int:
      if (!is_json_number(t)) return bad("an integer");
      v.kind = K::Number;
      v.text = t;
      return true;
    case Kind::Decimal:
    case Kind::Money:
    case Kind::Duration:  // encode_field's Decimal::parse_json checks the form, as for a numeric string
      v.kind = K::Number;
      v.text = t;
      return true;
    case Kind::Set:
    case Kind::List: {
      std::string e;
      if (!reader.parse_value(t, e) || reader.value().kind != K::Array) return bad("a JSON array such as [\"a\", \"b\"]");
      v = reader.value();
      return true;
    }
    default:  // String, Time, Date, enum: the text itself
      v.kind = K::String;
      v.text = t;
      return true;
  }
}

}  // namespace

bool Decoder::csv_row(const std::vector<support::CsvField>& cells, ProfileRecord& out, std::string& err) {
  if (cells.size() != csv_columns_.size()) {
    err = fmt::format("{} columns, but the header has {}", cells.size(), csv_columns_.size());
    return false;
  }
  std::string_view id;
  std::vector<int64_t> row = default_profile_;
  std::vector<uint8_t> present = default_present_;
  for (size_t i = 0; i < cells.size(); ++i) {
    int f = csv_columns_[i];
    if (f == kCsvUser) { id = cells[i].text; continue; }
    if (f == kCsvIgnored) continue;
    const auto& field = p_.profile[f];
    JsonValueView v;
    if (!csv_cell_value(field, cells[i], reader_, v, err)) return false;
    if (!encode_field(field, v, row[f], err, &present[f])) {
      std::string shown = fmt::format("\"{}\"", support::visible(cells[i].text));
      if (err.find(shown) == std::string::npos) err += ", not " + shown;
      return false;
    }
  }
  if (id.empty()) {
    err = "empty `user`";
    return false;
  }
  out.user = std::string(id);
  row[0] = strings_.intern(out.user);
  out.values = std::move(row);
  out.present = std::move(present);
  return true;
}

}  // namespace crm::engine
