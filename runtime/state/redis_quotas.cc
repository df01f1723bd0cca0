// redis_quotas.cc - shared campaign counters in Redis (hiredis), and the ledger totals that
// reconcile them.
#include "runtime/state/redis_quotas.h"

#include <hiredis.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sqlite3.h>
#include <sys/time.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <utility>

#include "runtime/state/ledger_names.h"
#include "runtime/state/ledger_sqlite.h"
#include "support/json_text.h"
#include "support/text.h"

namespace crm::state {

namespace {

// Check-and-reserve, the same rule as check_quota() in the same order (stock, budget, pacing),
// in one script so no other client's command falls between the check and the increments. A
// delivery may draw on several counters (a strategy's and its budget pool's): it is counted in
// all of them or in none.
// KEYS: ready, counters. ARGV: amount, then for each part: counter name, stock, budget, paced
// stock, paced budget (-1: no limit), and the floor: the deliveries and money this process's
// ledger had granted from that counter when it attached (CRM_COUNT_LUA's below()). Returns {code, failed part (0-based; -1 when it fits),
// then deliveries and reserved of each part}: code 0 fits (counted), 1 stock, 2 budget,
// 3 pacing, -1 the campaign's counters are not ready; an error reply (nothing changed) when the
// counters cannot be trusted (CRM_COUNT_LUA). Money is millionths; Lua numbers are
// doubles, exact to 2^53 millionths (9 billion currency units) per counter.
// The rule of check_quota(), written once in Lua and put at the head of both scripts that check
// a delivery (kReserve, kLease): 0 fits, 1 stock, 2 budget, 3 pacing, for one counter's
// deliveries d and reserved money r.
#define CRM_QUOTA_CODE_LUA \
  "local function quota_code(d, r, amount, stock, budget, ps, pb)\n" \
  "  if stock >= 0 and d + 1 > stock then return 1 end\n" \
  "  if budget >= 0 and r + amount > budget then return 2 end\n" \
  "  if (ps >= 0 and d + 1 > ps) or (pb >= 0 and r + amount > pb) then return 3 end\n" \
  "  return 0\n" \
  "end\n"

// What the scripts trust in Redis they check first, before they write anything (a script that
// stops half way keeps what it wrote): a hand-edited or half-deleted hash is an error reply that
// names the key and the field, never a reservation against a wrong count (docs/scaling.md,
// "Counters that do not add up"). count_of(): a field's value, a count from 0 to 2^53 (Lua
// numbers are exact to there), absent = 0; otherwise nil and the error. The bound is checked on
// the digits, not on tonumber(), which reads 2^53 + 1 as 2^53: the same rule as the C++
// count_of() that `crm shared show/reconcile` apply (t23 F7). layout_error(): the
// hash exists with its layout field `v` (every reconcile writes it), while the ready key says the
// counters are valid; a `v` other than 1 is a layout this crm does not know, not a missing hash.
// below(): a counter below what this process's own ledger already granted (the counters hold
// every ledger's grants, so they are never below one ledger's share). generation(): the ready
// key's value when it is a generation number (digits, as INCR keeps it), nil when it does not
// exist (not ready), and nil with an error naming the key when it is anything else (`abc`, a
// list): the rule the reconcile script applies, so the reservation scripts refuse what a
// reconcile would refuse instead of reserving against it (t23 F7). One GET when it is sound.
#define CRM_COUNT_LUA \
  "local function int(x) return string.format('%.0f', x) end\n" \
  "local function count_of(field)\n" \
  "  local v = redis.call('HGET', KEYS[2], field)\n" \
  "  if not v then return 0 end\n" \
  "  local n = tonumber(v)\n" \
  "  local t = string.gsub(v, '^0+', '')\n" \
  "  if not string.find(v, '^%d+$') or not n or #t > 16 or (#t == 16 and t > '9007199254740992') then\n" \
  "    return nil, 'field `' .. field .. '` of `' .. KEYS[2] .. '` holds `' .. string.sub(v, 1, 40) ..\n" \
  "      '`, not a count (an integer from 0 to 2^53)'\n" \
  "  end\n" \
  "  return n\n" \
  "end\n" \
  "local function layout_error()\n" \
  "  local v = redis.call('HGET', KEYS[2], 'v')\n" \
  "  if not v then\n" \
  "    return '`' .. KEYS[2] .. '` is missing or has no layout field `v` while `' .. KEYS[1] ..\n" \
  "      '` says the counters are valid (deleted, evicted or written by hand)'\n" \
  "  end\n" \
  "  if v ~= '1' then\n" \
  "    return '`' .. KEYS[2] .. '` has an unknown layout (`v` = ' .. string.sub(v, 1, 40) ..\n" \
  "      '; this crm knows layout 1): written by another version of crm or by hand'\n" \
  "  end\n" \
  "end\n" \
  "local function generation()\n" \
  "  local g = redis.pcall('GET', KEYS[1])\n" \
  "  if not g then return nil end\n" \
  "  if type(g) == 'string' and string.find(g, '^%d+$') then return g end\n" \
  "  local t = redis.call('TYPE', KEYS[1]).ok\n" \
  "  local what = t == 'string' and ('holds `' .. string.sub(g, 1, 40) .. '`') or ('is a ' .. t)\n" \
  "  return nil, '`' .. KEYS[1] .. '` ' .. what .. ', not a generation number (written by hand?)'\n" \
  "end\n" \
  "local function below(s, d, r, fd, fr)\n" \
  "  if d < fd then return 'field `d:' .. s .. '` of `' .. KEYS[2] .. '` is ' .. int(d) .. ', below the ' .. int(fd) ..\n" \
  "    ' deliveries this process\\'s ledger already granted' end\n" \
  "  if r < fr then return 'field `r:' .. s .. '` of `' .. KEYS[2] .. '` is ' .. int(r) .. ', below the ' .. int(fr) ..\n" \
  "    ' millionths this process\\'s ledger already reserved' end\n" \
  "end\n"

// The partition registration (claim_partition) checked by every delivery's script, so a hash
// deleted or flushed while the processes run is registered again at their next reservation, not
// at their next reconnection (a process of another N or another ledger could take the partition
// meanwhile), and a registration another process made meanwhile is found at once. KEYS[3] is the
// partitions hash; ARGV's last four values: N ('' when this process registers nothing), K, the
// ledger's id ('' for none: N only) and the text stored for it ("id label"). Parts whose name
// has a `:` are a pool's counters, not strategies. partition_of(): a conflict reply {-3 (another
// N) or -4 (another ledger), -1, strategy, what is recorded}, or nil and the fields missing;
// register() writes them (after every check, before anything is counted). Two HGETs per
// strategy reserved when nothing is missing: no round trip.
#define CRM_PARTITION_LUA \
  "local function partition_of(names)\n" \
  "  local P = #ARGV - 3\n" \
  "  local pn, pk, id, owner = ARGV[P], ARGV[P + 1], ARGV[P + 2], ARGV[P + 3]\n" \
  "  local missing = {}\n" \
  "  if pn == '' then return nil, missing end\n" \
  "  for _, s in ipairs(names) do\n" \
  "    if not string.find(s, ':', 1, true) then\n" \
  "      local have = redis.call('HGET', KEYS[3], 'n:' .. s)\n" \
  "      if not have then missing[#missing + 1] = {'n:' .. s, pn}\n" \
  "      elseif have ~= pn then return {-3, -1, s, have} end\n" \
  "      if id ~= '' then\n" \
  "        local f = 'p:' .. s .. ':' .. pk\n" \
  "        local o = redis.call('HGET', KEYS[3], f)\n" \
  "        if not o then missing[#missing + 1] = {f, owner}\n" \
  "        elseif string.sub(o, 1, #id + 1) ~= id .. ' ' then return {-4, -1, s, o} end\n" \
  "      end\n" \
  "    end\n" \
  "  end\n" \
  "  return nil, missing\n" \
  "end\n" \
  "local function register(missing)\n" \
  "  for _, m in ipairs(missing) do redis.call('HSET', KEYS[3], m[1], m[2]) end\n" \
  "end\n"

constexpr const char* kReserve = CRM_QUOTA_CODE_LUA CRM_COUNT_LUA CRM_PARTITION_LUA R"lua(
local gen, bad = generation()
if bad then return redis.error_reply(bad) end
if not gen then return {-1, -1} end
bad = layout_error()
if bad then return redis.error_reply(bad) end
local amount = tonumber(ARGV[1])
local n = (#ARGV - 5) / 7
local d, r = {}, {}
for i = 1, n do
  local b = (i - 1) * 7 + 2
  local s, e = ARGV[b], nil
  d[i], e = count_of('d:' .. s)
  if e then return redis.error_reply(e) end
  r[i], e = count_of('r:' .. s)
  if e then return redis.error_reply(e) end
  e = below(s, d[i], r[i], tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6]))
  if e then return redis.error_reply(e) end
end
local names = {}
for i = 1, n do names[i] = ARGV[(i - 1) * 7 + 2] end
local conflict, missing = partition_of(names)
if conflict then return conflict end
register(missing)
for i = 1, n do
  local b = (i - 1) * 7 + 2
  local stock, budget, ps, pb = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local code = quota_code(d[i], r[i], amount, stock, budget, ps, pb)
  if code ~= 0 then
    local out = {code, i - 1}
    for k = 1, n do out[#out + 1] = d[k]; out[#out + 1] = r[k] end
    return out
  end
end
local out = {0, -1}
for i = 1, n do
  local s = ARGV[(i - 1) * 7 + 2]
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'd:' .. s, 1)
  out[#out + 1] = redis.call('HINCRBY', KEYS[2], 'r:' .. s, ARGV[1])
end
return out
)lua";

// Reconcile: KEYS ready, counters, and server (one server, not a cluster). ARGV: exact (1/0), a random number, then (strategy,
// deliveries, reserved) triples. Each counter becomes max(current, total) (or the total when
// exact); the ready key is a generation number, incremented (a ready key that does not exist, a
// new campaign or one Redis lost, starts from the random number, so a generation is never seen
// twice: a process's leases are given back only within the generation they were taken in). The hash always exists afterwards (field `v`, the layout
// version): a cluster migrating the slot answers a script whose keys are split between two
// nodes (one present, one absent) with TRYAGAIN, so a missing hash would stall reservations.
constexpr const char* kReconcile = CRM_COUNT_LUA R"lua(
local exact = ARGV[1] == '1'
-- Checked before anything is written: a ready key that is no generation number, or (max) a
-- counter that is no count, is an error reply naming it, and nothing changes.
local _, bad = generation()
if bad then return redis.error_reply(bad) end
if exact then redis.call('DEL', KEYS[2])
else
  for i = 3, #ARGV, 3 do
    for _, f in ipairs({'d:' .. ARGV[i], 'r:' .. ARGV[i]}) do
      local _, e = count_of(f)
      if e then return redis.error_reply(e .. ': only --exact (every process stopped) can replace it') end
    end
  end
end
for i = 3, #ARGV, 3 do
  local s = ARGV[i]
  local fields = {{'d:' .. s, ARGV[i + 1]}, {'r:' .. s, ARGV[i + 2]}}
  for _, f in ipairs(fields) do
    local cur = tonumber(redis.call('HGET', KEYS[2], f[1]) or '0')
    if exact or tonumber(f[2]) > cur then redis.call('HSET', KEYS[2], f[1], f[2]) end
  end
end
redis.call('HSET', KEYS[2], 'v', '1')
-- The server these counters were reconciled on (KEYS[3]): its run_id changes when it restarts
-- (possibly from an older snapshot) and a promoted replica has its own, so a process connected to
-- another server knows the counters may have gone back (RedisQuotas::same_server). Not on a
-- cluster (not checked there; a migration moves only the two keys the other scripts name).
if KEYS[3] then
  local id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)')
  if id then redis.call('SET', KEYS[3], id) end
