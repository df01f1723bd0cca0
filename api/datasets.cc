// datasets.cc - include/crm/datasets.h over the importers in runtime/ingest.
#include <crm/datasets.h>

#include <istream>

#include "compiler/codegen/codegen.h"
#include "compiler/driver.h"
#include "bytecode/program.h"
#include "runtime/ingest/hillstrom_importer.h"
#include "runtime/ingest/importers.h"
#include "runtime/state/state_store.h"

extern const char crm_hillstrom_program_source[];  // cmake/embed_text.cmake

namespace crm {

CompileOutput hillstrom_program() {
  CompileOutput out;
  try {
    DriverOptions d;
    d.conflicts = false;  // a program compiled to run: the conflict analysis is `check`'s
    d.generate = true;
    std::shared_ptr<Compilation> c =
        compile({Input{"<bundled>/examples/hillstrom/hillstrom.crm", std::string(crm_hillstrom_program_source)}}, d);
    if (!c->sink.has_errors()) {
      if (!c->generated) {
        out.diagnostics = detail::make_result(
            nullptr, "cannot compile the bundled Hillstrom program: " + c->codegen_error + c->verify_error);
        return out;
      }
      std::string err;
      out.program = load_compiled(bytecode::serialize(c->code.program), err);
      if (!out.program.valid()) {
        out.diagnostics = detail::make_result(nullptr, "cannot load the bundled Hillstrom program: " + err);
        return out;
      }
    }
    out.diagnostics = detail::make_result(std::move(c), "");
  } catch (const std::exception& e) {
    out.program = CompiledProgram();
    out.diagnostics = detail::make_result(nullptr, e.what());
  }
  return out;
}

ImportResult import_hillstrom(std::istream& csv, const CompiledProgram& program, const std::string& state_spec,
                              std::ostream& events, std::ostream* profiles) {
  ImportResult r;
  try {
    if (!program.valid()) {
      r.error = "no program to record the ledger with";
      return r;
    }
    bytecode::Program p;
    if (!bytecode::deserialize(program.serialize(), p, r.error)) return r;
    std::unique_ptr<state::StateStore> store = state::open_store(state_spec, r.error);
    if (!store) return r;
    ingest::ImportStats st;
    r.ok = ingest::import_hillstrom(csv, p, *store, events, profiles, {}, st, r.error);
    r.rows = st.rows;
    r.events = st.events;
    r.error_line = st.error_line;
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = std::string("internal error: ") + e.what();
  }
  return r;
}

ImportResult import_purchases(const std::string& dataset, std::istream& in, std::ostream& events) {
  ImportResult r;
  try {
    if (dataset != "online-retail" && dataset != "cdnow") {
      r.error = "unknown dataset `" + dataset + "`: use online-retail or cdnow";
      return r;
    }
    ingest::ImportStats st;
    r.ok = dataset == "online-retail" ? ingest::import_online_retail(in, events, st, r.error)
                                      : ingest::import_cdnow(in, events, st, r.error);
    r.rows = st.rows;
    r.events = st.events;
    r.skipped = st.skipped;
    r.skipped_by_reason = st.skipped_by_reason;
    r.error_line = st.error_line;
  } catch (const std::exception& e) {
    r.ok = false;
    r.error = e.what();
  }
  return r;
}

}  // namespace crm
