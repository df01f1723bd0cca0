// fuzz_check.cc - fuzz entry point for parse + check + format.
//
// Properties checked on every input: nothing crashes or throws (also when the partial tree left
// by syntax errors is checked, as the language server does, and its semantic model is queried at
// every position), and when a file formats, the formatter is idempotent and preserves the syntax
// tree.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <crm/check.h>

#include "compiler/ast/ast_dump.h"
#include "compiler/driver.h"
#include "compiler/parse/parser.h"

namespace {

std::string dump_of(const std::string& text) {
  crm::Compilation c(100);
  auto id = c.program.sources.add("fuzz.crm", text);
  auto* m = crm::parse::parse_module(c.program.sources.file(id), c.program.ast, c.sink);
  return c.sink.has_errors() ? std::string("<errors>") : crm::ast::dump(*m);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  crm::CheckOptions opts;
  opts.limits.max_file_bytes = 64 * 1024;
  opts.limits.max_nesting = 64;
  // Imports resolve against a directory that does not exist, so inputs cannot read files.
  crm::CheckResult r = crm::check_source("/nonexistent/fuzz.crm", text, opts);
  for (const auto& d : r.diagnostics())
    if (d.code == "internal") {
      std::fprintf(stderr, "internal error: %s\n", d.message.c_str());
      std::abort();
    }
  (void)r.render_text();
  (void)r.render_json();

  // What an editor does with a half-typed file: check the partial tree and query the model.
  crm::DriverOptions d;
  d.load.parse.max_file_bytes = opts.limits.max_file_bytes;
  d.load.parse.max_nesting = opts.limits.max_nesting;
  d.check_after_syntax_errors = true;
  auto c = crm::compile({{"/nonexistent/fuzz.crm", text}}, d);
  if (c->checked) {
    const auto& model = c->model();
    for (crm::source::FileId f = 0; f < c->program.sources.size(); ++f) {
      uint32_t n = static_cast<uint32_t>(c->program.sources.file(f).text().size());
      for (uint32_t off = 0; off <= n; off += 1 + n / 64) {
        (void)model.at(f, off);
        (void)model.scope_at(f, off);
      }
    }
    for (crm::sema::SymbolId s = 0; s < model.symbols().size(); ++s) (void)model.references(s);
  }

  crm::FormatResult f = crm::format_source("fuzz.crm", text, opts.limits);
  if (f.ok) {
    crm::FormatResult g = crm::format_source("fuzz.crm", f.text, opts.limits);
    if (!g.ok || g.text != f.text) {
      std::fprintf(stderr, "format is not idempotent\n--- first\n%s\n--- second\n%s\n", f.text.c_str(), g.text.c_str());
      std::abort();
    }
    // Comment-bearing declarations are kept verbatim, so only compare trees when both parse.
    std::string a = dump_of(text), b = dump_of(f.text);
    if (a != b) {
      std::fprintf(stderr, "format changed the tree\n--- before\n%s\n--- after\n%s\n", a.c_str(), b.c_str());
      std::abort();
    }
  }
  return 0;
}
