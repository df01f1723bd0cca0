// ledger_partition.cc - the partition a ledger serves, recorded at its first open (see the header).
#include "runtime/state/ledger_partition.h"

#include <fmt/format.h>

#include <random>

namespace crm::state {

std::string partition_text(uint32_t index, uint32_t count) {
  return fmt::format("{}/{}", uint64_t(index) + 1, count ? count : 1);
}

namespace {

std::string described(const std::string& partition) {
  return partition == "1/1" ? std::string("a run without --partition") : "--partition " + partition;
}

}  // namespace

bool keep_partition(StateStore& store, uint32_t index, uint32_t count, std::string& ledger_id, std::string& error) {
  const std::string mine = partition_text(index, count);
  std::string recorded;
  bool found = false;
  if (!store.meta("partition", recorded, found, error)) return false;
  if (found && recorded != mine) {
    error = fmt::format(
        "state `{}` was written by {}, and this is {}: the caps, grants and pending timers of a partition's users are "
        "in the ledger of the process that decided them, so a ledger serves one partition for its life (a campaign "
        "keeps its N; docs/scaling.md, \"Partitions\")",
        store.describe(), described(recorded), described(mine));
    return false;
  }
  ledger_id.clear();
  if (!store.meta("ledger_id", ledger_id, found, error)) return false;
  if (found) return true;
  std::random_device rd;
  const uint64_t hi = (uint64_t(rd()) << 32) ^ rd(), lo = (uint64_t(rd()) << 32) ^ rd();
  std::string id = fmt::format("{:016x}{:016x}", hi, lo);
  if (!store.set_meta("ledger_id", id, error)) return false;
  // A store that keeps nothing (memory) has no id.
  if (!store.meta("ledger_id", ledger_id, found, error)) return false;
  if (!found) ledger_id.clear();
  return true;
}

bool record_partition(StateStore& store, uint32_t index, uint32_t count, std::string& error) {
  std::string recorded;
  bool found = false;
  if (!store.meta("partition", recorded, found, error)) return false;
  // A ledger from before this record (or a new one): what it serves from now on is this run's.
  return found || store.set_meta("partition", partition_text(index, count), error);
}

}  // namespace crm::state
