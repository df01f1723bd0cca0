// program_data.h - what a crm::CompiledProgram holds (library-internal).
#pragma once

#include <memory>

#include <crm/runtime.h>

#include "compiler/driver.h"
#include "bytecode/program.h"

namespace crm::detail {

struct ProgramData {
  bytecode::Program program;
  std::shared_ptr<const Compilation> front;  // the checked sources, when compiled from them (explain)
};

}  // namespace crm::detail
