// importers.h - turns the public reference datasets into the runtime's JSON Lines event contract.
//
// Each importer reads a dataset's CSV (already decompressed), applies the dataset's cleaning
// rules and writes one JSON object per line, keys in this order:
//
//   {"id":"536365","type":"Order","user":"17850","time":"2010-12-01T08:26:00Z","amount":139.12,
//    "items":5,"country":"United Kingdom"}
//
// Events are sorted by time ascending; ties keep the order in which the event's source first
// appears in the file (a stable sort), so "the latest order" is well defined for equal times.
// Money never goes through double: amounts are summed exactly (support::Decimal units) and
// printed as the shortest exact decimal (`139.12`, `15.3`, `3`).
//
// UCI Online Retail (InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,
// Country): one Order per InvoiceNo built from its kept rows. A row is skipped when the invoice
// is a cancellation (InvoiceNo starts with `C`), it has no CustomerID, Quantity <= 0 or
// UnitPrice <= 0 (reasons counted in that order of precedence). time = earliest kept row's
// InvoiceDate (`YYYY-MM-DD HH:MM:SS`, read as UTC); amount = sum of Quantity x UnitPrice;
// items = sum of Quantity; user = CustomerID without its `.0` and leading zeros (CustomerID must
// be digits, optionally with `.` and zeros: `17850`, `17850.0`; anything else is an error on its
// line, whether or not the row is kept); country = Country of the first
// kept row. An invoice with no kept rows produces no event. Tie order = the invoice's first row
// in the file (kept or not).
//
// CDNOW (customer_id,date,number_of_cds,dollar_value): one Order per row, none skipped ($0 rows
// are orders); id = 1-based data row number; user = customer_id as written (zero padding kept;
// digits only, else an error on its line);
// time = date at 00:00Z; amount = dollar_value normalised (`12.00` -> 12); cds = number_of_cds.
//
// CSV is read by the shared strict reader (support/csv.h: RFC 4180, quoted fields may contain
// commas, doubled quotes and line breaks; CRLF or LF; an optional UTF-8 BOM; text must be UTF-8).
// Columns are found by header name. Malformed input makes the importer
// return false with `error` saying what is wrong and `stats.error_line` the physical line where
// the record starts (0 when the fault is not in the input, e.g. a failed write); what was
// written to `out` by then is incomplete and must be discarded.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace crm::ingest {

struct ImportStats {
  size_t rows = 0;     // data rows read (header excluded)
  size_t events = 0;   // events written
  size_t skipped = 0;  // data rows not used by any event (== sum of skipped_by_reason)
  std::map<std::string, size_t> skipped_by_reason;
  size_t error_line = 0;  // on failure: the input line at fault (reported as FILE:LINE), or 0
};

// The error for a wanted column `name` missing from `header`. When a cell holds `name` among
// words split by spaces, tabs or `;` (a whitespace- or semicolon-separated file read as CSV, such
// as CDNOW's original CDNOW_master.txt) it says the file is not comma-separated, then `hint`
// (what to use instead; may be empty); else "missing column `name` in the header".
std::string missing_column_message(const std::vector<std::string>& header, std::string_view name, std::string_view hint);

bool import_online_retail(std::istream& in, std::ostream& out, ImportStats& stats, std::string& error);
bool import_cdnow(std::istream& in, std::ostream& out, ImportStats& stats, std::string& error);

}  // namespace crm::ingest
