// runtime_commands.h - the CLI commands that compile to bytecode and run the engine.
#pragma once

#include <string>

namespace crm::cli {

int cmd_compile(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_audience(int argc, char** argv);
int cmd_explain(int argc, char** argv);
int cmd_import(int argc, char** argv);
std::string tty_clear();

}  // namespace crm::cli
