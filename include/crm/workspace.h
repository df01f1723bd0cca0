// crm/workspace.h - public API: live analysis of .crm documents for editors and language servers.
//
// A Workspace holds documents in memory (opened, edited, closed by the editor) and answers the
// questions an editor asks about them: diagnostics, hover, definition, references, symbols,
// completion, signature help, rename, formatting, quick fixes and semantic tokens. `crm lsp`
// is a thin adapter from the Language Server Protocol to this class.
//
// Documents are named by absolute file path. Positions are 0-based lines and, within a line,
// UTF-16 code units (what the LSP, VS Code and most editors count); a position inside a
// character or past the end of a line is clamped. Imports resolve as `crm check` resolves them:
// beside the importing file, under the importing module's root (the directory holding `shop/`
// for `module shop.campaigns` in shop/campaigns.crm), under each workspace folder, and in the
// embedded standard library; where the file so found is an open document, its text is used. An
// open document declaring the module stands in only when no such file exists on disk (one of
// another folder never replaces the file beside the importer). The standard library's modules
// are named "<stdlib>/std/NAME.crm" (text() returns their source).
//
// Every member is exception-free: an internal failure becomes an error diagnostic ("internal")
// or an empty answer. A Workspace is not thread-safe; use one per thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <crm/check.h>

namespace crm {

struct TextPosition {
  uint32_t line = 0;       // 0-based
  uint32_t character = 0;  // 0-based, in UTF-16 code units
  bool operator==(const TextPosition& o) const { return line == o.line && character == o.character; }
};
struct TextRange {
  TextPosition start, end;
};
struct TextLocation {
  std::string path;
  TextRange range;
};
struct TextEdit {
  TextRange range;
  std::string new_text;
};

// What a name denotes; also the kind of a symbol, a completion candidate and a semantic token.
enum class SymbolKind : uint8_t {
  Module, Profile, Event, Field, Enum, EnumValue, Constant, Segment, Function, Parameter, Resource,
  Strategy, Policy, Builtin, Keyword, Unit, Channel, Pool
};
const char* symbol_kind_name(SymbolKind kind);  // "segment", "function", ...

struct WorkspaceDiagnostic {
  std::string code;      // "E0401"; "internal" for a failure of crm itself
  std::string severity;  // "error", "warning" or "note"
  std::string message;
  std::string help;      // may be empty
  TextRange range;
  struct Related {
    TextLocation at;
    std::string message;
  };
  std::vector<Related> related;
  // The replacement the diagnostic suggests for `range` ("did you mean `orders_30d`?"), or empty.
  std::string fix;
};

struct DocumentSymbol {
  std::string name;
  std::string detail;  // e.g. the resource kind, a function's signature, a field's type
  SymbolKind kind = SymbolKind::Segment;
  TextRange range;      // the whole declaration
  TextRange selection;  // its name
  std::vector<DocumentSymbol> children;
};

struct WorkspaceSymbol {
  std::string name;
  std::string detail;
  SymbolKind kind = SymbolKind::Segment;
  TextLocation location;  // the name
  std::string container;  // the module's name
};

struct Hover {
  std::string markdown;  // a ```crm fenced signature, then the documentation
  TextRange range;       // the word hovered
};

struct CompletionCandidate {
  std::string label;
  SymbolKind kind = SymbolKind::Keyword;
  std::string detail;         // a type or signature
  std::string documentation;  // markdown, may be empty
  std::string insert_text;    // empty: the label
};

struct SignatureHelp {
  std::string label;                         // `recency_score(r5: Duration = 30 days, ...): Int`
  std::string documentation;
  std::vector<std::pair<uint32_t, uint32_t>> parameters;  // [begin, end) of each parameter in label
  uint32_t active_parameter = 0;
};

struct SemanticToken {
  TextPosition start;
  uint32_t length = 0;  // UTF-16 code units; a token never spans lines
  SymbolKind kind = SymbolKind::Segment;
  bool declaration = false;  // the name in its declaration
  bool standard = false;     // declared in the standard library (or a builtin)
};

struct RenameResult {
  bool ok = false;
  std::string error;                                  // why not, when !ok
  std::map<std::string, std::vector<TextEdit>> edits;  // by path, over the open documents and folders
};

struct FormatEdits {
  bool ok = false;              // false: the document has syntax errors (nothing to format)
  std::vector<TextEdit> edits;  // minimal line hunks; empty when already formatted
};

struct WorkspaceOptions {
  std::vector<std::string> folders;  // workspace roots: imports resolve under them; symbol searches scan them
  Limits limits;
  bool conflicts = true;  // run `crm check`'s strategy conflict analysis (W0105)
  size_t max_folder_files = 2000;  // .crm files scanned under the folders for references and symbols
};

class Workspace {
 public:
  explicit Workspace(WorkspaceOptions options = {});
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  void set_folders(const std::vector<std::string>& folders);

  // ---- documents ----
  void open(const std::string& path, const std::string& text);
  // Replaces `range` by `text` (no range: the whole document). False when the document is not
  // open or the range lies outside it (the document is left unchanged).
  bool edit(const std::string& path, const std::optional<TextRange>& range, const std::string& text);
  // Several edits in order, each range over the text the ones before it left (an LSP didChange):
  // all or none. False when the document is not open, or when one's range lies outside the text
  // then (`failed`: its index); the document is then left as it was, no edit applied.
  struct Edit {
    std::optional<TextRange> range;
    std::string text;
  };
  bool edit(const std::string& path, const std::vector<Edit>& edits, size_t* failed = nullptr);
  void close(const std::string& path);
  bool is_open(const std::string& path) const;
  std::vector<std::string> open_documents() const;
  // The open text, else the file on disk, else a standard-library module's source.
  std::optional<std::string> text(const std::string& path) const;

  // A file changed, appeared or disappeared on disk (an editor's file watcher, a save): the open
  // documents importing it, and those with a module not found, are re-checked by the next
  // analyze(), which then lists them.
  void file_changed(const std::string& path);

  // ---- analysis ----
  // Re-checks every open document changed since the last call, and those importing it. Returns
  // the paths whose diagnostics may have changed since the last call, including re-checks a
  // query made meanwhile (closed documents included: they have no diagnostics).
  std::vector<std::string> analyze();
  // The diagnostics of an open document located in that document (analyze() first).
  std::vector<WorkspaceDiagnostic> diagnostics(const std::string& path) const;

  // ---- queries (each analyses first if needed) ----
  std::optional<Hover> hover(const std::string& path, TextPosition at);
  std::vector<TextLocation> definition(const std::string& path, TextPosition at);
  std::vector<TextLocation> references(const std::string& path, TextPosition at, bool include_declaration);
  std::vector<DocumentSymbol> document_symbols(const std::string& path);
  std::vector<WorkspaceSymbol> workspace_symbols(const std::string& query);
  std::vector<CompletionCandidate> completion(const std::string& path, TextPosition at);
  std::optional<SignatureHelp> signature_help(const std::string& path, TextPosition at);
  // The range of the renamable name at `at`, or nothing.
  std::optional<TextRange> prepare_rename(const std::string& path, TextPosition at);
  RenameResult rename(const std::string& path, TextPosition at, const std::string& new_name);
  FormatEdits format(const std::string& path, const std::optional<TextRange>& range = std::nullopt);
  std::vector<SemanticToken> semantic_tokens(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crm
