// stdlib.cc - lookup over the embedded standard library.
#include "stdlib/stdlib.h"

namespace crm::stdlib {

const EmbeddedModule* find_module(std::string_view name) {
  for (const auto& m : embedded_modules())
    if (name == m.name) return &m;
  return nullptr;
}

}  // namespace crm::stdlib
