// lua_bench.cc - the Lua baselines: what it costs to express the campaign predicates in an
// embedded scripting language instead of crm. One source, built twice: against Lua 5.4
// (`bench_lua54`) and against LuaJIT with -DCRM_BENCH_LUAJIT (`bench_luajit`); the two libraries
// export the same symbols, so they cannot share a process.
//
// Benchmark 1 is measured three ways, from the most to the least host-driven:
//   pcall_per_record   the host calls a Lua predicate once per event with the four fields as
//                      arguments (strings pushed from a table of pre-made Lua strings, the
//                      analogue of interning); pcall_per_record_pushstring pushes them afresh.
//   loop_tables        the events live in Lua as an array of tables and Lua loops over them.
//   ffi_structs        (LuaJIT) Lua loops over the host's C array of Record through the FFI.
// Benchmark 2: a Lua loop over the columns copied into Lua arrays (audience_columns) and, with
// LuaJIT, over the host's C columns through the FFI (audience_ffi). Copying data into Lua is
// never timed.
#include <lua.hpp>

#ifdef CRM_BENCH_LUAJIT
#include <luajit.h>
#else
#if LUA_VERSION_NUM != 504
#error "bench_lua54 must be built against Lua 5.4 headers (or define CRM_BENCH_LUAJIT)"
#endif
#endif

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench/bench_data.h"
#include "bench/bench_harness.h"

namespace crm::bench {
namespace {

#ifdef CRM_BENCH_LUAJIT
constexpr const char* kEngine = "luajit";
#else
constexpr const char* kEngine = "lua5.4";
#endif

// ---- the Lua programs --------------------------------------------------------------------------
// Constants are written literally, as a Lua programmer would; should they drift from bench_data.h
// the count check fails loudly.

constexpr const char* kPredicateFn = R"lua(
return function(origin, country, value, adults)
  return (origin == "MOW" or country == "RU") and (value >= 100 or adults == 1)
end
)lua";

constexpr const char* kLoopTablesFn = R"lua(
return function(recs, n)
  local c = 0
  for i = 1, n do
    local r = recs[i]
    if (r.origin == "MOW" or r.country == "RU") and (r.value >= 100 or r.adults == 1) then
      c = c + 1
    end
  end
  return c
end
)lua";

constexpr const char* kAudienceColumnsFn = R"lua(
return function(age, city, level, orders, days, n, cities)
  local c = 0
  for i = 1, n do
    local a = age[i]
    if a >= 18 and a <= 35 and cities[city[i]] and level[i] >= 2 and orders[i] == 0
       and days[i] > 30 then
      c = c + 1
    end
  end
  return c
end
)lua";

#ifdef CRM_BENCH_LUAJIT
// Must match struct Record in bench_data.h field for field.
constexpr const char* kFfiStructsFn = R"lua(
local ffi = require("ffi")
ffi.cdef[[
typedef struct { uint32_t origin_id, country_id; int32_t value, adults; } crm_bench_record;
]]
assert(ffi.sizeof("crm_bench_record") == 16)
return function(ptr, n, mow, ru)
  local r = ffi.cast("const crm_bench_record*", ptr)
  local c = 0
  for i = 0, n - 1 do
    local x = r[i]
    if (x.origin_id == mow or x.country_id == ru) and (x.value >= 100 or x.adults == 1) then
      c = c + 1
    end
  end
  return c
end
)lua";

constexpr const char* kAudienceFfiFn = R"lua(
local ffi = require("ffi")
return function(age, city, level, orders, days, n, cities)
  local P = "const int32_t*"
  age, city, level = ffi.cast(P, age), ffi.cast(P, city), ffi.cast(P, level)
  orders, days = ffi.cast(P, orders), ffi.cast(P, days)
  local c = 0
  for i = 0, n - 1 do
    local a = age[i]
    if a >= 18 and a <= 35 and cities[city[i]] and level[i] >= 2 and orders[i] == 0
       and days[i] > 30 then
      c = c + 1
    end
  end
  return c
end
)lua";
#endif

// ---- a Lua state with fail-loudly helpers ------------------------------------------------------

// Owns one lua_State. Values the benchmarks use are kept at fixed stack slots (`keep` returns the
// slot) so the timed loops touch neither the registry nor globals.
class Lua {
 public:
  Lua() : L_(luaL_newstate()) {
    if (!L_) fail("cannot create a Lua state");
    luaL_openlibs(L_);
    lua_checkstack(L_, 64);
  }
  ~Lua() { lua_close(L_); }
  Lua(const Lua&) = delete;
  Lua& operator=(const Lua&) = delete;

  lua_State* get() const { return L_; }

