// golden_test.cc - golden files for every front-end stage, plus the generated diagnostics doc.
//
//   tests/golden/check/NAME.crm   -> NAME.err    exact rendered diagnostics of `crm check`
//   tests/golden/parse/NAME.crm   -> NAME.out    the AST dump
//   tests/golden/format/NAME.crm  -> NAME.out    the formatted text
//   tests/golden/disasm/NAME.crm  -> NAME.out    the bytecode (`crm compile --disasm`)
//   tests/golden/run/NAME.crm + NAME.events.jsonl -> NAME.out
//                                 decision lines and the summary of `crm run` (time masked);
//                                 NAME.profiles.jsonl, if any, is --profiles, and NAME.args, if
//                                 any, holds more `crm run` options (calendar_periods: its leap
//                                 days come 699 days after its 2026 events, on purpose, so it
//                                 passes --max-time-jump 0)
//   tests/golden/explain/NAME.crm + NAME.events.jsonl + NAME.args -> NAME.out
//                                 `crm explain` output; NAME.args holds `--user U --at T`
// Run with CRM_UPDATE_GOLDEN=1 to rewrite the expected files (then review the diff).
// docs/diagnostics.md is generated from diagnostics.def and the check goldens; this test fails
// when it is stale, and rewrites it in update mode.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <cstdio>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include <crm/check.h>
#include <crm/runtime.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compiler/ast/ast_dump.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/driver.h"
#include "compiler/codegen/codegen.h"
#include "compiler/parse/parser.h"
#include "bytecode/builtins.h"
#include "bytecode/program.h"
#include "runtime/engine/decision.h"
#include "runtime/engine/json_line.h"

namespace fs = std::filesystem;

namespace {

bool update_mode() {
  const char* v = std::getenv("CRM_UPDATE_GOLDEN");
  return v && *v && std::string(v) != "0";
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write(const fs::path& p, const std::string& s) {
  std::ofstream out(p, std::ios::binary);
  out << s;
}

// Paths relative to the source root, so expected output does not depend on the checkout.
struct InRoot {
  fs::path old;
  InRoot() : old(fs::current_path()) { fs::current_path(CRM_SOURCE_DIR); }
  ~InRoot() { fs::current_path(old); }
};

std::vector<fs::path> cases(const std::string& stage) {
  std::vector<fs::path> out;
  fs::path dir = fs::path(CRM_SOURCE_DIR) / "tests/golden" / stage;
  if (!fs::exists(dir)) return out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".crm") out.push_back(fs::relative(e.path(), CRM_SOURCE_DIR));
  std::sort(out.begin(), out.end());
  return out;
}

void compare(const fs::path& expected_path, const std::string& actual) {
  fs::path full = fs::path(CRM_SOURCE_DIR) / expected_path;
  if (update_mode()) {
    write(full, actual);
    return;
  }
  ASSERT_TRUE(fs::exists(full)) << expected_path << " is missing; run with CRM_UPDATE_GOLDEN=1";
  EXPECT_EQ(read(full), actual) << "golden mismatch for " << expected_path;
}

// Runs the real `crm` binary from the source root (so paths in messages are relative) and
// returns its stdout followed by its stderr.
std::string run_crm(const std::string& args) {
  fs::path tmp = fs::temp_directory_path() / ("crm_golden_" + std::to_string(::getpid()));
  std::string cmd = std::string("'") + CRM_BINARY + "' " + args + " >'" + tmp.string() + ".out' 2>'" + tmp.string() + ".err'";
  int rc = std::system(cmd.c_str());
  std::string out = read(tmp.string() + ".out") + read(tmp.string() + ".err");
  fs::remove(tmp.string() + ".out");
  fs::remove(tmp.string() + ".err");
  if (rc != 0) out += "[exit status " + std::to_string(WIFEXITED(rc) ? WEXITSTATUS(rc) : -1) + "]\n";
  return out;
}

std::string sibling(const fs::path& p, const std::string& ext) {
  fs::path q = p;
  q.replace_extension(ext);
  return q.string();
}

// A case may set limits on its first line, so limit diagnostics are tested with small files:
//   // check-options: max_file_bytes=200 max_nesting=8
// or a data sample for `--data` (paths from the repository root): data=P data_events=E at=T
crm::CheckOptions options_for(const fs::path& p) {
  crm::CheckOptions o;
  std::ifstream in(p);
  std::string first;
  std::getline(in, first);
  const std::string tag = "// check-options:";
  if (first.rfind(tag, 0) != 0) return o;
  std::istringstream words(first.substr(tag.size()));
  std::string w;
  while (words >> w) {
    auto eq = w.find('=');
    std::string key = w.substr(0, eq);
    std::string text = w.substr(eq + 1);
    if (key == "data") { o.data_profiles = text; continue; }
    if (key == "data_events") { o.data_events = text; continue; }
    if (key == "at") { o.data_at = text; continue; }
    size_t value = std::stoull(text);
    if (key == "max_file_bytes") o.limits.max_file_bytes = value;
    else if (key == "max_nesting") o.limits.max_nesting = static_cast<uint32_t>(value);
    else if (key == "max_errors") o.limits.max_errors = value;
    else if (key == "max_decl_depth") o.limits.max_decl_depth = static_cast<uint32_t>(value);
    else if (key == "max_code_depth") o.limits.max_code_depth = static_cast<uint32_t>(value);
    else if (key == "max_conflict_warnings") o.limits.max_conflict_warnings = value;
    else ADD_FAILURE() << p << ": unknown check option " << key;
  }
  return o;
}

std::string check_output(const fs::path& p) {
  crm::CheckResult r = crm::check_files({p.string()}, options_for(p));
  return r.render_text(false);
}

}  // namespace

