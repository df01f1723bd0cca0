// server.h - `crm lsp`: a language server (LSP 3.17, JSON-RPC 2.0 over stdio) for .crm files.
//
// A thin adapter from the protocol to crm::Workspace (include/crm/workspace.h), which does all
// the analysis; this layer maps URIs to paths, JSON to the API's structs and back, and owns the
// lifecycle (initialize, shutdown, exit). docs/lsp.md lists the supported requests.
#pragma once

#include <string>

namespace crm::lsp {

struct ServerOptions {
  // Where a diagnostic code links to: `#e0401` is appended (docs/diagnostics.md's anchors).
  // Empty: the installed docs/diagnostics.md if there is one (docs/lsp.md), else no link.
  std::string diagnostics_docs;
  // Where the embedded standard library is written so editors can open its files (definition
  // into std.*); empty: $XDG_CACHE_HOME/crm, else ~/.cache/crm, else the temporary directory.
  std::string cache_dir;
};

// Serves one client until `exit` or the end of input. Returns the process exit code the
// protocol asks for: 0 after shutdown then exit, 1 otherwise.
int serve(int in_fd, int out_fd, const ServerOptions& options);

}  // namespace crm::lsp