  [[noreturn]] void fail(const std::string& what) const {
    const char* msg = L_ && lua_gettop(L_) > 0 ? lua_tostring(L_, -1) : nullptr;
    std::fprintf(stderr, "BENCH FAILURE: %s: %s: %s\n", kEngine, what.c_str(), msg ? msg : "");
    std::exit(2);
  }

  // Runs a chunk that returns a function and keeps the function; returns its stack slot.
  int load_function(const char* src, const char* chunk_name) {
    if (luaL_loadbuffer(L_, src, std::strlen(src), chunk_name) != 0) fail("load");
    if (lua_pcall(L_, 0, 1, 0) != 0) fail(std::string("run ") + chunk_name);
    if (!lua_isfunction(L_, -1)) fail(std::string(chunk_name) + " did not return a function");
    return lua_gettop(L_);
  }

  // Calls the function pushed just before its `nargs` arguments; returns its integer result.
  uint64_t call_count(int nargs) {
    if (lua_pcall(L_, nargs, 1, 0) != 0) fail("call");
    auto c = static_cast<uint64_t>(lua_tointeger(L_, -1));
    lua_pop(L_, 1);
    return c;
  }

  // Keeps the value on top of the stack at its slot; returns the slot.
  int keep() const { return lua_gettop(L_); }

 private:
  lua_State* L_;
};

// Pushes a table {[1] = names[0], ...}: Lua's own interned copies of a string table.
void push_string_table(lua_State* L, std::span<const std::string_view> names) {
  lua_createtable(L, static_cast<int>(names.size()), 0);
  for (size_t i = 0; i < names.size(); ++i) {
    lua_pushlstring(L, names[i].data(), names[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

#ifdef CRM_BENCH_LUAJIT
// The FFI benchmarks are only meaningful with the trace compiler on.
void report_jit(Lua& lua) {
  const char* probe = "return jit.version .. (jit.status() and ' (JIT on)' or ' (JIT OFF)')";
  if (luaL_loadstring(lua.get(), probe) != 0 || lua_pcall(lua.get(), 0, 1, 0) != 0)
    lua.fail("jit probe");
  std::fprintf(stderr, "# %s\n", lua_tostring(lua.get(), -1));
  lua_pop(lua.get(), 1);
}
#endif

std::string name(const char* variant) { return std::string(kEngine) + "/" + variant; }

// ---- benchmark 1 -------------------------------------------------------------------------------

void bench_predicate(const Options& opts) {
  std::vector<Record> recs = make_records(opts.records);
  const uint64_t expected = expected_predicate_matches(recs);
  const size_t n = recs.size();

  Lua lua;
  lua_State* L = lua.get();
#ifdef CRM_BENCH_LUAJIT
  report_jit(lua);
#endif
  const int pred = lua.load_function(kPredicateFn, "=predicate");
  push_string_table(L, kOrigins);
  const int origins = lua.keep();
  push_string_table(L, kCountries);
  const int countries = lua.keep();

  // One protected call per record: the per-event cost of a host calling into Lua.
  {
    const std::string nm = name("pcall_per_record");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      uint64_t c = 0;
      for (const Record& r : recs) {
        lua_pushvalue(L, pred);
        lua_rawgeti(L, origins, static_cast<int>(r.origin_id + 1));
        lua_rawgeti(L, countries, static_cast<int>(r.country_id + 1));
        lua_pushinteger(L, r.value);
        lua_pushinteger(L, r.adults);
        if (lua_pcall(L, 4, 1, 0) != 0) lua.fail("predicate");
        c += lua_toboolean(L, -1);
        lua_pop(L, 1);
      }
      return c;
    });
    emit(per_eval(nm, s, n, expected));
  }
  // The same, but the strings are pushed from host memory each time (hashed and interned by Lua).
  {
    const std::string nm = name("pcall_per_record_pushstring");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      uint64_t c = 0;
      for (const Record& r : recs) {
        std::string_view o = kOrigins[r.origin_id], k = kCountries[r.country_id];
        lua_pushvalue(L, pred);
        lua_pushlstring(L, o.data(), o.size());
        lua_pushlstring(L, k.data(), k.size());
        lua_pushinteger(L, r.value);
        lua_pushinteger(L, r.adults);
        if (lua_pcall(L, 4, 1, 0) != 0) lua.fail("predicate");
        c += lua_toboolean(L, -1);
        lua_pop(L, 1);
      }
      return c;
    });
    emit(per_eval(nm, s, n, expected));
  }
  // Lua's own loop over an array of record tables.
  {
    const int loop = lua.load_function(kLoopTablesFn, "=loop_tables");
    lua_createtable(L, static_cast<int>(n), 0);
    for (size_t i = 0; i < n; ++i) {
      const Record& r = recs[i];
      lua_createtable(L, 0, 4);
      lua_rawgeti(L, origins, static_cast<int>(r.origin_id + 1));
      lua_setfield(L, -2, "origin");
      lua_rawgeti(L, countries, static_cast<int>(r.country_id + 1));
      lua_setfield(L, -2, "country");
      lua_pushinteger(L, r.value);
      lua_setfield(L, -2, "value");
      lua_pushinteger(L, r.adults);
      lua_setfield(L, -2, "adults");
      lua_rawseti(L, -2, static_cast<int>(i + 1));
    }
    const int tables = lua.keep();
    const std::string nm = name("loop_tables");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      lua_pushvalue(L, loop);
      lua_pushvalue(L, tables);
      lua_pushinteger(L, static_cast<lua_Integer>(n));
      return lua.call_count(2);
    });
    emit(per_eval(nm, s, n, expected));
  }
