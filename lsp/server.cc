// server.cc - the LSP methods of `crm lsp` over crm::Workspace.
//
// One thread: messages are handled in order; diagnostics are computed when no further message
// is waiting, so a burst of keystrokes costs one analysis, and before any request that reads
// the analysis. Every handler's failure becomes a JSON-RPC error response, never a crash.
#include "lsp/server.h"

#include <crm/runtime.h>
#include <crm/workspace.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

#include "lsp/transport.h"

namespace crm::lsp {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// JSON-RPC and LSP error codes.
enum ErrorCode : int {
  kParseError = -32700,
  kInvalidRequest = -32600,
  kMethodNotFound = -32601,
  kInvalidParams = -32602,
  kInternalError = -32603,
  kServerNotInitialized = -32002,
  kRequestFailed = -32803,
};

struct RpcError {
  int code;
  std::string message;
};

constexpr const char* kStdlibPrefix = "<stdlib>/";

// ---- URIs <-> paths (RFC 3986 percent-encoding of file: URIs) ----------------------------------

std::string percent_decode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string percent_encode_path(const std::string& p) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : p) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// The page diagnostic codes link to when no --docs-url is given: docs/diagnostics.md where it is
// installed for this binary (PREFIX/share/doc/crm/ for PREFIX/bin/crm), in the source tree of a
// build directory inside it (build/crm -> docs/), or under the configured install prefix; none
// (no codeDescription) when none exists. A build-machine path was baked in before: a dead link
// on any other machine, and into another worktree from a copied binary (tester F12 d).
std::string default_diagnostics_doc() {
  std::vector<fs::path> candidates;
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.has_parent_path()) {
    fs::path prefix = exe.parent_path().parent_path();
    candidates.push_back(prefix / CRM_DOC_RELDIR / "diagnostics.md");
    candidates.push_back(prefix / "docs" / "diagnostics.md");
  }
  candidates.push_back(fs::path(CRM_INSTALL_DOCDIR) / "diagnostics.md");
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return "file://" + percent_encode_path(c.lexically_normal().string());
  return {};
}

