// module_loader.cc - module search, loading and import-cycle detection.
#include "compiler/sema/module_loader.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "stdlib/stdlib.h"

namespace crm::sema {

namespace fs = std::filesystem;

namespace {

bool read_file(const std::string& path, std::string& out, std::string& error, size_t limit) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) { error = "is a directory"; return false; }
  std::ifstream in(path, std::ios::binary);
  if (!in) { error = std::strerror(errno); return false; }
  // Read at most limit+1 bytes: enough for the parser to report the size limit, never more.
  // In chunks, so a small file costs its own size and not the limit (a buffer sized to the
  // limit kept 64 MiB per module with --max-file-size 64MiB).
  out.clear();
  char chunk[1 << 16];
  while (out.size() <= limit && in) {
    size_t want = std::min(sizeof chunk, limit + 1 - out.size());
    in.read(chunk, static_cast<std::streamsize>(want));
    out.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (in.bad()) { error = "read error"; return false; }
  return true;
}

std::string stem_name(const std::string& path) { return fs::path(path).stem().string(); }

}  // namespace

std::optional<std::string> module_file(const std::string& dotted) {
  auto letter = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  std::string rel;
  bool start = true;  // at the start of a name
  for (char c : dotted) {
    if (c == '.') {
      if (start) return std::nullopt;  // `.a`, `a..b`
      rel += '/';
      start = true;
    } else if (letter(c) || (!start && digit(c))) {
      rel += c;
      start = false;
    } else {
      return std::nullopt;
    }
  }
  if (start) return std::nullopt;  // empty, or `a.`
  return rel + ".crm";
}

std::string module_root(const std::string& path, const std::string& declared_name) {
  if (declared_name.find('.') == std::string::npos) return {};
  std::vector<std::string> parts;
  for (size_t b = 0;;) {
    size_t e = declared_name.find('.', b);
    parts.push_back(declared_name.substr(b, e == std::string::npos ? std::string::npos : e - b));
    if (e == std::string::npos) break;
    b = e + 1;
  }
  fs::path p = fs::path(path).lexically_normal();
  // A relative path too short to hold the package directories: compare against the absolute one.
  if (std::distance(p.begin(), p.end()) < static_cast<std::ptrdiff_t>(parts.size())) {
    std::error_code ec;
    p = fs::absolute(p, ec).lexically_normal();
    if (ec) return {};
  }
  if (p.extension() != ".crm" || p.stem().string() != parts.back()) return {};
  fs::path dir = p.parent_path();
  for (size_t i = parts.size() - 1; i-- > 0;) {
    if (dir.filename().string() != parts[i]) return {};
    dir = dir.parent_path();
  }
  return dir.empty() ? std::string(".") : dir.string();
}

ModuleLoader::ModuleLoader(Program& program, diag::DiagnosticSink& sink, const LoadOptions& options)
    : program_(program), sink_(sink), options_(options) {
  const auto* prelude = stdlib::find_module("std.prelude");
  if (prelude) {
    auto id = program_.sources.add(prelude->path, prelude->source);
    if (auto* m = add_module(id, true, "std.prelude")) m->is_prelude = true;
  }
}

ModuleInfo* ModuleLoader::add_module(source::FileId file, bool is_std, const std::string& implied_name) {
  if (program_.modules.size() >= options_.max_modules) {
    sink_.report(diag::Code::E0105, {}, fmt::format("more than {} modules in one program", options_.max_modules));
    return nullptr;
  }
  size_t before = sink_.error_count();
  const auto& sf = program_.sources.file(file);
  // The embedded stdlib is trusted and fixed; user limits apply to user files only.
  parse::ParseOptions po = options_.parse;
  if (is_std) po = parse::ParseOptions{};
  ast::Module* m = parse::parse_module(sf, program_.ast, sink_, po);
  if (sink_.error_count() != before) syntax_ok_ = false;
  auto& info = program_.modules.emplace_back();
  info.ast = m;
  info.path = sf.path();
  info.is_std = is_std;
  info.name = m->name.empty() ? implied_name : m->name;
  if (auto it = by_name_.find(info.name); it != by_name_.end()) {
    auto& d = sink_.report(diag::Code::E0206, m->name.empty() ? source::Span{file, 0, 0} : m->name_span,
                           fmt::format("module `{}` is declared by two files", info.name));
    d.secondary.push_back({it->second->ast->name_span, "also declared here"});
    d.help = "give each file its own `module` name";
  } else {
    by_name_[info.name] = &info;
  }
  for (auto& imp : m->imports) info.imports.push_back({nullptr, &imp, false});
  return &info;
}

void ModuleLoader::add_root_file(const std::string& path) {
  std::error_code ec;
  std::string canon = fs::weakly_canonical(path, ec).string();
  if (by_path_.count(canon)) return;
  std::string text, error;
  if (!read_file(path, text, error, options_.parse.max_file_bytes)) {
    sink_.report(diag::Code::E0107, {}, fmt::format("cannot read `{}`: {}", path, error));
    return;
  }
  auto id = program_.sources.add(path, std::move(text));
  if (auto* m = add_module(id, false, stem_name(path))) {
    m->from_disk = true;
    by_path_[canon] = m;
  }
}