#ifdef CRM_BENCH_LUAJIT
  // Lua's loop over the host's own array of structs: no copying, no tables.
  {
    const int ffi = lua.load_function(kFfiStructsFn, "=ffi_structs");
    const uint32_t mow = intern(kOrigins, "MOW"), ru = intern(kCountries, "RU");
    const std::string nm = name("ffi_structs");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      lua_pushvalue(L, ffi);
      lua_pushlightuserdata(L, const_cast<Record*>(recs.data()));
      lua_pushinteger(L, static_cast<lua_Integer>(n));
      lua_pushinteger(L, mow);
      lua_pushinteger(L, ru);
      return lua.call_count(4);
    });
    emit(per_eval(nm, s, n, expected));
  }
#endif
}

// ---- benchmark 2 -------------------------------------------------------------------------------

// Pushes a Lua array {col[0], col[1], ...}.
void push_column(lua_State* L, const std::vector<int32_t>& col) {
  lua_createtable(L, static_cast<int>(col.size()), 0);
  for (size_t i = 0; i < col.size(); ++i) {
    lua_pushinteger(L, col[i]);
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
}

// Pushes the segment's city set as {[city] = true, ...}, the idiomatic Lua set.
void push_city_set(lua_State* L) {
  lua_createtable(L, 0, static_cast<int>(kSegmentCities.size()));
  for (int32_t c : kSegmentCities) {
    lua_pushboolean(L, 1);
    lua_rawseti(L, -2, c);
  }
}

void bench_audience(const Options& opts) {
  Profiles p = make_profiles(opts.profiles);
  const uint64_t expected = expected_audience_matches(p);

  Lua lua;
  lua_State* L = lua.get();
  push_city_set(L);
  const int cities = lua.keep();

  // The columns copied into Lua arrays (1-based), scanned by a Lua loop.
  {
    const int scan = lua.load_function(kAudienceColumnsFn, "=audience_columns");
    const int first_col = lua.keep() + 1;
    for (const auto* col : {&p.age, &p.city, &p.member_level, &p.orders_30d,
                            &p.days_since_last_order})
      push_column(L, *col);
    const std::string nm = name("audience_columns");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      lua_pushvalue(L, scan);
      for (int c = 0; c < 5; ++c) lua_pushvalue(L, first_col + c);
      lua_pushinteger(L, static_cast<lua_Integer>(p.size));
      lua_pushvalue(L, cities);
      return lua.call_count(7);
    });
    emit(per_second(nm, s, p.size, expected));
    lua_settop(L, cities);  // drop the Lua copies before the next variant
    lua_gc(L, LUA_GCCOLLECT, 0);
  }
#ifdef CRM_BENCH_LUAJIT
  // The host's C columns (0-based), read in place through the FFI.
  {
    const int scan = lua.load_function(kAudienceFfiFn, "=audience_ffi");
    const std::string nm = name("audience_ffi");
    double s = best_seconds(nm, opts.reps, expected, [&] {
      lua_pushvalue(L, scan);
      for (const auto* col : {&p.age, &p.city, &p.member_level, &p.orders_30d,
                              &p.days_since_last_order})
        lua_pushlightuserdata(L, const_cast<int32_t*>(col->data()));
      lua_pushinteger(L, static_cast<lua_Integer>(p.size));
      lua_pushvalue(L, cities);
      return lua.call_count(7);
    });
    emit(per_second(nm, s, p.size, expected));
  }
#endif
}

}  // namespace
}  // namespace crm::bench

int main(int argc, char** argv) {
  const crm::bench::Options opts = crm::bench::parse_options(argc, argv);
  crm::bench::bench_predicate(opts);
  crm::bench::bench_audience(opts);
  return 0;
}