class Server {
 public:
  Server(Transport& t, const ServerOptions& o) : t_(t), options_(o) {
    if (options_.diagnostics_docs.empty()) options_.diagnostics_docs = default_diagnostics_doc();
    std::string dir = o.cache_dir;
    if (dir.empty()) {
      if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) dir = std::string(x) + "/crm";
      else if (const char* h = std::getenv("HOME"); h && *h) dir = std::string(h) + "/.cache/crm";
      else dir = (fs::temp_directory_path() / "crm").string();
    }
    stdlib_dir_ = (fs::path(dir) / (std::string("stdlib-") + crm::version())).lexically_normal().string();
  }

  int run() {
    std::string body, error;
    for (;;) {
      auto r = t_.read(body, error);
      if (r == Transport::Read::Eof) break;
      if (r == Transport::Read::BadFrame) {
        send_error(nullptr, kParseError, "bad message framing: " + error);
        continue;
      }
      handle(body);
      if (exit_) break;
      // Analyse once the burst of input is read; requests analyse on demand anyway.
      if (!t_.pending()) publish();
    }
    return shutdown_ && exit_ ? 0 : 1;
  }

 private:
  // ---- messages ----
  void send(const json& msg) {
    if (!t_.write(msg.dump(-1, ' ', false, json::error_handler_t::replace))) exit_ = true;
  }
  void send_result(const json& id, const json& result) { send({{"jsonrpc", "2.0"}, {"id", id}, {"result", result}}); }
  void send_error(const json& id, int code, const std::string& message) {
    send({{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", code}, {"message", message}}}});
  }
  void notify(const std::string& method, const json& params) {
    send({{"jsonrpc", "2.0"}, {"method", method}, {"params", params}});
  }

  void handle(const std::string& body) {
    json msg = json::parse(body, nullptr, false);
    if (msg.is_discarded()) {
      // Most often a Content-Length shorter than the body: the rest of the body, up to the next
      // header, belongs to this bad frame and must not be read as one more.
      t_.resync();
      return send_error(nullptr, kParseError, "the message is not valid JSON");
    }
    if (!msg.is_object()) return send_error(nullptr, kInvalidRequest, "a message must be a JSON object (batches are not used by LSP)");
    json id = nullptr;
    bool has_id = msg.contains("id");
    if (has_id) {
      id = msg["id"];
      if (!id.is_number_integer() && !id.is_string() && !id.is_null())
        return send_error(nullptr, kInvalidRequest, "`id` must be an integer or a string");
    }
    if (msg.value("jsonrpc", json()) != "2.0") return send_error(id, kInvalidRequest, "`jsonrpc` must be \"2.0\"");
    if (!msg.contains("method")) return;  // a response to a request we never send: ignore
    if (!msg["method"].is_string()) return send_error(id, kInvalidRequest, "`method` must be a string");
    std::string method = msg["method"];
    json params = msg.contains("params") ? msg["params"] : json::object();
    if (!params.is_object() && !params.is_array()) return send_error(id, kInvalidRequest, "`params` must be an object or an array");
    if (!has_id) return notification(method, params);
    request(id, method, params);
  }

  void notification(const std::string& method, const json& params) {
    if (method == "exit") {
      exit_ = true;
      return;
    }
    if (!initialized_ || shutdown_) return;  // dropped, as the protocol says
    try {
      if (method == "textDocument/didOpen") {
        const json& td = params.at("textDocument");
        std::string path = to_path(td.at("uri").get<std::string>());
        ws_.open(path, td.at("text").get<std::string>());
        versions_[path] = td.value("version", 0);
      } else if (method == "textDocument/didChange") {
        std::string path = to_path(params.at("textDocument").at("uri").get<std::string>());
        if (!ws_.is_open(path)) return;
        // All changes or none: every one is read first (a malformed one throws here, before any is
        // applied, so "ignored" below is true), then applied together (Workspace::edit).
        std::vector<Workspace::Edit> edits;
        for (const json& ch : params.at("contentChanges")) {
          std::optional<TextRange> range;
          if (ch.contains("range")) range = to_range(ch.at("range"));
          edits.push_back({range, ch.at("text").get<std::string>()});
        }
        const int version = params.at("textDocument").value("version", versions_[path]);
        size_t failed = 0;
        if (!ws_.edit(path, edits, &failed)) {
          log("didChange: change " + std::to_string(failed + 1) + " of " + std::to_string(edits.size()) +
              " has a range outside " + path + "; none of the changes was applied: the document is out of sync (reopen it)");
          return;
        }
        versions_[path] = version;
      } else if (method == "textDocument/didClose") {
        std::string path = to_path(params.at("textDocument").at("uri").get<std::string>());
        ws_.close(path);
        versions_.erase(path);
      } else if (method == "workspace/didChangeWatchedFiles") {
        // Another program (git, another editor) changed a file: its importers are re-checked.
        for (const json& ch : params.at("changes")) ws_.file_changed(to_path(ch.at("uri").get<std::string>()));
      } else if (method == "textDocument/didSave") {
        // The file on disk is what closed importers and the folders' analyses read.
        ws_.file_changed(to_path(params.at("textDocument").at("uri").get<std::string>()));
      } else if (method == "initialized") {
        // Clients that watch files for a server only do so when asked (VS Code, Neovim).
        if (watch_dynamic_)
          send({{"jsonrpc", "2.0"},
                {"id", "crm-watch-crm-files"},
                {"method", "client/registerCapability"},
                {"params",
                 {{"registrations",
                   json::array({{{"id", "crm-watch-crm-files"},
                                 {"method", "workspace/didChangeWatchedFiles"},
                                 {"registerOptions", {{"watchers", json::array({{{"globPattern", "**/*.crm"}}})}}}}})}}}});
      } else if (method == "workspace/didChangeWorkspaceFolders") {
        const json& ev = params.at("event");
        for (const json& f : ev.value("removed", json::array())) folders_.erase(to_path(f.at("uri").get<std::string>()));
        for (const json& f : ev.value("added", json::array())) folders_.insert(to_path(f.at("uri").get<std::string>()));
        ws_.set_folders({folders_.begin(), folders_.end()});
      }
      // didChangeConfiguration, $/cancelRequest, $/setTrace: nothing to do.
    } catch (const std::exception& e) {
      log(method + ": ignored malformed notification: " + e.what());
    }
  }

  void request(const json& id, const std::string& method, const json& params) {
    if (method == "initialize") {
      if (initialized_) return send_error(id, kInvalidRequest, "initialize was already received");
      try {
        return send_result(id, initialize(params));
      } catch (const std::exception& e) {
        return send_error(id, kInvalidParams, std::string("initialize: ") + e.what());
      }
    }
    if (!initialized_) return send_error(id, kServerNotInitialized, "the server is not initialized");
    if (shutdown_) return send_error(id, kInvalidRequest, "the server is shutting down");
    if (method == "shutdown") {
      shutdown_ = true;
      return send_result(id, nullptr);
    }
    try {
      json result = dispatch(method, params);
      send_result(id, result);
    } catch (const RpcError& e) {
      send_error(id, e.code, e.message);
    } catch (const json::exception& e) {
      send_error(id, kInvalidParams, method + ": " + e.what());
    } catch (const std::exception& e) {
      send_error(id, kInternalError, method + ": " + e.what());
    }
  }

  void log(const std::string& message) { notify("window/logMessage", {{"type", 3}, {"message", message}}); }

  // ---- lifecycle ----
  json initialize(const json& params) {
    if (params.contains("workspaceFolders") && params["workspaceFolders"].is_array())
      for (const json& f : params["workspaceFolders"]) folders_.insert(to_path(f.at("uri").get<std::string>()));
    if (folders_.empty() && params.contains("rootUri") && params["rootUri"].is_string())
      folders_.insert(to_path(params["rootUri"].get<std::string>()));
    if (params.contains("initializationOptions") && params["initializationOptions"].is_object()) {
      const json& io = params["initializationOptions"];
      if (io.contains("diagnosticsDocs") && io["diagnosticsDocs"].is_string()) options_.diagnostics_docs = io["diagnosticsDocs"];
    }
    ws_.set_folders({folders_.begin(), folders_.end()});
    if (params.contains("capabilities") && params["capabilities"].is_object()) {
      const json& caps = params["capabilities"];
      if (caps.contains("workspace") && caps["workspace"].is_object()) {
        const json& w = caps["workspace"];
        if (w.contains("didChangeWatchedFiles") && w["didChangeWatchedFiles"].is_object())
          watch_dynamic_ = w["didChangeWatchedFiles"].value("dynamicRegistration", false) == true;
      }
    }
    initialized_ = true;
    json token_types = json::array();
    for (auto& t : kTokenTypes) token_types.push_back(t);
    return {
        {"capabilities",
         {{"positionEncoding", "utf-16"},
          {"textDocumentSync", {{"openClose", true}, {"change", 2}, {"save", true}}},
          {"hoverProvider", true},
          {"definitionProvider", true},
          {"referencesProvider", true},
          {"documentSymbolProvider", true},
          {"workspaceSymbolProvider", true},
          {"completionProvider", {{"triggerCharacters", {".", " ", "("}}}},
          {"signatureHelpProvider", {{"triggerCharacters", {"(", ","}}}},
          {"documentFormattingProvider", true},
          {"documentRangeFormattingProvider", true},
          {"renameProvider", {{"prepareProvider", true}}},
          {"codeActionProvider", {{"codeActionKinds", {"quickfix"}}}},
          {"semanticTokensProvider",
           {{"legend", {{"tokenTypes", token_types}, {"tokenModifiers", {"declaration", "readonly", "defaultLibrary"}}}},
            {"full", true}}},
          {"workspace", {{"workspaceFolders", {{"supported", true}, {"changeNotifications", true}}}}}}},
        {"serverInfo", {{"name", "crm"}, {"version", crm::version()}}}};
  }

  // ---- positions and paths ----
  std::string to_path(const std::string& uri) {
    if (uri.rfind("file://", 0) == 0) {
      std::string rest = uri.substr(7);
      size_t slash = rest.find('/');  // skip an authority (file://host/path)
      std::string p = percent_decode(slash == std::string::npos ? rest : rest.substr(slash));
      p = fs::path(p).lexically_normal().string();
      // The standard library's files, as written to the cache, are the embedded modules.
      if (p.rfind(stdlib_dir_ + "/", 0) == 0) return kStdlibPrefix + p.substr(stdlib_dir_.size() + 1);
      return p;
    }
    return uri;  // untitled:, etc.: the URI names the document
  }

  // The file under the cache's stdlib directory for `<stdlib>/REL`; empty unless REL names a
  // file inside that directory. A client may name a document anything (a non-file URI is its own
  // path), so `<stdlib>/../../x` must not become a file outside the directory, written or read.
  std::string stdlib_file(const std::string& path) const {
    fs::path rel = fs::path(path.substr(std::string(kStdlibPrefix).size())).lexically_normal();
    if (rel.empty() || rel.is_absolute() || *rel.begin() == "..") return {};
    for (const auto& part : rel)
      if (part == ".." || part == ".") return {};
    return (fs::path(stdlib_dir_) / rel).string();
  }

  std::string to_uri(const std::string& path) {
    if (path.rfind(kStdlibPrefix, 0) == 0) {
      std::string file = stdlib_file(path);
      // Only the embedded modules are materialised, never a client's document that is named
      // like one (it would put the client's text in the cache, or outside it).
      if (file.empty() || ws_.is_open(path)) return path;
      if (!written_.count(file)) {
        // Materialise the embedded module so the editor can open it (read-only).
        if (auto text = ws_.text(path)) {
          std::error_code ec;
          fs::create_directories(fs::path(file).parent_path(), ec);
          std::ofstream out(file, std::ios::binary | std::ios::trunc);
          out << *text;
          if (out) written_.insert(file);
        }
      }
      return "file://" + percent_encode_path(file);
    }
    if (!path.empty() && path[0] == '/') return "file://" + percent_encode_path(path);
    return path;
  }

  static TextPosition to_pos(const json& p) {
    return {p.at("line").get<uint32_t>(), p.at("character").get<uint32_t>()};
  }
  static TextRange to_range(const json& r) { return {to_pos(r.at("start")), to_pos(r.at("end"))}; }
  static json from_pos(TextPosition p) { return {{"line", p.line}, {"character", p.character}}; }
  static json from_range(const TextRange& r) { return {{"start", from_pos(r.start)}, {"end", from_pos(r.end)}}; }
  json from_location(const TextLocation& l) { return {{"uri", to_uri(l.path)}, {"range", from_range(l.range)}}; }

  std::string doc_path(const json& params) {
    std::string path = to_path(params.at("textDocument").at("uri").get<std::string>());
    if (!ws_.is_open(path)) throw RpcError{kInvalidParams, "the document is not open: " + path};
    return path;
  }

  // ---- diagnostics ----
  json lsp_diagnostic(const WorkspaceDiagnostic& d) {
    json j = {{"range", from_range(d.range)},
              {"severity", d.severity == "error" ? 1 : d.severity == "warning" ? 2 : 3},
              {"source", "crm"},
              {"message", d.help.empty() ? d.message : d.message + "\nhelp: " + d.help}};
    if (!d.code.empty()) {
      j["code"] = d.code;
      if (!options_.diagnostics_docs.empty() && d.code != "internal") {
        std::string anchor = d.code;
        for (auto& c : anchor) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        j["codeDescription"] = {{"href", options_.diagnostics_docs + "#" + anchor}};
      }
    }
    if (!d.related.empty()) {
      json rel = json::array();
      for (auto& r : d.related) rel.push_back({{"location", from_location(r.at)}, {"message", r.message}});
      j["relatedInformation"] = rel;
    }
    if (!d.fix.empty()) j["data"] = {{"fix", d.fix}};
    return j;
  }

  void publish() {
    for (const std::string& path : ws_.analyze()) {
      json list = json::array();
      if (ws_.is_open(path))
        for (auto& d : ws_.diagnostics(path)) list.push_back(lsp_diagnostic(d));
      json params = {{"uri", to_uri(path)}, {"diagnostics", list}};
      if (auto it = versions_.find(path); it != versions_.end()) params["version"] = it->second;
      notify("textDocument/publishDiagnostics", params);
    }
  }

  // ---- requests ----
  static int lsp_symbol_kind(SymbolKind k) {
    switch (k) {
      case SymbolKind::Module: return 2;
      case SymbolKind::Profile: return 23;
      case SymbolKind::Event: return 24;
      case SymbolKind::Field: return 8;
      case SymbolKind::Enum: return 10;
      case SymbolKind::EnumValue:
      case SymbolKind::Channel: return 22;
      case SymbolKind::Constant: return 14;
      case SymbolKind::Segment: return 13;
      case SymbolKind::Function:
      case SymbolKind::Builtin: return 12;
      case SymbolKind::Parameter: return 13;
      case SymbolKind::Resource: return 19;
      case SymbolKind::Strategy: return 5;
      case SymbolKind::Policy: return 11;
      case SymbolKind::Pool: return 19;
      default: return 13;
    }
  }
  static int lsp_completion_kind(SymbolKind k) {
    switch (k) {
      case SymbolKind::Module: return 9;
      case SymbolKind::Profile: return 22;
      case SymbolKind::Event: return 23;
      case SymbolKind::Field: return 5;
      case SymbolKind::Enum: return 13;
      case SymbolKind::EnumValue:
      case SymbolKind::Channel: return 20;
      case SymbolKind::Constant: return 21;
      case SymbolKind::Segment: return 6;
      case SymbolKind::Function:
      case SymbolKind::Builtin: return 3;
      case SymbolKind::Parameter: return 6;
      case SymbolKind::Resource: return 22;
      case SymbolKind::Strategy: return 7;
      case SymbolKind::Policy: return 8;
      case SymbolKind::Pool: return 22;
      case SymbolKind::Keyword: return 14;
      case SymbolKind::Unit: return 11;
    }
    return 1;
  }
  static constexpr const char* kTokenTypes[] = {"namespace", "type", "event", "property", "enum", "enumMember",
                                                "variable", "function", "parameter", "struct", "class", "interface"};
  static int token_type(SymbolKind k) {
    switch (k) {
      case SymbolKind::Module: return 0;
      case SymbolKind::Profile: return 1;
      case SymbolKind::Event: return 2;
      case SymbolKind::Field: return 3;
      case SymbolKind::Enum: return 4;
      case SymbolKind::EnumValue:
      case SymbolKind::Channel: return 5;
      case SymbolKind::Constant:
      case SymbolKind::Segment: return 6;
      case SymbolKind::Function:
      case SymbolKind::Builtin: return 7;
      case SymbolKind::Parameter: return 8;
      case SymbolKind::Resource: return 9;
      case SymbolKind::Strategy: return 10;
      case SymbolKind::Policy: return 11;
      case SymbolKind::Pool: return 9;
      default: return 6;
    }
  }

  json document_symbol(const DocumentSymbol& s) {
    json j = {{"name", s.name}, {"kind", lsp_symbol_kind(s.kind)}, {"range", from_range(s.range)},
              {"selectionRange", from_range(s.selection)}};
    if (!s.detail.empty()) j["detail"] = s.detail;
    if (!s.children.empty()) {
      json c = json::array();
      for (auto& x : s.children) c.push_back(document_symbol(x));
      j["children"] = c;
    }
    return j;
  }

  json edits_json(const std::vector<TextEdit>& edits) {
    json a = json::array();
    for (auto& e : edits) a.push_back({{"range", from_range(e.range)}, {"newText", e.new_text}});
    return a;
  }

  static bool intersects(const TextRange& a, const TextRange& b) {
    auto le = [](TextPosition x, TextPosition y) { return x.line < y.line || (x.line == y.line && x.character <= y.character); };
    return le(a.start, b.end) && le(b.start, a.end);
  }

  json dispatch(const std::string& method, const json& params) {
    if (method == "textDocument/hover") {
      auto h = ws_.hover(doc_path(params), to_pos(params.at("position")));
      if (!h) return nullptr;
      return {{"contents", {{"kind", "markdown"}, {"value", h->markdown}}}, {"range", from_range(h->range)}};
    }
    if (method == "textDocument/definition") {
      json a = json::array();
      for (auto& l : ws_.definition(doc_path(params), to_pos(params.at("position")))) a.push_back(from_location(l));
      return a;
    }
    if (method == "textDocument/references") {
      bool decl = params.contains("context") ? params["context"].value("includeDeclaration", true) : true;
      json a = json::array();
      for (auto& l : ws_.references(doc_path(params), to_pos(params.at("position")), decl)) a.push_back(from_location(l));
      return a;
    }
    if (method == "textDocument/documentSymbol") {
      json a = json::array();
      for (auto& s : ws_.document_symbols(doc_path(params))) a.push_back(document_symbol(s));
      return a;
    }
    if (method == "workspace/symbol") {
      json a = json::array();
      for (auto& s : ws_.workspace_symbols(params.at("query").get<std::string>())) {
        json j = {{"name", s.name}, {"kind", lsp_symbol_kind(s.kind)}, {"location", from_location(s.location)}};
        if (!s.container.empty()) j["containerName"] = s.container;
        a.push_back(j);
      }
      return a;
    }
    if (method == "textDocument/completion") {
      json items = json::array();
      for (auto& c : ws_.completion(doc_path(params), to_pos(params.at("position")))) {
        json j = {{"label", c.label}, {"kind", lsp_completion_kind(c.kind)}};
        if (!c.detail.empty()) j["detail"] = c.detail;
        if (!c.documentation.empty()) j["documentation"] = {{"kind", "markdown"}, {"value", c.documentation}};
        if (!c.insert_text.empty()) j["insertText"] = c.insert_text;
        items.push_back(j);
      }
      return {{"isIncomplete", false}, {"items", items}};
    }
    if (method == "textDocument/signatureHelp") {
      auto h = ws_.signature_help(doc_path(params), to_pos(params.at("position")));
      if (!h) return nullptr;
      json ps = json::array();
      for (auto& [b, e] : h->parameters) ps.push_back({{"label", {b, e}}});
      json sig = {{"label", h->label}, {"parameters", ps}};
      if (!h->documentation.empty()) sig["documentation"] = {{"kind", "markdown"}, {"value", h->documentation}};
      return {{"signatures", {sig}}, {"activeSignature", 0}, {"activeParameter", h->active_parameter}};
    }
    if (method == "textDocument/formatting" || method == "textDocument/rangeFormatting") {
      std::optional<TextRange> range;
      if (method == "textDocument/rangeFormatting") range = to_range(params.at("range"));
      auto f = ws_.format(doc_path(params), range);
      if (!f.ok) throw RpcError{kRequestFailed, "the document has syntax errors; fix them to format it"};
      return edits_json(f.edits);
    }
    if (method == "textDocument/prepareRename") {
      auto r = ws_.prepare_rename(doc_path(params), to_pos(params.at("position")));
      if (!r) return nullptr;
      return from_range(*r);
    }
    if (method == "textDocument/rename") {
      auto r = ws_.rename(doc_path(params), to_pos(params.at("position")), params.at("newName").get<std::string>());
      if (!r.ok) throw RpcError{kRequestFailed, r.error};
      json changes = json::object();
      for (auto& [p, e] : r.edits) changes[to_uri(p)] = edits_json(e);
      return {{"changes", changes}};
    }
    if (method == "textDocument/codeAction") {
      std::string path = doc_path(params);
      TextRange range = to_range(params.at("range"));
      ws_.analyze();
      json actions = json::array();
      for (auto& d : ws_.diagnostics(path)) {
        if (d.fix.empty() || !intersects(d.range, range)) continue;
        json edit = {{"changes", {{to_uri(path), json::array({{{"range", from_range(d.range)}, {"newText", d.fix}}})}}}};
        actions.push_back({{"title", "Replace with `" + d.fix + "`"},
                           {"kind", "quickfix"},
                           {"diagnostics", json::array({lsp_diagnostic(d)})},
                           {"isPreferred", true},
                           {"edit", edit}});
      }
      return actions;
    }
    if (method == "textDocument/semanticTokens/full") {
      json data = json::array();
      uint32_t line = 0, ch = 0;
      for (auto& t : ws_.semantic_tokens(doc_path(params))) {
        uint32_t dl = t.start.line - line, dc = dl == 0 ? t.start.character - ch : t.start.character;
        uint32_t mods = (t.declaration ? 1u : 0u) |
                        (t.kind == SymbolKind::Constant || t.kind == SymbolKind::Segment ? 2u : 0u) |
                        (t.standard ? 4u : 0u);
        data.insert(data.end(), {dl, dc, t.length, static_cast<uint32_t>(token_type(t.kind)), mods});
        line = t.start.line;
        ch = t.start.character;
      }
      return {{"data", data}};
    }
    throw RpcError{kMethodNotFound, "method not supported: " + method};
  }

  Transport& t_;
  ServerOptions options_;
  Workspace ws_;
  std::set<std::string> folders_;
  std::map<std::string, int> versions_;
  std::set<std::string> written_;
  std::string stdlib_dir_;
  bool initialized_ = false, shutdown_ = false, exit_ = false;
  bool watch_dynamic_ = false;  // the client registers file watchers for the server
};

}  // namespace

int serve(int in_fd, int out_fd, const ServerOptions& options) {
  Transport t(in_fd, out_fd);
  Server s(t, options);
  try {
    return s.run();
  } catch (...) {
    return 1;
  }
}

}  // namespace crm::lsp