TEST(Golden, Check) {
  InRoot root;
  auto all = cases("check");
  ASSERT_FALSE(all.empty());
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    fs::path err = p;
    err.replace_extension(".err");
    compare(err, check_output(p));
  }
}

TEST(Golden, Parse) {
  InRoot root;
  for (const auto& p : cases("parse")) {
    SCOPED_TRACE(p.string());
    crm::Compilation c(100);
    auto id = c.program.sources.add(p.string(), read(p));
    auto* m = crm::parse::parse_module(c.program.sources.file(id), c.program.ast, c.sink);
    fs::path out = p;
    out.replace_extension(".out");
    compare(out, c.sink.has_errors() ? "syntax errors\n" : crm::ast::dump(*m));
  }
}

TEST(Golden, Format) {
  InRoot root;
  for (const auto& p : cases("format")) {
    SCOPED_TRACE(p.string());
    auto r = crm::format_source(p.string(), read(p));
    ASSERT_TRUE(r.ok) << r.diagnostics.render_text();
    fs::path out = p;
    out.replace_extension(".out");
    compare(out, r.text);
  }
}

// Every code in diagnostics.def has at least one golden case that produces it, and the check
// goldens are named after the code they exercise (E0401_mismatch.crm).
TEST(Golden, EveryDiagnosticCodeIsCovered) {
  InRoot root;
  std::set<std::string> produced;
  for (const auto& p : cases("check")) {
    crm::CheckResult r = crm::check_files({p.string()}, options_for(p));
    for (const auto& d : r.diagnostics()) produced.insert(d.code);
  }
  for (const auto& c : crm::diag::all_codes())
    EXPECT_TRUE(produced.count(c.name)) << "no golden test in tests/golden/check produces " << c.name;
}

