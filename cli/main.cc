// main.cc - the `crm` command-line tool: check, format and inspect .crm programs.
//
// The CLI is a thin shell over the library: it parses options, reads files, and prints what the
// library returns. Exit codes are in cli/args.h (0 ok, 1 problems in the inputs, 2 usage, 3 I/O).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <crm/check.h>
#include <crm/runtime.h>

#include "cli/args.h"
#include "cli/io.h"
#include "cli/report_command.h"
#include "cli/shared_command.h"
#include "cli/runtime_commands.h"
#include "cli/unified_diff.h"
#include "lsp/server.h"

namespace cli = crm::cli;

namespace {

using cli::Command;

const char* kMainHelp = R"(crm - compiler for .crm campaign strategies

usage: crm <command> [options] [files...]

commands:
  check FILE...     type-check strategies; prints diagnostics, exit 1 on errors
  format FILE...    print files in canonical layout (--write rewrites them in place)
  parse FILE        print the syntax tree (for debugging the grammar)
  compile FILE...   compile to bytecode: -o FILE.crmc writes it, --disasm prints it
  run FILE...       replay --events E.jsonl [--profiles P] and write decisions (JSON Lines)
  audience FILE...  count users per segment and strategy at --at TIME over --events
  explain FILE...   show why --user U does or does not qualify for each strategy at --at TIME
  import DATASET IN convert a public dataset (online-retail, cdnow) to the event contract, or
                    record one as a ledger (hillstrom)
  report [FILE...]  indicators and experiments over --state LEDGER and --events E.jsonl
  forecast FILE...  replay a past --events log shifted by --shift D (or --shift-to DATE) in memory:
                    per strategy and day reach, grants, budget and stock burn, run-out days, pacing
  shared ACTION     reconcile or show the counters processes share in Redis (--shared URL)
  codes             list every diagnostic code with its summary
  lsp               run the language server (LSP over standard input and output; docs/lsp.md)
  help [COMMAND]    show help for a command
  version           print the version

Every command takes --opt VALUE or --opt=VALUE, -h/--help, and --color auto|always|never
(NO_COLOR is honoured); unknown options are errors.

exit codes:
  0  success
  1  the inputs have problems: diagnostics with errors, malformed data, a truncated or corrupt
     .gz, files not formatted, a ledger that refuses (in use, another program)
  2  usage: unknown command or option, missing or invalid argument, an output that is an input
  3  a file cannot be read (also a read error partway) or written, a ledger cannot be opened
     or fails, or an internal error
  143, 130  `crm run` stopped by SIGTERM or SIGINT: what was decided is committed (a graceful
     stop; a second signal ends it at once)

Run `crm help check` for the options of a command.
)";

// Every file named on the command line: at most one `-`, each readable and not a directory.
// Returns 0, or the exit code after saying why.
int check_inputs(const std::vector<std::string>& paths) {
  std::string err;
  for (const auto& p : paths) {
    if (p.empty()) continue;
    if (!cli::claim_stdin(p, err)) return cli::usage_error("", err);
    if (!cli::check_readable(p, err)) {
      std::cerr << "crm: " << err << "\n";
      return cli::kExitIo;
    }
  }
  return 0;
}

// `-` names standard input in diagnostics as <stdin>.
constexpr const char* kStdinName = "<stdin>";

// The input limits, shared by every command that reads .crm sources.
struct LimitArgs {
  size_t file_bytes = 0, nesting = 0, errors = 0, decl_depth = 0, code_depth = 0;
  void declare(Command& c) {
    c.count("--max-file-size", file_bytes, "BYTES", "largest accepted source file (default 1048576)");
    c.count("--max-nesting", nesting, "N", "deepest accepted expression nesting (default 128, at most 2000)",
            crm::Limits::kMaxNestingCap);
    c.count("--max-errors", errors, "N", "stop reporting after N errors (default 100)");
    c.count("--max-decl-depth", decl_depth, "N",
            "deepest chain of constants or functions used before their declaration (default 1000, at most 2000)",
            crm::Limits::kMaxDeclDepthCap);
    c.count("--max-code-depth", code_depth, "N",
            "deepest expression once constants, functions and segments are inlined (default 2000, at most 2000)",
            crm::Limits::kMaxCodeDepthCap);
  }
  void apply(crm::Limits& l) const {
    if (file_bytes) l.max_file_bytes = file_bytes;
    // The caps are enforced when the options are parsed (a larger value is refused, exit 2).
    if (nesting) l.max_nesting = static_cast<uint32_t>(nesting);
    if (errors) l.max_errors = errors;
    if (decl_depth) l.max_decl_depth = static_cast<uint32_t>(decl_depth);
    if (code_depth) l.max_code_depth = static_cast<uint32_t>(code_depth);
  }
};