end
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SET', KEYS[1], ARGV[2]) end
return redis.call('INCR', KEYS[1])
)lua";

// Leases (SharedOptions::lease > 0): a delivery that the process cannot serve from what it holds
// comes here, and so does settling (giving back). KEYS: ready, counters. ARGV: mode ('d' a
// delivery, 's' settle only), amount, the campaign generation (the ready key's value) the held
// leases were taken in, then for each part 11 values: counter name, stock, budget, paced stock,
// paced budget (-1: none), held deliveries, held money (leased and unused), wanted deliveries,
// wanted money (the new lease), and the floor (as kReserve's; not checked when settling). Every
// counter is checked first (CRM_COUNT_LUA; also not below what is held, which giving back would
// make negative). Giving back comes first, whatever follows, and only within the generation the
// leases were taken in: after a reconcile the counters may not contain them, and subtracting them
// could lower a counter below its grants. A delivery is then checked exactly as
// kReserve checks it; if it fits, it is counted and each part also takes, in each dimension, what
// is wanted but at most half of what that dimension's limits leave after this delivery (so the
// last units go one delivery at a time, never into one process's lease; a dimension without a
// limit gives what is wanted). Everything leased is counted at once: the counters always hold
// every grant plus every lease. Returns {code (as kReserve), failed part, generation, then per
// part: deliveries, reserved, deliveries leased, money leased} (leased 0 when refused); settle:
// {0, -1, generation, then deliveries, reserved per part}; {-1, -1}: not ready (nothing changed).
constexpr const char* kLease = CRM_QUOTA_CODE_LUA CRM_COUNT_LUA CRM_PARTITION_LUA R"lua(
local gen, bad = generation()
if bad then return redis.error_reply(bad) end
if not gen then return {-1, -1} end
bad = layout_error()
if bad then return redis.error_reply(bad) end
local settle_only = ARGV[1] == 's'
local amount = tonumber(ARGV[2])
local same = ARGV[3] == gen
local n = (#ARGV - 7) / 11
-- Every counter checked before anything is given back or counted: a count, not below what this
-- process holds leased (giving back would make it negative) nor, for a delivery, below what its
-- ledger granted.
local seen = {}
for i = 1, n do
  local b = (i - 1) * 11 + 4
  local s, e = ARGV[b], nil
  local cd, cr
  cd, e = count_of('d:' .. s)
  if e then return redis.error_reply(e) end
  cr, e = count_of('r:' .. s)
  if e then return redis.error_reply(e) end
  local hd, hr = 0, 0
  if same and not seen[s] then hd, hr = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6]) end
  seen[s] = true
  if cd < hd then
    return redis.error_reply('field `d:' .. s .. '` of `' .. KEYS[2] .. '` is ' .. int(cd) .. ', below the ' .. int(hd) ..
      ' deliveries this process holds leased')
  end
  if cr < hr then
    return redis.error_reply('field `r:' .. s .. '` of `' .. KEYS[2] .. '` is ' .. int(cr) .. ', below the ' .. int(hr) ..
      ' millionths this process holds leased')
  end
  if not settle_only then
    e = below(s, cd - hd, cr - hr, tonumber(ARGV[b + 9]), tonumber(ARGV[b + 10]))
    if e then return redis.error_reply(e) end
  end
end
if not settle_only then
  local strategies = {}
  for i = 1, n do strategies[i] = ARGV[(i - 1) * 11 + 4] end
  local conflict, missing = partition_of(strategies)
  if conflict then return conflict end
  register(missing)
end
local d, r, names, back = {}, {}, {}, {}
for i = 1, n do
  local b = (i - 1) * 11 + 4
  local s = ARGV[b]
  names[i] = s
  local hd, hr = 0, 0
  if same and not back[s] then hd, hr = tonumber(ARGV[b + 5]), tonumber(ARGV[b + 6]) end
  back[s] = true
  if hd ~= 0 then d[i] = redis.call('HINCRBY', KEYS[2], 'd:' .. s, int(-hd))
  else d[i] = tonumber(redis.call('HGET', KEYS[2], 'd:' .. s) or '0') end
  if hr ~= 0 then r[i] = redis.call('HINCRBY', KEYS[2], 'r:' .. s, int(-hr))
  else r[i] = tonumber(redis.call('HGET', KEYS[2], 'r:' .. s) or '0') end
end
local out = {0, -1, gen}
if settle_only then
  for i = 1, n do out[#out + 1] = d[i]; out[#out + 1] = r[i] end
  return out
end
for i = 1, n do
  local b = (i - 1) * 11 + 4
  local stock, budget, ps, pb = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local code = quota_code(d[i], r[i], amount, stock, budget, ps, pb)
  if code ~= 0 then
    local fail = {code, i - 1, gen}
    for k = 1, n do fail[#fail + 1] = d[k]; fail[#fail + 1] = r[k]; fail[#fail + 1] = 0; fail[#fail + 1] = 0 end
    return fail
  end
end
-- A lease of at most `want`, and at most half of what limits a and b (-1: none) leave once
-- `used` (this delivery included) is counted.
local function take(want, used, a, b)
  if want <= 0 then return 0 end
  local room = want * 2
  if a >= 0 and a - used < room then room = a - used end
  if b >= 0 and b - used < room then room = b - used end
  local t = math.floor(room / 2)
  if t > want then t = want end
  if t < 0 then t = 0 end
  return t
end
for i = 1, n do
  local b = (i - 1) * 11 + 4
  local stock, budget, ps, pb = tonumber(ARGV[b + 1]), tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local td = take(tonumber(ARGV[b + 7]), d[i] + 1, stock, ps)
  local tr = take(tonumber(ARGV[b + 8]), r[i] + amount, budget, pb)
  d[i] = redis.call('HINCRBY', KEYS[2], 'd:' .. names[i], int(1 + td))
  r[i] = redis.call('HINCRBY', KEYS[2], 'r:' .. names[i], int(amount + tr))
  out[#out + 1] = d[i]
  out[#out + 1] = r[i]
  out[#out + 1] = td
  out[#out + 1] = tr
end
return out
)lua";

constexpr const char* kScripts[3] = {kReserve, kReconcile, kLease};
constexpr const char* kScriptNames[3] = {"reservation", "reconcile", "lease"};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

timeval tv_of(int ms) {
  timeval tv;
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
}

// The most a reply may take: what crm sends returns a few integers and short strings (a script's
// array, a SHA1, the counters of one campaign for HGETALL, a cluster's slot map), far below
// these. A reply beyond them (a server that is not Redis, or a broken one) is refused like a
// timeout rather than buffered: hiredis's reader would otherwise wait for a declared bulk of any
// length, growing its buffer until it came (its `maxbuf` only frees an idle buffer), and, in
// 0.14, allocate an array of any declared size. docs/scaling.md, "Faults".
constexpr size_t kMaxReplyBytes = size_t(4) << 20;
constexpr int kMaxReplyElements = 1 << 20;

// A declared array size beyond kMaxReplyElements is refused as it is parsed, before anything is
// allocated for it: hiredis 1.x has the reader's own bound (maxelements); 0.14 has none, so its
// array constructor is wrapped (returning null makes the reader fail the reply).
#if HIREDIS_MAJOR >= 1
void bound_reader(redisContext* c) { c->reader->maxelements = kMaxReplyElements; }
bool too_many_elements() { return false; }
#else
thread_local bool refused_elements = false;
redisReplyObjectFunctions bounded_functions;
void* (*hiredis_create_array)(const redisReadTask*, int) = nullptr;
void* bounded_array(const redisReadTask* task, int elements) {
  if (elements < 0 || elements > kMaxReplyElements) {
    refused_elements = true;
    return nullptr;
  }
  return hiredis_create_array(task, elements);
}
void bound_reader(redisContext* c) {
  static std::once_flag once;
  std::call_once(once, [&] {
    bounded_functions = *c->reader->fn;
    hiredis_create_array = bounded_functions.createArray;
    bounded_functions.createArray = bounded_array;
  });
  c->reader->fn = &bounded_functions;
}
bool too_many_elements() { return std::exchange(refused_elements, false); }
#endif

// One reply on `c` (a blocking context), after sending what `c` has buffered, all before
// `deadline` (steady-clock ms): the socket's timeout would bound each read, not the command, so
// a server that trickles its answer a byte at a time would hold the command for ever. Writes get
// the time left as the socket's timeout; reads wait for data with poll() for the time left, then
// read what is there and feed hiredis's reader, at most kMaxReplyBytes for this reply. False with
// `error` ("timed out after `timeout_ms` ms", a reply too large, the connection's error); the
// context cannot be used again then (its reply is cut or unread).
bool read_reply(redisContext* c, int64_t deadline, int timeout_ms, void** out, std::string& error) {
  *out = nullptr;
  if (c->err) return error = c->errstr, false;
  auto timed_out = [&] {
    error = fmt::format("timed out after {} ms", timeout_ms);
    return false;
  };
  auto failed = [&] {
    if (too_many_elements())
      error = fmt::format("a reply array of more than {} elements (what crm reads is far smaller): refused",
                          kMaxReplyElements);
    else if (c->err == REDIS_ERR_IO && (c->errstr[0] == 0 || std::strstr(c->errstr, "temporarily")))
      return timed_out();  // a write that the socket's timeout (the time left) cut short
    else
      error = c->errstr[0] ? c->errstr : c->reader->errstr[0] ? c->reader->errstr : "connection error";
    return false;
  };
  if (redisGetReplyFromReader(c, out) != REDIS_OK) return failed();
  if (*out) return true;
  for (int done = 0; !done;) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return timed_out();
    redisSetTimeout(c, tv_of(int(left)));
    if (redisBufferWrite(c, &done) != REDIS_OK) return failed();
  }
  size_t read_bytes = 0;
  char buf[16 * 1024];
  while (!*out) {
    int64_t left = deadline - now_ms();
    if (left <= 0) return timed_out();
    pollfd p{c->fd, POLLIN, 0};
    int ready = ::poll(&p, 1, int(left));
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return error = fmt::format("poll: {}", std::strerror(errno)), false;
    if (ready == 0) return timed_out();
    ssize_t n = ::read(c->fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    if (n < 0) return error = std::strerror(errno), false;
    if (n == 0) return error = "Server closed the connection", false;
    read_bytes += size_t(n);
    if (read_bytes > kMaxReplyBytes)
      return error = fmt::format("a reply of more than {} MiB (what crm reads is far smaller): refused",
                                 kMaxReplyBytes >> 20),
             false;
    if (redisReaderFeed(c->reader, buf, size_t(n)) != REDIS_OK || redisGetReplyFromReader(c, out) != REDIS_OK)
      return failed();
  }
  return true;
}

bool get_reply(redisContext* c, int64_t deadline, int timeout_ms, void** out, std::string& error) {
  if (read_reply(c, deadline, timeout_ms, out, error)) return true;
  // A reply cut short leaves the stream out of step: the context is marked failed (as hiredis
  // marks it after its own errors), so nothing is read from it again.
  if (!c->err) {
    c->err = REDIS_ERR_IO;
    std::snprintf(c->errstr, sizeof c->errstr, "%s", error.c_str());
  }
  return false;
}

// One command on `c` (redisCommand's format), its reply within `timeout_ms` of sending it.
redisReply* call(redisContext* c, int timeout_ms, std::string& error, const char* format, ...) {
  va_list ap;
  va_start(ap, format);
  int rc = redisvAppendCommand(c, format, ap);
  va_end(ap);
  if (rc != REDIS_OK) return error = c->errstr, nullptr;
  void* raw = nullptr;
  if (!get_reply(c, now_ms() + timeout_ms, timeout_ms, &raw, error)) return nullptr;
  return static_cast<redisReply*>(raw);
}

int64_t int_of(const redisReply* r) {
  if (r->type == REDIS_REPLY_INTEGER) return r->integer;
  int64_t v = 0;
  if (r->type == REDIS_REPLY_STRING) std::from_chars(r->str, r->str + r->len, v);
  return v;
}

// A counter field's text as the scripts accept it (their count_of): an integer from 0 to 2^53,
// digits only. Anything else was written by hand or by another tool, and reading it as 0 would
// show (or start from) a counter that is not there.
bool count_of(std::string_view text, int64_t& have) {
  have = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), have);
  return !text.empty() && text[0] != '-' && ec == std::errc() && end == text.data() + text.size() &&
         have <= (int64_t(1) << 53);
}

}  // namespace

struct RedisQuotas::Reply {
  redisReply* r = nullptr;
  ~Reply() { if (r) freeReplyObject(r); }
};

namespace {

// RFC 3986's authority, as far as a Redis address uses it: a host name or IPv4 address (letters,
// digits, `.`, `-`, `_`), or an IPv6 address in brackets (`[::1]`, connected to without them),
// then an optional `:PORT`. Anything else is refused at option parsing, never given to the
// resolver (a space, a second port, an unbracketed IPv6 address whose last group could be read as
// the port): a process whose address can never connect would refuse every limited delivery.
// False with `why`.
bool parse_authority(std::string_view rest, std::string& host, int& port, std::string& why) {
  port = 6379;
  std::string_view name, port_text;
  bool has_port = false;
  if (!rest.empty() && rest[0] == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return why = "`[` without `]`", false;
    name = rest.substr(1, close - 1);
    in6_addr a6{};
    if (name.empty() || name.size() >= INET6_ADDRSTRLEN || ::inet_pton(AF_INET6, std::string(name).c_str(), &a6) != 1)
      return why = fmt::format("`{}` in brackets is not an IPv6 address", support::visible(name)), false;
    std::string_view after = rest.substr(close + 1);
    if (!after.empty() && after[0] != ':') return why = "only `:PORT` may follow `]`", false;
    if (!after.empty()) has_port = true, port_text = after.substr(1);
  } else {
    auto colon = rest.find(':');
    name = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      if (rest.find(':', colon + 1) != std::string_view::npos)
        return why = "more than one `:` (an IPv6 address goes in brackets: redis://[::1]:6379)", false;
      has_port = true, port_text = rest.substr(colon + 1);
    }
    if (name.empty()) return why = "no host", false;
    for (char ch : name)
      if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
            ch == '_'))
        return why = fmt::format("the host `{}` has `{}` (a host is a name, an IPv4 address, or an IPv6 address in "
                                 "brackets)",
                                 support::visible(name), support::visible(std::string_view(&ch, 1))),
               false;
  }
  if (has_port) {
    bool digits = !port_text.empty() && port_text.size() <= 5 &&
                  std::all_of(port_text.begin(), port_text.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    if (digits) std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (!digits || port <= 0 || port > 65535)
      return why = fmt::format("the port `{}` is not a number from 1 to 65535", support::visible(port_text)), false;
  }
  host = std::string(name);
  return true;
}

}  // namespace

