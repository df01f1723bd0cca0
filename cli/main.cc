// main.cc - the `crm` command-line tool: check, format and inspect .crm programs.
//
// The CLI is a thin shell over the library: it parses options, reads files, and prints what the
// library returns. Exit codes: 0 success, 1 diagnostics with errors, 2 usage or I/O problems.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <crm/check.h>

#include "compiler/ast/ast_dump.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/driver.h"
#include "cli/runtime_commands.h"

namespace {

constexpr const char* kVersion = "0.1.0";

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
  import DATASET IN convert a public dataset (online-retail, cdnow) to the event contract
  codes             list every diagnostic code with its summary
  help [COMMAND]    show help for a command
  version           print the version

Run `crm help check` for the options of a command.
)";

const char* kCheckHelp = R"(usage: crm check [options] FILE...

Checks the given files and every module they import (std.* comes from the built-in standard
library). Prints nothing to stderr and exits 0 when the program is correct; otherwise prints
diagnostics and exits 1. Warnings are printed but do not fail the check unless --deny-warnings.

options:
  -I DIR                 also look for imported modules in DIR (repeatable)
  --format text|json     diagnostics as caret snippets (default) or one JSON document
  --color auto|always|never
  --each                 check every file as a separate program (default: the files together
                         form one program sharing one schema)
  --deny-warnings        exit 1 when there are warnings
  --data PROFILES        count, for each pair of possibly overlapping strategies (W0105), the
                         users of PROFILES (JSON Lines, or CSV by the .csv name) matching both
  --data-events EVENTS   fold these JSON Lines events into the users' history first
  --at TIME              evaluate at TIME (default: when the pair's windows start to overlap,
                         or the last event's time if later)
  --max-file-size BYTES  largest accepted source file (default 1048576)
  --max-nesting N        deepest accepted expression nesting (default 128)
  --max-errors N         stop reporting after N errors (default 100)
  -q, --quiet            print no summary line on success
)";

const char* kFormatHelp = R"(usage: crm format [--write] [--check] FILE...

Prints each file in canonical layout. Comments between declarations are kept; a declaration
that contains comments is left exactly as written.

options:
  --write    rewrite the files in place instead of printing
  --check    print nothing; exit 1 if any file is not formatted
)";

const char* kParseHelp = R"(usage: crm parse FILE

Prints the syntax tree of FILE as an S-expression, or its syntax errors.
)";

int usage_error(const std::string& msg) {
  std::cerr << "crm: " << msg << "\nrun `crm help` for usage\n";
  return 2;
}

bool read_all(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

bool parse_count(const std::string& s, size_t& out) {
  if (s.empty() || s.size() > 15) return false;
  for (char c : s) if (c < '0' || c > '9') return false;
  out = std::stoull(s);
  return out > 0;
}

struct CommonArgs {
  std::vector<std::string> files;
  crm::CheckOptions options;
  std::string format = "text";
  std::string color = "auto";
  bool deny_warnings = false;
  bool each = false;
  bool quiet = false;
  bool write = false;
  bool check_only = false;
};

// Returns 0 when parsed, otherwise the exit code to return.
int parse_args(const std::string& cmd, int argc, char** argv, CommonArgs& a) {
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    std::string v;
    if (arg == "-I") {
      if (!value(v)) return usage_error("-I needs a directory");
      a.options.include_dirs.push_back(v);
    } else if (arg.rfind("-I", 0) == 0 && arg.size() > 2) {
      a.options.include_dirs.push_back(arg.substr(2));
    } else if (arg == "--format") {
      if (!value(v) || (v != "text" && v != "json")) return usage_error("--format takes `text` or `json`");
      a.format = v;
    } else if (arg == "--color") {
      if (!value(v) || (v != "auto" && v != "always" && v != "never")) return usage_error("--color takes auto, always or never");
      a.color = v;
    } else if (arg == "--data" && cmd == "check") {
      if (!value(a.options.data_profiles)) return usage_error("--data takes a profiles file");
    } else if (arg == "--data-events" && cmd == "check") {
      if (!value(a.options.data_events)) return usage_error("--data-events takes an events file");
    } else if (arg == "--at" && cmd == "check") {
      if (!value(a.options.data_at)) return usage_error("--at takes an ISO-8601 time");
    } else if (arg == "--each" && cmd == "check") {
      a.each = true;
    } else if (arg == "--deny-warnings") {
      a.deny_warnings = true;
    } else if (arg == "-q" || arg == "--quiet") {
      a.quiet = true;
    } else if (arg == "--write" && cmd == "format") {
      a.write = true;
    } else if (arg == "--check" && cmd == "format") {
      a.check_only = true;
    } else if (arg == "--max-file-size" || arg == "--max-nesting" || arg == "--max-errors") {
      size_t n = 0;
      if (!value(v) || !parse_count(v, n)) return usage_error(arg + " takes a positive number");
      if (arg == "--max-file-size") a.options.limits.max_file_bytes = n;
      else if (arg == "--max-nesting") a.options.limits.max_nesting = static_cast<uint32_t>(std::min<size_t>(n, 100000));
      else a.options.limits.max_errors = n;
    } else if (arg == "-h" || arg == "--help") {
      return -1;
    } else if (!arg.empty() && arg[0] == '-' && arg != "-") {
      return usage_error("unknown option `" + arg + "` for `crm " + cmd + "`");
    } else {
      a.files.push_back(arg);
    }
  }
  return 0;
}

