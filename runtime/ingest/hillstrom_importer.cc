// hillstrom_importer.cc - the Hillstrom e-mail test as a ledger and events; see the header.
#include "runtime/ingest/hillstrom_importer.h"

#include <fmt/format.h>

#include <algorithm>
#include <istream>
#include <ostream>
#include <string_view>
#include <vector>

#include "runtime/engine/engine.h"
#include "runtime/ingest/importers.h"
#include "support/civil_time.h"
#include "support/csv.h"
#include "support/decimal.h"
#include "support/json_text.h"

namespace crm::ingest {
namespace {

using support::Decimal;

constexpr int64_t kHour = 3'600'000'000LL;
constexpr int64_t kVisitAfter = 24 * kHour;            // visits: one day after the send time
constexpr int64_t kOrderAfter = kVisitAfter + kHour;   // orders: an hour after the visit

enum class Offer : uint8_t { Mens, Womens, None };

struct Row {
  Offer offer = Offer::None;
  bool visit = false, conversion = false;
  int64_t spend = 0;  // millionths of USD
  std::vector<std::string> attributes;  // recency, history, mens, womens, zip_code, newbie, channel
};

bool flag(std::string_view s, bool& out) {
  if (s == "0" || s == "1") {
    out = s == "1";
    return true;
  }
  return false;
}

int find_strategy(const bytecode::Program& p, const std::string& name) {
  for (size_t i = 0; i < p.strategies.size(); ++i)
    if (p.strategies[i].name == name) return static_cast<int>(i);
  return -1;
}

}  // namespace

bool import_hillstrom(std::istream& in, const bytecode::Program& program, state::StateStore& store,
                      std::ostream& events, std::ostream* profiles, const HillstromOptions& options,
                      ImportStats& stats, std::string& error) {
  stats = ImportStats{};
  // The program: two e-mail strategies sent at one declared instant.
  const std::string* names[2] = {&options.mens_strategy, &options.womens_strategy};
  int si[2];
  for (int k = 0; k < 2; ++k) {
    si[k] = find_strategy(program, *names[k]);
    if (si[k] < 0) {
      error = fmt::format("the program has no strategy `{}`", *names[k]);
      return false;
    }
    const auto& s = program.strategies[si[k]];
    if (s.trigger != bytecode::Trigger::At) {
      error = fmt::format("strategy `{}` must be sent once, at a declared time (`when: at T`)", s.name);
      return false;
    }
  }
  if (program.strategies[si[0]].at != program.strategies[si[1]].at) {
    error = fmt::format("strategies `{}` and `{}` must be sent at the same time", *names[0], *names[1]);
    return false;
  }
  const int64_t send = program.strategies[si[0]].at;

  // Every row is read and checked before anything is recorded.
  support::CsvReader csv(in);
  std::vector<support::CsvField> f;
  auto fail = [&](std::string message) {
    stats.error_line = csv.line();
    error = std::move(message);
    return false;
  };
  if (!csv.next(f)) {
    if (!csv.error().empty()) return fail(csv.error());
    fail("empty input, expected a header line");
    stats.error_line = 1;  // named as FILE:1 (without a line the message would not name the file)
    return false;
  }
  static constexpr std::string_view kColumns[] = {"recency", "history", "mens",    "womens", "zip_code",   "newbie",
                                                  "channel", "segment", "visit",   "conversion", "spend"};
  size_t col[std::size(kColumns)];
  const size_t width = f.size();
  for (size_t c = 0; c < std::size(kColumns); ++c) {
    auto it = std::find_if(f.begin(), f.end(), [&](const support::CsvField& h) { return h.text == kColumns[c]; });
    if (it == f.end()) {
      std::vector<std::string> header;
      for (const auto& h : f) header.push_back(h.text);
      return fail(missing_column_message(header, kColumns[c], ""));
    }
    col[c] = static_cast<size_t>(it - f.begin());
  }
  std::vector<Row> rows;
  while (csv.next(f)) {
    ++stats.rows;
    if (f.size() != width) return fail(fmt::format("expected {} fields, found {}", width, f.size()));
    auto cell = [&](size_t c) -> const std::string& { return f[col[c]].text; };
    Row r;
    const std::string& segment = cell(7);
    if (segment == "Mens E-Mail") r.offer = Offer::Mens;
    else if (segment == "Womens E-Mail") r.offer = Offer::Womens;
    else if (segment == "No E-Mail") r.offer = Offer::None;
    else return fail(fmt::format("segment `{}` is not Mens E-Mail, Womens E-Mail or No E-Mail", segment));
    if (!flag(cell(8), r.visit)) return fail(fmt::format("visit `{}` is not 0 or 1", cell(8)));
    if (!flag(cell(9), r.conversion)) return fail(fmt::format("conversion `{}` is not 0 or 1", cell(9)));
    auto spend = Decimal::parse(cell(10));
    if (!spend || spend->units() < 0) return fail(fmt::format("spend `{}` is not a non-negative amount", cell(10)));
    r.spend = spend->units();
    if (r.conversion && !r.visit) return fail("conversion 1 without a visit");
    if (r.spend > 0 && !r.conversion) return fail("spend without a conversion");
    bool b;
    // Both are written to the profiles as JSON numbers: recency (months, 1..12 in the data set)
    // as its integer, history normalised. `+5`, `.5` or `05` as recency was copied verbatim and
    // made a profile line that is not JSON; a negative spend of the past year is no customer's.
    const std::string& recency = cell(0);
    if (recency.empty() || recency.size() > 9 || !std::all_of(recency.begin(), recency.end(), [](char ch) {
          return ch >= '0' && ch <= '9';
        }))
      return fail(fmt::format("recency `{}` is not a whole number of months", recency));
    auto history = Decimal::parse(cell(1));
    if (!history || history->units() < 0) return fail(fmt::format("history `{}` is not a non-negative amount", cell(1)));
    for (size_t c : {2, 3, 5})  // mens, womens, newbie
      if (!flag(cell(c), b)) return fail(fmt::format("{} `{}` is not 0 or 1", kColumns[c], cell(c)));
    for (size_t c : {0, 1, 2, 3, 4, 5, 6}) r.attributes.push_back(cell(c));
    rows.push_back(std::move(r));
  }
  if (!csv.error().empty()) return fail(csv.error());
  stats.error_line = 0;

  // The ledger, through the engine's own recording.
  std::vector<state::LedgerEntry> existing;
  std::vector<state::Unit> units;
  if (!store.load(existing, units, error)) return false;
  if (!units.empty()) {
    error = fmt::format("state {} already holds {} units: import into a new ledger", store.describe(), units.size());
    return false;
  }
  engine::Engine engine(program);
  if (!engine.attach(&store, error)) return false;
  // The engine runs strategies due at one instant by priority, then name.
  int order[2] = {0, 1};
  const auto& s0 = program.strategies[si[0]];
  const auto& s1 = program.strategies[si[1]];
  if (s1.priority > s0.priority || (s1.priority == s0.priority && s1.name < s0.name)) std::swap(order[0], order[1]);
  for (int k : order) {
    const auto& s = program.strategies[si[k]];
    const Offer treated = k == 0 ? Offer::Mens : Offer::Womens;
    std::vector<engine::Decision> decisions;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].offer != treated && rows[i].offer != Offer::None) continue;
      for (size_t a = 0; a < std::max<size_t>(s.actions.size(), 1); ++a) {
        engine::Decision d;
        d.user = std::to_string(i + 1);
        d.strategy = static_cast<uint32_t>(si[k]);
        d.outcome = rows[i].offer == treated ? engine::Outcome::Granted : engine::Outcome::Control;
        d.action = static_cast<int32_t>(a);
        d.at = send;
        if (!s.actions.empty() && d.outcome == engine::Outcome::Granted) {
          const auto& res = program.resources[s.actions[a].resource];
          if (res.kind == bytecode::ResourceKind::Coupon || res.kind == bytecode::ResourceKind::RedEnvelope)
            d.amount = res.discount;
        }
        decisions.push_back(std::move(d));
      }
    }
    if (!engine.record_decided({state::UnitKind::Schedule, "schedule:" + s.name + "@" + std::to_string(send)}, decisions,
                               error))
      return false;
  }

  // Events in time order: every visit, then every order.
  std::string line;
  auto put = [&](std::ostream& out) { out.write(line.data(), static_cast<std::streamsize>(line.size())); };
  for (int pass = 0; pass < 2; ++pass) {
    const std::string time = support::json_quote(support::format_time(send + (pass ? kOrderAfter : kVisitAfter)));
    for (size_t i = 0; i < rows.size(); ++i) {
      if (!(pass ? rows[i].conversion : rows[i].visit)) continue;
      line = fmt::format("{{\"id\":\"{}{}\",\"type\":\"{}\",\"user\":\"{}\",\"time\":{}", pass ? 'o' : 'v', i + 1,
                         pass ? "Order" : "Visit", i + 1, time);
      if (pass) line += ",\"amount\":" + Decimal::from_units(rows[i].spend).to_string();
      line += "}\n";
      put(events);
      ++stats.events;
    }
  }
  events.flush();
  if (!events) {
    error = "cannot write the events";
    return false;
  }
  if (profiles) {
    static constexpr const char* kOffer[] = {"Mens E-Mail", "Womens E-Mail", "No E-Mail"};
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& a = rows[i].attributes;
      line = fmt::format(
          "{{\"user\":\"{}\",\"recency\":{},\"history\":{},\"mens\":{},\"womens\":{},\"zip_code\":{},\"newbie\":{},"
          "\"channel\":{},\"offer\":\"{}\"}}\n",
          i + 1, std::stoll(a[0]), Decimal::parse(a[1])->to_string(), a[2] == "1", a[3] == "1", support::json_quote(a[4]),
          a[5] == "1", support::json_quote(a[6]), kOffer[static_cast<int>(rows[i].offer)]);
      put(*profiles);
    }
    profiles->flush();
    if (!*profiles) {
      error = "cannot write the profiles";
      return false;
    }
  }
  return engine.commit(error);
}

}  // namespace crm::ingest
