// shared_command.cc - `crm shared reconcile|show`: the campaign counters in Redis set from, or
// compared with, the processes' ledgers (docs/scaling.md). Uses only include/crm.
#include "cli/shared_command.h"

#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <crm/run.h>

namespace crm::cli {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    if (static_cast<unsigned char>(ch) < 0x20) out += fmt::format("\\u{:04x}", int(static_cast<unsigned char>(ch)));
    else out += ch;
  }
  return out + "\"";
}

}  // namespace

SharedCounters SharedCli::counters() const {
  SharedCounters s;
  s.url = url;
  s.campaign = campaign;
  s.timeout_ms = int(timeout_ms);
  s.connect_timeout_ms = int(connect_timeout_ms);
  s.retry_ms = int(retry_ms);
  s.wait_replicas = int(wait_replicas);
  s.wait_timeout_ms = int(wait_timeout_ms);
  s.max_redirects = int(max_redirects);
  s.lease = int(lease);
  return s;
}

std::string SharedCli::given_without_url() const {
  if (!url.empty()) return "";
  for (const auto& [name, option] : needs_url)
    if (given(option)) return name;
  return "";
}

void shared_options(Command& c, SharedCli& s, bool partition) {
  auto needs_url = [&s](const char* name, const CLI::Option* o) { s.needs_url.emplace_back(name, o); };
  c.option("--shared", s.url, "redis://HOST:PORT",
           "stock and budget counters shared with other processes in this Redis, or in a\nRedis Cluster: "
           "redis-cluster://HOST:PORT,HOST:PORT,... (seed nodes); a password as\nredis://[USER]:PASSWORD@HOST:PORT (visible in ps: docs/scaling.md)\n(fail closed: no grant without a reservation; docs/scaling.md)");
  needs_url("--campaign", c.option("--campaign", s.campaign, "NAME", "the campaign whose shared counters to use (default `default`)"));
  // Each with its maximum (include/crm/shared.h): refused above it, never cut to an int.
  needs_url("--shared-timeout", c.count("--shared-timeout", s.timeout_ms, "MS",
          "a command (a reservation) not answered in full within MS of sending it is refused\n(default 500, at most "
          "3600000)",
          kSharedMaxMs));
  needs_url("--shared-connect-timeout", c.count("--shared-connect-timeout", s.connect_timeout_ms, "MS",
          "connecting to Redis gives up after MS (default 500, at most 3600000)", kSharedMaxMs));
  needs_url("--shared-retry", c.count("--shared-retry", s.retry_ms, "MS",
          "after a failure, refuse without trying again for MS (default 100, at most 3600000;\n0: try again at once)",
          kSharedMaxMs, Command::Zero::Allowed));
  needs_url("--shared-wait-replicas", c.count("--shared-wait-replicas", s.wait_replicas, "N",
          "strict mode: a reservation counts once N replicas acknowledged it (WAIT; at most 1000;\ndefault 0: not strict)",
          kSharedMaxReplicas, Command::Zero::Allowed));
  needs_url("--shared-wait-timeout", c.count("--shared-wait-timeout", s.wait_timeout_ms, "MS",
          "how long strict mode waits for the replicas (default 100, at most 3600000)", kSharedMaxMs));
  needs_url("--shared-redirects", c.count("--shared-redirects", s.max_redirects, "N",
          "a Redis Cluster's MOVED, ASK and TRYAGAIN answers followed per command (default 5,\nat most 100; 0: none)",
          kSharedMaxRedirects, Command::Zero::Allowed));
  needs_url("--shared-lease", c.count("--shared-lease", s.lease, "N",
          "take stock and budget for N deliveries per round trip and hand them out here; unused\n"
          "ones go back at each commit (default 0: one round trip per delivery; at most 1000000;\ndocs/scaling.md)",
          kSharedMaxLease, Command::Zero::Allowed));
  if (partition)
    c.option("--partition", s.partition, "K/N",
             "decide only the users of partition K of N (by a stable hash of the user id);\nother users' events are skipped and counted");
}

