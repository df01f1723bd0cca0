// stdlib.h - the standard library modules (`std.lifecycle`, `std.rfm`, the prelude) embedded in
// the binary at build time from stdlib/std/*.crm.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace crm::stdlib {

struct EmbeddedModule {
  const char* name;  // dotted module name, e.g. "std.lifecycle"
  const char* path;  // shown in diagnostics, e.g. "<stdlib>/std/lifecycle.crm"
  const char* source;
};

const std::vector<EmbeddedModule>& embedded_modules();
const EmbeddedModule* find_module(std::string_view name);

}  // namespace crm::stdlib
