// entry_point.h - what every entry point of the public API does the same way (api/ only, not
// installed): map an engine step's outcome to crm::Error, and turn the public SharedCounters
// into the state layer's options. One copy for crm::Run, crm::Runtime and the shared-counter
// commands, so their error contract (include/crm/runtime.h) cannot drift apart.
#pragma once

#include <crm/runtime.h>
#include <crm/shared.h>

#include <exception>
#include <string>

#include "runtime/state/state_store.h"

namespace crm {

// Feeds one input line to an engine step (`step(msg)` returns false with msg for a bad line): a
// bad line is the caller's mistake (Input), an exception is an internal failure (Internal), and
// no exception crosses include/.
template <class Step>
bool feed_line(Step&& step, Error& error) {
  try {
    std::string msg;
    if (step(msg)) return true;
    error = {ErrorKind::Input, std::move(msg)};
  } catch (const std::exception& e) {
    error = {ErrorKind::Internal, e.what()};
  }
  return false;
}

// Shared counters need a durable ledger: a `memory` state's grants die with the process, so after
// Redis loses the counters no reconcile could count them and the stock would be granted again
// (t23 F5). The one message of Run, Runtime and their reloads; false for a memory `spec`.
inline constexpr const char* kSharedNeedsLedger =
    "shared counters need a durable ledger (sqlite:PATH): a `memory` state is lost with the process, so no "
    "reconcile could count its grants after Redis loses the counters";
inline bool shared_ledger_durable(const std::string& spec) {
  state::StateSpec parsed;
  std::string ignored;
  return !(state::parse_state_spec(spec, parsed, ignored) && parsed.memory);
}

// The state layer's options for the counters `shared` names (every field carried over).
inline state::SharedOptions shared_options(const SharedCounters& shared) {
  state::SharedOptions o;
  o.url = shared.url;
  o.campaign = shared.campaign;
  o.connect_timeout_ms = shared.connect_timeout_ms;
  o.command_timeout_ms = shared.timeout_ms;
  o.retry_ms = shared.retry_ms;
  o.wait_replicas = shared.wait_replicas;
  o.wait_timeout_ms = shared.wait_timeout_ms;
  o.max_redirects = shared.max_redirects;
  o.lease = shared.lease;
  o.on_notice = shared.on_notice;
  return o;
}

}  // namespace crm
