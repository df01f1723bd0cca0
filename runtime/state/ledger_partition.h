// ledger_partition.h - which users a ledger's decisions are about, kept in the ledger itself.
//
// Under `--partition K/N` a process decides only the users with stable_hash(user) % N == K-1,
// and their caps, grants and pending timers live in its ledger alone (docs/scaling.md,
// "Partitions"). A ledger continued with another K/N would decide those users afresh (caps
// broken, events decided twice), so the partition is recorded at the ledger's first open and
// another is refused later. The ledger also gets a random id for its life, by which a campaign
// shared through Redis tells whose a partition is (RedisQuotas::claim_partition, given it through
// SharedOptions::ledger_id: read once).
#pragma once

#include <cstdint>
#include <string>

#include "runtime/state/state_store.h"

namespace crm::state {

// "K/N" (1-based, as --partition is written); "1/1" for a run without --partition.
std::string partition_text(uint32_t index, uint32_t count);

// Before the store is attached: false with a message naming both partitions when `store` was
// recorded with another than index/count (0-based index); gives its id (`ledger_id`, 32 hex
// digits, made and kept at the first call: an id commits to nothing). A store that keeps no
// facts (memory) accepts any and gives an empty id.
bool keep_partition(StateStore& store, uint32_t index, uint32_t count, std::string& ledger_id, std::string& error);
// After the attach succeeded (between groups): records index/count in a store that has no
// partition yet, so a start refused later (by Redis, by the program's identity) records nothing.
bool record_partition(StateStore& store, uint32_t index, uint32_t count, std::string& error);

}  // namespace crm::state