void ModuleLoader::add_root_source(const std::string& path, std::string text, const std::string& module_name,
                                   bool in_memory) {
  auto id = program_.sources.add(path, std::move(text));
  ModuleInfo* m = add_module(id, false, module_name.empty() ? stem_name(path) : module_name);
  if (!m || !in_memory) return;
  in_memory_.insert(m);
  // The embedder's key names the module, as a file's path does for an import.
  if (m->name != module_name)
    sink_.report(diag::Code::E0201, m->ast->name_span,
                 fmt::format("`{}` declares module `{}`, not `{}`", path, m->name, module_name))
        .help = "make the `module` line match the module's name";
}

ModuleInfo* ModuleLoader::find_or_load(const ModuleInfo& from, const ast::Import& imp) {
  if (auto it = by_name_.find(imp.path); it != by_name_.end()) return it->second;
  if (imp.path.rfind("std.", 0) == 0) {
    if (const auto* em = stdlib::find_module(imp.path)) {
      auto id = program_.sources.add(em->path, em->source);
      return add_module(id, true, imp.path);
    }
    std::vector<std::string> names;
    for (const auto& e : stdlib::embedded_modules()) names.push_back(e.name);
    auto& d = sink_.report(diag::Code::E0201, imp.span, fmt::format("no standard module `{}`", imp.path));
    if (auto s = diag::closest_match(imp.path, names); !s.empty()) d.help = fmt::format("did you mean `{}`?", s);
    return nullptr;
  }
  // Only a module name makes a path (module_file); anything else is the text of an import that
  // failed to parse, whose syntax error is reported: there is no file to look for.
  std::optional<std::string> file = module_file(imp.path);
  if (!file) return nullptr;
  const std::string& rel = *file;
  std::vector<fs::path> candidates;
  if (!from.is_std && !in_memory_.count(&from)) {
    candidates.push_back(fs::path(from.path).parent_path() / rel);
    // `module shop.campaigns` in shop/campaigns.crm: `import shop.schema` is shop/schema.crm.
    if (from.ast && !from.ast->name.empty())
      if (std::string root = module_root(from.path, from.ast->name); !root.empty())
        candidates.push_back((fs::path(root) / rel).lexically_normal());
  }
  for (const auto& dir : options_.include_dirs) candidates.push_back(fs::path(dir) / rel);
  std::vector<std::string> tried;
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec) && !fs::is_regular_file(c, ec)) {
      sink_.report(diag::Code::E0107, imp.span, fmt::format("cannot read `{}`: it is not a regular file", c.string()));
      return nullptr;
    }
    if (!fs::is_regular_file(c, ec)) { tried.push_back(c.string()); continue; }
    std::string canon = fs::weakly_canonical(c, ec).string();
    if (auto it = by_path_.find(canon); it != by_path_.end()) return it->second;
    std::string text, error;
    if (!read_file(c.string(), text, error, options_.parse.max_file_bytes)) {
      sink_.report(diag::Code::E0107, imp.span, fmt::format("cannot read `{}`: {}", c.string(), error));
      return nullptr;
    }
    auto id = program_.sources.add(c.lexically_normal().string(), std::move(text));
    ModuleInfo* m = add_module(id, false, imp.path);
    if (!m) return nullptr;
    m->from_disk = true;
    by_path_[canon] = m;
    if (m->name != imp.path) {
      sink_.report(diag::Code::E0201, imp.span,
                   fmt::format("`{}` declares module `{}`, not `{}`", c.string(), m->name, imp.path))
          .help = "make the `module` line match the file's path";
    }
    by_name_.emplace(imp.path, m);
    return m;
  }
  auto& d = sink_.report(diag::Code::E0201, imp.span, fmt::format("module `{}` not found", imp.path));
  std::string list;
  for (size_t i = 0; i < tried.size(); ++i) list += (i ? ", " : "") + tried[i];
  d.help = tried.empty() ? "pass the module's file on the command line or add an include directory with -I"
                         : "looked for " + list + "; add an include directory with -I";
  return nullptr;
}

void ModuleLoader::resolve() {
  // Modules appended while iterating are visited too (std::deque keeps references valid).
  for (size_t i = 0; i < program_.modules.size(); ++i) {
    ModuleInfo& m = program_.modules[i];
    for (auto& imp : m.imports) {
      if (imp.import->path == m.name) {
        sink_.report(diag::Code::E0202, imp.import->span, fmt::format("module `{}` imports itself", m.name));
        continue;
      }
      imp.target = find_or_load(m, *imp.import);
    }
  }
  check_cycles();
}

void ModuleLoader::check_cycles() {
  std::map<const ModuleInfo*, int> state;  // 0 new, 1 on stack, 2 done
  std::vector<const ModuleInfo*> stack;
  std::function<void(const ModuleInfo*)> visit = [&](const ModuleInfo* m) {
    state[m] = 1;
    stack.push_back(m);
    for (const auto& imp : m->imports) {
      if (!imp.target || imp.target == m) continue;
      int s = state[imp.target];
      if (s == 1) {
        std::string chain;
        bool on = false;
        for (const auto* x : stack) {
          if (x == imp.target) on = true;
          if (on) chain += "`" + x->name + "` -> ";
        }
        chain += "`" + imp.target->name + "`";
        sink_.report(diag::Code::E0202, imp.import->span, "import cycle: " + chain)
            .help = "move the shared declarations into a module that both import";
      } else if (s == 0) {
        visit(imp.target);
      }
    }
    stack.pop_back();
    state[m] = 2;
  };
  for (const auto& m : program_.modules)
    if (state[&m] == 0) visit(&m);
}

}  // namespace crm::sema
