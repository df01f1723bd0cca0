// args.cc - CLI11 behind crm's commands: declarations, parsing, errors and the help layout.
#include "cli/args.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

namespace crm::cli {
namespace {

constexpr size_t kHelpColumn = 25;

// Help lines "  -o, --out FILE         text", continuation lines indented to the text column.
std::string help_line(const std::string& left, const std::string& text) {
  std::string out = "  " + left;
  if (out.size() + 2 > kHelpColumn) out += "\n" + std::string(kHelpColumn, ' ');
  else out += std::string(kHelpColumn - out.size(), ' ');
  for (char c : text) {
    out += c;
    if (c == '\n') out += std::string(kHelpColumn, ' ');
  }
  return out + "\n";
}

std::string option_names(const CLI::Option* o) {
  std::string s;
  for (const auto& n : o->get_snames()) s += (s.empty() ? "-" : ", -") + n;
  for (const auto& n : o->get_lnames()) s += (s.empty() ? "--" : ", --") + n;
  if (!o->get_option_text().empty()) s += " " + o->get_option_text();
  return s;
}

}  // namespace

Command::Command(std::string name, std::string usage, std::string about)
    : name_(std::move(name)), usage_(std::move(usage)), about_(std::move(about)),
      app_(std::make_unique<CLI::App>(about_, "crm " + name_)) {
  app_->set_help_flag("-h,--help", "show this help");
  color_option_ = choice("--color", color_, {"auto", "always", "never"},
                         "colour on stderr; auto (default): when stderr is a terminal and\nNO_COLOR is unset or empty");
}

Command::~Command() = default;

CLI::Option* Command::option(const std::string& names, std::string& dst, const std::string& value_name,
                             const std::string& help) {
  return app_->add_option(names, dst, help)->option_text(value_name);
}

CLI::Option* Command::option(const std::string& names, std::vector<std::string>& dst, const std::string& value_name,
                             const std::string& help) {
  // One value per occurrence (`-I a -I b`, `-Ia`), never a greedy list that would eat the files.
  return app_->add_option(names, dst, help)
      ->option_text(value_name)
      ->expected(1)
      ->allow_extra_args(false)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
}

CLI::Option* Command::choice(const std::string& names, std::string& dst, std::initializer_list<const char*> choices,
                             const std::string& help) {
  std::vector<std::string> allowed(choices.begin(), choices.end());
  std::string text;
  for (const auto& c : allowed) text += (text.empty() ? "" : "|") + c;
  CLI::Validator v(
      [allowed, text](std::string& s) {
        return std::find(allowed.begin(), allowed.end(), s) != allowed.end() ? std::string()
                                                                              : "takes " + text + ", not `" + s + "`";
      },
      "");
  return app_->add_option(names, dst, help)->check(v)->option_text(text);
}

CLI::Option* Command::count(const std::string& names, size_t& dst, const std::string& value_name,
                            const std::string& help, size_t max, Zero zero) {
  CLI::Validator v(
      [max, zero](std::string& s) {
        bool digits = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
        size_t first = digits ? s.find_first_not_of('0') : 0;
        // Digits beyond 15 (leading zeros aside) are beyond any maximum and any size_t: too large.
        bool huge = digits && first != std::string::npos && s.size() - first > 15;
        if (digits && max > 0 && (huge || std::stoull(s) > max))
          return "takes at most " + std::to_string(max) + ", not `" + s + "`";
        if (zero == Zero::Allowed) return digits && !huge ? std::string() : "takes a whole number, not `" + s + "`";
        return digits && !huge && std::stoull(s) > 0 ? std::string() : "takes a positive whole number, not `" + s + "`";
      },
      "");
  return app_->add_option(names, dst, help)->check(v)->option_text(value_name);
}

CLI::Option* Command::flag(const std::string& names, bool& dst, const std::string& help) {
  return app_->add_flag(names, dst, help);
}

CLI::Option* Command::files(std::vector<std::string>& dst) { return app_->add_option("files", dst); }

int Command::parse(int argc, char** argv) {
  // CLI11 takes the arguments last-first.
  std::vector<std::string> args(argv, argv + argc);
  std::reverse(args.begin(), args.end());
  try {
    app_->parse(args);
  } catch (const CLI::CallForHelp&) {
    std::cout << help();
    return kExitOk;
  } catch (const CLI::ExtrasError& e) {
    std::string what = e.what();
    return usage_error(name_, "unexpected argument for `crm " + name_ + "`: " + what.substr(what.find(':') + 2));
  } catch (const CLI::ParseError& e) {
    // A single-valued option given more than once (CLI11: "--x: At Most 1 required but received
    // 2"): refused, never one of them picked silently, in crm's words with the values given.
    std::string what = e.what();
    if (auto colon = what.find(": At Most 1 required but received"); colon != std::string::npos) {
      std::string option = what.substr(0, colon), values;
      // An address may carry a password (redis://:PASSWORD@HOST): its values are not repeated.
      if (option.find("shared") == std::string::npos) try {
        for (const auto& v : app_->get_option(option)->results()) values += (values.empty() ? "`" : "`, `") + v;
      } catch (const CLI::Error&) {
      }
      return usage_error(name_, option + ": given more than once" + (values.empty() ? "" : " (" + values + "`)") +
                                    "; give it once");
    }
    return usage_error(name_, what);
  }
  return -1;
}

std::string Command::help() const {
  std::string out = "usage: crm " + usage_ + "\n";
  if (!about_.empty()) out += "\n" + about_ + "\n";
  out += "\noptions:\n";
  const CLI::Option* help_flag = app_->get_help_ptr();
  for (const CLI::Option* o : app_->get_options()) {
    if (!o->nonpositional() || o == help_flag || o == color_option_) continue;
    out += help_line(option_names(o), o->get_description());
  }
  out += help_line(option_names(color_option_), color_option_->get_description());
  out += help_line("-h, --help", "show this help");
  if (!footer_.empty()) out += "\n" + footer_;
  return out;
}

bool Command::color() const {
  if (color_ == "always") return true;
  if (color_ == "never") return false;
  const char* no_color = std::getenv("NO_COLOR");
  return isatty(STDERR_FILENO) && !(no_color && *no_color);
}

bool given(const CLI::Option* option) { return option->count() > 0; }

int usage_error(const std::string& command, const std::string& message) {
  std::cerr << "crm: " << message << "\nrun `crm help" << (command.empty() ? "" : " " + command) << "` for usage\n";
  return kExitUsage;
}

}  // namespace crm::cli
