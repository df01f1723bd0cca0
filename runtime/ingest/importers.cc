// importers.cc - the UCI Online Retail and CDNOW importers; see importers.h for the contract.
#include "runtime/ingest/importers.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <istream>
#include <limits>
#include <optional>
#include <ostream>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "support/civil_time.h"
#include "support/csv.h"
#include "support/json_text.h"
#include "support/decimal.h"

namespace crm::ingest {
namespace {

// The cell's words split by spaces, tabs and `;` (the header of a file that is not
// comma-separated, read as CSV, is one cell, or a few, holding several column names).
std::vector<std::string_view> header_words(std::string_view cell) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < cell.size()) {
    while (i < cell.size() && (cell[i] == ' ' || cell[i] == '\t' || cell[i] == ';')) ++i;
    size_t j = i;
    while (j < cell.size() && cell[j] != ' ' && cell[j] != '\t' && cell[j] != ';') ++j;
    if (j > i) words.push_back(cell.substr(i, j - i));
    i = j;
  }
  return words;
}

}  // namespace

std::string missing_column_message(const std::vector<std::string>& header, std::string_view name, std::string_view hint) {
  for (const std::string& cell : header) {
    const auto words = header_words(cell);
    if (words.size() < 2 || std::find(words.begin(), words.end(), name) == words.end()) continue;
    std::string shown;  // trimmed, a tab shown as \t, at most 60 characters
    for (char ch : cell.substr(cell.find_first_not_of(" \t"), cell.find_last_not_of(" \t") + 1 - cell.find_first_not_of(" \t")))
      shown += ch == '\t' ? std::string("\\t") : std::string(1, ch);
    if (shown.size() > 60) shown = shown.substr(0, 57) + "...";
    return "missing column `" + std::string(name) + "`: the header `" + shown +
           "` is not comma-separated (columns split by spaces, tabs or `;`), and import reads CSV" + std::string(hint);
  }
  return "missing column `" + std::string(name) + "` in the header";
}

namespace {

using support::Decimal;
using i128 = __int128;

// ---- records -----------------------------------------------------------------------------------

// The shared strict CSV reader (support/csv.h); remembers the line of the error it reports.
class CsvReader {
 public:
  explicit CsvReader(std::istream& in) : csv_(in) {}

  // Reads the next record into `fields`. Returns false at the end of input or on an error; then
  // `error` is empty at a clean end.
  bool next(std::vector<std::string>& fields, std::string& error) {
    fields.clear();
    error.clear();
    if (!csv_.next(cells_)) {
      if (!csv_.error().empty()) error = at(csv_.error());
      return false;
    }
    for (auto& c : cells_) fields.push_back(std::move(c.text));
    return true;
  }

  size_t line() const { return csv_.line(); }
  // An error about the current record: its line becomes ImportStats::error_line.
  std::string at(const std::string& message) {
    error_line_ = csv_.line();
    return message;
  }
  size_t error_line() const { return error_line_; }

 private:
  size_t error_line_ = 0;
  support::CsvReader csv_;
  std::vector<support::CsvField> cells_;
};

// ---- field helpers -----------------------------------------------------------------------------

// Reads the header and finds each wanted column by name; `hint` is for a header that is not
// comma-separated (missing_column_message).
bool find_columns(CsvReader& csv, std::initializer_list<std::string_view> names, std::vector<size_t>& index,
                  size_t& width, std::string& error, std::string_view hint = {}) {
  std::vector<std::string> header;
  if (!csv.next(header, error)) {
    if (error.empty()) error = csv.at("empty input, expected a header line");
    return false;
  }
  width = header.size();
  for (std::string_view name : names) {
    auto it = std::find(header.begin(), header.end(), name);
    if (it == header.end()) {
      error = csv.at(missing_column_message(header, name, hint));
      return false;
    }
    // Two columns of one name: which one holds the data is not known (the first was taken).
    if (std::find(it + 1, header.end(), name) != header.end()) {
      error = csv.at("column `" + std::string(name) + "` appears twice in the header");
      return false;
    }
    index.push_back(static_cast<size_t>(it - header.begin()));
  }
  return true;
}

// An integer: digits with an optional sign (`+5`, `-1`); not `+-5`, which from_chars would read
// after the `+` as -5.
std::optional<int64_t> parse_int(std::string_view s) {
  if (!s.empty() && s[0] == '+') {
    s.remove_prefix(1);
    if (!s.empty() && s[0] == '-') return std::nullopt;
  }
  int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// `2010-12-01 08:26:00` (exactly this shape), read as UTC.
std::optional<int64_t> parse_uci_time(std::string_view s) {
  if (s.size() != 19 || s[10] != ' ' || s[16] != ':') return std::nullopt;
  return support::parse_time(s);
}


struct Event {
  std::string id;
  std::string user;
  int64_t time = 0;    // microseconds since the epoch, UTC
  int64_t amount = 0;  // Decimal units (millionths)
  int64_t count = 0;   // items / cds
  std::string country;
};

// Writes the events sorted by time; equal times keep their order in `events`.
bool write_events(std::vector<Event>& events, const char* count_key, bool with_country, std::ostream& out,
                  ImportStats& stats, std::string& error) {
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.time < b.time; });
  std::string line;
  for (const Event& e : events) {
    line.clear();
    line += "{\"id\":";
    line += support::json_quote(e.id);
    line += ",\"type\":\"Order\",\"user\":";
    line += support::json_quote(e.user);
    line += ",\"time\":";
    line += support::json_quote(support::format_time(e.time));
    line += ",\"amount\":";
    line += Decimal::from_units(e.amount).to_string();
    line += ",\"";
    line += count_key;
    line += "\":";
    line += std::to_string(e.count);
    if (with_country) {
      line += ",\"country\":";
      line += support::json_quote(e.country);
    }
    line += "}\n";
    out.write(line.data(), static_cast<std::streamsize>(line.size()));
    ++stats.events;
  }
  out.flush();
  if (!out) {
    error = "cannot write the events";
    return false;
  }
  return true;
}