// docs/diagnostics.md: one section per code with its summary and the first golden example.
TEST(Golden, DiagnosticsDocIsCurrent) {
  InRoot root;
  std::map<std::string, fs::path> example;
  for (const auto& p : cases("check")) {
    std::string stem = p.stem().string();
    std::string code = stem.substr(0, stem.find('_'));
    if (!example.count(code)) example[code] = p;
  }
  std::string doc =
      "# Diagnostics\n\n"
      "<!-- Generated by tests/golden_test.cc from compiler/diag/diagnostics.def and\n"
      "     tests/golden/check/*.crm. Regenerate with CRM_UPDATE_GOLDEN=1 ctest -R Golden. -->\n\n"
      "Every diagnostic has a stable code. Codes starting with `E` are errors (the program is\n"
      "rejected); codes starting with `W` are warnings (reported, but the program is accepted\n"
      "unless `--deny-warnings` is given). `crm codes` lists them; `crm check --format json`\n"
      "reports them as `code`, `severity`, `message`, `file`, `line`, `column`, `end_line`,\n"
      "`end_column`, `help` and `related`.\n\n"
      "| code | severity | meaning |\n|---|---|---|\n";
  for (const auto& c : crm::diag::all_codes())
    doc += std::string("| [") + c.name + "](#" + c.name + ") | " + crm::diag::severity_name(c.severity) + " | " +
           c.title + " |\n";
  for (const auto& c : crm::diag::all_codes()) {
    doc += std::string("\n## ") + c.name + "\n\n" + c.title + ".\n";
    auto it = example.find(c.name);
    if (it == example.end()) continue;
    doc += "\nExample (`" + it->second.string() + "`):\n\n```crm\n" + read(it->second) + "```\n\n```text\n" +
           check_output(it->second) + "```\n";
  }
  compare("docs/diagnostics.md", doc);
}

TEST(Golden, Disassembly) {
  InRoot root;
  auto all = cases("disasm");
  ASSERT_FALSE(all.empty());
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    crm::DriverOptions o;
    o.generate = true;
    auto front = crm::compile({{p.string(), std::nullopt}}, o);
    ASSERT_TRUE(front->sink.diagnostics().empty()) << p;
    ASSERT_EQ(front->codegen_error, "");
    ASSERT_EQ(front->verify_error, "");
    std::string text = crm::bytecode::disassemble(front->code.program);
    // The CLI prints the same text.
    EXPECT_EQ(run_crm("compile --disasm " + p.string()), text);
    compare(sibling(p, ".out"), text);
  }
}

// A run scenario's profiles, when it has them: NAME.profiles.jsonl; and its other options,
// NAME.args (the API tests apply them with tests/unit/golden_run_args.h).
static std::string profiles_of(const std::filesystem::path& p) {
  std::string f = sibling(p, ".profiles.jsonl");
  std::string out = std::filesystem::exists(f) ? " --profiles " + f : "";
  if (std::string args = sibling(p, ".args"); std::filesystem::exists(args)) {
    std::string text = read(args);
    std::replace(text.begin(), text.end(), '\n', ' ');
    out += " " + text;
  }
  return out;
}

TEST(Golden, Run) {
  InRoot root;
  auto all = cases("run");
  ASSERT_FALSE(all.empty());
  static const std::regex kSeconds(R"( in [0-9]+\.[0-9]+ s:)");
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    std::string out = run_crm("run " + p.string() + " --events " + sibling(p, ".events.jsonl") + profiles_of(p));
    compare(sibling(p, ".out"), std::regex_replace(out, kSeconds, " in X s:"));
  }
}

// The same programs and events through the JIT's native code: the same decisions, byte for byte.
TEST(Golden, RunWithJit) {
  if (!crm::jit_available()) GTEST_SKIP() << "built without the JIT";
  InRoot root;
  auto all = cases("run");
  ASSERT_FALSE(all.empty());
  static const std::regex kSeconds(R"( in [0-9]+\.[0-9]+ s:)");
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    std::string out = run_crm("run --jit " + p.string() + " --events " + sibling(p, ".events.jsonl") + profiles_of(p));
    compare(sibling(p, ".out"), std::regex_replace(out, kSeconds, " in X s:"));
  }
  // And `crm compile --emit-llvm` prints the IR the JIT compiles.
  std::string ir = run_crm("compile --emit-llvm " + all.front().string());
  EXPECT_NE(ir.find("define"), std::string::npos) << ir.substr(0, 400);
  EXPECT_NE(ir.find("@crm_unit_0"), std::string::npos);
}

