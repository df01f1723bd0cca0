// compile_helpers.h - shared by the runtime tests: compile .crm text or files in process
// (front end + codegen + verify), and small helpers for feeding JSON event lines to an engine.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "compiler/codegen/codegen.h"
#include "compiler/diag/renderer.h"
#include "compiler/driver.h"
#include "bytecode/program.h"
#include "runtime/engine/engine.h"
#include "runtime/state/state_store.h"
#include "support/civil_time.h"

namespace crm::testing {

struct Compiled {
  std::unique_ptr<Compilation> front;
  codegen::Output out;  // front->code, moved out
  std::string diagnostics;  // rendered, empty when clean
  bool ok = false;
  const bytecode::Program& program() const { return out.program; }
  int segment_unit(const std::string& name) const {
    for (const auto& s : out.program.segments)
      if (s.name == name) return static_cast<int>(s.unit);
    return -1;
  }
};

// Compiles `inputs` (path + optional text); ok when the check has no errors, code generation
// succeeded and the result verifies.
inline Compiled compile_inputs(const std::vector<Input>& inputs) {
  Compiled c;
  DriverOptions o;
  o.generate = true;
  c.front = compile(inputs, o);
  const auto& diags = c.front->sink.diagnostics();
  if (!diags.empty()) c.diagnostics = diag::render_text(diags, c.front->program.sources, {false});
  if (c.front->sink.has_errors()) return c;
  c.out = std::move(c.front->code);
  if (!c.front->codegen_error.empty()) {
    c.diagnostics += "codegen: " + c.front->codegen_error + "\n";
    return c;
  }
  if (!c.front->verify_error.empty()) {
    c.diagnostics += "verify: " + c.front->verify_error + "\n";
    return c;
  }
  // Warnings (e.g. W0105 for strategies that deliberately tie on priority) are allowed;
  // errors, codegen failures and verification failures are not.
  c.ok = true;
  for (const auto& d : diags)
    if (d.severity == diag::Severity::Error) c.ok = false;
  return c;
}

inline Compiled compile_text(const std::string& text) { return compile_inputs({{"test.crm", text}}); }

inline int64_t T(const char* iso) {
  auto t = support::parse_time(iso, true);
  EXPECT_TRUE(t.has_value()) << iso;
  return t.value_or(0);
}

// An engine over a compiled program with helpers that fail the test on malformed input.
struct Harness {
  explicit Harness(const Compiled& c) : engine(c.program()) {}
  engine::Engine engine;
  std::vector<engine::Decision> decisions;

  engine::Event parse(const std::string& line) {
    engine::Event ev;
    std::string err;
    EXPECT_TRUE(engine.parse_event(line, ev, err)) << line << ": " << err;
    return ev;
  }
  // Parses and processes one line; returns the decisions it produced.
  std::vector<engine::Decision> process(const std::string& line) {
    engine::Event ev = parse(line);
    std::vector<engine::Decision> out;
    std::string err;
    EXPECT_TRUE(engine.process(ev, out, err)) << line << ": " << err;
    decisions.insert(decisions.end(), out.begin(), out.end());
    return out;
  }
  // The same, as the JSON lines a caller reports.
  std::vector<std::string> feed(const std::string& line) {
    std::vector<std::string> json;
    for (const auto& d : process(line)) json.push_back(engine.decision_json(d));
    return json;
  }
  void observe(const std::string& line) {
    engine::Event ev = parse(line);
    std::string err;
    EXPECT_TRUE(engine.observe(ev, err)) << line << ": " << err;
  }
  // Evaluates a segment for a user; `ok` false on a runtime fault.
  int64_t segment(const Compiled& c, const std::string& name, const std::string& user, int64_t now) {
    int u = c.segment_unit(name);
    EXPECT_GE(u, 0) << "no segment " << name;
    if (u < 0) return -1;
    int64_t v = 0;
    std::string err;
    EXPECT_TRUE(engine.evaluate(static_cast<uint32_t>(u), user, now, v, err)) << name << ": " << err;
    return v;
  }
};

// Every decision line of `events`, fed in order to a fresh engine on its own memory ledger: what a
// run restarted (or reloaded) part-way must equal.
inline std::vector<std::string> uninterrupted_run(const Compiled& c, const std::vector<std::string>& events) {
  state::MemoryStore store;
  Harness run(c);
  std::string err;
  EXPECT_TRUE(run.engine.attach(&store, err)) << err;
  std::vector<std::string> out;
  for (const auto& e : events)
    for (auto& d : run.feed(e)) out.push_back(d);
  return out;
}

}  // namespace crm::testing
