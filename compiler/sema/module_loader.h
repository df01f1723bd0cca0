// module_loader.h - finds, reads and parses every module a compilation needs.
//
// Roots are the files named on the command line; `import a.b` is looked up among the roots by
// declared module name, then as a/b.crm beside the importing file, then under the importing
// module's root (see module_root), then in each include directory; `std.*` comes from the embedded stdlib. Missing modules, unreadable files, two
// files claiming one module name and import cycles are all diagnostics.
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/parse/parser.h"
#include "compiler/sema/program.h"

namespace crm::sema {

struct LoadOptions {
  std::vector<std::string> include_dirs;
  parse::ParseOptions parse;
  size_t max_modules = 1000;
};

// The file of module `a.b` relative to a directory: `a/b.crm`; nullopt unless `dotted` is a
// module name (names of letters, digits and `_`, joined by single dots), the only text a path may
// be made of. What error recovery keeps of a malformed `import ../x` is `../x`, which became
// `///x.crm`: an absolute path that replaced the directory it was joined to, so the loader looked
// for (and would have read) a file anywhere on the machine, `///tmp/x.crm`.
std::optional<std::string> module_file(const std::string& dotted);

// The directory a dotted module name implies for its file: for `module shop.campaigns` in
// `x/shop/campaigns.crm`, `x` (the parent of `shop/`), where `import shop.schema` finds
// `x/shop/schema.crm`. Empty when the name has no dot or the path does not end in the name's
// components (a mismatched name keeps its own diagnostics; imports then resolve beside the file).
std::string module_root(const std::string& path, const std::string& declared_name);

class ModuleLoader {
 public:
  ModuleLoader(Program& program, diag::DiagnosticSink& sink, const LoadOptions& options);

  void add_root_file(const std::string& path);
  // In-memory text named `path`; its module name is `module_name` unless it declares one (empty:
  // the stem of `path`). `in_memory`: imports are not looked for beside it on disk, only among
  // the roots, the standard library and the include directories (an embedder's module map).
  void add_root_source(const std::string& path, std::string text, const std::string& module_name = "",
                       bool in_memory = false);
  // Resolves imports transitively; afterwards every ModuleInfo::imports target is set or reported.
  void resolve();

  bool syntax_ok() const { return syntax_ok_; }

 private:
  ModuleInfo* add_module(source::FileId file, bool is_std, const std::string& implied_name);
  ModuleInfo* find_or_load(const ModuleInfo& from, const ast::Import& imp);
  void check_cycles();

  Program& program_;
  diag::DiagnosticSink& sink_;
  const LoadOptions& options_;
  bool syntax_ok_ = true;
  std::map<std::string, ModuleInfo*> by_name_;
  std::map<std::string, ModuleInfo*> by_path_;
  std::set<const ModuleInfo*> in_memory_;
};

}  // namespace crm::sema
