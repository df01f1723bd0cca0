// shared.cc - partitions of the users and reconciling the shared counters (include/crm/shared.h).
#include <crm/shared.h>

#include <sys/stat.h>

#include <fmt/format.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <map>
#include <memory>

#include "api/entry_point.h"
#include "runtime/state/redis_quotas.h"
#include "runtime/vm/vm.h"

namespace crm {

bool parse_partition(std::string_view text, Partition& out, std::string& error) {
  auto slash = text.find('/');
  uint32_t k = 0, n = 0;
  auto num = [](std::string_view s, uint32_t& v) {
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size();
  };
  if (slash == std::string_view::npos || !num(text.substr(0, slash), k) || !num(text.substr(slash + 1), n) || n == 0 ||
      k == 0 || k > n) {
    error = "a partition is K/N with 1 <= K <= N, e.g. 2/4";
    return false;
  }
  out = Partition{k - 1, n};
  return true;
}

bool in_partition(const Partition& p, std::string_view user) {
  return p.count <= 1 || vm::stable_hash(user) % p.count == p.index;
}

static_assert(kSharedMaxMs == state::kSharedMaxMs && kSharedMaxReplicas == state::kSharedMaxReplicas &&
                  kSharedMaxRedirects == state::kSharedMaxRedirects && kSharedMaxLease == state::kSharedMaxLease,
              "crm/shared.h states the limits RedisQuotas::create applies");

bool valid_shared_url(std::string_view url, std::string& error) {
  std::vector<state::RedisNode> nodes;
  bool cluster = false;
  return state::parse_shared_url(url, nodes, cluster, error);
}

namespace {

bool compare(const SharedCounters& shared, const std::vector<std::string>& ledger_paths, bool write, bool exact,
             ReconcileResult& result, Error& error) {
  result = ReconcileResult{};
  state::SharedOptions o = shared_options(shared);
  // One command-line run that makes no reservation: every read and write is attempted, no WAIT.
  o.retry_ms = 0;
  o.wait_replicas = 0;
  o.lease = 0;
  o.wait_timeout_ms = state::SharedOptions{}.wait_timeout_ms;
  o.on_notice = nullptr;
  auto fail = [&](ErrorKind kind, std::string message) {
    error = Error{kind, std::move(message)};
    return false;
  };
  std::string err;
  auto q = state::RedisQuotas::create(o, err);
  if (!q) return fail(ErrorKind::Input, err);
  // Each ledger once: one named twice, or under two names (a hard link, `./p1.db` and `p1.db`),
  // would count its grants twice.
  std::map<std::pair<dev_t, ino_t>, std::string> files;
  for (const auto& path : ledger_paths) {
    struct stat st{};
    if (::stat(path.c_str(), &st) != 0)
      return fail(ErrorKind::State, fmt::format("cannot open ledger `{}`: {}", path, std::strerror(errno)));
    auto [it, added] = files.try_emplace({st.st_dev, st.st_ino}, path);
    if (!added)
      return fail(ErrorKind::Input, it->second == path
                                        ? fmt::format("ledger `{}` is given twice: each ledger must be counted once", path)
                                        : fmt::format("ledgers `{}` and `{}` are the same file: each ledger must be counted once",
                                                      it->second, path));
  }
  // --exact drops every reservation no ledger shows, which is right only when no process is
  // running: each ledger's single-writer lock is taken (and held until the counters are set), so
  // a process still running is named and refused, and none starts meanwhile.
  std::vector<std::unique_ptr<state::LedgerLock>> locks;
  if (write && exact)
    for (const auto& path : ledger_paths) {
      locks.push_back(std::make_unique<state::LedgerLock>());
      if (!locks.back()->acquire(path, false, err))
        return fail(ErrorKind::State, "reconcile --exact needs every process stopped: " + err);
    }
  std::map<std::string, state::Quota> totals, before, after;
  for (const auto& path : ledger_paths)
    if (!state::ledger_totals(path, totals, err)) return fail(ErrorKind::State, err);
  bool ready_after = false;
  // --exact replaces the counters whatever they hold, also a key of the wrong type that cannot be
  // read (its script says so if Redis does not answer): `before` is then empty.
  std::vector<std::pair<std::string, std::string>> not_counts;
  if (!q->read(before, result.was_ready, err, &not_counts) && !(write && exact)) {
    // Fields that are no count: each is named with what the ledgers hold for it, which is what
    // an operator correcting it by hand needs (and what --exact would set).
    if (!not_counts.empty()) {
      std::string what;
      for (const auto& [field, text] : not_counts) {
        auto it = totals.find(field.substr(2));
        int64_t sum = it == totals.end() ? 0 : field[0] == 'd' ? it->second.deliveries : it->second.reserved;
        what += fmt::format("{}field `{}` holds `{}`, not a count (the ledgers hold {})", what.empty() ? "" : "; ",
                            field, text, sum);
      }
      err = fmt::format("{}; correct {} by hand, or run `crm shared reconcile --exact` with every process stopped (it "
                        "sets every counter from the ledgers)",
                        what, not_counts.size() == 1 ? "it" : "them");
    }
    return fail(ErrorKind::State, "shared counters " + q->describe() + ": " + err);
  }
  if ((write && !q->reconcile(totals, exact, err)) || !q->read(after, ready_after, err))
    return fail(ErrorKind::State, "shared counters " + q->describe() + ": " + err);
  std::map<std::string, ReconcileRow> rows;
  for (const auto& [name, t] : totals) rows[name].ledger_deliveries = t.deliveries, rows[name].ledger_reserved_millionths = t.reserved;
  for (const auto& [name, b] : before) rows[name].before_deliveries = b.deliveries, rows[name].before_reserved_millionths = b.reserved;
  for (const auto& [name, a] : after) rows[name].after_deliveries = a.deliveries, rows[name].after_reserved_millionths = a.reserved;
  for (auto& [name, row] : rows) {
    row.strategy = name;
    result.rows.push_back(row);
  }
  return true;
}

}  // namespace

bool reconcile_shared(const SharedCounters& shared, const std::vector<std::string>& ledger_paths, bool exact,
                      ReconcileResult& result, Error& error) {
  return compare(shared, ledger_paths, true, exact, result, error);
}

bool show_shared(const SharedCounters& shared, const std::vector<std::string>& ledger_paths, ReconcileResult& result,
                 Error& error) {
  return compare(shared, ledger_paths, false, false, result, error);
}

}  // namespace crm
