// runtime_commands.cc - `crm compile`, `run`, `audience`, `explain` and `import`.
//
// Each command compiles the given .crm files (or loads one .crmc), then drives the engine over
// JSON Lines data. Malformed data lines are reported as FILE:LINE: message; --on-error decides
// whether they stop the run (default) or are skipped and counted.
#include "cli/runtime_commands.h"
#include "cli/report_command.h"

#include "cli/args.h"
#include "cli/io.h"
#include "cli/shared_command.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include <crm/datasets.h>
#include <crm/run.h>
#include <crm/runtime.h>
#include <crm/text.h>

namespace crm::cli {
namespace {

struct Options {
  std::vector<std::string> files, includes;
  std::string events, profiles, out, at, user, event, format = "text", on_error = "stop", state, lateness, dedup_window;
  size_t commit_every = 4096;
  size_t threads = 1;                                   // run: worker threads
  std::string until;                                    // run: the stream's clock at the end
  size_t max_timers = 0, max_timers_per_user = 0;       // run: pending timers (0: no limit)
  std::string max_schedule_runs;                        // run: scheduled runs per event (0: no limit)
  std::string max_time_jump;                            // run: how far ahead of the clock an event may be (0: no limit)
  size_t max_file_bytes = 0, max_nesting = 0;  // 0: the library's default
  bool disasm = false, quiet = false, color = false, allow_program_change = false;
  bool jit = false, emit_llvm = false;
  std::string jit_cache;
  std::string reload_on;  // run: "SIGHUP" re-reads the program files on that signal
  std::string command;    // the command's name, for messages about its program files
};

// `crm run --reload-on SIGHUP`: the handler only sets this flag (async-signal-safe); the run's
// loop checks it between events.
volatile std::sig_atomic_t g_reload_requested = 0;
extern "C" void on_reload_signal(int) { g_reload_requested = 1; }

// `crm run`'s SIGTERM and SIGINT: a graceful stop (docs/runtime.md, "Stopping crm run"). The first
// sets g_stop_input (the input ends; nothing more is decided; what was decided is committed,
// leases given back, the summary written; exit 128 + the signal); a second one ends the process
// at once, as the signal's default action. A signal taken by another thread (--threads) goes on
// to the main thread, whose read of the input it must interrupt.
volatile std::sig_atomic_t g_stop_signal = 0;
pthread_t g_main_thread;
extern "C" void on_stop_signal(int sig) {
  if (!pthread_equal(pthread_self(), g_main_thread)) {
    pthread_kill(g_main_thread, sig);
    return;
  }
  if (g_stop_input) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_stop_signal = sig;
  g_stop_input = 1;
  wake_stop_pipe();  // a wait for input that began after its check of g_stop_input ends too
}

// The line of the events file being given to a sink (read_events), for messages.
size_t g_event_line = 0;

// Set when reading an events or profiles input failed (EIO, /proc/self/mem, a directory on
// standard input): the command said so naming the file and exits 3, never 0 on partial data.
bool g_read_failed = false;

// Set when a graceful stop (SIGTERM, SIGINT) cut the profiles while they were read: the command
// stops as it does when the stop comes while it reads the events, never with a malformed record.
bool g_profiles_stopped = false;

// The exit code of a command stopped while reading its data: 3 after a read error, else `code`.
int stopped_reading(int code) { return g_read_failed ? kExitIo : code; }

// Says that `file` could not be read to its end (once) and marks the command as failed.
void read_failed(const InputFile& file) {
  if (!g_read_failed) std::cerr << "crm: " << file.error() << "\n";
  g_read_failed = true;
}

int usage(const std::string& command, const std::string& msg) { return usage_error(command, msg); }

// The program: .crm sources (or one compiled .crmc where the command accepts it).
void program_options(Command& c, Options& o) {
  o.command = c.name();
  c.files(o.files);
  c.option("-I", o.includes, "DIR", "also look for imported modules in DIR (repeatable)");
  // The same source limits as `crm check`, so a program that checks can also be run.
  c.count("--max-file-size", o.max_file_bytes, "BYTES", "largest accepted source file (default 1048576); also bounds a\ncompiled .crmc when given (default for a .crmc: 256 MiB)");
  c.count("--max-nesting", o.max_nesting, "N", "deepest accepted expression nesting (default 128, at most 2000)",
          crm::Limits::kMaxNestingCap);
}

// The data a command replays. `quiet` says what -q silences.
void data_options(Command& c, Options& o, const char* quiet = "no progress bar") {
  c.option("--events", o.events, "E.jsonl", "events, JSON Lines (see docs/semantics.md, \"Event order\")");
  c.option("--profiles", o.profiles, "P", "user profiles: JSON Lines, or CSV with a header when P ends in .csv\n(any case; `-`: standard input, CSV unless it starts with `{`)");
  c.choice("--on-error", o.on_error, {"stop", "skip"},
           "a malformed data line stops the command (default) or is skipped and counted");
  c.flag("-q,--quiet", o.quiet, quiet);
}

// A compiled program: from sources, or one loaded .crmc.
struct Loaded {
  crm::CompiledProgram program;
};

// --jit: run the units as native code (CompiledProgram::with_jit).
void jit_option(Command& c, Options& o) {
  c.flag("--jit", o.jit, "evaluate with native code from the LLVM JIT instead of the VM (same results);\nan error in a build without the JIT");
  c.option("--jit-cache", o.jit_cache, "DIR",
           "with --jit: keep the native code in DIR, keyed by the program, the CPU and the\nversions, so a restart loads it instead of compiling (created if missing; a\ndamaged file is checked, compiled afresh and replaced, never run)");
}

// Every input file a command names: at most one `-`, each readable and not a directory.
// Returns 0, or the exit code after saying why.
int check_inputs(const Options& o, const std::vector<std::string>& paths) {
  std::string err;
  for (const auto& p : paths) {
    if (p.empty()) continue;
    if (!claim_stdin(p, err)) return usage_error("", err);
    if (!check_readable(p, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
  }
  return 0;
}

int check_inputs(const Options& o) {
  std::vector<std::string> paths = o.files;
  paths.push_back(o.events);
  paths.push_back(o.profiles);
  return check_inputs(o, paths);
}

// The command's inputs (program files, --events, --profiles, --state's ledger) that `--out` must
// not name (cli/io.h); 0 or kExitUsage after saying why.
int check_output(const Options& o, const std::string& command, const std::string& output, const std::string& option) {
  std::vector<NamedPath> inputs;
  for (const auto& f : o.files) inputs.emplace_back("program", f);
  inputs.emplace_back("--events", o.events);
  inputs.emplace_back("--profiles", o.profiles);
  inputs.emplace_back("--state", o.state);
  std::string err;
  return check_output_not_input({option, output}, inputs, err) ? 0 : usage(command, err);
}

// The command's outputs (--out) against the files `program` was compiled from, its modules
// included (cli/io.h): the one check for the program a command starts with and for every program
// a hot reload swaps in, since a reloaded program may import a module the first one did not.
// False with the message.
bool outputs_not_source(const Options& o, const crm::CompiledProgram& program, std::string& err) {
  return check_output_not_source({"--out", o.out}, program, err);
}

// The exit code of a ledger that open_state did not open: 3 when it cannot be opened or read
// (a bad path, a directory, not a SQLite file, no permission, I/O: the store's messages for
// those begin "cannot ..."), as for any other file; 1 when an open ledger refuses (in use by
// another process, recorded by another program, rows crm never writes, a newer schema), as a
// problem of the inputs; 2 for a malformed spec (Input: unknown, `:memory:`, a `file:` URI, a
// bad max_pages; also another application's SQLite database named as the ledger), as for any
// bad argument; 3 for an internal error.
int state_open_exit(const crm::Error& e) {
  if (e.kind == crm::ErrorKind::Internal) return kExitIo;
  if (e.kind == crm::ErrorKind::Input) return kExitUsage;  // a malformed --state spec: a bad argument
  if (e.kind == crm::ErrorKind::State && e.message.rfind("cannot ", 0) == 0) return kExitIo;
  return kExitProblems;
}

// Compiles the sources (or loads one .crmc); returns 0 or the exit code after saying why.
int load(const Options& o, Loaded& l) {
  if (o.files.empty()) return usage_error("", "no program given");
  // A compiled program among other files would reach the compiler as a source (E0110, whose
  // help sends the user to this very command): say what is wrong here instead.
  if (std::string why = check_program_files(o.files, o.command); !why.empty()) return usage(o.command, why);
  std::string err;
  // --max-file-size bounds a compiled program too when given; else kMaxCompiledBytes.
  const size_t compiled_max = o.max_file_bytes ? o.max_file_bytes : kMaxCompiledBytes;
  if (o.files.size() == 1 && is_compiled_program(o.files[0])) {
    std::string bytes;
    bool too_large = false;
    if (!read_compiled(o.files[0], bytes, err, too_large, compiled_max)) {
      std::cerr << "crm: " << err << "\n";
      return too_large ? kExitProblems : kExitIo;
    }
    l.program = crm::load_compiled(bytes, err);
    if (!l.program.valid()) {
      std::cerr << "crm: " << o.files[0] << ": " << err << "\n";
      return kExitProblems;
    }
    return 0;
  }
  std::vector<crm::SourceInput> inputs;
  for (const auto& f : o.files) {
    if (f != "-") {
      inputs.push_back({f, std::nullopt});
      continue;
    }
    // Read only as far as either limit could need (a source's or a compiled program's), never
    // an endless stream; the compiler refuses a source over its own limit (E0105).
    const size_t source_max = o.max_file_bytes ? o.max_file_bytes : crm::Limits{}.max_file_bytes;
    std::string text;
    if (!read_input(f, text, err, std::max(source_max, compiled_max))) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
    // A compiled program on standard input is known by its magic number.
    if (text.rfind("CRMC", 0) == 0) {
      if (o.files.size() > 1) return usage(o.command, compiled_program_not_alone(f, o.command));
      if (text.size() > compiled_max) {
        std::cerr << "crm: " << compiled_too_large(f, compiled_max) << "\n";
        return kExitProblems;
      }
      l.program = crm::load_compiled(text, err);
      if (l.program.valid()) return 0;
      std::cerr << "crm: standard input: " << err << "\n";
      return kExitProblems;
    }
    inputs.push_back({"<stdin>", std::move(text)});
  }
  crm::CheckOptions options;
  options.include_dirs = o.includes;
  if (o.max_file_bytes) options.limits.max_file_bytes = o.max_file_bytes;
  if (o.max_nesting) options.limits.max_nesting = static_cast<uint32_t>(o.max_nesting);  // at most the cap (count)
  crm::CompileOutput out = crm::compile_sources(inputs, options);
  // Errors stop the command and are shown in full. Warnings are `crm check`'s to show: run,
  // audience and explain say once how many there are, so a conflict report is not repeated on
  // every run (issue 9 item 15).
  if (!out.diagnostics.ok()) {
    std::cerr << out.diagnostics.render_text(o.color);
    return out.error.kind == crm::ErrorKind::Internal ? kExitIo : kExitProblems;
  }
  if (size_t warnings = out.diagnostics.warning_count(); warnings > 0) {
    std::string files;
    for (const auto& dir : o.includes) files += " -I " + dir;
    for (const auto& f : o.files) files += " " + f;
    std::cerr << "crm: " << warnings << (warnings == 1 ? " warning" : " warnings") << " in the program; `crm check"
              << files << "` shows them\n";
  }
  if (out.error.kind == crm::ErrorKind::Input) {
    std::cerr << "crm: " << out.error.message << "\n";  // beyond a limit of the code generator
    return kExitProblems;
  }
  if (!out.error.ok()) {
    std::cerr << "crm: internal error: " << out.error.message << "\n";
    return kExitIo;
  }
  l.program = std::move(out.program);
  return 0;
}

bool parse_at(const std::string& text, int64_t& at) {
  if (!crm::parse_time(text, at)) {
    std::cerr << "crm: --at `" << text << "` is not an ISO-8601 time (e.g. 2011-12-09T12:50:00Z)"
              << crm::time_bound_note(text) << "\n";
    return false;
  }
  return true;
}

class Progress {
 public:
  Progress(size_t total_bytes, bool quiet) : tty_(!quiet && isatty(STDERR_FILENO)), total_(total_bytes) {}
  // `events()` says how many events so far; it is asked only when the bar is drawn.
  template <typename Count>
  void update(size_t bytes, Count&& events) {
    if (!tty_ || (++tick_ & 0x3fff) != 0) return;
    int pct = total_ ? static_cast<int>(100.0 * bytes / total_) : 0;
    int bar = pct / 4;
    std::cerr << fmt::format("\r[{}{}] {:3}% {} events", std::string(bar, '#'), std::string(25 - bar, ' '), pct, events())
              << std::flush;
  }
  void done() {
    if (tty_) std::cerr << "\r" << std::string(60, ' ') << "\r";
  }

 private:
  bool tty_;
  size_t total_ = 0, tick_ = 0;
};

// Reads profiles (JSON Lines, or CSV: crm::profiles_are_csv) into `target`: crm::Audience,
// crm::ExplainSession or crm::Run.
template <typename Target>
bool load_profiles(Target& target, const Options& o) {
  if (o.profiles.empty()) return true;
  InputFile file;
  std::string err;
  if (!file.open(o.profiles, err)) {
    std::cerr << "crm: " << err << "\n";
    return false;
  }
  std::istream& in = file.stream();
  // CSV by the name, `.csv` in any letter case; on standard input, by its first character.
  bool csv = crm::profiles_are_csv(o.profiles, o.profiles == "-" ? file.head(crm::profiles_head_decides) : std::string_view());
  size_t skipped = 0;
  bool ok = target.load_profiles(in, csv, [&](size_t line, const std::string& e) {
    // A read error, said below with its reason; or a graceful stop, which cut the input (the
    // record it cut is not a malformed one: it was never read whole).
    if (file.failed() || file.stopped()) return false;
    std::cerr << fmt::format("{}:{}: {}\n", input_name(o.profiles), line, e);
    ++skipped;
    return o.on_error != "stop";
  });
  if (file.stopped()) {
    g_profiles_stopped = true;
    return false;
  }
  if (file.failed()) {
    read_failed(file);
    return false;
  }
  if (!ok) return false;
  if (skipped) std::cerr << fmt::format("crm: skipped {} malformed profile record{}\n", skipped, skipped == 1 ? "" : "s");
  return true;
}

// Reads the events file in file order. `sink(line, error)` returns 1 to go on, 0 for a
// malformed line (with `error` saying why), -1 to stop cleanly; `skipped(error)` hears of each
// line skipped with --on-error=skip, `count()` says how many events so far (for the progress
// bar). Returns false when the run stops.
template <typename Sink, typename Skipped, typename Count>
bool read_events(const Options& o, Sink&& sink, Skipped&& skipped, Count&& count) {
  if (o.events.empty()) return true;
  InputFile file;
  std::string line, err;
  if (!file.open(o.events, err)) {
    std::cerr << "crm: " << err << "\n";
    return false;
  }
  std::istream& in = file.stream();
  Progress progress(file.size(), o.quiet);
  crm::LineReader lines(in);
  while (lines.next(line)) {
    size_t n = lines.line(), bytes = lines.bytes();
    if (line.empty()) continue;
    g_event_line = n;
    int verdict = sink(std::string_view(line), err);  // 1 continue, 0 error, -1 stop cleanly
    if (verdict < 0) break;
    if (verdict == 0) {
      std::cerr << fmt::format("{}{}:{}: {}\n", tty_clear(), input_name(o.events), n, err);
      if (o.on_error == "stop") {
        progress.done();
        std::cerr << "crm: stopped at the first malformed event (use --on-error=skip to skip such lines)\n";
        return false;
      }
      skipped(err);
    }
    progress.update(bytes, count);
  }
  progress.done();
  // A graceful stop cut the events (its flag tells the caller): the line it cut was not given on.
  if (file.stopped()) return true;
  if (lines.failed() || file.failed()) {  // not the end of the events: the rest was never read
    read_failed(file);
    return false;
  }
  return true;
}

// The events of a public API object (crm::Audience, crm::ExplainSession): add_event per line.
template <typename Target>
bool read_events_into(Target& target, const Options& o) {
  size_t events = 0;
  return read_events(
      o,
      [&](std::string_view line, std::string& err) {
        crm::Error e;
        if (target.add_event(line, e)) return ++events, 1;
        err = std::move(e.message);
        return 0;
      },
      [](const std::string&) {}, [&] { return events; });
}

}  // namespace

std::string tty_clear() { return isatty(STDERR_FILENO) ? "\r" : ""; }

// load(), then with --jit the same program as native code; a build without the JIT, or a
// machine LLVM cannot target, is an error (never a silent fallback to the VM).
int load_to_run(const Options& o, Loaded& l) {
  if (!o.jit && !o.jit_cache.empty()) return usage_error("", "--jit-cache needs --jit");
  // A --jit-cache that is no directory is a bad argument (exit 2), said before the program is read.
  if (std::string why; !crm::check_jit_cache_dir(o.jit_cache, why)) return usage_error("", "--jit-cache: " + why);
  if (int rc = load(o, l)) return rc;
  if (!o.jit) return 0;
  std::string err;
  crm::CompiledProgram native = l.program.with_jit(err, false, o.jit_cache);
  if (!native.valid()) {
    std::cerr << "crm: --jit: " << err << "\n";
    return 1;
  }
  l.program = native;
  return 0;
}

int cmd_compile(int argc, char** argv) {
  Options o;
  Command c("compile", "compile [-I DIR] FILE... (-o PROGRAM.crmc | --disasm | --emit-llvm)",
            "Checks and compiles the files to bytecode. -o writes a versioned, checksummed program that run\n"
            "and audience accept in place of the sources; --disasm prints the bytecode, its aggregates and the\n"
            "cost bound (instructions) of every unit; --emit-llvm prints the LLVM IR the JIT makes of every unit.");
  program_options(c, o);
  c.option("-o,--out", o.out, "FILE", "write the compiled program (.crmc) there");
  c.flag("--disasm", o.disasm, "print the bytecode");
  c.flag("--emit-llvm", o.emit_llvm, "print the optimised LLVM IR of every unit (needs a build with the JIT)");
  c.choice("--format", o.format, {"text", "json"}, "--disasm and the summary as text (default) or JSON");
  c.flag("-q,--quiet", o.quiet, "print no summary line");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  o.color = c.color();
  if (o.out.empty() && !o.disasm && !o.emit_llvm) return usage("compile", "compile needs -o FILE.crmc, --disasm or --emit-llvm");
  if (o.out == "-" && (o.disasm || o.emit_llvm))
    return usage("compile", "--disasm or --emit-llvm and -o - would both write to standard output");
  if (int rc = check_inputs(o)) return rc;
  if (int rc = check_output(o, "compile", o.out, "--out")) return rc;
  Loaded l;
  if (int rc = load(o, l)) return rc;
  if (std::string err; !outputs_not_source(o, l.program, err)) return usage("compile", err);
  if (o.disasm) std::cout << l.program.disassemble(o.format == "json");
  if (o.emit_llvm) {
    std::string ir, err;
    if (!l.program.emit_llvm(ir, err)) {
      std::cerr << "crm: --emit-llvm: " << err << "\n";
      return 1;
    }
    std::cout << ir;
  }
  if (!o.out.empty()) {
    std::string bytes = l.program.serialize();
    std::string err;
    OutputFile out;
    if (!out.open(o.out, OutputFile::Mode::Replace, err) || !out.stream().write(bytes.data(), bytes.size()) ||
        !out.finish(err)) {
      if (err.empty()) out.finish(err);
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
    if (o.quiet || o.out == "-") return 0;
    if (o.format == "json")
      std::cout << fmt::format("{{\"wrote\":{},\"bytes\":{},\"units\":{},\"cost_bound\":{}}}\n", crm::json_quote(o.out),
                               bytes.size(), l.program.unit_count(), l.program.cost_bound());
    else if (!o.disasm && !o.emit_llvm)
      std::cout << fmt::format("wrote {} ({} bytes, {} units, cost bound {} instructions)\n", o.out, bytes.size(),
                               l.program.unit_count(), l.program.cost_bound());
  }
  return 0;
}

namespace {
// Ends the process once `crm run` has written everything, without destroying the run: freeing
// each user's state was about 4 % of a run's instructions (session 22, docs/performance.md);
// the operating system takes the memory back at once (as clang's -disable-free). Standard
// output is flushed and checked as run_command does. Builds with AddressSanitizer return
// normally, so their leak check still sees the engine's destruction.
#if defined(__SANITIZE_ADDRESS__)
#define CRM_FREE_AT_EXIT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CRM_FREE_AT_EXIT 1
#endif
#endif
void exit_without_freeing(int status) {
#ifndef CRM_FREE_AT_EXIT
  std::string err;
  if (!flush_stdout(err)) {
    std::cerr << "crm: " << err << "\n";
    status = kExitIo;
  }
  std::cerr.flush();
  std::fflush(nullptr);
  std::_Exit(status);
#else
  (void)status;
#endif
}
}  // namespace

int cmd_run(int argc, char** argv) {
  Options o;
  Command c("run", "run FILE... --events E.jsonl [options]",
            "Replays events (JSON Lines, in time order up to --allowed-lateness) through the strategies and\nwrites one decision per "
            "line (granted, rejected with a reason, or control). See docs/runtime.md for the contract.");
  program_options(c, o);
  data_options(c, o, "no progress bar and no summary (errors and notes are still shown)");
  c.option("-o,--out", o.out, "FILE", "write decisions there instead of standard output");
  c.option("--state", o.state, "memory|sqlite:PATH",
           "record decisions in a durable ledger and continue from it (restartable);\none process writes a ledger at a time");
  c.flag("--allow-program-change", o.allow_program_change,
         "continue a ledger recorded by a program whose strategies differ\n(changed strategies keep their counters; see docs/semantics.md)");
  c.count("--commit-every", o.commit_every, "N", "units per durable commit (default 4096); decisions are reported after it\n(without --state: decisions are written every N)");
  c.count("--threads", o.threads, "N",
          "decide on N worker threads, each owning a share of the users (default 1);\nsee docs/scaling.md, \"Threads in one process\"");
  c.option("--allowed-lateness", o.lateness, "D",
           "how far events may be out of time order (0, 90s, 15m, 2h, 1d; default 0):\nolder events are errors (or skipped and counted with --on-error=skip)");
  c.option("--dedup-window", o.dedup_window, "D|forever",
           "with --state, how long a decided event's id is remembered (default 7d): a retry\nwithin D of the watermark is "
           "answered from the ledger, an older one refused as late\n(event ids must be unique within D; docs/semantics.md)");
  c.option("--until", o.until, "TIME",
           "after the last event, move the stream's clock to TIME: schedules and delayed\ntriggers' timers due by then run "
           "(default: the last event's time)");
  c.count("--max-pending-timers", o.max_timers, "N", "pending timers of delayed triggers in all (default: no limit)");
  c.count("--max-pending-timers-per-user", o.max_timers_per_user, "N", "pending timers per user (default: no limit)");
  c.option("--max-schedule-runs", o.max_schedule_runs, "N",
           "scheduled runs one event may bring due at once (default 100000; 0: no limit):\nan event further ahead is an "
           "error (or skipped with --on-error=skip)");
  c.option("--max-time-jump", o.max_time_jump, "D",
           "how far ahead of the stream's clock an event may be (default 366d; 0: no limit):\nan event further ahead "
           "(a typo such as 2062 for 2026) is an error (or skipped with\n--on-error=skip) and does not move the clock");
  c.choice("--format", o.format, {"text", "json"}, "the summary on stderr as a line of text (default) or one JSON object");
  c.choice("--reload-on", o.reload_on, {"SIGHUP"},
           "hot reload: on SIGHUP, read the program files again and swap the program in\nbefore the next event "
           "(docs/semantics.md, \"Hot reload\"); one thread only");
  jit_option(c, o);
  SharedCli shared;
  shared_options(c, shared, true);
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  o.color = c.color();
  std::string err;
  if (o.events.empty()) return usage("run", "run needs --events FILE.jsonl");
  if (!shared.url.empty() && o.state.empty()) return usage("run", "--shared needs --state (the process's own ledger)");
  // A memory ledger dies with the process: after Redis loses the counters, `crm shared reconcile`
  // has nothing of this process's grants to count, and the stock would be granted again.
  if (crm::StateSpec spec; !shared.url.empty() && crm::parse_state_spec(o.state, spec, err) && spec.memory)
    return usage("run", "--shared needs a durable ledger, --state sqlite:PATH: a `memory` state is lost with the process, "
                        "so no `crm shared reconcile` could count its grants after Redis loses the counters");
  if (std::string opt = shared.given_without_url(); !opt.empty())
    return usage("run", opt + " applies only to shared counters: give --shared redis://HOST:PORT too, or leave " + opt +
                            " out");
  // The address is checked here, with the other options, by the parser every --shared uses.
  if (!shared.url.empty() && !valid_shared_url(shared.url, err)) return usage("run", "--shared: " + err);
  Partition part;
  if (!shared.partition.empty() && !parse_partition(shared.partition, part, err)) return usage("run", "--partition: " + err);
  if (!o.reload_on.empty()) {
    if (o.threads > 1)
      return usage("run", "--reload-on needs one thread: with --threads every worker's engine would have to be quiesced "
                          "and rebuilt, which crm does not do");
    if (std::find(o.files.begin(), o.files.end(), "-") != o.files.end())
      return usage("run", "--reload-on reads the program files again: a program on standard input cannot be");
    // The handler goes in before anything slow (reading and compiling the program, opening the
    // ledger): SIGHUP's default action ends the process, and a signal sent while the program
    // compiles is a request like any other. It only sets the flag, so a signal now is a reload
    // queued before the first event (the files may have changed since they were read).
    struct sigaction sa {};
    sa.sa_handler = on_reload_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // a read waiting for the next event goes on waiting
    sigaction(SIGHUP, &sa, nullptr);
  }
  if (!o.events.empty()) {
    // Installed before anything slow, as SIGHUP's: without it SIGTERM (systemd, docker, k8s) and
    // Ctrl-C would end the run like kill -9, its last uncommitted group decided, reserved in the
    // shared counters and lost. No SA_RESTART: a read waiting for the next event is interrupted.
    g_main_thread = pthread_self();
    // Without the pipe (no descriptor left) the signal still interrupts a read (no SA_RESTART);
    // only a signal between the flag's check and the read would wait for the next line.
    open_stop_pipe();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGTERM, &sa, nullptr);
    sigaction(SIGINT, &sa, nullptr);
  }
  if (int rc = check_inputs(o)) return rc;
  if (int rc = check_output(o, "run", o.out, "--out")) return rc;
  Loaded l;
  if (int rc = load_to_run(o, l)) return rc;
  if (std::string err; !outputs_not_source(o, l.program, err)) return usage("run", err);
  crm::Run run(l.program);
  if (!o.lateness.empty()) {
    int64_t micros = 0;
    if (!crm::parse_duration(o.lateness, micros))
      return usage("run", "--allowed-lateness takes a duration such as 0, 90s, 15m, 2h or 1d" +
                              crm::duration_bound_note(o.lateness));
    run.set_allowed_lateness(micros);
  }
  if (!o.dedup_window.empty()) {
    int64_t micros = INT64_MAX;  // forever: every id is remembered (memory grows per event)
    crm::Error e;
    if (o.dedup_window != "forever" && !crm::parse_duration(o.dedup_window, micros))
      return usage("run", "--dedup-window takes a duration such as 90s, 15m, 2h or 7d, or `forever` (got `" + o.dedup_window +
                              "`)" + crm::duration_bound_note(o.dedup_window));
    if (!run.set_dedup_window(micros, e)) return usage("run", "--dedup-window: " + e.message);
  }
  int64_t until = 0;
  if (!o.until.empty() && !crm::parse_time(o.until, until))
    return usage("run", "--until takes a time such as 2026-11-12T00:00:00Z" + crm::time_bound_note(o.until));
  run.set_timer_limits(o.max_timers_per_user, o.max_timers);
  if (!o.max_schedule_runs.empty()) {
    const std::string& n = o.max_schedule_runs;
    if (n.size() > 15 || n.find_first_not_of("0123456789") != std::string::npos)
      return usage("run", "--max-schedule-runs takes a whole number (0: no limit), not `" + n + "`");
    run.set_max_schedule_runs(std::stoull(n));
  }
  if (!o.max_time_jump.empty()) {
    int64_t micros = 0;
    if (!crm::parse_duration(o.max_time_jump, micros) || micros < 0)
      return usage("run", "--max-time-jump takes a duration such as 30d, 366d or 2h (0: no limit), not `" + o.max_time_jump +
                              "`" + crm::duration_bound_note(o.max_time_jump));
    run.set_max_time_jump(micros);
  }
  if (o.threads > 1) {
    crm::Error e;
    if (!run.set_threads(o.threads, e)) {
      std::cerr << "crm: --threads " << o.threads << ": " << e.message << "\n";
      return e.kind == crm::ErrorKind::Internal ? kExitIo : kExitUsage;
    }
  }
  if (crm::Error e; !run.set_partition(part, e)) return usage("run", "--partition: " + e.message);
  if (!o.state.empty()) {
    crm::Error e;
    if (!shared.url.empty()) {
      // Stock and budget in Redis (docs/scaling.md); its notices (lost, back) go to stderr.
      SharedCounters sc = shared.counters();
      sc.on_notice = [](const std::string& m) { std::cerr << "crm: note: " << m << "\n"; };
      if (!run.share_counters(sc, e)) return usage("run", "--shared: " + e.message);
    }
    if (!run.open_state(o.state, o.allow_program_change, e)) {
      std::cerr << "crm: " << e.message << "\n";
      return state_open_exit(e);
    }
    for (const auto& n : run.state_notices()) std::cerr << "crm: note: " << n << "\n";
  }
  if (!o.reload_on.empty()) {
    crm::Error e;
    if (!run.enable_reload(e)) {
      std::cerr << "crm: --reload-on: " << e.message << "\n";
      return e.kind == crm::ErrorKind::Input ? kExitUsage : kExitIo;
    }
  }
  if (!load_profiles(run, o)) {
    if (!g_profiles_stopped) return stopped_reading(kExitProblems);
    // Stopped as while reading the events (exit 128 + the signal, a note): no event was read yet.
    std::cerr << fmt::format("crm: note: stopped by {} while reading the profiles ({}): no event was read and "
                             "nothing was decided (run again on the same input to go on)\n",
                             g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", input_name(o.profiles));
    return 128 + int(g_stop_signal);
  }
  OutputFile out;
  if (!out.open(o.out, OutputFile::Mode::Truncate, err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  // Test hook for the crash-recovery test: SIGKILL after deciding N units in this run.
  const char* kill_env = std::getenv("CRM_TEST_KILL_AFTER_UNITS");
  size_t kill_after = kill_env ? std::strtoull(kill_env, nullptr, 10) : 0;
  auto start = std::chrono::steady_clock::now();
  std::vector<std::string> decisions;
  // Decided but not yet durable, held back until commit: the lines as they will be written.
  std::string reported;
  size_t reported_lines = 0;
  size_t handed = 0;  // decision lines given to the output; out.lines_written() of them arrived
  bool store_failed = false;
  // An internal error's text, said once: the threaded Run's messages already begin with it.
  auto internal_text = [](const crm::Error& e) {
    return e.message.rfind("internal error", 0) == 0 ? e.message : "internal error: " + e.message;
  };
  auto state_failed = [&](const std::string& message) {
    std::cerr << "crm: " << message << "\ncrm: stopped; decisions after the last commit were not reported\n";
    store_failed = true;
    return false;
  };
  // Decisions are written only after their commit; a failed write stops the run at once.
  auto commit = [&] {
    crm::Error e;
    // An internal failure (e.g. out of memory) stops the run as a ledger failure does, but is
    // named as one, like every other internal error of this command.
    if (!run.commit(e)) return state_failed(e.kind == crm::ErrorKind::Internal ? internal_text(e) : e.message);
    out.stream().write(reported.data(), static_cast<std::streamsize>(reported.size()));
    handed += reported_lines;
    reported.clear();  // keeps its capacity: the next batch is written into the same buffer
    reported_lines = 0;
    return out.flush();
  };
  auto collect = [&] {
    for (const auto& d : decisions) reported.append(d) += '\n';
    reported_lines += decisions.size();
    decisions.clear();
    if (std::string state_error = run.state_error(); !state_error.empty()) return state_failed(state_error);
    if (kill_after && run.decided_units() >= kill_after) raise(SIGKILL);
    // Without a state nothing is durable to wait for: decisions go out every `commit_every`
    // lines rather than all at the end (which held every decision of the run in memory).
    if (o.state.empty()) return reported_lines < o.commit_every || commit();
    return run.pending_units() < o.commit_every || commit();
  };
  // A scheduled instant's parts (crm::Run::on_schedule_part) are written as they come without a
  // state, and with one committed and written once 16 x `commit_every` lines or 1 MiB of them
  // wait (a commit costs an fsync): the run's memory does not grow with an instant's audience,
  // and a restart after a kill mid-instant resumes after the last committed part. The bytes
  // bound the buffer the lines wait in (it keeps its capacity): 65,536 lines of retail.crm were
  // 13 MB (docs/performance.md §11, "Memory, session 13"); 1 MiB is about 5,600 of its lines, a
  // commit as often as `--commit-every 4096` events of ~1.8 decisions ("Memory, session 14").
  constexpr size_t kHeldPartBytes = size_t(1) << 20;
  run.on_schedule_part([&] {
    for (const auto& d : decisions) reported.append(d) += '\n';
    reported_lines += decisions.size();
    decisions.clear();
    if (store_failed || out.failed()) return;
    if (std::string state_error = run.state_error(); !state_error.empty()) {
      state_failed(state_error);
      return;
    }
    if (kill_after && run.decided_units() >= kill_after) raise(SIGKILL);
    if (o.state.empty() || reported_lines >= 16 * o.commit_every || reported.size() >= kHeldPartBytes) commit();
  });
  // A failure inside crm stops the command as an escaped exception would (cli/main.cc).
  auto internal = [&](const crm::Error& e) {
    std::cerr << "crm: " << internal_text(e) << "\n";
    return kExitIo;
  };
  bool internal_failure = false;
  crm::Error internal_error;
  // Hot reload, between two events: what is decided is committed and written, the program
  // files are read again, and the Run swaps the program in (or refuses, and the running program
  // goes on). False when the run must stop (the ledger or the output failed).
  size_t reloads = 0, reloads_refused = 0;
  auto reload = [&](const std::string& where) {
    g_reload_requested = 0;
    if (!commit()) return false;
    Loaded next;
    if (load_to_run(o, next) != 0) {  // its diagnostics are on stderr, as `crm check` renders them
      ++reloads_refused;
      std::cerr << "crm: reload " << where << " refused: the program does not compile; the running program goes on\n";
      return true;
    }
    // The new program's modules may include the output file, which the running program goes on
    // writing (and which was opened, truncated, when the run began): refused like a program that
    // does not compile, before anything is swapped, so the running program and its output go on.
    if (std::string why; !outputs_not_source(o, next.program, why)) {
      ++reloads_refused;
      std::cerr << "crm: reload " << where << " refused: " << why << "; the running program goes on\n";
      return true;
    }
    crm::Error e;
    auto began = std::chrono::steady_clock::now();
    if (!run.reload(next.program, o.allow_program_change, decisions, e)) {
      if (e.kind == crm::ErrorKind::Internal) {
        internal_failure = true, internal_error = e;
        return false;
      }
      if (e.kind == crm::ErrorKind::State) return state_failed(e.message);
      ++reloads_refused;
      std::cerr << "crm: reload " << where << ": " << e.message << "\n";
      return true;
    }
    ++reloads;
    std::cerr << fmt::format("crm: note: reloaded the program {} ({:.3f} s)\n", where,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count());
    for (const auto& n : run.state_notices()) std::cerr << "crm: note: " << n << "\n";
    return collect();
  };
  // The stream contract (docs/semantics.md, "Event order"): an event older than the watermark
  // is a FILE:LINE error, or a counted skip with --on-error=skip; held events are decided in
  // time order as the watermark passes them.
  bool ok = false;
  if (run.threads() > 1) {
    // Worker threads (docs/scaling.md, "Threads in one process"): the Run reads the stream and
    // hands on decisions once their group is durable, in input order.
    InputFile file;
    if (!file.open(o.events, err)) {
      std::cerr << "crm: " << err << "\n";
      return kExitIo;
    }
    crm::ReplayOptions ro;
    ro.stop_at_first_error = o.on_error == "stop";
    ro.batch_lines = o.commit_every;
    bool refused = false;
    crm::Error e;
    ok = run.replay_bytes(
        file.stream(), ro,
        [&](std::string_view lines, size_t count) {
          out.stream().write(lines.data(), static_cast<std::streamsize>(lines.size()));
          handed += count;
          if (kill_after && run.decided_units() >= kill_after) raise(SIGKILL);
          return out.flush();
        },
        [&](size_t line, const crm::Error& error) {
          refused = true;
          std::cerr << fmt::format("{}:{}: {}\n", input_name(o.events), line, error.message);
        },
        e);
    // A graceful stop cut the events: the Run read them as far as a read error (the line it cut
    // was not decided), and what it decided is durable; the stop is said below (exit 128 + the
    // signal). A line refused before the stop is still said as such.
    if (!ok && file.stopped() && !refused && e.kind == crm::ErrorKind::Input) ok = true;
    if (!ok) {
      if (e.kind == crm::ErrorKind::Internal) return internal(e);
      if (e.kind == crm::ErrorKind::State) state_failed(e.message);
      else if (file.failed()) read_failed(file);
      else if (refused) std::cerr << "crm: stopped at the first malformed event (use --on-error=skip to skip such lines)\n";
      else if (!out.failed()) std::cerr << "crm: " << e.message << "\n";
    }
  } else {
  ok = read_events(
      o,
      [&](std::string_view line, std::string& e) {
        if (g_stop_input) return -1;  // a graceful stop: this line (perhaps cut short) is not decided
        if (g_reload_requested && !reload(fmt::format("before {}:{}", input_name(o.events), g_event_line))) return -1;
        crm::Error error;
        bool r = run.add_event(line, reported, reported_lines, error);
        if (error.kind == crm::ErrorKind::Internal) {
          internal_failure = true, internal_error = error;
          return -1;
        }
        if (!collect()) return -1;
        if (r) return 1;
        e = std::move(error.message);
        return 0;
      },
      [&](const std::string& e) { run.skip_line(e); }, [&] { return run.stats().events; });
  }
  // A graceful stop is not the end of the input: the events held back for lateness, timers due
  // at the end and --until are left to the run that reads the rest (a restart on the same input
  // answers what this one committed from the ledger), exactly as after a commit and kill -9.
  const bool stopped = g_stop_input != 0;
  if (!internal_failure && ok && !store_failed && !stopped && g_reload_requested && !reload("at the end of the events"))
    ok = false;
  if (internal_failure) return internal(internal_error);
  if (ok && !store_failed && !stopped) {
    crm::Error e;
    if (!run.finish(decisions, e)) {
      if (e.kind == crm::ErrorKind::Internal) return internal(e);
      if (e.kind != crm::ErrorKind::State) std::cerr << "crm: " << e.message << "\n";
      ok = false;
    }
    collect();
    if (ok && !o.until.empty() && !store_failed && !run.advance_time(until, decisions, e)) {
      if (e.kind == crm::ErrorKind::Internal) return internal(e);
      if (e.kind != crm::ErrorKind::State) std::cerr << "crm: --until: " << e.message << "\n";
      ok = false;
    }
    collect();
  }
  if (!store_failed && !out.failed()) commit();
  std::string write_error;
  bool wrote_all = out.finish(write_error);
  size_t written = out.lines_written();
  if (!wrote_all)
    std::cerr << fmt::format("crm: {}\ncrm: stopped; {} of {} decided lines were written\n", write_error, written,
                             handed + reported_lines);
  int status = !wrote_all || store_failed || g_read_failed ? kExitIo : ok ? kExitOk : kExitProblems;
  if (stopped && status == kExitOk) {
    status = 128 + int(g_stop_signal);
    std::cerr << fmt::format("crm: note: stopped by {} after {} events: what was decided is committed{}; the rest of "
                             "the input was not read (run again on the same input to go on)\n",
                             g_stop_signal == SIGINT ? "SIGINT" : "SIGTERM", run.stats().events,
                             shared.url.empty() ? "" : " and the leases given back");
  }
  // Without a ledger nothing is left to close: the engine's memory (every user's state) is left
  // to the process's end rather than freed piece by piece (exit_without_freeing). Not with
  // --shared (a lease is given back to Redis on close) nor with a JIT cache (a background write
  // of the cache finishes on close).
  // With a ledger, once its last commit succeeded, the ledger is closed as the destructor would
  // (connection closed, WAL checkpointed, lock released) and then the rest is left the same way;
  // after a ledger failure, or with threads, the Run is destroyed as usual.
  auto done = [&](int st) {
    if (shared.url.empty() && o.jit_cache.empty()) {
      crm::Error e;
      if (o.state.empty() || o.state == "memory") exit_without_freeing(st);
      else if (!store_failed && run.threads() == 1 && run.pending_units() == 0 && run.close_state_and_abandon(e))
        exit_without_freeing(st);
    }
    return st;
  };
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const crm::RunStats st = run.stats();
  const std::string state = run.state_description();
  if (o.quiet) return done(status);  // -q: no summary (errors and notes are still said)
  if (o.format == "json") {
    std::string skipped, errors;
    for (const auto& [reason, n] : st.skipped_by_reason)
      skipped += fmt::format("{}{}:{}", skipped.empty() ? "" : ",", crm::json_quote(reason), n);
    for (const auto& [kind, n] : st.evaluation_errors_by_kind)
      errors += fmt::format("{}{}:{}", errors.empty() ? "" : ",", crm::json_quote(kind), n);
    std::cerr << fmt::format(
        "{{\"events\":{},\"users\":{},\"seconds\":{:.3f},\"decisions_written\":{},\"granted\":{},\"rejected\":{},"
        "\"control\":{},\"held\":{},\"redeemed\":{},\"redemptions_refused\":{},\"expired\":{},\"skipped\":{},"
        "\"skipped_by_reason\":{{{}}},\"evaluation_errors\":{},\"evaluation_errors_by_kind\":{{{}}},\"state\":{},"
        "\"write_error\":{},{}{}{}\"ok\":{},\"exit\":{}}}\n",
        st.events, st.users, secs, written, st.granted, st.rejected, st.control, st.held, st.redeemed,
        st.redemptions_refused, st.expired, st.skipped, skipped, st.evaluation_errors, errors,
        state.empty() ? "null" : crm::json_quote(state), wrote_all ? "null" : crm::json_quote(write_error),
        st.timers_armed + st.timers_pending
            ? fmt::format("\"timers\":{{\"armed\":{},\"cancelled\":{},\"fired\":{},\"pending\":{}}},", st.timers_armed,
                          st.timers_cancelled, st.timers_fired, st.timers_pending)
            : "",
        st.held_pending ? fmt::format("\"held_pending\":{},", st.held_pending) : "",
        reloads + reloads_refused ? fmt::format("\"reloads\":{{\"applied\":{},\"refused\":{}}},", reloads, reloads_refused)
                                  : "",
        status == kExitOk ? "true" : "false", status);
    return done(status);
  }
  if (!wrote_all) return done(status);  // the counts below would claim decisions that were not written
  std::cerr << fmt::format(
      "{} events ({} users) in {:.2f} s: {} decisions ({} granted, {} rejected, {} control{}{}); {} skipped, {} evaluation "
      "errors{}\n",
      st.events, st.users, secs, written, st.granted, st.rejected, st.control,
      st.held ? fmt::format(", {} held", st.held) : "",  // messages waiting for quiet hours to end
      st.redeemed + st.redemptions_refused + st.expired
          ? fmt::format(", {} redeemed, {} redemptions refused, {} expired", st.redeemed, st.redemptions_refused, st.expired)
          : "",
      st.skipped, st.evaluation_errors, state.empty() ? "" : "; state " + state);
  for (const auto& [reason, n] : st.skipped_by_reason) std::cerr << fmt::format("  skipped {}: {}\n", reason, n);
  for (const auto& [kind, n] : st.evaluation_errors_by_kind) std::cerr << fmt::format("  evaluation errors, {}: {}\n", kind, n);
  // Delayed triggers: timers still pending wait in the ledger (with --state) for a later run or --until.
  if (st.timers_armed + st.timers_pending)
    std::cerr << fmt::format("  timers: {} armed, {} cancelled, {} fired, {} pending at the end{}\n", st.timers_armed,
                             st.timers_cancelled, st.timers_fired, st.timers_pending,
                             st.timers_pending && state.empty() ? " (discarded: no --state)" : "");
  // Held messages likewise: never dropped without a word (their release is after the last event
  // or --until; with --state a later run sends them).
  if (st.held_pending)
    std::cerr << fmt::format("  held messages: {} held at the end, not released yet{}\n", st.held_pending,
                             state.empty() ? " (discarded: no --state)" : " (they wait in the ledger for a later run or --until)");
  if (reloads + reloads_refused)
    std::cerr << fmt::format("  reloads: {} applied, {} refused\n", reloads, reloads_refused);
  return done(status);
}

int cmd_audience(int argc, char** argv) {
  Options o;
  Command c("audience", "audience FILE... --events E.jsonl --at TIME [--profiles P] [--format text|json]",
            "Applies the events up to TIME (the file may be in any order) and counts, for every segment and\n"
            "every strategy's `who:`, the users that match at TIME (batch evaluation). For an event\n"
            "strategy, TIME stands for its trigger event arriving then: `user` is the user counted and\n"
            "`time` is TIME; a `who:` that reads any other event field is not counted (`-`, JSON null)\n"
            "and a note says which field. JSON output is {\"name\": count, ...}.");
  program_options(c, o);
  data_options(c, o);
  c.option("--at", o.at, "TIME", "evaluate at this ISO-8601 time");
  c.choice("--format", o.format, {"text", "json"}, "a table (default) or one JSON object");
  jit_option(c, o);
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  o.color = c.color();
  std::string err;
  if (o.at.empty()) return usage("audience", "audience needs --at TIME");
  int64_t at;
  if (!parse_at(o.at, at)) return kExitUsage;
  if (int rc = check_inputs(o)) return rc;
  Loaded l;
  if (int rc = load_to_run(o, l)) return rc;
  crm::Audience audience(l.program, at);
  if (!load_profiles(audience, o)) return stopped_reading(1);
  // Every line is read: the file need not be in time order. The events at or before the instant
  // are then applied in time order (ties by id), so any order of the file gives the same counts.
  if (!read_events_into(audience, o)) return stopped_reading(1);
  crm::Audience::Result result;
  crm::Error error;
  if (!audience.count(result, error)) {
    std::cerr << "crm: " << o.events << ": " << error.message << "\n";
    return 1;
  }
  const auto& counts = result.counts;
  // A strategy the audience cannot count (its `who:` reads its trigger event): no number at all,
  // rather than one that reads like a count.
  auto shown = [&](int64_t n, const char* none) {
    return n == crm::kAudienceNotCounted ? std::string(none) : std::to_string(n);
  };
  if (o.format == "json") {
    std::string s = "{";
    for (size_t i = 0; i < counts.size(); ++i)
      s += fmt::format("{}{}: {}", i ? ", " : "", crm::json_quote(counts[i].first), shown(counts[i].second, "null"));
    std::cout << s << "}\n";
  } else {
    std::cout << fmt::format("audience at {} over {} users\n", crm::format_time(at), result.users);
    size_t w = 0;
    for (auto& [n, c] : counts) w = std::max(w, n.size());
    for (size_t i = 0; i < counts.size(); ++i)
      std::cout << fmt::format("  {:<9} {:<{}}  {:>9}\n", i < result.segments ? "segment" : "strategy", counts[i].first, w,
                               shown(counts[i].second, "-"));
  }
  for (const auto& [name, field] : result.not_counted)
    std::cerr << fmt::format("note: strategy `{}` is not counted: its `who:` reads `{}` of its trigger event, "
                             "which an audience instant does not have\n",
                             name, field);
  if (result.evaluation_errors) {
    std::cerr << fmt::format("crm: {} evaluation errors counted as no match\n", result.evaluation_errors);
    for (const auto& [kind, n] : result.evaluation_errors_by_kind) std::cerr << fmt::format("  {}: {}\n", kind, n);
  }
  return 0;
}

int cmd_explain(int argc, char** argv) {
  Options o;
  Command c("explain", "explain FILE... --user U (--at TIME | --event ID) [--events E.jsonl] [--profiles P] [--format text|json]",
            "Shows what the engine decides for user U, strategy by strategy, and why: the window, each\n"
            "clause (the first failing part with its values, e.g. `who: count(Order within 90 days) = 1,\n"
            "needs >= 3`), the split, per-user limits with their counts, stock, budget, pacing and policies,\n"
            "then the decision of each action. It is the engine's own decision, made as a dry run.\n"
            "The events file may be in any order.");
  program_options(c, o);
  data_options(c, o);
  c.option("--user", o.user, "U", "the user to explain");
  c.option("--at", o.at, "TIME",
           "scheduled strategies as a run at TIME; event strategies against the user's latest\nevent of their type at or before TIME");
  c.option("--event", o.event, "ID", "the decision on that event (its strategies, at its time)");
  c.choice("--format", o.format, {"text", "json"}, "text (default) or one JSON object");
  jit_option(c, o);
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  o.color = c.color();
  std::string err;
  if (o.user.empty()) return usage("explain", "explain needs --user ID");
  if (o.at.empty() && o.event.empty()) return usage("explain", "explain needs --at TIME or --event ID");
  if (!o.at.empty() && !o.event.empty())
    return usage("explain", "--at and --event exclude each other: --event explains the decision on that event at its time, "
                            "--at the user at that time");
  crm::ExplainRequest req;
  req.user = o.user;
  req.event = o.event;
  if (!o.at.empty() && !parse_at(o.at, req.at_micros)) return kExitUsage;
  if (int rc = check_inputs(o)) return rc;
  Loaded l;
  if (int rc = load_to_run(o, l)) return rc;
  crm::ExplainSession session(l.program, req);
  if (!session.error().ok()) {
    std::cerr << "crm: cannot explain: " << session.error().message << "\n";
    return 1;
  }
  if (!load_profiles(session, o)) return stopped_reading(1);
  // Every event line is read (the file need not be in time order); the session keeps those at
  // or before the instant and replays them in time order.
  if (!read_events_into(session, o)) return stopped_reading(1);
  crm::Explanation r = session.finish();
  if (!r.ok) {
    std::cerr << "crm: " << r.error << "\n";
    return 1;
  }
  std::cout << (o.format == "json" ? r.json : r.text);
  return 0;
}

int cmd_import(int argc, char** argv) {
  // The Hillstrom test becomes a ledger as well, with options of its own (cli/report_command.cc).
  if (argc > 0 && std::strcmp(argv[0], "hillstrom") == 0) return cmd_import_hillstrom(argc - 1, argv + 1);
  Options o;
  Command c("import", "import online-retail|cdnow INPUT[.gz] [-o EVENTS.jsonl]",
            "Converts a public dataset to the event contract (one Order per invoice or row, exact amounts,\n"
            "sorted by time). Reads gzip or plain text. `crm import hillstrom --help`: the Hillstrom\n"
            "e-mail test as a ledger and events.");
  c.files(o.files);
  c.option("-o,--out", o.out, "FILE", "write the events there instead of standard output");
  if (int rc = c.parse(argc, argv); rc >= 0) return rc;
  std::string err;
  if (o.files.size() > 2)
    return usage("import", "import takes one input file, not " + std::to_string(o.files.size() - 1));
  if (o.files.size() != 2) return usage("import", "import needs a dataset (online-retail or cdnow) and an input file");
  const std::string& kind = o.files[0];
  if (kind != "online-retail" && kind != "cdnow")
    return usage("import", "unknown dataset `" + kind + "`: use online-retail, cdnow or hillstrom (`crm import hillstrom --help`)");
  const std::string& input = o.files[1];
  if (int rc = check_inputs(o, {input})) return rc;
  if (!check_output_not_input({"--out", o.out}, {{"the input", input}}, err)) return usage("import", err);
  std::string data;
  if (int rc = read_gzip_or_text(input, data, err)) {
    std::cerr << "crm: " << err << "\n";
    return rc;
  }
  std::istringstream in(data);
  // A temporary file beside the target, renamed over it only when the whole input converted: a
  // failed import (a bad row, a write error) leaves the previous events as they were.
  OutputFile out;
  if (!out.open(o.out, OutputFile::Mode::Replace, err)) {
    std::cerr << "crm: " << err << "\n";
    return kExitIo;
  }
  crm::ImportResult st = crm::import_purchases(kind, in, out.stream());
  // An output that failed (a full disk) is the reason the import stopped: exit 3 naming it.
  if (std::string write_error; !st.ok && !out.flush() && !out.finish(write_error)) {
    std::cerr << "crm: " << write_error << "\n";
    return kExitIo;
  }
  if (!st.ok) {
    if (st.error_line) std::cerr << fmt::format("{}:{}: {}\n", input_name(input), st.error_line, st.error);
    else std::cerr << "crm: " << input_name(input) << ": " << st.error << "\n";
    return kExitProblems;  // `out` is not finished: its temporary file goes, the target stays
  }
  std::string write_error;
  if (!out.finish(write_error)) {
    std::cerr << "crm: " << write_error << "\n";
    return kExitIo;
  }
  std::cerr << fmt::format("{} rows -> {} events, {} rows skipped", st.rows, st.events, st.skipped);
  for (const auto& [r, c] : st.skipped_by_reason) std::cerr << fmt::format(", {} {}", c, r);
  std::cerr << "\n";
  return 0;
}

}  // namespace crm::cli