int cmd_check(int argc, char** argv) {
  std::vector<std::string> files;
  crm::CheckOptions options;
  std::string format = "text";
  bool deny_warnings = false, each = false, quiet = false;
  LimitArgs limits;
  Command c("check", "check [options] FILE...",
            "Checks the given files and every module they import (std.* comes from the built-in standard\n"
            "library). Prints nothing to stderr and exits 0 when the program is correct; otherwise prints\n"
            "diagnostics and exits 1. Warnings are printed but do not fail the check unless --deny-warnings.");
  c.files(files);
  c.option("-I", options.include_dirs, "DIR", "also look for imported modules in DIR (repeatable)");
  c.choice("--format", format, {"text", "json"}, "diagnostics as caret snippets (default) or one JSON document");
  c.flag("--each", each,
         "check every file as a separate program (default: the files together\nform one program sharing one schema)");
  c.flag("--deny-warnings", deny_warnings, "exit 1 when there are warnings");
  c.option("--data", options.data_profiles, "PROFILES",
           "count, for each pair of possibly overlapping strategies (W0105), the\nusers of PROFILES (JSON Lines, or CSV "
           "by the .csv name in any case; `-`: CSV\nunless it starts with `{`) matching both (an event strategy's `user` is the\nuser; a `who:` reading other event fields is not counted)");
  c.option("--data-events", options.data_events, "EVENTS", "fold these JSON Lines events into the users' history first");
  c.option("--at", options.data_at, "TIME",
           "evaluate at TIME (default: when the pair's windows start to overlap,\nor the last event's time if later)");
  limits.declare(c);
  size_t conflict_warnings = 0;
  c.count("--max-conflict-warnings", conflict_warnings, "N",
          "report at most N strategy conflicts (W0105; default 100), then stop the\nanalysis with one W0108 "
          "saying how many pairs were not examined");
  c.flag("-q,--quiet", quiet, "print no summary line on success");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  limits.apply(options.limits);
  if (conflict_warnings) options.limits.max_conflict_warnings = conflict_warnings;
  if (files.empty()) return cli::usage_error("check", "check needs at least one file");
  std::vector<std::string> inputs = files;
  inputs.push_back(options.data_profiles);
  inputs.push_back(options.data_events);
  if (int rc = check_inputs(inputs)) return rc;
  std::string stdin_text;
  for (const auto& f : files) {
    std::string err;
    if (f == "-" && !cli::read_input(f, stdin_text, err, options.limits.max_file_bytes)) {
      std::cerr << "crm: " << err << "\n";
      return cli::kExitIo;
    }
  }
  std::vector<std::vector<std::string>> programs;
  if (each) for (const auto& f : files) programs.push_back({f});
  else programs.push_back(files);
  // Standard input as the data of several programs (--each): read once here and given to each
  // check (read again by the second, it was empty: "0 of 0 users"). With one program the check
  // reads it itself, once, as it comes.
  if (programs.size() > 1 && (options.data_profiles == "-" || options.data_events == "-")) {
    auto text = std::make_shared<std::string>();
    if (std::string err; !cli::read_input("-", *text, err)) {
      std::cerr << "crm: " << err << "\n";
      return cli::kExitIo;
    }
    options.data_stdin = std::move(text);
  }
  bool color = c.color();
  size_t errors = 0, warnings = 0, notes = 0;
  bool failed = false;
  for (const auto& group : programs) {
    std::vector<crm::SourceInput> sources;
    for (const auto& f : group) {
      if (f == "-") sources.push_back({kStdinName, stdin_text});
      else sources.push_back({f, std::nullopt});
    }
    crm::CheckResult r = crm::check_sources(sources, options);
    errors += r.error_count();
    warnings += r.warning_count();
    notes += r.note_count();
    failed |= !r.ok() || (deny_warnings && r.warning_count() > 0);
    if (format == "json") std::cout << r.render_json();
    else std::cerr << r.render_text(color);
  }
  if (format == "text") {
    if (errors || warnings || notes)
      std::cerr << errors << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning"
                << (warnings == 1 ? "" : "s")
                << (notes ? ", " + std::to_string(notes) + (notes == 1 ? " note" : " notes") : std::string()) << "\n";
    if (!failed && !quiet)
      std::cout << "ok: " << files.size() << " file" << (files.size() == 1 ? "" : "s") << " checked"
                << (each ? " separately" : "") << "\n";
  }
  return failed ? 1 : 0;
}