bool fits_int64(i128 v) {
  return v >= std::numeric_limits<int64_t>::min() && v <= std::numeric_limits<int64_t>::max();
}

}  // namespace

// ---- UCI Online Retail ---------------------------------------------------------------------------

namespace {

bool online_retail(CsvReader& csv, std::ostream& out, ImportStats& stats, std::string& error) {
  std::vector<size_t> col;
  size_t width = 0;
  if (!find_columns(csv, {"InvoiceNo", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country"}, col,
                    width, error))
    return false;
  const size_t kInvoice = col[0], kQuantity = col[1], kDate = col[2], kPrice = col[3], kCustomer = col[4],
               kCountry = col[5];

  struct Invoice {
    Event event;
    bool has_rows = false;  // at least one kept row
    size_t first_kept_line = 0;
    i128 amount = 0;
    i128 items = 0;
  };
  std::vector<Invoice> invoices;  // in order of first appearance in the file
  std::unordered_map<std::string, size_t> by_id;

  std::vector<std::string> f;
  while (csv.next(f, error)) {
    ++stats.rows;
    if (f.size() != width) {
      error = csv.at("expected " + std::to_string(width) + " fields, found " + std::to_string(f.size()));
      return false;
    }
    const std::string invoice_no(trim(f[kInvoice]));
    if (invoice_no.empty()) {
      error = csv.at("empty InvoiceNo");
      return false;
    }
    auto quantity = parse_int(trim(f[kQuantity]));
    if (!quantity) {
      error = csv.at("Quantity `" + f[kQuantity] + "` is not an integer");
      return false;
    }
    auto price = Decimal::parse(trim(f[kPrice]));
    if (!price) {
      error = csv.at("UnitPrice `" + f[kPrice] + "` is not a decimal number (at most 6 fractional digits)");
      return false;
    }
    auto time = parse_uci_time(trim(f[kDate]));
    if (!time) {
      error = csv.at("InvoiceDate `" + f[kDate] + "` is not `YYYY-MM-DD HH:MM:SS`");
      return false;
    }
    // CustomerID is written as a float (`17850.0`); the user id is its integer text, without
    // leading zeros, so `17850`, `17850.00` and `017850.0` are one customer. Only those forms are
    // whole numbers: a sign (`+17850.0` split a customer's history across ids), `.5`, `1e3`,
    // `1,5`, `0x10` or `17850.` were kept verbatim as user ids, and are refused with the line.
    std::string_view customer = trim(f[kCustomer]);
    if (!customer.empty() && (customer.front() == '+' || customer.front() == '-')) {
      error = csv.at("CustomerID `" + f[kCustomer] + "` is not a whole number without a sign");
      return false;
    }
    if (!customer.empty()) {
      const size_t dot = customer.find('.');
      const std::string_view whole = customer.substr(0, dot);
      const std::string_view fraction = dot == std::string_view::npos ? std::string_view() : customer.substr(dot + 1);
      if (!is_digits(whole) || (dot != std::string_view::npos && (fraction.empty() || fraction.find_first_not_of('0') !=
                                                                                          std::string_view::npos))) {
        error = csv.at("CustomerID `" + f[kCustomer] + "` is not a whole number (such as `17850` or `17850.0`)");
        return false;
      }
      customer = whole;
      while (customer.size() > 1 && customer.front() == '0') customer.remove_prefix(1);
    }

    auto [it, inserted] = by_id.try_emplace(invoice_no, invoices.size());
    if (inserted) {
      invoices.emplace_back();
      invoices.back().event.id = invoice_no;
    }
    Invoice& inv = invoices[it->second];

    const char* reason = nullptr;
    if (invoice_no[0] == 'C')
      reason = "cancellation";
    else if (customer.empty())
      reason = "no_customer";
    else if (*quantity <= 0)
      reason = "non_positive_quantity";
    else if (price->units() <= 0)
      reason = "non_positive_price";
    if (reason) {
      ++stats.skipped;
      ++stats.skipped_by_reason[reason];
      continue;
    }

    if (!inv.has_rows) {
      inv.has_rows = true;
      inv.first_kept_line = csv.line();
      inv.event.user = customer;
      inv.event.country = f[kCountry];
      inv.event.time = *time;
    } else if (inv.event.user != customer) {
      error = csv.at("invoice " + invoice_no + " has rows for customers " + inv.event.user + " (line " +
                     std::to_string(inv.first_kept_line) + ") and " + std::string(customer));
      return false;
    }
    inv.event.time = std::min(inv.event.time, *time);
    inv.amount += i128(*quantity) * price->units();
    inv.items += *quantity;
    if (!fits_int64(inv.amount) || !fits_int64(inv.items)) {
      error = csv.at("invoice " + invoice_no + ": amount or item count overflows");
      return false;
    }
  }
  if (!error.empty()) return false;

  std::vector<Event> events;
  events.reserve(invoices.size());
  for (Invoice& inv : invoices) {
    if (!inv.has_rows) continue;
    inv.event.amount = static_cast<int64_t>(inv.amount);
    inv.event.count = static_cast<int64_t>(inv.items);
    events.push_back(std::move(inv.event));
  }
  invoices.clear();
  by_id.clear();
  return write_events(events, "items", true, out, stats, error);
}

// ---- CDNOW ---------------------------------------------------------------------------------------

bool cdnow(CsvReader& csv, std::ostream& out, ImportStats& stats, std::string& error) {
  std::vector<size_t> col;
  size_t width = 0;
  if (!find_columns(csv, {"customer_id", "date", "number_of_cds", "dollar_value"}, col, width, error,
                    "; CDNOW_master.txt, the data set's original, is whitespace-separated: import its CSV form, "
                    "cdnow_master.csv"))
    return false;
  const size_t kCustomer = col[0], kDate = col[1], kCds = col[2], kDollars = col[3];

  std::vector<Event> events;
  std::vector<std::string> f;
  while (csv.next(f, error)) {
    ++stats.rows;
    if (f.size() != width) {
      error = csv.at("expected " + std::to_string(width) + " fields, found " + std::to_string(f.size()));
      return false;
    }
    std::string_view customer = trim(f[kCustomer]);
    if (customer.empty()) {
      error = csv.at("empty customer_id");
      return false;
    }
    // Digits as written (its README: 00001..23570, zero padding kept as the id): `1e3`, `0x10`,
    // `1.0` or `-1` are no customer of the data set, and were kept verbatim as user ids.
    if (!is_digits(customer)) {
      error = csv.at("customer_id `" + f[kCustomer] + "` is not a whole number (digits, such as `00001`)");
      return false;
    }
    std::string_view date_text = trim(f[kDate]);
    auto date = date_text.size() == 10 ? support::parse_date(date_text) : std::nullopt;
    if (!date) {
      error = csv.at("date `" + f[kDate] + "` is not `YYYY-MM-DD`");
      return false;
    }
    // The data set has no negative values (its README): one means a broken file, refused as
    // hillstrom refuses a negative spend.
    auto cds = parse_int(trim(f[kCds]));
    if (!cds || *cds < 0) {
      error = csv.at("number_of_cds `" + f[kCds] + "` is not " + (cds ? "a non-negative integer" : "an integer"));
      return false;
    }
    auto dollars = Decimal::parse(trim(f[kDollars]));
    if (!dollars || dollars->units() < 0) {
      error = csv.at("dollar_value `" + f[kDollars] + "` is not " + (dollars ? "a non-negative amount" : "a decimal number"));
      return false;
    }
    Event e;
    e.id = std::to_string(stats.rows);
    e.user = customer;
    e.time = int64_t(*date) * support::kMicrosPerDay;
    e.amount = dollars->units();
    e.count = *cds;
    events.push_back(std::move(e));
  }
  if (!error.empty()) return false;
  return write_events(events, "cds", false, out, stats, error);
}

template <typename Importer>
bool import(Importer importer, std::istream& in, std::ostream& out, ImportStats& stats, std::string& error) {
  stats = ImportStats{};
  error.clear();
  CsvReader csv(in);
  bool ok = importer(csv, out, stats, error);
  if (!ok) stats.error_line = csv.error_line();
  return ok;
}

}  // namespace

bool import_online_retail(std::istream& in, std::ostream& out, ImportStats& stats, std::string& error) {
  return import(online_retail, in, out, stats, error);
}

bool import_cdnow(std::istream& in, std::ostream& out, ImportStats& stats, std::string& error) {
  return import(cdnow, in, out, stats, error);
}

}  // namespace crm::ingest
