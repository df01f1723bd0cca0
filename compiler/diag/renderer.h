// renderer.h - the one place diagnostics become text: caret snippets for people, JSON for tools.
//
// Shared by `crm check`, the golden tests and (later) the language server, so a message looks
// the same everywhere.
#pragma once

#include <string>
#include <vector>

#include "compiler/diag/diagnostic.h"
#include "compiler/source/source_manager.h"

namespace crm::diag {

struct RenderOptions {
  bool color = false;
};

std::string render_text(const Diagnostic& d, const source::SourceManager& sm, const RenderOptions& opts = {});
std::string render_text(const std::vector<Diagnostic>& ds, const source::SourceManager& sm,
                        const RenderOptions& opts = {});
// {"diagnostics":[{"code":..,"severity":..,"message":..,"file":..,"line":..,"column":..,
//   "end_line":..,"end_column":..,"help":..,"related":[{"file","line","column","message"}]}]}
std::string render_json(const std::vector<Diagnostic>& ds, const source::SourceManager& sm);


}  // namespace crm::diag