int cmd_format(int argc, char** argv) {
  std::vector<std::string> files;
  bool write = false, check_only = false, diff = false;
  size_t width = crm::FormatOptions{}.width;
  LimitArgs limits;
  Command c("format", "format [--write | --check | --diff] [--width N] FILE...",
            "Prints each file in canonical layout (`-`: standard input). Comments are kept where they are\n"
            "(docs/language.md, Layout).");
  c.files(files);
  c.flag("--write", write, "rewrite the files in place instead of printing");
  c.flag("--check", check_only, "print nothing; exit 1 if any file is not formatted");
  c.flag("--diff", diff, "print what formatting would change as a unified diff; exit 1 if anything would");
  c.count("--width", width, "N", "keep lines within N columns where the layout allows (default 100, at least 40)");
  limits.declare(c);
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  crm::Limits lim;
  limits.apply(lim);
  if (files.empty()) return cli::usage_error("format", "format needs at least one file");
  if (int(write) + int(check_only) + int(diff) > 1)
    return cli::usage_error("format", "--write, --check and --diff exclude each other");
  if (width < 40) return cli::usage_error("format", "--width must be at least 40");
  if (write && std::find(files.begin(), files.end(), "-") != files.end())
    return cli::usage_error("format", "--write cannot rewrite standard input");
  if (int rc = check_inputs(files)) return rc;
  int status = 0;
  for (const auto& f : files) {
    std::string text, err;
    if (!cli::read_input(f, text, err, lim.max_file_bytes)) {
      std::cerr << "crm: " << err << "\n";
      status = cli::kExitIo;
      continue;
    }
    crm::FormatResult r = crm::format_source(f == "-" ? kStdinName : f, text, lim, crm::FormatOptions{width});
    if (!r.ok) {
      std::cerr << r.diagnostics.render_text(c.color());
      status = std::max(status, 1);
      continue;
    }
    if (diff) {
      if (r.text != text) {
        std::cout << cli::unified_diff(f == "-" ? kStdinName : f, text, r.text);
        status = std::max(status, 1);
      }
    } else if (check_only) {
      if (r.text != text) {
        std::cerr << (f == "-" ? kStdinName : f) << ": not formatted\n";
        status = std::max(status, 1);
      }
    } else if (write) {
      if (r.text != text) {
        // A private temporary file beside the original, renamed over it (cli/io.h).
        cli::OutputFile out;
        if (!out.open(f, cli::OutputFile::Mode::Replace, err) || !(out.stream() << r.text) || !out.finish(err)) {
          if (err.empty()) out.finish(err);
          std::cerr << "crm: " << err << "\n";
          status = cli::kExitIo;
        }
      }
    } else {
      std::cout << r.text;
    }
  }
  return status;
}

