// overlap_data.cc - counts the users a data sample has in common between conflicting strategies.
#include "compiler/analysis/overlap_data.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <streambuf>

#include "compiler/codegen/codegen.h"
#include "runtime/engine/audience.h"
#include "runtime/engine/engine.h"
#include "support/civil_time.h"
#include "support/csv.h"
#include "support/line_reader.h"

namespace crm::analysis {

namespace {

std::string thousands(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

void data_error(diag::DiagnosticSink& sink, const std::string& path, size_t line, const std::string& err) {
  sink.report(diag::Code::E0109, source::Span{}, fmt::format("{}:{}: {}", path, line, err)).help =
      "the data given with --data must follow the program's schema (docs/runtime.md)";
}

// A stream over text the caller holds, without a copy.
class TextBuf : public std::streambuf {
 public:
  explicit TextBuf(const std::string& text) {
    char* p = const_cast<char*>(text.data());  // only read
    setg(p, p, p + text.size());
  }
};

// The data stream: "-" is standard input, as everywhere in crm (or the caller's copy of it,
// DataSample::stdin_text); a directory is an error, never an empty sample. Null after reporting
// why the file cannot be read.
std::istream* open_data(std::ifstream& file, std::optional<TextBuf>& text, std::optional<std::istream>& text_in,
                        const std::string& path, const DataSample& data, diag::DiagnosticSink& sink) {
  if (path == "-" && data.stdin_text) {
    text.emplace(*data.stdin_text);
    text_in.emplace(&*text);
    return &*text_in;
  }
  if (path == "-") return &std::cin;
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    sink.report(diag::Code::E0109, source::Span{}, fmt::format("cannot read data file `{}`: is a directory", path));
    return nullptr;
  }
  file.open(path, std::ios::binary);
  if (file) return &file;
  sink.report(diag::Code::E0109, source::Span{}, fmt::format("cannot read data file `{}`", path));
  return nullptr;
}

}  // namespace

void count_overlaps(const sema::Program& program, const std::vector<Conflict>& conflicts, const DataSample& data,
                    diag::DiagnosticSink& sink) {
  if (conflicts.empty() || data.empty()) return;
  codegen::Output gen = codegen::generate(program);
  if (!gen.error.empty()) return;
  const bytecode::Program& p = gen.program;
  engine::Engine eng(p);
  if (!data.profiles.empty()) {
    std::ifstream file;
    std::optional<TextBuf> text;
    std::optional<std::istream> text_in;
    std::istream* in = open_data(file, text, text_in, data.profiles, data, sink);
    if (!in) return;
    // The format by the name (`.csv` in any letter case); standard input has none, so it is told
    // by its first byte after a byte order mark and blank space, as `crm run --profiles -` does
    // (support/csv.h): read once, as it comes, not first into memory and then again.
    bool csv = support::profiles_are_csv(data.profiles);
    std::optional<support::SniffedProfiles> sniffed;
    if (data.profiles == "-") {
      sniffed.emplace(*in);
      csv = sniffed->csv();
      in = &sniffed->stream();
    }
    bool ok = eng.load_profiles(*in, csv, [&](size_t line, const std::string& err) {
      data_error(sink, data.profiles, line, err);
      return false;
    });
    if (!ok) return;
  }
  if (!data.events.empty()) {
    std::ifstream file;
    std::optional<TextBuf> text;
    std::optional<std::istream> text_in;
    std::istream* in = open_data(file, text, text_in, data.events, data, sink);
    if (!in) return;
    support::LineReader lines(*in);
    std::string line, err;
    engine::Event ev;
    while (lines.next(line)) {
      if (line.empty()) continue;
      if (!eng.parse_event(line, ev, err) || !eng.observe(ev, err)) {
        data_error(sink, data.events, lines.line(), err);
        return;
      }
    }
    if (lines.failed()) {  // not the end of the sample: counts over part of it would mislead
      data_error(sink, data.events, lines.line() + 1, "read error");
      return;
    }
  }
  int64_t fixed_at = INT64_MIN;
  if (!data.at.empty()) {
    auto t = support::parse_time(data.at, true);
    if (!t) {
      sink.report(diag::Code::E0109, source::Span{}, fmt::format("`--at {}` is not an ISO-8601 time{}", data.at,
                                                                  support::time_range_note(data.at, true)));
      return;
    }
    fixed_at = *t;
  }
  const std::string sample = data.profiles.empty() ? data.events : data.profiles;
  auto strategy = [&](const std::string& name) -> const bytecode::Strategy* {
    for (const auto& s : p.strategies) if (s.name == name) return &s;
    return nullptr;
  };
  auto index_of = [&](const bytecode::Strategy* s) { return static_cast<uint32_t>(s - p.strategies.data()); };
  const std::vector<std::string> users = eng.users();  // a copy per call: taken once
  for (const Conflict& c : conflicts) {
    const bytecode::Strategy* a = strategy(c.a);
    const bytecode::Strategy* b = strategy(c.b);
    if (!a || !b) continue;
    // By default, when the overlap begins (history can only be asked about from the last event on).
    int64_t at = fixed_at;
    if (at == INT64_MIN)
      at = std::max({a->has_window ? a->from : INT64_MIN, b->has_window ? b->from : INT64_MIN, eng.last_time()});
    if (at == INT64_MIN) at = 0;  // no events, no windows: predicates on `now()` see 1970
    // A `who:` that reads a field of its trigger event (other than `user` and `time`, which are
    // the user's and the instant's) has no value over a sample of users: as `crm audience`, it is
    // not counted, and the pair stays a warning rather than a made-up count of 0.
    std::string field_a = engine::unknown_trigger_field_name(p, *a), field_b = engine::unknown_trigger_field_name(p, *b);
    if (!field_a.empty() || !field_b.empty()) {
      const bool first = !field_a.empty();
      auto& d = sink.at(c.diagnostic);
      d.message += fmt::format("; not counted in `{}`: the `who:` of `{}` reads `{}` of its trigger event", sample,
                               first ? a->name : b->name, first ? field_a : field_b);
      continue;
    }
    int64_t both = 0, unknown = 0;
    for (const auto& user : users) {
      bool matched[2];
      bool ok = true;
      for (int k = 0; k < 2 && ok; ++k) {
        int64_t v = 1;
        std::string err;
        ok = eng.evaluate_who(index_of(k ? b : a), user, at, v, err);
        matched[k] = v != 0;
      }
      if (!ok) ++unknown;
      else both += matched[0] && matched[1];
    }
    auto& d = sink.at(c.diagnostic);
    d.message += fmt::format("; in `{}`, {} of {} users match both at {}", sample, thousands(both),
                             thousands(static_cast<int64_t>(users.size())), support::format_time(at));
    if (unknown) d.message += fmt::format(" ({} could not be evaluated)", thousands(unknown));
    // The text allows an overlap but the sample has none: worth knowing, not worth failing
    // `--deny-warnings` over. A pair we could not evaluate for some user stays a warning.
    if (both == 0 && unknown == 0 && !users.empty()) {
      d.severity = diag::Severity::Note;
      d.help = fmt::format("no user of `{}` matches both, so this is a note, not a warning; ", sample) + d.help;
    }
  }
}

}  // namespace crm::analysis