TEST(Golden, Explain) {
  InRoot root;
  auto all = cases("explain");
  ASSERT_FALSE(all.empty());
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    std::string args = read(sibling(p, ".args"));
    args.erase(std::remove(args.begin(), args.end(), '\n'), args.end());
    ASSERT_FALSE(args.empty()) << "missing " << sibling(p, ".args");
    std::string out = run_crm("explain " + p.string() + " --events " + sibling(p, ".events.jsonl") + " " + args);
    compare(sibling(p, ".out"), out);
  }
}

// The explain goldens through the JIT (`crm explain --jit`): the same explanations, byte for byte.
TEST(Golden, ExplainWithJit) {
  if (!crm::jit_available()) GTEST_SKIP() << "built without the JIT";
  InRoot root;
  auto all = cases("explain");
  ASSERT_FALSE(all.empty());
  for (const auto& p : all) {
    SCOPED_TRACE(p.string());
    std::string args = read(sibling(p, ".args"));
    args.erase(std::remove(args.begin(), args.end(), '\n'), args.end());
    std::string out = run_crm("explain --jit " + p.string() + " --events " + sibling(p, ".events.jsonl") + " " + args);
    EXPECT_EQ(out, read(sibling(p, ".out")));
  }
}

// A generated table between `<!-- BEGIN NAME: generated by tests/golden_test.cc from SOURCE;`
// and `<!-- END NAME -->` in `doc_path`: compared with `table` (the rows, after that marker),
// rewritten in update mode.
static void compare_generated(const std::string& doc_path, const std::string& name, const std::string& source,
                              const std::string& table) {
  const std::string begin = "<!-- BEGIN " + name + ": generated by tests/golden_test.cc from " + source + ";";
  const std::string end = "<!-- END " + name + " -->";
  std::string doc = read(doc_path);
  size_t b = doc.find(begin), e = doc.find(end);
  ASSERT_NE(b, std::string::npos) << doc_path << " lacks the marker " << begin;
  ASSERT_NE(e, std::string::npos) << doc_path << " lacks the marker " << end;
  compare(doc_path, doc.substr(0, b) + begin + " regenerate with CRM_UPDATE_GOLDEN=1 ctest -R Docs -->\n\n" +
                        table + doc.substr(e));
}

// docs/language.md's table of built-in functions is generated from bytecode/builtins.def (the
// table the checker resolves calls against): one row per function with its typed overloads.
TEST(Docs, BuiltinReferenceIsCurrent) {
  InRoot root;
  std::string table =
      "| Function | Overloads (typed signatures) | Meaning | Folded when constant |\n|---|---|---|---|\n";
  for (const auto& f : crm::bytecode::all_builtins()) {
    std::string sigs, folded;
    for (const auto* o : f.overloads()) {
      if (!sigs.empty()) sigs += "<br>";
      sigs += "`" + o->signature() + "`";
      if (*o->description) sigs += std::string(": ") + o->description;
      std::string fo = o->fold ? "yes" : "no";
      if (folded.empty()) folded = fo;
      else if (folded != fo) folded = "partly";
    }
    table += std::string("| `") + f.name + "` | " + sigs + " | " + f.description + " | " + folded + " |\n";
  }
  table += "\n";
  compare_generated("docs/language.md", "builtins", "bytecode/builtins.def", table);
}

// "granted, rejected" -> {granted, rejected}: the outcomes column of decisions.def.
static std::vector<std::string> outcome_list(const std::string& text) {
  std::vector<std::string> out;
  for (size_t i = 0; i < text.size();) {
    size_t j = text.find(", ", i);
    if (j == std::string::npos) j = text.size();
    out.push_back(text.substr(i, j - i));
    i = j + 2;
  }
  return out;
}