int cmd_parse(int argc, char** argv) {
  std::vector<std::string> files;
  LimitArgs limits;
  Command c("parse", "parse FILE", "Prints the syntax tree of FILE as an S-expression, or its syntax errors.");
  c.files(files);
  limits.declare(c);
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  crm::Limits lim;
  limits.apply(lim);
  if (files.size() != 1) return cli::usage_error("parse", "parse needs exactly one file");
  if (int rc = check_inputs(files)) return rc;
  std::string text, err;
  if (!cli::read_input(files[0], text, err, lim.max_file_bytes)) {
    std::cerr << "crm: " << err << "\n";
    return cli::kExitIo;
  }
  std::string name = files[0] == "-" ? kStdinName : files[0];
  crm::FormatResult r = crm::syntax_tree(name, text, lim);
  if (!r.ok) {
    std::cerr << r.diagnostics.render_text(c.color());
    return 1;
  }
  std::cout << r.text;
  return 0;
}

int cmd_codes(int argc, char** argv) {
  Command c("codes", "codes", "Lists every diagnostic code with its severity and summary.");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  for (const auto& code : crm::diagnostic_codes())
    std::cout << code.code << "  " << code.severity << "  " << code.title << "\n";
  return 0;
}

int cmd_version(int argc, char** argv) {
  Command c("version", "version", "Prints the version of crm.");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  std::cout << "crm " << crm::version() << "\n";
  return 0;
}

int cmd_lsp(int argc, char** argv) {
  bool stdio = false;
  crm::lsp::ServerOptions o;
  Command c("lsp", "lsp [--stdio] [--docs-url URL]",
            "Runs the language server: JSON-RPC 2.0 with LSP framing on standard input and output "
            "(docs/lsp.md). Exits 0 after `shutdown` then `exit`, 1 otherwise.");
  c.flag("--stdio", stdio, "talk over standard input and output (the default and only transport)");
  c.option("--docs-url", o.diagnostics_docs, "URL", "page diagnostic codes link to (default: the installed docs/diagnostics.md, else none)");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  return crm::lsp::serve(0, 1, o);
}

using CommandMain = int (*)(int, char**);
struct CommandEntry {
  const char* name;
  CommandMain main;
};
const CommandEntry kCommands[] = {
    {"check", cmd_check},         {"format", cmd_format},           {"parse", cmd_parse},
    {"compile", cli::cmd_compile}, {"run", cli::cmd_run},           {"audience", cli::cmd_audience},
    {"explain", cli::cmd_explain}, {"import", cli::cmd_import},     {"codes", cmd_codes},
    {"version", cmd_version},      {"report", cli::cmd_report},      {"shared", cli::cmd_shared},
    {"lsp", cmd_lsp},             {"forecast", cli::cmd_forecast},
};

CommandMain find_command(const std::string& name) {
  for (const auto& c : kCommands)
    if (name == c.name) return c.main;
  return nullptr;
}

}  // namespace

// Runs the command, then makes sure everything it printed reached standard output.
int run_command(CommandMain m, int argc, char** argv) {
  int rc = m(argc, argv);
  std::string err;
  if (!cli::flush_stdout(err)) {
    std::cerr << "crm: " << err << "\n";
    return cli::kExitIo;
  }
  return rc;
}

int main(int argc, char** argv) {
  // crm mixes no C stdio with iostreams; unsynchronised streams read events from stdin faster.
  std::ios::sync_with_stdio(false);
  try {
    if (argc < 2) {
      std::cerr << kMainHelp;
      return cli::kExitUsage;
    }
    std::string cmd = argv[1];
    if (CommandMain m = find_command(cmd)) return run_command(m, argc - 2, argv + 2);
    if (cmd == "--version") return run_command(cmd_version, 0, nullptr);
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      if (argc > 3) return cli::usage_error("", "help takes at most one command");
      std::string topic = argc > 2 ? argv[2] : "";
      if (topic.empty()) {
        std::cout << kMainHelp;
        return run_command([](int, char**) { return 0; }, 0, nullptr);
      }
      CommandMain m = find_command(topic);
      if (!m) return cli::usage_error("", "no help for `" + topic + "`");
      char help_flag[] = "--help";
      char* args[] = {help_flag, nullptr};
      return run_command(m, 1, args);
    }
    return cli::usage_error("", "unknown command `" + cmd + "`");
  } catch (const std::exception& e) {
    std::cerr << "crm: internal error: " << e.what() << "\n";
    return cli::kExitIo;
  }
}
