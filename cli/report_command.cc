// report_command.cc - `crm report` (indicators and experiments over a ledger and its events) and
// `crm import hillstrom` (the Hillstrom e-mail test as a ledger). Uses only include/crm.
#include "cli/report_command.h"

#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <crm/datasets.h>
#include <crm/report.h>
#include <crm/runtime.h>

#include "cli/args.h"
#include "cli/io.h"

namespace crm::cli {
namespace {

// `14d`, `36h`, `90m`, `45s` (a positive whole number and a unit) in microseconds; 0 when malformed.
int64_t parse_duration(const std::string& s) {
  if (s.size() < 2) return 0;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size() - 1, n);
  if (ec != std::errc() || end != s.data() + s.size() - 1 || n <= 0 || n > 100'000) return 0;
  switch (s.back()) {
    case 'd': return n * 86'400'000'000LL;
    case 'h': return n * 3'600'000'000LL;
    case 'm': return n * 60'000'000LL;
    case 's': return n * 1'000'000LL;
  }
  return 0;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The program of `files` (sources, or one .crmc); 0 or the exit code after saying why.
int load_program(const std::vector<std::string>& files, const std::vector<std::string>& includes, bool color,
                 CompiledProgram& out) {
  std::string err;
  if (files.size() == 1 && ends_with(files[0], ".crmc")) {
    std::string bytes;
    if (!read_input(files[0], bytes, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
    out = load_compiled(bytes, err);
    if (!out.valid()) {
      std::cerr << "crm: " << files[0] << ": " << err << "\n";
      return kExitProblems;
    }
    return 0;
  }
  CheckOptions options;
  options.include_dirs = includes;
  CompileOutput c = compile_files(files, options);
  std::cerr << c.diagnostics.render_text(color);
  if (!c.program.valid()) return kExitProblems;
  out = c.program;
  return 0;
}

// A whole input, gzip or plain (`-`: standard input).
int read_maybe_gzip(const std::string& input, std::string& data) {
  gzFile gz = input == "-" ? gzdopen(dup(STDIN_FILENO), "rb") : gzopen(input.c_str(), "rb");
  if (!gz) {
    std::cerr << "crm: cannot read `" << input_name(input) << "`: " << std::strerror(errno) << "\n";
    return kExitIo;
  }
  char buf[1 << 16];
  int n;
  while ((n = gzread(gz, buf, sizeof buf)) > 0) data.append(buf, static_cast<size_t>(n));
  bool ok = n == 0;
  gzclose(gz);
  if (!ok) {
    std::cerr << "crm: `" << input_name(input) << "` is not readable gzip or text\n";
    return kExitProblems;
  }
  return 0;
}

}  // namespace

int cmd_report(int argc, char** argv) {
  std::vector<std::string> files, includes;
  std::string state, events, out_path, format = "table", window = "14d", silent = "30d", confidence = "0.95";
  report::Options o;
  Command c("report", "report [PROGRAM...] --state sqlite:PATH [--events E.jsonl] [--format table|json|csv]",
            "Measures what the strategies recorded in a ledger did: per strategy, channel and day the\n"
            "indicators of docs/indicators.md (grants, reach, conversion, redemption, subsidy, recall, ROI),\n"
            "and for every strategy with a control group the experiment: per arm users, visit and\n"
            "conversion rates and spend per user, uplifts with 95% intervals and p-values, the incremental\n"
            "ROI, and (given the program) the sample-ratio check against its configured split.");
  c.files(files);
  c.option("-I", includes, "DIR", "also look for the program's imported modules in DIR");
  c.option("--state", state, "sqlite:PATH", "the ledger (read only; it may be in use by a run)");
  c.option("--events", events, "E.jsonl", "the event log: visits and orders after the deliveries");
  c.choice("--format", format, {"table", "json", "csv", "html"},
           "a table (default), one JSON document, CSV, or one HTML page with charts that opens offline");
  c.option("-o,--out", out_path, "FILE", "write the report there instead of standard output");
  c.option("--window", window, "DURATION", "attribution window after a delivery (default 14d; also h, m, s)");
  c.option("--silent", silent, "DURATION", "a silent user had no order for this long before (default 30d)");
  c.option("--confidence", confidence, "LEVEL", "of the intervals (default 0.95)");
  c.option("--visit-type", o.visit_type, "TYPE", "the event type of a visit (default Visit)");
  c.option("--order-type", o.order_type, "TYPE", "the event type of an order (default Order)");
  c.option("--amount-field", o.amount_field, "FIELD", "an order's amount (default amount)");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  if (state.empty()) return usage_error("report", "report needs --state sqlite:PATH");
  if (state.rfind("sqlite:", 0) != 0 || state.size() == 7)
    return usage_error("report", "--state `" + state + "`: a report reads a SQLite ledger, sqlite:PATH");
  o.window_micros = parse_duration(window);
  o.silent_micros = parse_duration(silent);
  if (!o.window_micros) return usage_error("report", "--window `" + window + "` is not a duration such as 14d or 36h");
  if (!o.silent_micros) return usage_error("report", "--silent `" + silent + "` is not a duration such as 30d");
  {
    char* end = nullptr;
    o.confidence = std::strtod(confidence.c_str(), &end);
    if (confidence.empty() || *end || !(o.confidence > 0 && o.confidence < 1))
      return usage_error("report", "--confidence `" + confidence + "` is not a level between 0 and 1");
  }
  std::string err;
  if (format == "html" && !report::html_available()) {
    std::string html;
    report::to_html(report::Report{}, html, err);
    std::cerr << "crm: --format html: " << err << "\n";
    return kExitIo;
  }
  for (const auto& p : std::vector<std::string>{events}) {
    if (p.empty()) continue;
    if (!claim_stdin(p, err)) return usage_error("", err);
    if (!check_readable(p, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
  }
  CompiledProgram program;
  if (!files.empty()) {
    if (int rc = load_program(files, includes, c.color(), program)) return rc;
    o.program = &program;
  }
  InputFile in;
  if (!events.empty()) {
    if (!in.open(events, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
    o.events = &in.stream();
    o.events_name = input_name(events);
  }
  o.state = state;
  report::Report r = report::build(o);
  if (!r.ok) {
    std::cerr << "crm: " << r.error << "\n";
    return r.error.find("cannot") == 0 ? kExitIo : kExitProblems;
  }
  std::string text;
  if (format == "html") {
    if (!report::to_html(r, text, err)) {
      std::cerr << "crm: --format html: " << err << "\n";
      return kExitIo;
    }
  } else {
    text = format == "json" ? report::to_json(r) : format == "csv" ? report::to_csv(r) : report::to_table(r);
  }
  OutputFile out;
  if (!out.open(out_path, OutputFile::Mode::Truncate, err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  out.stream() << text;
  if (!out.finish(err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  if (format != "table")
    for (const auto& n : r.notes) std::cerr << "crm: note: " << n << "\n";
  return 0;
}

int cmd_import_hillstrom(int argc, char** argv) {
  std::vector<std::string> files, program_files;
  std::string state, events_out, profiles_out;
  Command c("import hillstrom", "import hillstrom INPUT[.gz] --state sqlite:PATH --events-out E.jsonl",
            "Records Kevin Hillstrom's e-mail test (64,000 customers) as a ledger of the bundled program\n"
            "examples/hillstrom/hillstrom.crm (or --program): each customer of the men's and women's\n"
            "e-mail thirds is granted that strategy's e-mail, the no-e-mail third is the control group of\n"
            "both; writes the visits and orders of the two weeks after the send time as events\n"
            "(docs/indicators.md, \"The Hillstrom data set\"). Reads gzip or plain text.");
  c.files(files);
  c.option("--state", state, "sqlite:PATH", "the new ledger (must hold no units yet)");
  c.option("--events-out", events_out, "E.jsonl", "write the events there");
  c.option("--profiles-out", profiles_out, "P.jsonl", "also write the customers' attributes as profiles");
  c.option("--program", program_files, "FILE", "record the ledger with this program instead (.crm files or one .crmc)");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  if (files.size() != 1) return usage_error("import", "import hillstrom needs one input file");
  if (state.empty() || events_out.empty()) return usage_error("import", "import hillstrom needs --state and --events-out");
  std::string err;
  if (!claim_stdin(files[0], err)) return usage_error("", err);
  if (!check_readable(files[0], err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  CompiledProgram program;
  if (!program_files.empty()) {
    if (int rc = load_program(program_files, {}, c.color(), program)) return rc;
  } else {
    CompileOutput bundled = hillstrom_program();
    if (!bundled.program.valid()) {
      std::cerr << bundled.diagnostics.render_text(false) << "crm: the bundled Hillstrom program does not compile\n";
      return kExitIo;
    }
    program = bundled.program;
  }
  std::string data;
  if (int rc = read_maybe_gzip(files[0], data)) return rc;
  std::istringstream in(data);
  OutputFile events, profiles;
  if (!events.open(events_out, OutputFile::Mode::Truncate, err) ||
      (!profiles_out.empty() && !profiles.open(profiles_out, OutputFile::Mode::Truncate, err))) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  ImportResult r = import_hillstrom(in, program, state, events.stream(), profiles_out.empty() ? nullptr : &profiles.stream());
  std::string write_error;
  if (!events.finish(write_error) || (!profiles_out.empty() && !profiles.finish(write_error))) {
    std::cerr << "crm: " << write_error << "\n";
    return kExitIo;
  }
  if (!r.ok) {
    if (r.error_line) std::cerr << input_name(files[0]) << ":" << r.error_line << ": " << r.error << "\n";
    else std::cerr << "crm: " << r.error << "\n";
    return r.error_line ? kExitProblems : kExitIo;
  }
  std::cerr << r.rows << " rows -> " << r.events << " events; ledger " << state << "\n";
  return 0;
}

}  // namespace crm::cli