// docs/semantics.md's table of outcomes and reasons is generated from runtime/engine/decisions.def
// (the table the engine's enums, the JSON decision stream and the ledger's names come from).
TEST(Docs, DecisionTableIsCurrent) {
  InRoot root;
  std::string table = "| outcome | meaning |\n|---|---|\n";
  for (const auto& o : crm::engine::all_outcomes()) table += std::string("| `") + o.name + "` | " + o.meaning + " |\n";
  table += "\n| reason | carried by | meaning |\n|---|---|---|\n";
  for (const auto& r : crm::engine::all_reasons()) {
    std::string by;
    for (const auto& o : outcome_list(r.outcomes)) by += (by.empty() ? "`" : ", `") + o + "`";
    table += std::string("| `") + r.name + "` | " + by + " | " + r.meaning + " |\n";
  }
  table += "\nThe members of a record, in the order they are written:\n\n| member | carried by | meaning |\n|---|---|---|\n";
  for (const auto& f : crm::engine::all_fields()) {
    std::string by = f.outcomes == std::string("every") ? "every record" : "";
    for (const auto& o : by.empty() ? outcome_list(f.outcomes) : std::vector<std::string>{})
      by += (by.empty() ? "`" : ", `") + o + "`";
    table += std::string("| `") + f.name + "` | " + by + " | " + f.meaning + " |\n";
  }
  table += "\n";
  compare_generated("docs/semantics.md", "decisions", "runtime/engine/decisions.def", table);
}

// The decision records the run goldens hold (every kind of record crm writes, 750 and more) are
// read member by member against decisions.def's CRM_FIELD table: each member is a row of it,
// carried only by the outcomes its row lists, and every row is met at least once (a row no
// record carries would document a member that does not exist).
TEST(Docs, EveryRecordMemberIsInTheFieldTable) {
  InRoot root;
  std::map<std::string, std::set<std::string>> allowed;  // key -> outcomes; empty: every
  for (const auto& f : crm::engine::all_fields()) {
    auto& set = allowed[f.name];
    if (f.outcomes != std::string("every"))
      for (const auto& o : outcome_list(f.outcomes)) set.insert(o);
  }
  std::set<std::string> outcomes;
  for (const auto& o : crm::engine::all_outcomes()) outcomes.insert(o.name);
  std::set<std::string> met;
  size_t records = 0;
  for (const auto& entry : fs::recursive_directory_iterator("tests/golden")) {
    if (entry.path().extension() != ".out") continue;
    std::istringstream lines(read(entry.path()));
    std::string line;
    for (int n = 1; std::getline(lines, line); ++n) {
      if (line.rfind("{\"event\":", 0) != 0) continue;
      std::vector<crm::engine::JsonMember> members;
      std::string error;
      ASSERT_TRUE(crm::engine::parse_json_object(line, members, error)) << entry.path() << ":" << n << ": " << error;
      ++records;
      std::string outcome;
      for (const auto& m : members)
        if (m.key == "outcome") outcome = m.value.text;
      EXPECT_TRUE(outcomes.count(outcome)) << entry.path() << ":" << n << ": outcome `" << outcome << "`";
      for (const auto& m : members) {
        auto it = allowed.find(m.key);
        if (it == allowed.end()) {
          ADD_FAILURE() << entry.path() << ":" << n << ": member `" << m.key << "` is not in decisions.def";
          continue;
        }
        EXPECT_TRUE(it->second.empty() || it->second.count(outcome))
            << entry.path() << ":" << n << ": member `" << m.key << "` in a `" << outcome << "` record";
        met.insert(m.key);
      }
    }
  }
  EXPECT_GT(records, 500u);
  for (const auto& [key, _] : allowed) EXPECT_TRUE(met.count(key)) << "no golden record carries `" << key << "`";
}

// docs/language.md documents every built-in function of bytecode/builtins.def.
TEST(Docs, EveryBuiltinIsDocumented) {
  InRoot root;
  std::string doc = read("docs/language.md");
  for (const auto& b : crm::bytecode::all_builtins())
    EXPECT_NE(doc.find(std::string("`") + b.name + "("), std::string::npos) << b.name << " is missing from docs/language.md";
}
