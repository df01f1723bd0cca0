// shared_command.h - the options of many processes sharing counters (`crm run --shared`,
// `--partition`) and `crm shared` (reconcile, show), over include/crm/shared.h.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <crm/shared.h>

#include "cli/args.h"

namespace crm::cli {

struct SharedCli {
  std::string url, campaign = "default", partition;
  size_t timeout_ms = 500, connect_timeout_ms = 500, retry_ms = 100, wait_replicas = 0, wait_timeout_ms = 100;
  size_t max_redirects = 5, lease = 0;
  SharedCounters counters() const;
  // The options that mean something only with --shared (filled by shared_options), and the first
  // of them given on the command line: without --shared it would be ignored, which is a usage
  // error (a typo'd deployment must not run as if it shared counters), "" when none was.
  std::vector<std::pair<std::string, const CLI::Option*>> needs_url;
  std::string given_without_url() const;
};
// --shared, --campaign, --shared-timeout, --shared-connect-timeout, --shared-retry, --shared-wait-replicas,
// --shared-wait-timeout, --shared-redirects, --shared-lease; with `partition`: --partition K/N.
void shared_options(Command& c, SharedCli& s, bool partition);

int cmd_shared(int argc, char** argv);

}  // namespace crm::cli
