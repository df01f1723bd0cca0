// driver.cc - load + parse + check + analyses (+ codegen + verify), in that order.
#include "compiler/driver.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <regex>
#include <set>

#include "bytecode/program.h"
#include "compiler/analysis/conflicts.h"
#include "compiler/analysis/never_deliver.h"
#include "compiler/analysis/overlap_data.h"
#include "compiler/sema/checker.h"

namespace crm {

namespace {

// The `import` of a root module through which `target` is loaded (breadth first: the shortest
// chain from the first root that reaches it), or null when no root imports it.
const ast::Import* import_reaching(const std::vector<const sema::ModuleInfo*>& roots, const sema::ModuleInfo* target) {
  for (const auto* root : roots) {
    for (const auto& first : root->imports) {
      if (!first.target) continue;
      std::set<const sema::ModuleInfo*> seen{root};
      std::vector<const sema::ModuleInfo*> todo{first.target};
      while (!todo.empty()) {
        const auto* m = todo.back();
        todo.pop_back();
        if (!seen.insert(m).second) continue;
        if (m == target) return first.import;
        for (const auto& imp : m->imports)
          if (imp.target) todo.push_back(imp.target);
      }
    }
  }
  return nullptr;
}

// Regroups the errors located in imported modules as one E0210 at the root's `import` line per
// imported module, each real error a note (LSP: related information) at its place. A standard
// module is correct by itself; its errors mean the program's schema lacks what it needs (std.rfm
// sums `Order.amount`, which the user's `event Order` supplies), so the help says that.
void attribute_import_errors(Compilation& c, const std::vector<const sema::ModuleInfo*>& roots, ImportErrors mode) {
  std::map<source::FileId, const sema::ModuleInfo*> module_of;
  for (const auto& m : c.program.modules)
    if (m.ast) module_of[m.ast->file] = &m;
  std::set<const sema::ModuleInfo*> root_set(roots.begin(), roots.end());
  struct Group {
    const ast::Import* at;
    std::vector<const diag::Diagnostic*> errors;
  };
  std::vector<Group> groups;
  std::vector<diag::Diagnostic> kept;
  bool changed = false;
  for (const auto& d : c.sink.diagnostics()) {
    const sema::ModuleInfo* m = nullptr;
    if (d.severity == diag::Severity::Error && d.span.valid())
      if (auto it = module_of.find(d.span.file); it != module_of.end()) m = it->second;
    const ast::Import* at = nullptr;
    if (m && !root_set.count(m) && (m->is_std || mode == ImportErrors::AllAtImport)) at = import_reaching(roots, m);
    if (!at) {
      kept.push_back(d);
      continue;
    }
    changed = true;
    auto g = std::find_if(groups.begin(), groups.end(), [&](const Group& x) { return x.at == at; });
    if (g == groups.end()) {
      groups.push_back({at, {}});
      g = groups.end() - 1;
    }
    g->errors.push_back(&d);
  }
  if (!changed) return;
  static const std::regex no_field(R"(^event `([A-Za-z_0-9]+)` has no field `([A-Za-z_0-9]+)`)");
  for (const auto& g : groups) {
    const sema::ModuleInfo* first = module_of.at(g.errors.front()->span.file);
    bool std_module = std::all_of(g.errors.begin(), g.errors.end(),
                                  [&](const diag::Diagnostic* e) { return module_of.at(e->span.file)->is_std; });
    // Notes: one per distinct message (std.rfm sums `Order.amount` four times: one note).
    std::vector<diag::Label> notes;
    std::map<std::string, size_t> count;
    for (const auto* e : g.errors)
      if (count[e->message]++ == 0) notes.push_back({e->span, e->message});
    for (auto& n : notes)
      if (size_t k = count[n.message]; k > 1) n.message += fmt::format(" (and {} more like it)", k - 1);
    std::string msg = fmt::format("errors in imported module `{}`: {}", g.at->path, g.errors.front()->message);
    if (g.errors.size() > 1) msg += fmt::format(" ({} errors)", g.errors.size());
    diag::Diagnostic w{diag::Code::E0210, diag::Severity::Error, g.at->span, msg, "", notes};
    std::smatch sm;
    const std::string& m0 = g.errors.front()->message;
    if (std_module && std::regex_search(m0, sm, no_field))
      w.help = fmt::format("`{}` needs field `{}` of event `{}` from your schema: declare it, e.g. `event {} {{ {}: ... }}` "
                           "(the module's documentation names its type)",
                           first->name, sm[2].str(), sm[1].str(), sm[1].str(), sm[2].str());
    else if (std_module)
      w.help = fmt::format("`{}` needs declarations from your program's schema; the notes show what is missing",
                           first->name);
    else
      w.help = "fix the errors in the imported module (the notes show where)";
    kept.push_back(std::move(w));
  }
  c.sink.replace(std::move(kept));
}

// Whether `word` occurs in `text` as a whole identifier.
bool has_word(std::string_view text, std::string_view word) {
  auto ident = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'; };
  for (size_t at = text.find(word); at != std::string_view::npos; at = text.find(word, at + 1))
    if ((at == 0 || !ident(text[at - 1])) && (at + word.size() >= text.size() || !ident(text[at + word.size()])))
      return true;
  return false;
}

// DriverOptions::check_after_syntax_errors: the checker ran over the tree the parser rebuilt, and
// what it found where the parser had to repair the text is about names the recovery made up
// (`<missing ID>`, an empty field name, the next declaration's name swallowed into a half-typed
// expression: tester F18), not about what the user wrote. `crm check` shows the syntax errors
// alone (it does not check such a tree); this keeps the checker's findings where the text
// parsed, and drops (diagnostics `from` on are the checker's):
// - those located in a damaged region: from the start of a declaration holding a syntax error to
//   the next declaration the parser found (an error at a declaration's first token damages the
//   one before it too: that one ended too early; an error before the first declaration damages
//   the module's head);
// - elsewhere, an unknown name (value, function, type, event or field) that is written in text
//   the parser's recovery skipped or repaired (ast::Module::repaired): the declaration it lost
//   there may be the one declaring it. Only there: a name merely used in the damaged
//   declaration (`segment s = foo >` while typing) says nothing about a `foo` elsewhere, and
//   that one's E0204 is real.
void drop_findings_in_repaired_code(Compilation& c, size_t from) {
  const auto& all = c.sink.diagnostics();
  // Per file, the declarations' starts (region boundaries), and the damaged regions as [begin, end).
  std::map<source::FileId, std::vector<uint32_t>> starts;
  for (const auto& m : c.program.modules) {
    if (!m.ast || m.ast->file == source::kNoFile) continue;
    auto& v = starts[m.ast->file];
    v.push_back(0);
    for (const auto* d : m.ast->decls)
      if (d && d->span.valid() && d->span.file == m.ast->file) v.push_back(d->span.begin);
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
  }
  std::map<source::FileId, std::vector<std::pair<uint32_t, uint32_t>>> damaged;
  for (size_t i = 0; i < from && i < all.size(); ++i) {
    const auto& d = all[i];
    // Lexing and parsing errors (not a module not found, nor a limit).
    if (d.code != diag::Code::E0101 && d.code != diag::Code::E0102 && d.code != diag::Code::E0103 &&
        d.code != diag::Code::E0104 && d.code != diag::Code::E0106 && d.code != diag::Code::E0113)
      continue;
    if (!d.span.valid()) continue;
    auto it = starts.find(d.span.file);
    if (it == starts.end()) continue;
    const auto& v = it->second;
    const auto size = static_cast<uint32_t>(c.program.sources.file(d.span.file).text().size());
    size_t k = static_cast<size_t>(std::upper_bound(v.begin(), v.end(), d.span.begin) - v.begin()) - 1;
    auto region = [&](size_t j) { return std::make_pair(v[j], j + 1 < v.size() ? v[j + 1] : size + 1); };
    damaged[d.span.file].push_back(region(k));
    if (k > 0 && v[k] == d.span.begin) damaged[d.span.file].push_back(region(k - 1));
  }
  bool any_repaired = false;
  for (const auto& m : c.program.modules) any_repaired |= m.ast && !m.ast->repaired.empty();
  if (damaged.empty() && !any_repaired) return;
  auto in_damaged = [&](source::Span s) {
    if (!s.valid()) return false;
    auto it = damaged.find(s.file);
    if (it == damaged.end()) return false;
    for (auto& [b, e] : it->second)
      if (s.begin >= b && s.begin < e) return true;
    return false;
  };
  auto written_in_repaired = [&](std::string_view name) {
    for (const auto& m : c.program.modules) {
      if (!m.ast || m.ast->file == source::kNoFile) continue;
      std::string_view text = c.program.sources.file(m.ast->file).text();
      for (const auto& r : m.ast->repaired)
        if (r.begin < text.size() && has_word(text.substr(r.begin, std::min<size_t>(r.end, text.size()) - r.begin), name))
          return true;
    }
    return false;
  };
  std::vector<diag::Diagnostic> kept;
  bool dropped = false;
  for (size_t i = 0; i < all.size(); ++i) {
    const auto& d = all[i];
    bool drop = false;
    if (i >= from) {
      if (in_damaged(d.span)) drop = true;
      else if (d.span.valid() && (d.code == diag::Code::E0204 || d.code == diag::Code::E0410 || d.code == diag::Code::E0301 ||
                                  d.code == diag::Code::E0303 || d.code == diag::Code::E0304 || d.code == diag::Code::E0415)) {
        std::string_view text = c.program.sources.file(d.span.file).text();
        if (d.span.end <= text.size() && d.span.end > d.span.begin)
          drop = written_in_repaired(text.substr(d.span.begin, d.span.end - d.span.begin));
      }
    }
    if (drop) dropped = true;
    else kept.push_back(d);
  }
  if (dropped) c.sink.replace(std::move(kept));
}

}  // namespace

const sema::SemanticModel& Compilation::model() const {
  if (!model_) model_ = std::make_unique<sema::SemanticModel>(program);
  return *model_;
}

std::unique_ptr<Compilation> compile(const std::vector<Input>& inputs, const DriverOptions& options) {
  auto c = std::make_unique<Compilation>(options.max_errors);
  sema::ModuleLoader loader(c->program, c->sink, options.load);
  std::vector<const sema::ModuleInfo*> roots;
  for (const auto& in : inputs) {
    size_t before = c->program.modules.size();
    if (in.text) loader.add_root_source(in.path, *in.text, in.module, !in.module.empty());
    else loader.add_root_file(in.path);
    if (c->program.modules.size() > before && !in.imported) roots.push_back(&c->program.modules[before]);
  }
  loader.resolve();
  c->syntax_ok = loader.syntax_ok();
  // A tree rebuilt after syntax errors has holes; checking it would bury the real error under
  // follow-on ones, so by default semantic analysis waits until the syntax is right.
  if ((c->syntax_ok || options.check_after_syntax_errors) && !c->sink.full()) {
    const size_t before_check = c->sink.diagnostics().size();
    sema::check_program(c->program, c->sink, options.max_decl_depth);
    c->checked = true;
    if (!c->syntax_ok) drop_findings_in_repaired_code(*c, before_check);
    if (!c->sink.has_errors()) {
      analysis::check_never_deliver(c->program, c->sink);
      if (options.conflicts) {
        analysis::ConflictOptions co;
        co.max_warnings = options.max_conflict_warnings;
        auto conflicts = analysis::check_strategy_conflicts(c->program, c->sink, co);
        analysis::count_overlaps(c->program, conflicts, options.data, c->sink);
      }
    }
  }
  attribute_import_errors(*c, roots, options.import_errors);
  c->sink.sort();
  if (options.generate && c->checked && !c->sink.has_errors()) {
    c->code = codegen::generate(c->program, options.codegen);
    if (!c->code.error.empty()) {
      c->codegen_error = c->code.error;
      std::string unit = c->code.error_unit.empty() ? "" : " (compiling `" + c->code.error_unit + "`)";
      auto& d = c->sink.report(diag::Code::E0112, c->code.error_span, c->code.error + unit);
      // Not every command takes --max-code-depth (check does), and it can only lower the cap.
      d.help = "every use of a segment, constant or function is compiled in place: shorten the chains of them or "
               "split the expression (or, for a construct not compiled yet, write it another way); the depth limit "
               "is at most 2000";
      const auto& in = c->code.error_inner_span;
      if (in.valid() && (in.file != c->code.error_span.file || in.begin != c->code.error_span.begin ||
                         in.end != c->code.error_span.end))
        d.secondary.push_back({c->code.error_inner_span, "the code generator was here, inlined into it, when it stopped"});
      c->sink.sort();
    } else if (!bytecode::verify(c->code.program, c->verify_error) && c->verify_error.empty())
      c->verify_error = "the generated program does not verify";
    c->generated = c->codegen_error.empty() && c->verify_error.empty();
  }
  return c;
}

}  // namespace crm