int cmd_shared(int argc, char** argv) {
  std::string action = argc > 0 ? argv[0] : "";
  SharedCli s;
  std::vector<std::string> states;
  bool exact = false;
  std::string format = "text";
  Command c("shared", "shared reconcile|show --shared redis://HOST:PORT [--state sqlite:PATH]... [options]",
            "reconcile: sets the campaign's shared counters from the ledgers of every process (after Redis lost\n"
            "them, or to start a campaign): each becomes max(Redis, sum of the ledgers), or exactly the sum with\n"
            "--exact. show: the counters next to the ledgers' sums, changing nothing.");
  shared_options(c, s, false);
  c.option("--state", states, "sqlite:PATH",
           "a process's ledger (repeatable, each ledger once; read while its process runs)");
  c.flag("--exact", exact,
         "set the counters to the ledgers' sums exactly (only when no process is running: takes each\n"
         "ledger's writer lock, refused while a process holds one)");
  c.choice("--format", format, {"text", "json"}, "a table (default) or one JSON object");
  // `crm help shared` and `crm shared --help` (no action yet): the usage, not an error about it.
  if (action == "-h" || action == "--help") {
    std::cout << c.help();
    return kExitOk;
  }
  if (action != "reconcile" && action != "show")
    return usage_error("shared", "shared takes an action: reconcile or show");
  if (int rc = c.parse(argc - 1, argv + 1); rc >= 0) return rc;
  if (s.url.empty()) return usage_error("shared", "shared needs --shared redis://HOST:PORT");
  if (std::string why; !valid_shared_url(s.url, why)) return usage_error("shared", "--shared: " + why);
  std::vector<std::string> paths;
  for (const auto& st : states) {
    if (st.rfind("sqlite:", 0) != 0 || st.size() == 7) return usage_error("shared", "--state must be sqlite:PATH");
    // `:memory:`, a `file:` URI, a bad max_pages: the usage error `crm run` gives for them; the
    // ledger's file is the spec's path (`sqlite:PATH?max_pages=N` names PATH, as for `crm run`).
    StateSpec spec;
    if (std::string why; !parse_state_spec(st, spec, why)) return usage_error("shared", why);
    if (std::string why; !check_state_ledger(st, why)) return usage_error("shared", why);
    paths.push_back(spec.path);
  }
  ReconcileResult r;
  Error err;
  bool ok = action == "reconcile" ? reconcile_shared(s.counters(), paths, exact, r, err)
                                  : show_shared(s.counters(), paths, r, err);
  if (!ok) {
    std::cerr << "crm: " << err.message << "\n";
    return err.kind == ErrorKind::Input ? kExitUsage : kExitIo;
  }
  if (format == "json") {
    std::string rows;
    for (const auto& x : r.rows)
      rows += fmt::format("{}{{\"strategy\":{},\"ledgers\":{{\"deliveries\":{},\"reserved_millionths\":{}}},"
                          "\"before\":{{\"deliveries\":{},\"reserved_millionths\":{}}},"
                          "\"after\":{{\"deliveries\":{},\"reserved_millionths\":{}}}}}",
                          rows.empty() ? "" : ",", quoted(x.strategy), x.ledger_deliveries, x.ledger_reserved_millionths,
                          x.before_deliveries, x.before_reserved_millionths, x.after_deliveries, x.after_reserved_millionths);
    std::cout << fmt::format("{{\"campaign\":{},\"was_ready\":{},\"strategies\":[{}]}}\n", quoted(s.campaign),
                             r.was_ready ? "true" : "false", rows);
    return kExitOk;
  }
  std::cout << fmt::format("campaign {}: counters were {}\n", s.campaign, r.was_ready ? "ready" : "not ready");
  std::cout << fmt::format("{:<24} {:>12} {:>12} {:>12} {:>16} {:>16} {:>16}\n", "strategy", "ledgers", "before",
                           "after", "ledgers money", "before money", "after money");
  for (const auto& x : r.rows)
    std::cout << fmt::format("{:<24} {:>12} {:>12} {:>12} {:>16} {:>16} {:>16}\n", x.strategy, x.ledger_deliveries,
                             x.before_deliveries, x.after_deliveries, x.ledger_reserved_millionths,
                             x.before_reserved_millionths, x.after_reserved_millionths);
  return kExitOk;
}

}  // namespace crm::cli
