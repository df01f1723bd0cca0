// reload.cc - the journal of an engine's input and the engine that continues another with a
// new program (api/reload.h).
#include "api/reload.h"

#include <cerrno>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "runtime/engine/program_identity.h"

namespace crm::detail {

// A record: kind (1 byte), ok (1 byte), then two length-prefixed byte strings.
//   'p' profile line       a = the line
//   'P' profiles file      a = csv flag + on_error answers ('1' go on, '0' stop), b = the text
//   'e' event line         a = the line
//   'a' advance_to         a = the time (decimal)
//   'f' finish
Journal::~Journal() {
  if (file_) std::fclose(file_);
}

bool Journal::open(std::string& error) {
  if (file_) return true;
  file_ = std::tmpfile();
  if (!file_) {
    error = fmt::format("cannot make the reload journal (a temporary file): {}", std::strerror(errno));
    return false;
  }
  return true;
}

void Journal::put(char kind, bool ok, std::string_view a, std::string_view b) {
  if (!file_ || !error_.empty()) return;
  auto len = [](std::string_view s) {
    uint64_t n = s.size();
    std::string out(8, '\0');
    for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
    return out;
  };
  char head[2] = {kind, char(ok ? 1 : 0)};
  std::string la = len(a), lb = len(b);
  bool written = std::fwrite(head, 1, 2, file_) == 2 && std::fwrite(la.data(), 1, 8, file_) == 8 &&
                 std::fwrite(a.data(), 1, a.size(), file_) == a.size() && std::fwrite(lb.data(), 1, 8, file_) == 8 &&
                 std::fwrite(b.data(), 1, b.size(), file_) == b.size();
  if (!written) error_ = fmt::format("the reload journal could not be written: {}", std::strerror(errno));
  ++records_;
}

void Journal::profile_line(std::string_view line, bool ok) { put('p', ok, line); }

void Journal::profiles(std::string_view text, bool csv, const std::vector<bool>& answers, bool ok) {
  std::string a(1, csv ? 'c' : 'j');
  for (bool go_on : answers) a += go_on ? '1' : '0';
  put('P', ok, a, text);
}

void Journal::event(std::string_view line, bool ok) { put('e', ok, line); }
void Journal::advance(int64_t at, bool ok) { put('a', ok, std::to_string(at)); }
void Journal::finish(bool ok) { put('f', ok, {}); }

bool Journal::replay(engine::Engine& e, std::string& error) {
  if (!error_.empty()) return error = error_, false;
  if (!file_) return true;
  if (std::fflush(file_) != 0 || std::fseek(file_, 0, SEEK_SET) != 0) {
    error = fmt::format("the reload journal could not be read: {}", std::strerror(errno));
    return false;
  }
  auto read_string = [&](std::string& out) {
    unsigned char l[8];
    if (std::fread(l, 1, 8, file_) != 8) return false;
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n |= uint64_t(l[i]) << (8 * i);
    out.resize(n);
    return n == 0 || std::fread(out.data(), 1, n, file_) == n;
  };
  std::string a, b, msg;
  engine::Event ev;
  std::vector<engine::Decision> discard;
  size_t n = 0, events = 0;
  bool ok = true;
  for (; n < records_; ++n) {
    char head[2];
    if (std::fread(head, 1, 2, file_) != 2 || !read_string(a) || !read_string(b)) {
      error = "the reload journal could not be read back";
      ok = false;
      break;
    }
    bool expected = head[1] != 0, got = false;
    msg.clear();
    discard.clear();
    const char* what = "";
    switch (head[0]) {
      case 'p':
        what = "profile";
        got = e.load_profile_line(a, msg);
        break;
      case 'P': {
        what = "profiles file";
        std::istringstream in(b);
        size_t answer = 1;
        got = e.load_profiles(in, a.size() > 0 && a[0] == 'c', [&](size_t line, const std::string& m) {
          // The same answer the caller gave the first time; an error it never saw stops.
          if (answer >= a.size()) {
            msg = fmt::format("line {}: {}", line, m);
            return false;
          }
          return a[answer++] == '1';
        });
        if (got != expected || answer != a.size()) {
          error = fmt::format("the new program reads the profiles differently than the running one{}{}",
                              msg.empty() ? "" : ": ", msg);
          ok = false;
        }
        break;
      }
      case 'e':
        what = "event";
        ++events;
        ++e.stats().lines;
        got = e.parse_event(a, ev, msg) && e.submit(ev, discard, msg);
        break;
      case 'a':
        what = "clock move";
        got = e.advance_to(std::stoll(a), discard, msg);
        break;
      case 'f':
        what = "end of stream";
        got = e.finish(discard, msg);
        break;
      default:
        error = "the reload journal is corrupt";
        ok = false;
    }
    if (!ok) break;
    if (!e.store_error().empty()) {
      error = e.store_error();
      ok = false;
      break;
    }
    if (head[0] != 'P' && got != expected) {
      error = expected ? fmt::format("the new program refuses {} {} that the running one accepted{}{}", what,
                                     head[0] == 'e' ? fmt::format("#{} of the stream", events) : std::string(),
                                     msg.empty() ? "" : ": ", msg)
                       : fmt::format("the new program accepts {} {} that the running one refused", what,
                                     head[0] == 'e' ? fmt::format("#{} of the stream", events) : std::string());
      ok = false;
      break;
    }
  }
  if (std::fseek(file_, 0, SEEK_END) != 0 && ok) {
    error = fmt::format("the reload journal could not be read: {}", std::strerror(errno));
    ok = false;
  }
  return ok;
}

std::unique_ptr<engine::Engine> rebuild_engine(const ProgramData& program, const engine::Engine& old,
                                               state::StateStore& store, bool allow_program_change, Journal& journal,
                                               std::vector<std::string>& notices, std::vector<std::string>& fresh,
                                               std::string& error) {
  if (!journal.error().empty()) return error = journal.error(), nullptr;
  auto e = std::make_unique<engine::Engine>(program.program, program.engine_options());
  e->set_allowed_lateness(old.allowed_lateness());
  e->set_dedup_window(old.dedup_window());
  e->set_partition(old.partition_index(), old.partition_count());
  e->set_timer_limits(old.timer_limit_per_user(), old.timer_limit_total());
  e->set_max_schedule_runs(old.max_schedule_runs());
  e->set_max_time_jump(old.max_time_jump());
  e->allow_program_change(allow_program_change);
  // The store names the old program as the one deciding again (after a refusal too: reading the
  // ledger's latest program forgets which one the store records new units under).
  auto give_back = [&] {
    std::string err;
    if (!store.begin_program(engine::program_identity(old.program()), err))
      error += fmt::format(" (and the ledger could not be given back to the running program: {})", err);
  };
  // The restart path: refused here by the program identity rules, before anything is recorded.
  if (!e->attach(&store, error)) {
    give_back();
    return nullptr;
  }
  e->keep_ledger_clock(old.ledger_clock());
  std::vector<std::string> decided;
  e->collect_fresh(&decided);
  e->quiet_replays(true);  // their decisions were reported by the old engine
  bool replayed = false;
  try {
    replayed = journal.replay(*e, error);
  } catch (const std::exception& ex) {
    error = ex.what();
  }
  e->collect_fresh(nullptr);
  e->quiet_replays(false);
  if (!replayed) {
    std::string err;
    if (e->decided_units() > 0) {
      // What the new engine appended goes, and the counters are the ledger's again.
      std::vector<state::LedgerEntry> entries;
      std::vector<state::Unit> units;
      if (!store.rollback(err) || !store.load(entries, units, err))
        error += fmt::format(" (and what the new program recorded could not be discarded: {})", err);
    }
    give_back();
    return nullptr;
  }
  // The summary counts what the stream did, once: the old engine's counts go on, plus the
  // outcomes of units the new program decided now (units answered from the ledger count none).
  engine::Stats now = e->stats();
  e->stats() = old.stats();
  auto& st = e->stats();
  st.granted += now.granted, st.rejected += now.rejected, st.control += now.control, st.held += now.held;
  st.redeemed += now.redeemed, st.redeem_rejected += now.redeem_rejected, st.expired += now.expired;
  notices = e->notices();
  fresh = std::move(decided);
  return e;
}

}  // namespace crm::detail