bool parse_redis_url(std::string_view url, std::string& host, int& port, std::string& error) {
  constexpr std::string_view scheme = "redis://";
  std::string why;
  if (url.substr(0, scheme.size()) == scheme) {
    std::string_view rest = url.substr(scheme.size());
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (parse_authority(rest, host, port, why)) return error.clear(), true;
  }
  error = fmt::format("`{}` is not a Redis address{}{}: use redis://HOST:PORT", support::visible(url),
                      why.empty() ? "" : ": ", why);
  return false;
}

namespace {

// HOST:PORT as written in an address (an IPv6 host in brackets).
std::string host_port(const std::string& host, int port) {
  return host.find(':') == std::string::npos ? fmt::format("{}:{}", host, port) : fmt::format("[{}]:{}", host, port);
}
std::string host_port(const RedisNode& n) { return host_port(n.host, n.port); }

}  // namespace

namespace {

// RFC 3986 percent-decoding of a userinfo part; false for a `%` not followed by two hex digits.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  auto hex = [](char ch) {
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
  };
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    int hi = i + 1 < in.size() ? hex(in[i + 1]) : -1, lo = i + 2 < in.size() ? hex(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out += char(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// The userinfo of an address after its scheme: everything before the last `@` (a host has none,
// so a password with an unencoded `@` still splits right). `rest` keeps what follows it.
std::string_view take_userinfo(std::string_view& rest, bool& has) {
  auto at = rest.rfind('@');
  has = at != std::string_view::npos;
  if (!has) return {};
  std::string_view info = rest.substr(0, at);
  rest = rest.substr(at + 1);
  return info;
}

// USER:PASSWORD (USER may be empty), percent-decoded; false with `why`. A userinfo without `:`
// is refused: clients disagree whether it is a user or a password.
bool parse_userinfo(std::string_view info, RedisCredentials& out, std::string& why) {
  auto colon = info.find(':');
  if (colon == std::string_view::npos)
    return why = "credentials are written USER:PASSWORD@ or :PASSWORD@ (the password after a `:`)", false;
  if (!percent_decode(info.substr(0, colon), out.user) || !percent_decode(info.substr(colon + 1), out.password))
    return why = "a `%` in the credentials not followed by two hex digits (percent-encoding: %40 for `@`)", false;
  if (out.password.empty()) return why = "an empty password", false;
  return true;
}

}  // namespace

std::string masked_url(std::string_view url) {
  auto scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(url);
  std::string_view rest = url.substr(scheme_end + 3);
  bool has = false;
  std::string_view info = take_userinfo(rest, has);
  if (!has) return std::string(url);
  auto colon = info.find(':');
  std::string shown = colon == std::string_view::npos ? "***" : std::string(info.substr(0, colon)) + ":***";
  return fmt::format("{}://{}@{}", url.substr(0, scheme_end), shown, rest);
}

bool parse_shared_url(std::string_view url, std::vector<RedisNode>& nodes, bool& cluster, std::string& error,
                      RedisCredentials* credentials) {
  constexpr std::string_view scheme = "redis-cluster://";
  nodes.clear();
  RedisCredentials creds;
  cluster = url.substr(0, scheme.size()) == scheme;
  // Every message shows the address with its password masked (it may end up in logs).
  const std::string shown = support::visible(masked_url(url));
  if (!cluster) {
    RedisNode n;
    constexpr std::string_view one = "redis://";
    std::string why;
    std::string_view rest = url.substr(0, one.size()) == one ? url.substr(one.size()) : std::string_view();
    bool has_info = false;
    std::string_view info = take_userinfo(rest, has_info);
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (url.substr(0, one.size()) != one || (has_info && !parse_userinfo(info, creds, why)) ||
        !parse_authority(rest, n.host, n.port, why)) {
      error = fmt::format("`{}` is not a Redis address{}{}; use redis://[[USER]:PASSWORD@]HOST:PORT, or "
                          "redis-cluster://HOST:PORT,HOST:PORT,... for a Redis Cluster",
                          shown, why.empty() ? "" : ": ", why);
      return false;
    }
    nodes.push_back(std::move(n));
    if (credentials) *credentials = std::move(creds);
    return true;
  }
  std::string_view rest = url.substr(scheme.size());
  bool has_info = false;
  std::string_view info = take_userinfo(rest, has_info);
  if (std::string why; has_info && !parse_userinfo(info, creds, why)) {
    error = fmt::format("`{}` is not a Redis Cluster address: {}; use "
                        "redis-cluster://[[USER]:PASSWORD@]HOST:PORT,HOST:PORT,... (seed nodes)",
                        shown, why);
    return false;
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  while (true) {
    auto comma = rest.find(',');
    RedisNode n;
    std::string why;
    if (!parse_authority(rest.substr(0, comma), n.host, n.port, why)) {
      error = fmt::format("`{}` is not a Redis Cluster address: {}; use redis-cluster://HOST:PORT,HOST:PORT,... (seed "
                          "nodes)",
                          shown, why);
      nodes.clear();
      return false;
    }
    nodes.push_back(std::move(n));
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  if (credentials) *credentials = std::move(creds);
  return true;
}

uint16_t crc16_xmodem(std::string_view bytes) {
  uint16_t crc = 0;
  for (unsigned char ch : bytes) {
    crc ^= static_cast<uint16_t>(ch << 8);
    for (int bit = 0; bit < 8; ++bit)
      crc = crc & 0x8000 ? static_cast<uint16_t>((crc << 1) ^ 0x1021) : static_cast<uint16_t>(crc << 1);
  }
  return crc;
}

uint16_t cluster_slot(std::string_view key) {
  auto open = key.find('{');
  if (open != std::string_view::npos) {
    auto close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return crc16_xmodem(key) & 16383;
}

std::unique_ptr<RedisQuotas> RedisQuotas::create(const SharedOptions& o, std::string& error) {
  std::unique_ptr<RedisQuotas> q(new RedisQuotas());
  if (!parse_shared_url(o.url, q->seeds_, q->cluster_, error, &q->credentials_)) return nullptr;
  if (o.campaign.empty() || o.campaign.find_first_of("{}") != std::string::npos) {
    error = fmt::format("campaign name `{}` must be non-empty and without braces (it is the Redis hash tag)", o.campaign);
    return nullptr;
  }
  if (o.connect_timeout_ms <= 0 || o.command_timeout_ms <= 0 || o.retry_ms < 0 || o.wait_replicas < 0 ||
      o.wait_timeout_ms <= 0 || o.max_redirects < 0 || o.lease < 0) {
    error = "shared counters: timeouts must be positive, retry, replicas, redirections and lease not negative";
    return nullptr;
  }
  // Bounded so that nothing derived from them overflows an int (WAIT's wait + 200 + command
  // timeout) and the CLI's options cannot wrap into other values (docs/scaling.md).
  for (auto [value, max, what, unit] :
       {std::tuple{o.connect_timeout_ms, kSharedMaxMs, "a connect timeout of", " ms"},
        std::tuple{o.command_timeout_ms, kSharedMaxMs, "a command timeout of", " ms"},
        std::tuple{o.retry_ms, kSharedMaxMs, "a retry interval of", " ms"},
        std::tuple{o.wait_timeout_ms, kSharedMaxMs, "a replica wait of", " ms"},
        std::tuple{o.wait_replicas, kSharedMaxReplicas, "a wait for", " replicas"},
        std::tuple{o.max_redirects, kSharedMaxRedirects, "following", " redirections per command"},
        std::tuple{o.lease, kSharedMaxLease, "a lease of", " deliveries"}})
    if (value > max) {
      error = fmt::format("shared counters: {} {}{} is more than {}", what, value, unit, max);
      return nullptr;
    }
  q->o_ = o;
  q->ready_key_ = fmt::format("crm:{{{}}}:ready", o.campaign);
  q->counters_key_ = fmt::format("crm:{{{}}}:counters", o.campaign);
  q->partitions_key_ = fmt::format("crm:{{{}}}:partitions", o.campaign);
  q->server_key_ = fmt::format("crm:{{{}}}:server", o.campaign);
  q->slot_ = cluster_slot(q->counters_key_);
  q->node_ = q->seeds_.front();
  q->owner_known_ = !q->cluster_;
  return q;
}

RedisQuotas::~RedisQuotas() {
  // A process that stops gives back what it leased and did not use. No notices from here: the
  // embedding program's callback may be gone (a lost give-back is an undergrant of the lease).
  o_.on_notice = nullptr;
  settle_locked(false);
  if (c_) redisFree(c_);
  if (ask_c_) redisFree(ask_c_);
}

std::string RedisQuotas::describe() const {
  if (!cluster_) return fmt::format("redis://{} campaign {}", host_port(node_), o_.campaign);
  return fmt::format("{} campaign {} (slot {}{})", masked_url(o_.url), o_.campaign, slot_,
                     owner_known_ ? fmt::format(" at {}", host_port(node_)) : std::string());
}

void RedisQuotas::notice(const std::string& text) {
  if (o_.on_notice) o_.on_notice(text);
}

void RedisQuotas::fault(const std::string& text) {
  stats_.last_error = text;
  if (text == reported_fault_) return;
  reported_fault_ = text;
  // What to do, for the faults the scripts report about the counters themselves.
  std::string hint;
  if (text.find("ledger already") != std::string::npos || text.find("is missing or has no layout") != std::string::npos)
    hint = "; `crm shared reconcile` with every process's ledger (--state) sets them from the ledgers";
  else if (text.find("not a generation number") != std::string::npos)
    hint = fmt::format("; delete it (`redis-cli DEL {}`) and run `crm shared reconcile` with every process's ledger "
                       "(--state), which starts a new generation",
                       ready_key_);
  else if (text.find("has an unknown layout") != std::string::npos)
    hint = "; run the campaign with the crm that wrote it, or, if it was written by hand, `crm shared reconcile "
           "--exact` with every process stopped (it writes layout 1 and every counter from the ledgers)";
  else if (text.find("not a count") != std::string::npos || text.find("holds leased") != std::string::npos)
    hint = "; correct the field by hand, or run `crm shared reconcile --exact` with every process stopped (it sets "
           "every counter from the ledgers)";
  notice(fmt::format("shared counters refused ({}): {}; deliveries with a limit are refused until this is corrected{}",
                     describe(), text, hint));
}

void RedisQuotas::answered() {
  if (reported_fault_.empty()) return;
  reported_fault_.clear();
  notice(fmt::format("shared counters answer reservations again ({})", describe()));
}

// Both keys' types, named when wrong: a WRONGTYPE from inside a script does not say which key.
std::string RedisQuotas::key_types(redisContext* c) {
  std::string out;
  for (auto [key, want] : {std::pair<const std::string*, const char*>{&ready_key_, "string"}, {&counters_key_, "hash"}}) {
    std::string ignored;
    Reply t{call(c, o_.command_timeout_ms, ignored, "TYPE %b", key->data(), key->size())};
    if (!t.r || t.r->type != REDIS_REPLY_STATUS) continue;
    std::string type(t.r->str, t.r->len);
    if (type != "none" && type != want)
      out += fmt::format("{}`{}` is a {}, not a {}", out.empty() ? " (" : "; ", *key, type, want);
  }
  return out.empty() ? out : out + ")";
}

void RedisQuotas::drop(const std::string& why) {
  stats_.last_error = why;
  std::string where = describe();
  for (redisContext** c : {&c_, &ask_c_})
    if (*c) {
      redisFree(*c);
      *c = nullptr;
    }
  last_ = nullptr;
  // A cluster's node that stopped answering may have failed over: ask the seeds again.
  if (cluster_) owner_known_ = false;
  retry_at_ = now_ms() + o_.retry_ms;
  if (!reported_down_) {
    reported_down_ = true;
    notice(fmt::format("shared counters unavailable ({}): {}; reservations are refused until it answers", where, why));
  }
}

bool RedisQuotas::connect(std::string& error) {
  std::lock_guard lock(mu_);
  retry_at_ = 0;
  return ensure(error);
}

redisContext* RedisQuotas::open(const RedisNode& node, std::string& error) const {
  redisContext* c = redisConnectWithTimeout(node.host.c_str(), node.port, tv_of(o_.connect_timeout_ms));
  if (!c || c->err) {
    error = c ? fmt::format("cannot connect to {}: {}", host_port(node), c->errstr) : "cannot connect: out of memory";
    if (c) redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv_of(o_.command_timeout_ms));
  bound_reader(c);
  // AUTH on every connection (the server, each cluster node and seed, an ASK target, every
  // reconnection): a refusal fails closed like a connection that cannot be made.
  if (!credentials_.password.empty()) {
    std::string why;
    const auto& [user, password] = credentials_;
    Reply rep{user.empty() ? call(c, o_.command_timeout_ms, why, "AUTH %b", password.data(), password.size())
                           : call(c, o_.command_timeout_ms, why, "AUTH %b %b", user.data(), user.size(), password.data(),
                                  password.size())};
    if (!rep.r || rep.r->type == REDIS_REPLY_ERROR) {
      error = !rep.r ? fmt::format("AUTH at {}: {}", host_port(node), why)
                     : fmt::format("{} refused the credentials{} (AUTH: {})", host_port(node),
                                   user.empty() ? "" : fmt::format(" of user `{}`", support::visible(user)),
                                   std::string(rep.r->str ? rep.r->str : "", rep.r->len));
      redisFree(c);
      return nullptr;
    }
  }
  return c;
}

bool RedisQuotas::load_scripts(redisContext* c, std::string& error) {
  for (int i = 0; i < 3; ++i) {
    std::string why;
    Reply rep{call(c, o_.command_timeout_ms, why, "SCRIPT LOAD %s", kScripts[i])};
    if (!rep.r || rep.r->type != REDIS_REPLY_STRING) {
      std::string text = rep.r ? std::string(rep.r->str ? rep.r->str : "", rep.r->len) : why;
      // The first command after connecting: a server that wants credentials says so here.
      if (text.rfind("NOAUTH", 0) == 0)
        text += credentials_.password.empty()
                    ? " (this Redis requires a password: give it in the address, redis://[USER]:PASSWORD@HOST:PORT)"
                    : " (the credentials were accepted by AUTH but the server still refuses)";
      error = fmt::format("SCRIPT LOAD: {}", text);
      return false;
    }
    sha_[i].assign(rep.r->str, rep.r->len);
  }
  return true;
}

// The owner of the campaign's slot, from the first seed (then the last owner) that answers
// CLUSTER SLOTS. Only this slot is kept: one RedisQuotas serves one campaign, whose keys all
// share its hash tag.
bool RedisQuotas::discover(std::string& error) {
  std::vector<RedisNode> candidates = seeds_;
  bool seed = false;
  for (const auto& s : seeds_) seed = seed || (s.host == node_.host && s.port == node_.port);
  if (!seed) candidates.push_back(node_);
  std::string why;
  for (const auto& n : candidates) {
    std::string e;
    redisContext* c = open(n, e);
    if (c) {
      std::string why;
      Reply rep{call(c, o_.command_timeout_ms, why, "CLUSTER SLOTS")};
      if (!rep.r) e = fmt::format("CLUSTER SLOTS: {}", why);
      else if (rep.r->type == REDIS_REPLY_ERROR) e = fmt::format("CLUSTER SLOTS: {}", std::string(rep.r->str, rep.r->len));
      else if (rep.r->type != REDIS_REPLY_ARRAY) e = "CLUSTER SLOTS: unexpected reply";
      else {
        e = fmt::format("slot {} is served by no node (CLUSTER SLOTS)", slot_);
        for (size_t i = 0; i < rep.r->elements; ++i) {
          const redisReply* range = rep.r->element[i];
          if (range->type != REDIS_REPLY_ARRAY || range->elements < 3) continue;
          if (int_of(range->element[0]) > slot_ || int_of(range->element[1]) < slot_) continue;
          const redisReply* primary = range->element[2];
          if (primary->type != REDIS_REPLY_ARRAY || primary->elements < 2) continue;
          std::string host(primary->element[0]->str ? primary->element[0]->str : "", primary->element[0]->len);
          // An empty or unknown endpoint means "the address you asked" (cluster-preferred-endpoint-type).
          node_ = RedisNode{host.empty() || host == "?" ? n.host : host, int(int_of(primary->element[1]))};
          owner_known_ = true;
          redisFree(c);
          return true;
        }
      }
      redisFree(c);
    }
    why += fmt::format("{}{}: {}", why.empty() ? "" : "; ", host_port(n), e);
  }
  error = fmt::format("no node of the cluster gave the owner of slot {}: {}", slot_, why);
  return false;
}

bool RedisQuotas::ensure(std::string& error) {
  if (c_) return true;
  if (now_ms() < retry_at_) {
    error = stats_.last_error;
    return false;
  }
  if (!owner_known_ && !discover(error)) {
    drop(error);
    return false;
  }
  c_ = open(node_, error);
  if (!c_) {
    drop(error);
    return false;
  }
  if (!load_scripts(c_, error)) {
    drop(error);
    return false;
  }
  ++connections_;

  // Which Redis process this connection reaches (a connection never outlives it): checked
  // against the server the campaign was reconciled on before the first reservation.
  identity_ = 0;
  run_id_.clear();
  if (!cluster_) {
    std::string why;
    Reply info{call(c_, o_.command_timeout_ms, why, "INFO server")};
    if (info.r && info.r->type == REDIS_REPLY_STRING) {
      std::string_view text(info.r->str, info.r->len);
      auto at = text.find("run_id:");
      if (at != std::string_view::npos) {
        auto id = text.substr(at + 7);
        run_id_ = std::string(id.substr(0, id.find_first_of("\r\n")));
      }
    }
    if (run_id_.empty()) {
      drop(error = fmt::format("INFO server: {}", info.r ? "no run_id in the reply" : why));
      return false;
    }
  }
  if (stats_.reservations) ++stats_.reconnects;
  if (reported_down_) notice(fmt::format("shared counters available again ({})", describe()));
  reported_down_ = false;
  // A new connection may reach a Redis that lost the partitions hash (a restart, a failover):
  // the partition is registered again before any command of the caller's (claim_partition was
  // made); not registered, or another process's, the caller's command is not sent.
  if (partition_claimed_ && !registering_) {
    partition_pending_ = true;
    registering_ = true;
    std::string why;
    if (!register_partition(why)) partition_conflict_ = why;
    registering_ = false;
    if (!c_) {
      error = stats_.last_error;
      return false;
    }
    if (!partition_conflict_.empty() || partition_pending_) {
      error = !partition_conflict_.empty() ? partition_conflict_ : partition_error_;
      return false;
    }
  }
  return true;
}

namespace {

// Per strategy, its partition count N and the ledger of partition K, set by the first process
// that decides it and compared by every later one, all at once (nothing is written when one
// conflicts). KEYS[1] the partitions hash; ARGV: N, K, the ledger's id (empty: N only),
// "id label" to store, then the strategies. Replies {0}, or {1, strategy, N recorded} or
// {2, strategy, owner recorded}.
constexpr const char* kPartitionScript = R"(
local n, k, id, owner = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
for i = 5, #ARGV do
  local s = ARGV[i]
  local have = redis.call('HGET', KEYS[1], 'n:' .. s)
  if have and have ~= n then return {1, s, have} end
  if id ~= '' then
    local o = redis.call('HGET', KEYS[1], 'p:' .. s .. ':' .. k)
    if o and string.sub(o, 1, #id + 1) ~= id .. ' ' then return {2, s, o} end
  end
end
for i = 5, #ARGV do
  local s = ARGV[i]
  redis.call('HSETNX', KEYS[1], 'n:' .. s, n)
  if id ~= '' then redis.call('HSETNX', KEYS[1], 'p:' .. s .. ':' .. k, owner) end
end
return {0}
)";

}  // namespace

bool RedisQuotas::claim_partition(const std::string& ledger_id, const std::string& ledger_label, std::string& error) {
  std::lock_guard lock(mu_);
  partition_claimed_ = true;
  partition_ledger_ = ledger_id;
  partition_owner_ = ledger_id.empty() ? std::string() : ledger_id + " " + ledger_label;
  partition_pending_ = true;
  partition_conflict_.clear();
  return register_partition(error);
}

std::string RedisQuotas::conflict_text(int64_t code, const std::string& strategy, const std::string& recorded) const {
  const uint32_t count = o_.partition_count ? o_.partition_count : 1, k = o_.partition_index + 1;
  const std::string mine = count == 1 ? std::string("runs without --partition") : fmt::format("has --partition {}/{}", k, count);
  if (code == 1)
    return fmt::format(
        "strategy `{}` of campaign `{}` is decided in {} partition(s) (field `n:{}` of `{}`, set by the first process "
        "that decided it), and this process {}: every process deciding a strategy takes --partition K/N with the same "
        "N, or its users are decided twice (docs/scaling.md, \"Partitions\")",
        strategy, o_.campaign, recorded, strategy, partitions_key_, mine);
  const auto space = recorded.find(' ');
  const std::string field = fmt::format("p:{}:{}", strategy, k);
  return fmt::format(
      "strategy `{}` of campaign `{}` is decided for partition {}/{} by another ledger (id {}, first attached as {}; "
      "field `{}` of `{}`), not by this one (id {}): two processes would decide the same users twice. If that ledger "
      "is lost for good, deleting its fields `p:STRATEGY:{}` (`redis-cli HDEL {} {} ...`, one per strategy) lets "
      "this one take the partition (docs/scaling.md, \"Partitions\")",
      strategy, o_.campaign, k, count, recorded.substr(0, space),
      space == std::string::npos ? "?" : recorded.substr(space + 1), field, partitions_key_, partition_ledger_, k,
      partitions_key_, field);
}

void RedisQuotas::partition_args(std::vector<std::string>& args, bool check) const {
  if (!check || !partition_claimed_) {
    args.insert(args.end(), {"", "", "", ""});
    return;
  }
  const uint32_t count = o_.partition_count ? o_.partition_count : 1;
  args.insert(args.end(),
              {std::to_string(count), std::to_string(o_.partition_index + 1), partition_ledger_, partition_owner_});
}

bool RedisQuotas::found_conflict(const redisReply* r) {
  if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 || r->element[0]->type != REDIS_REPLY_INTEGER) return false;
  const int64_t code = r->element[0]->integer;
  if (code != -3 && code != -4) return false;
  auto str = [&](size_t i) {
    return r->element[i]->str ? std::string(r->element[i]->str, r->element[i]->len) : std::string();
  };
  partition_conflict_ = conflict_text(code == -3 ? 1 : 2, str(2), str(3));
  fault(partition_conflict_);
  ++stats_.unavailable;
  return true;
}

bool RedisQuotas::register_partition(std::string& error) {
  const uint32_t count = o_.partition_count ? o_.partition_count : 1, k = o_.partition_index + 1;
  if (o_.strategies.empty()) {
    partition_pending_ = false;
    return true;
  }
  std::vector<std::string> args{"EVAL", kPartitionScript, "1", partitions_key_, std::to_string(count),
                                std::to_string(k), partition_ledger_, partition_owner_};
  args.insert(args.end(), o_.strategies.begin(), o_.strategies.end());
  std::string err;
  auto r = run(args, -1, err);
  const redisReply* x = r ? r->r : nullptr;
  if (!x || x->type != REDIS_REPLY_ARRAY || x->elements < 1 || x->element[0]->type != REDIS_REPLY_INTEGER) {
    // No answer, or an error reply (OOM, READONLY, a key of the wrong type; run() said it):
    // still pending, so reservations are refused and try again.
    partition_error_ = x ? fmt::format("unexpected reply registering partition {}/{} in `{}`", k, count, partitions_key_)
                         : fmt::format("registering partition {}/{} in `{}`: {}", k, count, partitions_key_, err);
    if (x) fault(partition_error_);
    return true;
  }
  const int64_t code = x->element[0]->integer;
  auto str = [&](size_t i) {
    return x->elements > i && x->element[i]->str ? std::string(x->element[i]->str, x->element[i]->len) : std::string();
  };
  if (code == 1 || code == 2) {
    error = conflict_text(code, str(1), str(2));
    return false;
  }
  partition_pending_ = false;
  return true;
}

namespace {

// "MOVED 3999 127.0.0.1:6381" or "ASK 3999 127.0.0.1:6381" (an empty host: the one asked).
bool parse_redirect(const std::string& text, bool& ask, RedisNode& to, const RedisNode& asked) {
  ask = text.rfind("ASK ", 0) == 0;
  if (!ask && text.rfind("MOVED ", 0) != 0) return false;
  auto space = text.rfind(' '), colon = text.rfind(':');
  if (space == std::string::npos || colon == std::string::npos || colon < space) return false;
  int port = 0;
  auto [end, ec] = std::from_chars(text.data() + colon + 1, text.data() + text.size(), port);
  if (ec != std::errc() || end != text.data() + text.size() || port <= 0 || port > 65535) return false;
  to.host = text.substr(space + 1, colon - space - 1);
  if (to.host.empty()) to.host = asked.host;
  to.port = port;
  return true;
}

}  // namespace

std::unique_ptr<RedisQuotas::Reply> RedisQuotas::run(const std::vector<std::string>& args, int script, std::string& error) {
  if (!ensure(error)) return nullptr;
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (const auto& a : args) argv.push_back(a.c_str()), lens.push_back(a.size());
  redisContext* ctx = c_;
  RedisNode at = node_;
  bool asking = false, reloaded = false;
  int redirects = 0;
  auto refuse = [&](std::string why) {
    fault(why);
    error = std::move(why);
    return nullptr;
  };
  while (true) {
    // ASKING holds for the next command only, so it goes in the same write as the command; the
    // two replies together get one --shared-timeout from sending.
    if (asking) redisAppendCommand(ctx, "ASKING");
    redisAppendCommandArgv(ctx, int(argv.size()), argv.data(), lens.data());
    const int64_t deadline = now_ms() + o_.command_timeout_ms;
    void* raw = nullptr;
    bool got = true;
    if (asking) {
      got = get_reply(ctx, deadline, o_.command_timeout_ms, &raw, error);
      if (got) freeReplyObject(raw);
      raw = nullptr;
    }
    got = got && get_reply(ctx, deadline, o_.command_timeout_ms, &raw, error);
    if (!got) {
      // A timeout, a reply too large or a broken connection: the context cannot be used again.
      // Whether the command ran is unknown, so it is not sent again: this reservation fails closed.
      if (cluster_) error = fmt::format("{}: {}", host_port(at), error);
      drop(error);
      return nullptr;
    }
    auto rep = std::make_unique<Reply>();
    rep->r = static_cast<redisReply*>(raw);
    if (rep->r->type != REDIS_REPLY_ERROR) {
      last_ = ctx;
      return rep;
    }
    std::string text(rep->r->str, rep->r->len);
    // Every error reply below means the command did not run: sending it again cannot count twice.
    if (script >= 0 && !reloaded && text.rfind("NOSCRIPT", 0) == 0) {
      // This server does not know the script (a restart, SCRIPT FLUSH, a failover, a cluster
      // node not used before): load it there, then the same command again.
      reloaded = true;
      std::string why;
      Reply load{call(ctx, o_.command_timeout_ms, why, "SCRIPT LOAD %s", kScripts[script])};
      if (!load.r) {
        drop(error = fmt::format("SCRIPT LOAD: {}", why));
        return nullptr;
      }
      if (load.r->type != REDIS_REPLY_STRING)
        return refuse(fmt::format("SCRIPT LOAD: {}", std::string(load.r->str ? load.r->str : "", load.r->len)));
      continue;
    }
    bool ask = false;
    RedisNode to;
    bool redirect = parse_redirect(text, ask, to, at);
    if (redirect && !cluster_)
      return refuse(fmt::format("{}: {} is a Redis Cluster node; name the cluster with --shared "
                                "redis-cluster://HOST:PORT,...",
                                text, host_port(at)));
    bool tryagain = text.rfind("TRYAGAIN", 0) == 0;
    if (!redirect && !tryagain) {
      // An answer, but not a usable one (a replica's READONLY, CLUSTERDOWN, out of memory, a key
      // of the wrong type, counters the scripts do not trust): the connection stays; this
      // command fails closed, and the user is told which command on which key, and Redis's text.
      if (text.rfind("WRONGTYPE", 0) == 0) text += key_types(ctx);
      // (An EVAL names its key: the script's text is no help to the reader.)
      std::string what = script >= 0 ? fmt::format("the {} script on `{}`", kScriptNames[script], counters_key_)
                         : args[0] == "EVAL" && args.size() > 3 ? fmt::format("a script on `{}`", args[3])
                                                                : fmt::format("{} `{}`", args[0], args.size() > 1 ? args[1] : std::string());
      return refuse(cluster_ ? fmt::format("{}: {}: {}", host_port(at), what, text) : fmt::format("{}: {}", what, text));
    }
    if (++redirects > o_.max_redirects)
      return refuse(fmt::format("more than {} cluster redirections for slot {} (the last: {} from {})", o_.max_redirects,
                                slot_, text, host_port(at)));
    reloaded = false;
    if (tryagain) {
      // A multi-key command while the slot migrates and its keys are split between the two
      // nodes for a moment: wait a little, then ask the owner again.
      ++stats_.tryagain;
      std::this_thread::sleep_for(std::chrono::milliseconds(5 * redirects));
      ctx = c_, at = node_, asking = false;
      continue;
    }
    if (ask) {
      // The slot is being migrated and the keys are already on `to`: this command goes there,
      // after ASKING; the slot's owner stays the same for the next commands.
      ++stats_.asked;
      if (ask_c_ && (ask_node_.host != to.host || ask_node_.port != to.port)) {
        redisFree(ask_c_);
        ask_c_ = nullptr;
      }
      if (!ask_c_) {
        ask_c_ = open(to, error);
        if (!ask_c_) {
          drop(error);
          return nullptr;
        }
        ask_node_ = to;
      }
      ctx = ask_c_, at = to, asking = true;
      continue;
    }
    // MOVED: the slot has a new owner. Remember it and send the command there (the scripts are
    // loaded on NOSCRIPT).
    ++stats_.moved;
    redisFree(c_);
    c_ = nullptr;
    node_ = to;
    if (ask_c_ && ask_node_.host == to.host && ask_node_.port == to.port) {
      c_ = ask_c_;  // the migration's target became the owner: keep its connection
      ask_c_ = nullptr;
    } else if (!(c_ = open(node_, error))) {
      drop(error);
      return nullptr;
    }
    ctx = c_, at = node_, asking = false;
  }
}

std::unique_ptr<RedisQuotas::Reply> RedisQuotas::eval(int which, const std::vector<std::string>& args, std::string& error) {
  if (!ensure(error)) return nullptr;  // the scripts' SHA1s are known once connected
  // The reconcile on one server also records the server it ran on (a third key; same_server()).
  const bool server_key = which == 1 && !cluster_;
  // A delivery's scripts check the partition's registration (a third key, CRM_PARTITION_LUA) once
  // claim_partition was made; without one they never touch it (partition_args' N is empty). On
  // a cluster the key moves with the slot like the others (a reshard moves every key of a slot).
  const bool partitions_key = which != 1 && partition_claimed_;
  std::vector<std::string> argv{"EVALSHA", sha_[which], server_key || partitions_key ? "3" : "2", ready_key_,
                                counters_key_};
  if (server_key) argv.push_back(server_key_);
  if (partitions_key) argv.push_back(partitions_key_);
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, which, error);
}

uint32_t RedisQuotas::handle(std::string_view strategy) {
  std::lock_guard lock(mu_);
  auto [it, added] = handles_.try_emplace(std::string(strategy), static_cast<uint32_t>(names_.size()));
  if (!added) return it->second;
  names_.emplace_back(strategy);
  seen_.emplace_back();
  held_.emplace_back();
  auto f = floors_.find(names_.back());
  floor_.push_back(f == floors_.end() ? Quota{} : f->second);
  std::string err;
  auto rep = run({"HMGET", counters_key_, "d:" + names_.back(), "r:" + names_.back()}, -1, err);
  if (rep && rep->r->type == REDIS_REPLY_ARRAY && rep->r->elements == 2)
    seen_.back() = Quota{int_of(rep->r->element[0]), int_of(rep->r->element[1])};
  return it->second;
}

QuotaCheck RedisQuotas::reserve(uint32_t h, int64_t amount, const QuotaLimits& l) {
  size_t failed = 0;
  return reserve_parts({QuotaPart{h, l}}, amount, failed);
}

QuotaCheck RedisQuotas::reserve_parts(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) {
  std::lock_guard lock(mu_);
  ++stats_.reservations;
  // The partition not registered yet (Redis did not answer at attach, or answered an error):
  // registered before this reservation. Another process's (found then): nothing, not even a
  // delivery without a limit, is counted here from then on.
  if (partition_pending_ && partition_conflict_.empty()) {
    std::string why;
    if (!register_partition(why)) partition_conflict_ = why;
  }
  // Fail closed: not one reservation, not even of a delivery without a limit, before the
  // partition is registered (it may be another process's).
  if (!partition_conflict_.empty() || partition_pending_) {
    if (!partition_conflict_.empty()) fault(partition_conflict_);
    ++stats_.unavailable;
    failed = 0;
    return QuotaCheck::Unavailable;
  }
  if (o_.lease > 0) return reserve_leased(parts, amount, failed);
  std::string err;
  std::vector<std::string> args{std::to_string(amount)};
  bool unlimited = true;
  for (const auto& part : parts) {
    const QuotaLimits& l = part.limits;
    args.insert(args.end(), {names_[part.handle], std::to_string(l.stock), std::to_string(l.budget),
                             std::to_string(l.paced_stock), std::to_string(l.paced_budget),
                             std::to_string(floor_[part.handle].deliveries), std::to_string(floor_[part.handle].reserved)});
    unlimited = unlimited && l.stock < 0 && l.budget < 0 && l.paced_stock < 0 && l.paced_budget < 0;
  }
  partition_args(args, true);
  if (!same_server()) {
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  auto rep = eval(0, args, err);
  // Another process's partition (registered while this one's registration was gone): nothing
  // was counted, and nothing is from now on (the store stops the run: SharedStore).
  if (rep && found_conflict(rep->r)) {
    failed = 0;
    return QuotaCheck::Unavailable;
  }
  // A delivery with no stock, budget or pacing has no limit to overgrant: counted when Redis
  // answers, never refused when it does not (its count is reconciled from the ledgers).
  if (!rep || rep->r->type != REDIS_REPLY_ARRAY ||
      (rep->r->elements != 2 * parts.size() + 2 && !(rep->r->elements == 2 && int_of(rep->r->element[0]) == -1))) {
    if (rep) fault("unexpected reply to the reservation script");
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  int64_t code = int_of(rep->r->element[0]);
  if (code == -1 && unlimited) return QuotaCheck::Fits;
  if (code == -1) {
    unready_notice();
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  if (reported_unready_) notice(fmt::format("shared counters of campaign `{}` are ready again", o_.campaign));
  reported_unready_ = false;
  for (size_t i = 0; i < parts.size(); ++i)
    seen_[parts[i].handle] = Quota{int_of(rep->r->element[2 + 2 * i]), int_of(rep->r->element[3 + 2 * i])};
  if (code != 0) {
    answered();
    failed = static_cast<size_t>(int_of(rep->r->element[1]));
    return code == 1 ? QuotaCheck::Stock : code == 2 ? QuotaCheck::Budget : QuotaCheck::Pacing;
  }
  if (o_.wait_replicas > 0 && !replicated()) {
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  answered();
  ++stats_.granted;
  return QuotaCheck::Fits;
}

// Strict mode: a reservation counts only once enough replicas have it, so a failover to one of
// them cannot forget it. Otherwise it stays counted but grants nothing (undergrant).
// WAIT answers only after up to wait_timeout_ms, and Redis notices a blocked client's timeout
// only when its event loop wakes (serverCron, every 100 ms at the default hz 10): the client
// waits that long plus 200 ms plus the usual command timeout, so a slow replica is a refusal
// (below), not a dropped connection. WAIT counts the replicas, of the server that ran the script
// (in a cluster possibly an ASK target), that have this connection's writes: so it goes on the
// same connection.
bool RedisQuotas::replicated() {
  redisContext* c = last_;
  std::string why;
  Reply w{call(c, o_.wait_timeout_ms + 200 + o_.command_timeout_ms, why, "WAIT %d %d", o_.wait_replicas,
               o_.wait_timeout_ms)};
  if (!w.r) {
    drop(fmt::format("WAIT: {}", why));
    return false;
  }
  if (w.r->type != REDIS_REPLY_INTEGER || w.r->integer < o_.wait_replicas) {
    fault(fmt::format("WAIT: {} of {} replicas acknowledged within {} ms",
                                    w.r->type == REDIS_REPLY_INTEGER ? w.r->integer : 0, o_.wait_replicas, o_.wait_timeout_ms));
    return false;
  }
  return true;
}

Quota RedisQuotas::view(uint32_t h) const {
  Quota q = seen_[h];
  q.deliveries -= held_[h].d;
  q.reserved -= held_[h].r;
  return q;
}

void RedisQuotas::unready_notice() {
  if (reported_unready_) return;
  reported_unready_ = true;
  stats_.last_error = "campaign counters are not ready";
  notice(fmt::format("shared counters of campaign `{}` are not ready in {} (a new campaign, or Redis lost them): "
                     "reservations are refused until `crm shared reconcile` sets them from the ledgers",
                     o_.campaign, describe()));
}

// With leases: a delivery that every part's lease covers (one delivery and its money), and that
// the same rule (check_quota) admits against this process's view of the counters, is counted
// here, without a round trip. Otherwise one script gives back what the parts hold, checks the
// delivery exactly as without leases, counts it, and takes a new lease for each part. Every
// dimension is leased, with a limit or without (a strategy may have a limit in one program and
// none in another that shares its counters): what a process grants is always counted in Redis
// before it is granted.
QuotaCheck RedisQuotas::reserve_leased(const std::vector<QuotaPart>& parts, int64_t amount, size_t& failed) {
  bool local = true;
  for (const auto& p : parts) {
    const Held& x = held_[p.handle];
    if (x.d < 1 || x.r < amount || check_quota(view(p.handle), amount, p.limits) != QuotaCheck::Fits) {
      local = false;
      break;
    }
  }
  if (local) {
    for (const auto& p : parts) {
      held_[p.handle].d -= 1;
      held_[p.handle].r -= amount;
    }
    ++stats_.granted;
    ++stats_.from_lease;
    return QuotaCheck::Fits;
  }
  // The money wanted: this delivery's amount for each further delivery of the lease (saturated).
  const int64_t more = o_.lease - 1;
  const int64_t want_r = amount > 0 && more > 0 && amount > std::numeric_limits<int64_t>::max() / 4 / more
                             ? std::numeric_limits<int64_t>::max() / 4
                             : amount * more;
  bool unlimited = true;
  std::vector<std::string> args{"d", std::to_string(amount), generation_};
  for (const auto& p : parts) {
    const QuotaLimits& l = p.limits;
    const Held& x = held_[p.handle];
    unlimited = unlimited && l.stock < 0 && l.budget < 0 && l.paced_stock < 0 && l.paced_budget < 0;
    args.insert(args.end(), {names_[p.handle], std::to_string(l.stock), std::to_string(l.budget),
                             std::to_string(l.paced_stock), std::to_string(l.paced_budget), std::to_string(x.d),
                             std::to_string(x.r), std::to_string(more), std::to_string(want_r),
                             std::to_string(floor_[p.handle].deliveries), std::to_string(floor_[p.handle].reserved)});
  }
  partition_args(args, true);
  std::string err;
  if (!same_server()) {
    // The leases held were counted in data this server may not have: nothing is given back.
    for (Held& x : held_) x = Held{};
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  ++stats_.leases;
  auto rep = eval(2, args, err);
  const size_t n = parts.size();
  if (rep && found_conflict(rep->r)) {
    // Nothing was given back nor counted; what the parts hold is not used any more (undergrant).
    for (const auto& p : parts) held_[p.handle] = Held{};
    failed = 0;
    return QuotaCheck::Unavailable;
  }
  bool shaped = rep && rep->r->type == REDIS_REPLY_ARRAY &&
                (rep->r->elements == 4 * n + 3 || (rep->r->elements == 2 && int_of(rep->r->element[0]) == -1));
  int64_t code = shaped ? int_of(rep->r->element[0]) : -2;
  if (code < 0) {
    // No answer (the script may or may not have run), or the counters are not ready (Redis lost
    // them, with this process's leases): what the parts held is given up (if it is still
    // counted, an undergrant of at most the lease). As without leases, a delivery without any
    // limit goes out uncounted.
    for (const auto& p : parts) held_[p.handle] = Held{};
    if (rep && !shaped) fault("unexpected reply to the lease script");
    if (code == -1) unready_notice();
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  if (reported_unready_) notice(fmt::format("shared counters of campaign `{}` are ready again", o_.campaign));
  reported_unready_ = false;
  adopt_generation(rep->r->element[2]);
  for (size_t i = 0; i < n; ++i) {
    uint32_t h = parts[i].handle;
    seen_[h] = Quota{int_of(rep->r->element[3 + 4 * i]), int_of(rep->r->element[4 + 4 * i])};
    held_[h] = Held{int_of(rep->r->element[5 + 4 * i]), int_of(rep->r->element[6 + 4 * i])};
  }
  if (code != 0) {
    answered();
    failed = static_cast<size_t>(int_of(rep->r->element[1]));
    return code == 1 ? QuotaCheck::Stock : code == 2 ? QuotaCheck::Budget : QuotaCheck::Pacing;
  }
  if (o_.wait_replicas > 0 && !replicated()) {
    // Not on enough replicas: neither the delivery nor the lease may be used (a failover could
    // forget them); both stay counted (undergrant).
    for (const auto& p : parts) held_[p.handle] = Held{};
    if (unlimited) return QuotaCheck::Fits;
    ++stats_.unavailable;
    return QuotaCheck::Unavailable;
  }
  answered();
  ++stats_.granted;
  return QuotaCheck::Fits;
}

// The campaign's generation (a reconcile starts a new one) the script ran in: the leases held
// from now on belong to it.
void RedisQuotas::adopt_generation(const redisReply* r) {
  if (r->type == REDIS_REPLY_STRING) generation_.assign(r->str, r->len);
  else if (r->type == REDIS_REPLY_INTEGER) generation_ = std::to_string(r->integer);
}

void RedisQuotas::settle() {
  std::lock_guard lock(mu_);
  settle_locked(true);
}

// Gives back every lease held (one script), and reads every counter this process uses: what
// the others gave back since this process's last script is then seen by its engine's early look
// (used()), which would otherwise refuse on counters that still held the others' leases.
// `refresh` false: only when something is held.
void RedisQuotas::settle_locked(bool refresh) {
  if (o_.lease <= 0 || names_.empty()) return;
  bool holding = false;
  for (const Held& x : held_) holding = holding || x.d != 0 || x.r != 0;
  if (!holding && !refresh) return;
  if (!same_server()) {
    // Giving leases back into counters that went back in time could lower them below the grants.
    for (Held& x : held_) x = Held{};
    return;
  }
  std::vector<std::string> args{"s", "0", generation_};
  for (uint32_t h = 0; h < held_.size(); ++h)
    args.insert(args.end(),
                {names_[h], "-1", "-1", "-1", "-1", std::to_string(held_[h].d), std::to_string(held_[h].r), "0", "0", "0", "0"});
  partition_args(args, false);  // giving back registers nothing
  std::string err;
  auto rep = eval(2, args, err);
  bool done = rep && rep->r->type == REDIS_REPLY_ARRAY && rep->r->elements == 2 * held_.size() + 3 &&
              int_of(rep->r->element[0]) == 0;
  if (done) adopt_generation(rep->r->element[2]);
  for (uint32_t h = 0; h < held_.size(); ++h) {
    // Whatever the answer, nothing held is used any more: if the give-back was lost, it is an
    // undergrant of at most the lease (as a killed process's).
    held_[h] = Held{};
    if (done) seen_[h] = Quota{int_of(rep->r->element[3 + 2 * h]), int_of(rep->r->element[4 + 2 * h])};
  }
}

bool RedisQuotas::same_server() {
  if (cluster_) return true;
  std::string err;
  if (!ensure(err)) return true;  // the script call fails closed itself
  if (identity_ == 1) return true;
  // Until it is the same server, every reservation asks again: a reconcile run meanwhile (by
  // `crm shared reconcile`) records this server, and reservations resume.
  auto r = run({"MGET", ready_key_, server_key_}, -1, err);
  if (!r) return c_ == nullptr;  // an error reply refuses (said by run()); no connection: the script fails closed
  if (r->r->type != REDIS_REPLY_ARRAY || r->r->elements != 2) {
    fault(fmt::format("MGET `{}` `{}`: unexpected reply", ready_key_, server_key_));
    return false;
  }
  const redisReply* ready = r->r->element[0];
  const redisReply* server = r->r->element[1];
  if (ready->type == REDIS_REPLY_NIL) return true;  // not ready: the scripts refuse and say so
  std::string recorded = server->type == REDIS_REPLY_STRING ? std::string(server->str, server->len) : std::string();
  if (recorded == run_id_) {
    identity_ = 1;
    if (reported_server_) notice(fmt::format("shared counters of campaign `{}` were reconciled on this server: "
                                             "reservations resume ({})", o_.campaign, describe()));
    reported_server_ = false;
    return true;
  }
  identity_ = -1;
  stats_.last_error = "campaign counters were reconciled on another Redis server";
  if (!reported_server_) {
    reported_server_ = true;
    notice(fmt::format(
        "shared counters of campaign `{}` were not reconciled on the Redis server that answers now ({}; its run_id "
        "is {}, `{}` holds {}): Redis restarted (its data may be an older snapshot or AOF) or failed over since the "
        "last reconcile, so the counters may have gone back; reservations are refused until `crm shared reconcile` "
        "with every process's ledger (--state)",
        o_.campaign, describe(), run_id_, server_key_,
        recorded.empty() ? "nothing (reconciled by an older crm)" : "`" + support::visible(recorded) + "`"));
  }
  return false;
}

bool RedisQuotas::ready_judged(std::string& bad) {
  bad.clear();
  std::string err;
  auto t = run({"TYPE", ready_key_}, -1, err);
  if (!t || t->r->type != REDIS_REPLY_STATUS) return false;
  const std::string type(t->r->str, t->r->len);
  if (type == "none") return true;
  if (type != "string") {
    bad = fmt::format("`{}` is a {}, not a generation number (written by hand?)", ready_key_, type);
    return true;
  }
  auto g = run({"GET", ready_key_}, -1, err);
  if (!g) return false;
  const std::string text = g->r->type == REDIS_REPLY_STRING ? std::string(g->r->str, g->r->len) : std::string();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    bad = fmt::format("`{}` holds `{}`, not a generation number (written by hand?)", ready_key_,
                      support::visible(support::utf8_truncate(text, 40)));
  return true;
}

void RedisQuotas::set_floors(const std::map<std::string, Quota>& floors) {
  std::lock_guard lock(mu_);
  floors_ = floors;
  for (uint32_t h = 0; h < names_.size(); ++h) {
    auto f = floors_.find(names_[h]);
    floor_[h] = f == floors_.end() ? Quota{} : f->second;
  }
}

bool RedisQuotas::check_floors(std::string& error) {
  std::lock_guard lock(mu_);
  std::string err;
  std::string bad_ready;
  auto e = run({"EXISTS", ready_key_}, -1, err);
  // No answer: reservations are refused until there is one, and each script checks the floors.
  if (!e || e->r->type != REDIS_REPLY_INTEGER) return true;
  if (e->r->integer != 1) return true;  // not ready: refused until a reconcile, which reads the ledgers
  // The ready key as the scripts judge it (generation()): no generation number refuses the attach.
  if (!ready_judged(bad_ready)) return true;  // no answer: the scripts refuse and check it themselves
  if (!bad_ready.empty()) {
    error = fmt::format("{}; delete it (`redis-cli DEL {}`) and run `crm shared reconcile` with every process's ledger "
                        "(--state), which starts a new generation",
                        bad_ready, ready_key_);
    return false;
  }
  // Reconciled on another server: every reservation is refused, with a note, until a reconcile.
  if (!same_server()) return true;
  auto all = run({"HGETALL", counters_key_}, -1, err);
  if (!all) {
    if (!c_) return true;  // the connection was lost (a note says so)
    error = err;           // an error reply: the hash cannot be read (a key of the wrong type)
    return false;
  }
  if (all->r->type != REDIS_REPLY_ARRAY) {
    error = fmt::format("unexpected reply to HGETALL `{}`", counters_key_);
    return false;
  }
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < all->r->elements; i += 2) {
    const redisReply* k = all->r->element[i];
    const redisReply* v = all->r->element[i + 1];
    if (k->str && v->str) fields[std::string(k->str, k->len)] = std::string(v->str, v->len);
  }
  auto hint = "; `crm shared reconcile` with every process's ledger (--state) sets them from the ledgers";
  if (auto v = fields.find("v"); v == fields.end()) {
    error = fmt::format("`{}` is missing or has no layout field `v` while `{}` says the counters are valid (deleted, "
                        "evicted or written by hand){}",
                        counters_key_, ready_key_, hint);
    return false;
  } else if (v->second != "1") {
    error = fmt::format("`{}` has an unknown layout (`v` = {}; this crm knows layout 1): written by another version of "
                        "crm or by hand; run the campaign with the crm that wrote it, or, if it was written by hand, "
                        "`crm shared reconcile --exact` with every process stopped (it writes layout 1 and every "
                        "counter from the ledgers)",
                        counters_key_, support::visible(support::utf8_truncate(v->second, 40)));
    return false;
  }
  for (const auto& [name, floor] : floors_) {
    for (bool money : {false, true}) {
      std::string field = (money ? "r:" : "d:") + name;
      auto it = fields.find(field);
      int64_t have = 0;
      if (it != fields.end()) {
        const std::string& text = it->second;
        if (!count_of(text, have)) {
          error = fmt::format("field `{}` of `{}` holds `{}`, not a count (an integer from 0 to 2^53); correct it by "
                              "hand, or run `crm shared reconcile --exact` with every process stopped (it sets every "
                              "counter from the ledgers)",
                              field, counters_key_, support::visible(support::utf8_truncate(text, 40)));
          return false;
        }
      }
      int64_t want = money ? floor.reserved : floor.deliveries;
      if (have < want) {
        error = fmt::format("field `{}` of `{}` is {}, below the {} {} this process's ledger already {} (the counters "
                            "were lowered or deleted by hand, or a reconcile missed this ledger){}",
                            field, counters_key_, have, want, money ? "millionths" : "deliveries",
                            money ? "reserved" : "granted", hint);
        return false;
      }
    }
  }
  return true;
}

bool RedisQuotas::read(std::map<std::string, Quota>& out, bool& ready, std::string& error,
                       std::vector<std::pair<std::string, std::string>>* not_counts) {
  std::lock_guard lock(mu_);
  auto e = run({"EXISTS", ready_key_}, -1, error);
  if (!e) return false;
  ready = e->r->type == REDIS_REPLY_INTEGER && e->r->integer == 1;
  // A ready key that is no generation number: named, as the scripts name it (they refuse it).
  if (std::string bad; ready && (!ready_judged(bad) || !bad.empty())) {
    if (!bad.empty())
      error = fmt::format("{}; delete it (`redis-cli DEL {}`) and run `crm shared reconcile` with every process's "
                          "ledger (--state), which starts a new generation",
                          bad, ready_key_);
    else if (error.empty()) error = stats_.last_error;
    return false;
  }
  if (ready && !cluster_) {
    auto id = run({"GET", server_key_}, -1, error);
    if (!id) return false;
    ready = id->r->type == REDIS_REPLY_STRING && !run_id_.empty() && std::string(id->r->str, id->r->len) == run_id_;
  }
  auto all = run({"HGETALL", counters_key_}, -1, error);
  if (!all) return false;
  if (all->r->type != REDIS_REPLY_ARRAY) {
    error = "unexpected reply to HGETALL";
    return false;
  }
  out.clear();
  bool bad = false;
  for (size_t i = 0; i + 1 < all->r->elements; i += 2) {
    std::string field(all->r->element[i]->str, all->r->element[i]->len);
    if (field.size() < 2 || field[1] != ':') continue;
    if (field[0] != 'd' && field[0] != 'r') continue;
    const redisReply* v = all->r->element[i + 1];
    std::string_view text = v->str ? std::string_view(v->str, v->len) : std::string_view();
    int64_t have = 0;
    if (!count_of(text, have)) {
      if (error.empty() || !bad)
        error = fmt::format("field `{}` of `{}` holds `{}`, not a count (an integer from 0 to 2^53); correct it by "
                            "hand, or run `crm shared reconcile --exact` with every process stopped (it sets every "
                            "counter from the ledgers)",
                            field, counters_key_, support::visible(support::utf8_truncate(text, 40)));
      bad = true;
      if (not_counts) not_counts->emplace_back(field, support::visible(support::utf8_truncate(text, 40)));
      continue;
    }
    Quota& q = out[field.substr(2)];
    (field[0] == 'd' ? q.deliveries : q.reserved) = have;
  }
  if (bad) out.clear();
  return !bad;
}

bool RedisQuotas::reconcile(const std::map<std::string, Quota>& totals, bool exact, std::string& error) {
  std::lock_guard lock(mu_);
  // A new generation's first number: random, below 2^52 (Lua numbers are exact there).
  std::random_device rd;
  uint64_t base = ((uint64_t(rd()) << 32) | rd()) & ((uint64_t(1) << 52) - 1);
  std::vector<std::string> args{exact ? "1" : "0", std::to_string(base)};
  for (const auto& [name, q] : totals) {
    args.push_back(name);
    args.push_back(std::to_string(q.deliveries));
    args.push_back(std::to_string(q.reserved));
  }
  auto rep = eval(1, args, error);
  if (!rep) return false;
  reported_unready_ = false;
  identity_ = 0;  // the server key now names the server it ran on
  return true;
}

bool ledger_totals(const std::string& path, std::map<std::string, Quota>& totals, std::string& error) {
  sqlite3* db = nullptr;
  auto fail = [&](const char* what) {
    error = fmt::format("{} ledger `{}`: {}", what, path, db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_close(db);
    return false;
  };
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) return fail("cannot open");
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* s = nullptr;
  // A ledger before version 6 has no `pool` column, an older one no `granted_at` (read without
  // the writer's lock, so it is not migrated here): its grants drew on no pool, and it holds no
  // release of a held message. `granted_at` tells a release (counted when it was held) from a
  // delivery, as LocalQuotas::rebuild needs.
  bool prepared = false;
  // (`at` and `sales` are read only to check the row as `crm run` checks it: state::foreign_number.)
  for (const char* columns :
       {"pool, seq, granted_at, at, sales", "NULL, seq, granted_at, at, sales", "NULL, seq, NULL, at, 0"}) {
    const std::string sql = std::string("SELECT kind, unit, user, strategy, amount, outcome, ") + columns +
                            " FROM crm_ledger WHERE outcome IN ('granted', 'held') ORDER BY seq";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK) {
      prepared = true;
      break;
    }
  }
  if (!prepared) return fail("cannot read");
  std::vector<LedgerEntry> entries;
  int rc;
  auto text = [&](int col) {
    const unsigned char* t = sqlite3_column_text(s, col);
    return t ? std::string(reinterpret_cast<const char*>(t), sqlite3_column_bytes(s, col)) : std::string();
  };
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    // A row crm could not have written is refused as `crm run` refuses it when it opens the
    // ledger: a text or negative amount would count less than was spent.
    const bool integer_kind = sqlite3_column_type(s, 0) == SQLITE_INTEGER;  // before any conversion
    const char* bad = !is_unit_kind(integer_kind, sqlite3_column_int64(s, 0)) ? "kind"
                      : foreign_number(ledger_number(s, 9), ledger_number(s, 4), ledger_number(s, 10), ledger_number(s, 8));
    if (bad) {
      const std::string_view b = bad;
      const int col = b == "kind" ? 0 : b == "at" ? 9 : b == "amount" ? 4 : b == "sales" ? 10 : 8;
      error = fmt::format("ledger `{}`: ledger row {} has {} `{}`, which crm never writes; the ledger was changed outside "
                          "crm and its counts cannot be rebuilt: restore it from a backup",
                          path, sqlite3_column_int64(s, 7), bad, support::json_escape(text(col)));
      sqlite3_finalize(s);
      sqlite3_close(db);
      return false;
    }
    LedgerEntry e;
    e.kind = static_cast<UnitKind>(sqlite3_column_int(s, 0));
    e.unit = text(1);
    e.user = text(2);
    e.strategy = text(3);
    e.outcome = text(5);
    e.amount = sqlite3_column_int64(s, 4);
    e.pool = text(6);
    e.seq = sqlite3_column_int64(s, 7);
    e.granted_at = sqlite3_column_int64(s, 8);  // NULL reads as 0: not a release
    entries.push_back(std::move(e));
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_DONE) return fail("cannot read");
  // Where units start (schema version 8; an older ledger has no such column): two units with
  // one id count their deliveries apart, as a restart does.
  std::vector<Unit> units;
  if (sqlite3_prepare_v2(db, "SELECT seq, first_seq, at FROM crm_units", -1, &s, nullptr) == SQLITE_OK) {
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      const LedgerNumber first = ledger_number(s, 1);
      if (const char* bad = foreign_unit_number(first, ledger_number(s, 2))) {
        error = fmt::format("ledger `{}`: unit row {} has {} `{}`, which crm never writes; the ledger was changed outside "
                            "crm and its counts cannot be rebuilt: restore it from a backup",
                            path, sqlite3_column_int64(s, 0), bad, support::json_escape(text(*bad == 'f' ? 1 : 2)));
        sqlite3_finalize(s);
        sqlite3_close(db);
        return false;
      }
      if (!first.null()) units.push_back({UnitKind::Event, {}, Unit::kNoTime, first.value});
    }
    sqlite3_finalize(s);
    if (rc != SQLITE_DONE) return fail("cannot read");
  }
  sqlite3_close(db);
  // The same count as a process's own restart (LocalQuotas::rebuild), per strategy.
  LocalQuotas q;
  std::map<std::string, uint32_t> names;
  for (const auto& e : entries) {
    names.emplace(e.strategy, q.handle(e.strategy));
    if (!e.pool.empty()) names.emplace(pool_counter(e.pool), q.handle(pool_counter(e.pool)));
  }
  q.rebuild(entries, &units);
  for (const auto& [name, h] : names) {
    Quota u = q.used(h);
    totals[name].deliveries += u.deliveries;
    totals[name].reserved += u.reserved;
  }
  return true;
}

namespace {

// Where a ledger is, for another process's message: this host's name and the ledger.
std::string ledger_label_of(const std::string& ledger) {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !host[0]) std::strcpy(host, "?");
  return fmt::format("{} on {}", ledger, host);
}

// A process's own ledger with the campaign's counters in Redis.
class SharedStore : public StateStore {
 public:
  SharedStore(std::unique_ptr<StateStore> ledger, std::unique_ptr<RedisQuotas> quotas, std::string ledger_id)
      : ledger_(std::move(ledger)), quotas_(std::move(quotas)), ledger_id_(std::move(ledger_id)) {}
  // After the ledger, the counters: what this process's ledger granted is each counter's floor
  // (RedisQuotas::set_floors), and counters already below it refuse the attach.
  bool load(std::vector<LedgerEntry>& entries, std::vector<Unit>& units, std::string& error) override {
    if (!ledger_->load(entries, units, error)) return false;
    std::set<std::string> names;
    for (const auto& e : entries)
      if (e.outcome == outcome::Granted || e.outcome == outcome::Held) {
        names.insert(e.strategy);
        if (!e.pool.empty()) names.insert(pool_counter(e.pool));
      }
    // The ledger's own counters, recounted by its load() as a restart without Redis would.
    Quotas& own = ledger_->quotas();
    std::map<std::string, Quota> floors;
    for (const auto& name : names) floors[name] = own.used(own.handle(name));
    quotas_->set_floors(floors);
    std::string why;
    if (!quotas_->check_floors(why)) {
      error = fmt::format("shared counters ({}) for state `{}`: {}", quotas_->describe(), ledger_->describe(), why);
      return false;
    }
    // The partition this ledger serves, by the id keep_partition read or made before the attach
    // (SharedOptions::ledger_id: not read from the ledger a second time).
    if (!quotas_->claim_partition(ledger_id_, ledger_label_of(ledger_->describe()), why)) {
      error = fmt::format("shared counters ({}) for state `{}`: {}", quotas_->describe(), ledger_->describe(), why);
      return false;
    }
    return true;
  }
  bool meta(const std::string& key, std::string& value, bool& found, std::string& error) override {
    return ledger_->meta(key, value, found, error);
  }
  bool set_meta(const std::string& key, const std::string& value, std::string& error) override {
    return ledger_->set_meta(key, value, error);
  }
  bool last_program(ProgramIdentity& out, std::string& error) override { return ledger_->last_program(out, error); }
  bool begin_program(const ProgramIdentity& program, std::string& error) override {
    return ledger_->begin_program(program, error);
  }
  bool append(const Unit& unit, const std::vector<LedgerEntry>& entries, int64_t& first_seq, std::string& error) override {
    return !refused(error) && ledger_->append(unit, entries, first_seq, error);
  }
  bool append_rows(const Unit& unit, const LedgerRow* rows, size_t count, int64_t& first_seq, std::string& error) override {
    return !refused(error) && ledger_->append_rows(unit, rows, count, first_seq, error);
  }
  bool read(int64_t first, size_t count, std::vector<LedgerEntry>& out, std::string& error) override {
    return ledger_->read(first, count, out, error);
  }
  int64_t unit_handle() const override { return ledger_->unit_handle(); }
  bool find_unit(int64_t handle, Unit& out, uint32_t& count, bool& found, std::string& error) override {
    return ledger_->find_unit(handle, out, count, found, error);
  }
  // After the commit, what this process's deliveries used is in its ledger: the unused part of
  // its leases goes back to the campaign (one script; nothing when leases are off).
  // The ledger's units go; reservations already made in Redis stay counted (an undergrant,
  // never an overgrant, until the counters are reconciled from the ledgers).
  bool rollback(std::string& error) override { return ledger_->rollback(error); }
  bool commit(std::string& error) override {
    if (!ledger_->commit(error)) return false;
    quotas_->settle();
    return true;
  }
  std::string describe() const override { return ledger_->describe() + ", shared " + quotas_->describe(); }
  Quotas& quotas() override { return *quotas_; }

 private:
  // Once another process holds this one's partition (registered after this one started, while
  // its registration was gone: RedisQuotas::conflict), no unit is recorded any more: the engine's
  // store fails, which stops the run as any ledger failure does, and this process's rejections
  // are not recorded beside the other ledger's decisions for the same users. The units before
  // are committed first (the ledger is sound, and their reservations are counted in Redis).
  bool refused(std::string& error) {
    std::string conflict = quotas_->conflict();
    if (conflict.empty()) return false;
    std::string why;
    const bool kept = ledger_->commit(why);
    error = fmt::format("shared counters ({}) for state `{}`: {}; found while running (this process's registration "
                        "was gone, and another process registered meanwhile): this process stops{}",
                        quotas_->describe(), ledger_->describe(), conflict,
                        kept ? "; what it decided before is committed (a restart on the same input answers it)"
                             : fmt::format(" and could not commit what it decided before: {}", why));
    return true;
  }
  std::unique_ptr<StateStore> ledger_;
  std::unique_ptr<RedisQuotas> quotas_;
  std::string ledger_id_;  // SharedOptions::ledger_id
};

}  // namespace

std::unique_ptr<StateStore> open_shared_store(std::unique_ptr<StateStore> ledger, const SharedOptions& options,
                                              std::string& error) {
  auto q = RedisQuotas::create(options, error);
  if (!q) return nullptr;
  std::string ignored;
  q->connect(ignored);  // reported through on_notice; reservations fail closed until it answers
  return std::make_unique<SharedStore>(std::move(ledger), std::move(q), options.ledger_id);
}

}  // namespace crm::state
