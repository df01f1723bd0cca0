// args.h - the one argument parser of every crm command (CLI11), its help layout and exit codes.
//
// A command declares each option in one line (name, variable, value name, help); the parser then
// accepts `--opt value` and `--opt=value`, rejects unknown options, and prints the help text
// (`crm help CMD` and `crm CMD --help`) from the same declarations.
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace crm::cli {

// Exit codes, the same for every command (documented in `crm --help` and README.md).
enum Exit : int {
  kExitOk = 0,       // success
  kExitProblems = 1, // the inputs have problems: diagnostics with errors, malformed data (a truncated
                     // .gz too), not formatted, a ledger that refuses (in use, another program)
  kExitUsage = 2,    // unknown command or option, missing or invalid argument, an output that is an input
  kExitIo = 3,       // a file cannot be read (a read error partway too) or written, a ledger cannot be
                     // opened or fails, or an internal error
};

class Command {
 public:
  // `usage` is the synopsis after "usage: crm "; `about` the paragraph under it.
  Command(std::string name, std::string usage, std::string about);
  ~Command();

  // Declarations: each returns the CLI11 option for further tuning (include <CLI/CLI.hpp>).
  CLI::Option* option(const std::string& names, std::string& dst, const std::string& value_name,
                      const std::string& help);
  CLI::Option* option(const std::string& names, std::vector<std::string>& dst, const std::string& value_name,
                      const std::string& help);
  CLI::Option* choice(const std::string& names, std::string& dst, std::initializer_list<const char*> choices,
                      const std::string& help);
  // A positive whole number, or with `zero` also 0 (for options where 0 means something, said in
  // their help: off, none, at once); with `max` > 0, at most `max` (a larger one is refused naming
  // the option and `max`, never cut to fit whatever the value is stored in).
  enum class Zero { Refused, Allowed };
  CLI::Option* count(const std::string& names, size_t& dst, const std::string& value_name, const std::string& help,
                     size_t max = 0, Zero zero = Zero::Refused);
  CLI::Option* flag(const std::string& names, bool& dst, const std::string& help);
  CLI::Option* files(std::vector<std::string>& dst);
  // Extra text printed after the options.
  void footer(std::string text) { footer_ = std::move(text); }

  // Parses argv (without the command name). Returns -1 to go on, otherwise the exit code to
  // return: 0 after printing the help, kExitUsage after printing the error.
  int parse(int argc, char** argv);
  std::string help() const;
  // Colour on stderr: --color always|never, or auto = a terminal and NO_COLOR unset or empty.
  bool color() const;
  const std::string& name() const { return name_; }

 private:
  std::string name_, usage_, about_, footer_, color_ = "auto";
  std::unique_ptr<CLI::App> app_;
  CLI::Option* color_option_ = nullptr;
};

// Whether `option` was on the command line (parse() has run).
bool given(const CLI::Option* option);

// "crm: MESSAGE" plus where to find the usage, on stderr; returns kExitUsage.
int usage_error(const std::string& command, const std::string& message);

}  // namespace crm::cli
