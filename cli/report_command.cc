// report_command.cc - `crm report` (indicators and experiments over a ledger and its events),
// `crm forecast` (a history replayed against a program, shifted in time, in memory) and
// `crm import hillstrom` (the Hillstrom e-mail test as a ledger). Uses only include/crm.
#include "cli/report_command.h"

#include <unistd.h>

#include <cerrno>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <crm/datasets.h>
#include <crm/forecast.h>
#include <crm/report.h>
#include <crm/run.h>
#include <crm/text.h>
#include <crm/runtime.h>

#include "cli/args.h"
#include "cli/io.h"

namespace crm::cli {
namespace {

// A positive duration (--window, --silent): the syntax and bound of every duration option
// (crm::parse_duration, include/crm/text.h); 0 when malformed, longer or 0.
int64_t positive_duration(const std::string& s) {
  int64_t micros = 0;
  return crm::parse_duration(s, micros) ? micros : 0;
}

// The program of `files` (sources, or one .crmc alone) for `crm command` (`help` names the
// command's help page); 0 or the exit code after saying why.
int load_program(const std::vector<std::string>& files, const std::vector<std::string>& includes, bool color,
                 CompiledProgram& out, const std::string& command, const std::string& help) {
  if (std::string why = check_program_files(files, command); !why.empty()) return usage_error(help, why);
  std::string err;
  // A program file that cannot be read (missing, a directory, no permission) is exit 3, as for
  // `crm check` and `crm run`, not a diagnostic of the program (1).
  for (const auto& f : files) {
    if (!claim_stdin(f, err)) return usage_error("", err);
    if (!check_readable(f, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
  }
  if (files.size() == 1 && is_compiled_program(files[0])) {
    std::string bytes;
    bool too_large = false;
    if (!read_compiled(files[0], bytes, err, too_large)) {
      std::cerr << "crm: " << err << "\n";
      return too_large ? kExitProblems : kExitIo;
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

// A whole input, gzip or plain (`-`: standard input), checked (cli/io.h).
int read_maybe_gzip(const std::string& input, std::string& data) {
  std::string err;
  int rc = read_gzip_or_text(input, data, err);
  if (rc) std::cerr << "crm: " << err << "\n";
  return rc;
}

// Writes a report or a forecast in `format` (table, json, csv, html) to `out_path` (empty or
// "-": standard output), then its notes on stderr unless the table shows them. The exit code.
template <class Result>
int write_result(const Result& r, const std::string& format, const std::string& out_path) {
  std::string text, err;
  if (format == "html") {
    if (!report::to_html(r, text, err)) {
      std::cerr << "crm: --format html: " << err << "\n";
      return kExitIo;
    }
  } else {
    text = format == "json" ? report::to_json(r) : format == "csv" ? report::to_csv(r) : report::to_table(r);
  }
  OutputFile out;  // replaced whole: a failed write leaves the previous file as it was
  if (!out.open(out_path, OutputFile::Mode::Replace, err)) {
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

// `--dedup-window D|forever` of report and forecast, read as `crm run` reads it; 0 or the exit code.
int dedup_window_option(const std::string& text, const std::string& command, int64_t& micros) {
  if (text.empty()) return 0;
  if (text == "forever") {
    micros = INT64_MAX;
    return 0;
  }
  if (!crm::parse_duration(text, micros) || micros < 0)
    return usage_error(command, "--dedup-window takes a duration such as 90s, 15m, 2h or 7d, or `forever` (got `" + text +
                                    "`)" + crm::duration_bound_note(text));
  return 0;
}

}  // namespace

int cmd_report(int argc, char** argv) {
  std::vector<std::string> files, includes;
  std::string state, events, out_path, format = "table", window = "14d", silent = "30d", confidence = "0.95", dedup_window;
  report::Options o;
  Command c("report", "report [PROGRAM...] --state sqlite:PATH [--events E.jsonl] [--format table|json|csv|html] [--zone ZONE]",
            "Measures what the strategies recorded in a ledger did: per strategy, channel and day (UTC, or --zone) the\n"
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
  c.option("--zone", o.zone, "ZONE", "count days in this zone: Asia/Shanghai, +08:00 (default UTC)");
  c.option("--visit-type", o.visit_type, "TYPE", "the event type of a visit (default Visit)");
  c.option("--order-type", o.order_type, "TYPE", "the event type of an order (default Order)");
  c.option("--amount-field", o.amount_field, "FIELD", "an order's amount (default amount)");
  c.option("--dedup-window", dedup_window, "D|forever",
           "an event id met again within D is a retry, counted once (as crm run with a\nledger decides it once; default 7d)");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  if (int rc = dedup_window_option(dedup_window, "report", o.dedup_window_micros)) return rc;
  if (state.empty()) return usage_error("report", "report needs --state sqlite:PATH");
  if (state.rfind("sqlite:", 0) != 0 || state.size() == 7)
    return usage_error("report", "--state `" + state + "`: a report reads a SQLite ledger, sqlite:PATH");
  // A malformed spec (`:memory:`, a `file:` URI, a bad max_pages) is a bad argument, as for `crm run`.
  if (std::string why; !check_state_spec(state, why)) return usage_error("report", why);
  // Another application's SQLite database is not read as a ledger (check_state_ledger).
  if (std::string why; !check_state_ledger(state, why)) return usage_error("report", why);
  o.window_micros = positive_duration(window);
  o.silent_micros = positive_duration(silent);
  if (!o.window_micros)
    return usage_error("report", "--window `" + window + "` is not a duration such as 14d or 36h" +
                                     crm::duration_bound_note(window));
  if (!o.silent_micros)
    return usage_error("report",
                       "--silent `" + silent + "` is not a duration such as 30d" + crm::duration_bound_note(silent));
  {
    char* end = nullptr;
    o.confidence = std::strtod(confidence.c_str(), &end);
    if (confidence.empty() || *end || !(o.confidence > 0 && o.confidence < 1))
      return usage_error("report", "--confidence `" + confidence + "` is not a level between 0 and 1");
  }
  if (std::string why; !report::check_zone(o.zone, why)) return usage_error("report", "--zone: " + why);
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
  {
    std::vector<NamedPath> inputs{{"--events", events}, {"--state", state}};
    for (const auto& f : files) inputs.emplace_back("program", f);
    if (!check_output_not_input({"--out", out_path}, inputs, err)) return usage_error("report", err);
  }
  CompiledProgram program;
  if (!files.empty()) {
    if (int rc = load_program(files, includes, c.color(), program, "report", "report")) return rc;
    if (!check_output_not_source({"--out", out_path}, program, err)) return usage_error("report", err);
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
  if (!events.empty() && in.failed()) {  // a read error is not the end of the events (exit 3)
    std::cerr << "crm: " << in.error() << "\n";
    return kExitIo;
  }
  if (!r.ok) {
    std::cerr << "crm: " << r.error << "\n";
    return r.error.find("cannot") == 0 ? kExitIo : kExitProblems;
  }
  return write_result(r, format, out_path);
}

int cmd_forecast(int argc, char** argv) {
  std::vector<std::string> files, includes;
  std::string events, profiles, shift, shift_to, state, lateness, out_path, format = "table", max_time_jump, dedup_window;
  bool no_pacing_comparison = false;
  Command c("forecast", "forecast PROGRAM... --events HISTORY.jsonl (--shift D | --shift-to DATE) [--format table|json|csv|html]",
            "Replays a past event log (e.g. last year's), shifted in time, against the program's strategies\n"
            "in memory, touching no ledger, and projects per strategy and day (the local day of the\n"
            "strategy's zone): reach, grants, budget and stock burn, the day each budget and stock runs\n"
            "out, and the effect of pacing (the same replay with pacing off, and the even plan). See\n"
            "docs/indicators.md, \"Forecast\".");
  c.files(files);
  c.option("-I", includes, "DIR", "also look for the program's imported modules in DIR");
  c.option("--events", events, "E.jsonl", "the history: events, JSON Lines, in time order (up to --allowed-lateness)");
  c.option("--profiles", profiles, "P", "user profiles: JSON Lines, or CSV with a header when P ends in .csv\n(any case; `-`: standard input, CSV unless it starts with `{`)");
  c.option("--shift", shift, "D", "add D to every event time: 365d, 36h, 90m, -30d (d, h, m, s)");
  c.option("--shift-to", shift_to, "DATE", "move the first event's UTC day to DATE (whole days; time of day kept)");
  c.option("--allowed-lateness", lateness, "D", "how far events may be out of time order (as crm run)");
  c.option("--max-time-jump", max_time_jump, "D",
           "how far ahead of the stream's clock an event may be (as crm run; default 366d;\n0: no limit): a year "
           "typo is an error naming its line");
  c.option("--dedup-window", dedup_window, "D|forever",
           "an event id met again within D is a retry, replayed once (as crm run with a\nledger; default 7d)");
  c.choice("--format", format, {"table", "json", "csv", "html"},
           "a table (default), one JSON document, CSV, or one HTML page with charts that opens offline");
  c.option("-o,--out", out_path, "FILE", "write the forecast there instead of standard output");
  c.flag("--no-pacing-comparison", no_pacing_comparison, "do not replay a second time with pacing off");
  c.option("--state", state, "SPEC", "refused: a forecast replays in memory and never opens a ledger");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  if (!state.empty())
    return usage_error("forecast", "--state: a forecast replays in memory and never opens a ledger (the counters start "
                                   "empty); run `crm report` on a ledger instead");
  if (files.empty()) return usage_error("forecast", "forecast needs the program (.crm files or one .crmc)");
  if (events.empty()) return usage_error("forecast", "forecast needs --events HISTORY.jsonl");
  if (!shift.empty() && !shift_to.empty()) return usage_error("forecast", "give --shift or --shift-to, not both");
  report::ForecastOptions o;
  if (!shift.empty()) {
    const bool negative = shift[0] == '-';
    int64_t micros = 0;
    const std::string_view span = std::string_view(shift).substr(negative ? 1 : 0);
    if (!crm::parse_duration(span, micros))
      return usage_error("forecast", "--shift `" + shift + "` is not a duration such as 365d, 36h or -30d" +
                                         crm::duration_bound_note(span));
    o.shift_micros = negative ? -micros : micros;
  }
  if (!shift_to.empty()) {
    int64_t micros = 0;
    if (shift_to.find('T') != std::string::npos || !crm::parse_time(shift_to, micros))
      return usage_error("forecast", "--shift-to `" + shift_to + "` is not a date such as 2026-11-01" +
                                         crm::time_bound_note(shift_to));
    o.shift_to = true;
    o.shift_to_day = static_cast<int32_t>(micros / 86'400'000'000LL);
  }
  if (!lateness.empty() && !crm::parse_duration(lateness, o.allowed_lateness_micros))
    return usage_error("forecast", "--allowed-lateness takes a duration such as 0, 90s, 15m, 2h or 1d" +
                                       crm::duration_bound_note(lateness));
  if (!max_time_jump.empty() && (!crm::parse_duration(max_time_jump, o.max_time_jump_micros) || o.max_time_jump_micros < 0))
    return usage_error("forecast", "--max-time-jump takes a duration such as 30d, 366d or 2h (0: no limit), not `" +
                                       max_time_jump + "`" + crm::duration_bound_note(max_time_jump));
  if (int rc = dedup_window_option(dedup_window, "forecast", o.dedup_window_micros)) return rc;
  o.compare_pacing = !no_pacing_comparison;
  std::string err;
  if (format == "html" && !report::html_available()) {
    std::string html;
    report::to_html(report::Forecast{}, html, err);
    std::cerr << "crm: --format html: " << err << "\n";
    return kExitIo;
  }
  for (const auto& p : {events, profiles}) {
    if (p.empty()) continue;
    if (!claim_stdin(p, err)) return usage_error("", err);
    if (!check_readable(p, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
  }
  {
    std::vector<NamedPath> inputs{{"--events", events}, {"--profiles", profiles}};
    for (const auto& f : files) inputs.emplace_back("program", f);
    if (!check_output_not_input({"--out", out_path}, inputs, err)) return usage_error("forecast", err);
  }
  CompiledProgram program;
  if (int rc = load_program(files, includes, c.color(), program, "forecast", "forecast")) return rc;
  if (!check_output_not_source({"--out", out_path}, program, err)) return usage_error("forecast", err);
  o.program = &program;
  InputFile in, prof;
  if (!in.open(events, err) || (!profiles.empty() && !prof.open(profiles, err))) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  o.events = &in.stream();
  o.events_name = input_name(events);
  if (!profiles.empty()) {
    o.profiles = &prof.stream();
    o.profiles_csv = profiles_are_csv(profiles, profiles == "-" ? prof.head(profiles_head_decides) : std::string_view());
    o.profiles_name = input_name(profiles);
  }
  report::Forecast f = report::forecast(o);
  for (const InputFile* file : {&in, &prof}) {
    if (file->failed()) {  // a read error is not the end of the history or the profiles (exit 3)
      std::cerr << "crm: " << file->error() << "\n";
      return kExitIo;
    }
  }
  if (!f.ok) {
    std::cerr << "crm: " << f.error << "\n";
    return f.error.find("internal error") == 0 || f.error.find("cannot") == 0 ? kExitIo : kExitProblems;
  }
  return write_result(f, format, out_path);
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
  // Before anything is read or written: a malformed spec
  // is a bad argument (exit 2), as for `crm run`, not a problem found in the data (1).
  if (!check_state_spec(state, err)) return usage_error("import", err);
  // Nor is another application's SQLite database made a ledger (crm's tables added to it).
  if (!check_state_ledger(state, err)) return usage_error("import", err);
  // The ledger is what this import makes (`crm report` reads it): one in memory would be thrown away.
  if (state.rfind("sqlite:", 0) != 0)
    return usage_error("import", "--state `" + state + "`: import hillstrom records a SQLite ledger, sqlite:PATH");
  if (!claim_stdin(files[0], err)) return usage_error("", err);
  if (!check_readable(files[0], err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  {
    // Both outputs against the input, the ledger, the program and each other.
    std::vector<NamedPath> inputs{{"the input", files[0]}, {"--state", state}};
    for (const auto& f : program_files) inputs.emplace_back("--program", f);
    if (!check_output_not_input({"--events-out", events_out}, inputs, err)) return usage_error("import", err);
    if (!profiles_out.empty() && profiles_out == events_out && profiles_out != "-")
      return usage_error("import", "--profiles-out `" + profiles_out + "` is also --events-out: give two files");
    inputs.emplace_back("--events-out", events_out);
    if (!check_output_not_input({"--profiles-out", profiles_out}, inputs, err)) return usage_error("import", err);
  }
  CompiledProgram program;
  if (!program_files.empty()) {
    if (int rc = load_program(program_files, {}, c.color(), program, "import hillstrom", "import")) return rc;
    for (const auto& out : {NamedPath{"--events-out", events_out}, NamedPath{"--profiles-out", profiles_out}})
      if (!check_output_not_source(out, program, err)) return usage_error("import", err);
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
  // Temporary files beside the targets, renamed over them only when the import succeeded: a
  // failed one leaves the previous events and profiles as they were.
  OutputFile events, profiles;
  if (!events.open(events_out, OutputFile::Mode::Replace, err) ||
      (!profiles_out.empty() && !profiles.open(profiles_out, OutputFile::Mode::Replace, err))) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  ImportResult r = import_hillstrom(in, program, state, events.stream(), profiles_out.empty() ? nullptr : &profiles.stream());
  std::string write_error;
  // Finished when the import succeeded, or when an output failed (a full disk: exit 3 naming it);
  // else left unfinished, so the previous files stay.
  const bool write_failed = !events.flush() || (!profiles_out.empty() && !profiles.flush());
  if ((r.ok || write_failed) &&
      (!events.finish(write_error) || (!profiles_out.empty() && !profiles.finish(write_error)))) {
    std::cerr << "crm: " << write_error << "\n";
    return kExitIo;
  }
  if (!r.ok) {
    if (r.error_line) std::cerr << input_name(files[0]) << ":" << r.error_line << ": " << r.error << "\n";
    else std::cerr << "crm: " << r.error << "\n";
    // What could not be read or written is 3; a ledger already in use for other units, or a
    // program without the dataset's strategies, is the user's problem like a bad row (1).
    const bool io = !r.error_line && (r.error.rfind("cannot", 0) == 0 || r.error.rfind("internal error", 0) == 0);
    return io ? kExitIo : kExitProblems;
  }
  std::cerr << r.rows << " rows -> " << r.events << " events; ledger " << state << "\n";
  return 0;
}

}  // namespace crm::cli
