// program_data.h - what a crm::CompiledProgram holds (library-internal).
#pragma once

#include <memory>

#include <crm/runtime.h>

#include "compiler/driver.h"
#include "bytecode/program.h"
#include "runtime/engine/engine.h"

namespace crm::detail {

struct ProgramData {
  bytecode::Program program;
  std::shared_ptr<const Compilation> front;  // the checked sources, when compiled from them (explain)
  // What engines made from this program evaluate with: null for the VMs, the JIT's executor
  // for a program from CompiledProgram::with_jit(). Declared after `program`, which it refers
  // to, so it is destroyed first.
  std::shared_ptr<const engine::Executor> executor;
  engine::EngineOptions engine_options() const { return engine::EngineOptions{executor}; }
};

}  // namespace crm::detail
