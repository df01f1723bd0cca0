// parser.h - text of one .crm file -> ast::Module, with syntax errors as diagnostics.
//
// Wraps the ANTLR-generated lexer and parser (built from grammar/Crm.g4 at build time) so that
// no ANTLR type leaks past compiler/parse/. Parsing recovers from errors and reports several in
// one run; limits on input size and nesting depth turn hostile input into diagnostics instead of
// stack overflows.
#pragma once

#include <cstddef>
#include <cstdint>

#include "compiler/ast/ast.h"
#include "compiler/diag/diagnostic.h"
#include "compiler/source/source_manager.h"

namespace crm::parse {

struct ParseOptions {
  size_t max_file_bytes = 1 << 20;  // 1 MiB
  uint32_t max_nesting = 128;       // expression nesting levels (at most kMaxNesting)
  // Larger values count as this: the deepest nesting the generated parser and the recursive
  // passes after it are tested to survive (tests/unit/parser_test.cc, NestingCapIsSafe).
  static constexpr uint32_t kMaxNesting = 2000;
};

// Always returns a module (possibly partial). Syntax errors go to `sink`; the caller compares
// the sink's error count before and after to know whether the tree is trustworthy.
ast::Module* parse_module(const source::SourceFile& file, ast::AstContext& ctx, diag::DiagnosticSink& sink,
                          const ParseOptions& options = {});

}  // namespace crm::parse