int cmd_check(int argc, char** argv) {
  CommonArgs a;
  if (int rc = parse_args("check", argc, argv, a)) {
    if (rc == -1) { std::cout << kCheckHelp; return 0; }
    return rc;
  }
  if (a.files.empty()) return usage_error("check needs at least one file");
  std::vector<std::vector<std::string>> programs;
  if (a.each) for (const auto& f : a.files) programs.push_back({f});
  else programs.push_back(a.files);
  bool color = a.color == "always" || (a.color == "auto" && isatty(STDERR_FILENO) && !std::getenv("NO_COLOR"));
  size_t errors = 0, warnings = 0;
  bool failed = false;
  for (const auto& files : programs) {
    crm::CheckResult r = crm::check_files(files, a.options);
    errors += r.error_count();
    warnings += r.warning_count();
    failed |= !r.ok() || (a.deny_warnings && r.warning_count() > 0);
    if (a.format == "json") std::cout << r.render_json();
    else std::cerr << r.render_text(color);
  }
  if (a.format == "text") {
    if (errors || warnings)
      std::cerr << errors << " error" << (errors == 1 ? "" : "s") << ", " << warnings << " warning"
                << (warnings == 1 ? "" : "s") << "\n";
    if (!failed && !a.quiet)
      std::cout << "ok: " << a.files.size() << " file" << (a.files.size() == 1 ? "" : "s") << " checked"
                << (a.each ? " separately" : "") << "\n";
  }
  return failed ? 1 : 0;
}

int cmd_format(int argc, char** argv) {
  CommonArgs a;
  if (int rc = parse_args("format", argc, argv, a)) {
    if (rc == -1) { std::cout << kFormatHelp; return 0; }
    return rc;
  }
  if (a.files.empty()) return usage_error("format needs at least one file");
  int status = 0;
  for (const auto& f : a.files) {
    std::string text;
    if (!read_all(f, text)) {
      std::cerr << "crm: cannot read `" << f << "`: " << std::strerror(errno) << "\n";
      status = 2;
      continue;
    }
    crm::FormatResult r = crm::format_source(f, text, a.options.limits);
    if (!r.ok) {
      std::cerr << r.diagnostics.render_text(isatty(STDERR_FILENO));
      status = std::max(status, 1);
      continue;
    }
    if (a.check_only) {
      if (r.text != text) {
        std::cerr << f << ": not formatted\n";
        status = std::max(status, 1);
      }
    } else if (a.write) {
      if (r.text != text) {
        std::ofstream out(f + ".crm-format.tmp", std::ios::binary);
        out << r.text;
        out.close();
        if (!out || std::rename((f + ".crm-format.tmp").c_str(), f.c_str()) != 0) {
          std::cerr << "crm: cannot write `" << f << "`\n";
          status = 2;
        }
      }
    } else {
      std::cout << r.text;
    }
  }
  return status;
}

int cmd_parse(int argc, char** argv) {
  CommonArgs a;
  if (int rc = parse_args("parse", argc, argv, a)) {
    if (rc == -1) { std::cout << kParseHelp; return 0; }
    return rc;
  }
  if (a.files.size() != 1) return usage_error("parse needs exactly one file");
  std::string text;
  if (!read_all(a.files[0], text)) {
    std::cerr << "crm: cannot read `" << a.files[0] << "`\n";
    return 2;
  }
  crm::FormatResult r = crm::format_source(a.files[0], text, a.options.limits);
  if (!r.ok) {
    std::cerr << r.diagnostics.render_text(false);
    return 1;
  }
  // Parse again through the internal API for the tree dump.
  crm::Compilation c(a.options.limits.max_errors);
  auto id = c.program.sources.add(a.files[0], text);
  crm::parse::ParseOptions po;
  po.max_file_bytes = a.options.limits.max_file_bytes;
  po.max_nesting = a.options.limits.max_nesting;
  auto* m = crm::parse::parse_module(c.program.sources.file(id), c.program.ast, c.sink, po);
  std::cout << crm::ast::dump(*m);
  return 0;
}

int cmd_codes() {
  for (const auto& c : crm::diag::all_codes())
    std::cout << c.name << "  " << crm::diag::severity_name(c.severity) << "  " << c.title << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::cerr << kMainHelp;
      return 2;
    }
    std::string cmd = argv[1];
    if (cmd == "check") return cmd_check(argc - 2, argv + 2);
    if (cmd == "format") return cmd_format(argc - 2, argv + 2);
    if (cmd == "parse") return cmd_parse(argc - 2, argv + 2);
    if (cmd == "codes") return cmd_codes();
    if (cmd == "compile") return crm::cli::cmd_compile(argc - 2, argv + 2);
    if (cmd == "run") return crm::cli::cmd_run(argc - 2, argv + 2);
    if (cmd == "audience") return crm::cli::cmd_audience(argc - 2, argv + 2);
    if (cmd == "explain") return crm::cli::cmd_explain(argc - 2, argv + 2);
    if (cmd == "import") return crm::cli::cmd_import(argc - 2, argv + 2);
    if (cmd == "version" || cmd == "--version") {
      std::cout << "crm " << kVersion << "\n";
      return 0;
    }
    if (cmd == "help" || cmd == "--help" || cmd == "-h") {
      std::string topic = argc > 2 ? argv[2] : "";
      if (topic == "check") std::cout << kCheckHelp;
      else if (topic == "format") std::cout << kFormatHelp;
      else if (topic == "parse") std::cout << kParseHelp;
      else if (const char* h = crm::cli::help_for(topic)) std::cout << h;
      else if (topic.empty()) std::cout << kMainHelp;
      else return usage_error("no help for `" + topic + "`");
      return 0;
    }
    return usage_error("unknown command `" + cmd + "`");
  } catch (const std::exception& e) {
    std::cerr << "crm: internal error: " << e.what() << "\n";
    return 3;
  }
}
