// io.cc - inputs, checked outputs and atomic replacement for the crm tool (rules in io.h).
#include "cli/io.h"

#include "cli/args.h"

#include <crm/run.h>
#include <crm/runtime.h>

#include <fcntl.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <limits>
#include <sstream>
#include <streambuf>
#include <vector>

namespace crm::cli {

volatile std::sig_atomic_t g_stop_input = 0;
int g_stop_pipe[2] = {-1, -1};

bool open_stop_pipe() {
  if (g_stop_pipe[0] >= 0) return true;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return false;
  g_stop_pipe[1] = fds[1];
  g_stop_pipe[0] = fds[0];
  return true;
}

void wake_stop_pipe() {
  if (g_stop_pipe[1] < 0) return;
  const int saved = errno;
  // Full pipe (EAGAIN): a byte is already there to wake the reader.
  [[maybe_unused]] ssize_t n = ::write(g_stop_pipe[1], "x", 1);
  errno = saved;
}

std::string input_name(const std::string& path) { return path == "-" ? "standard input" : path; }
std::string output_name(const std::string& path) { return path.empty() || path == "-" ? "standard output" : path; }

bool claim_stdin(const std::string& path, std::string& err) {
  static bool claimed = false;
  if (path != "-") return true;
  if (claimed) {
    err = "only one argument may be `-` (standard input)";
    return false;
  }
  claimed = true;
  return true;
}

namespace {
// The file a path names once its final symbolic links are followed, by hand, link by link: a
// dangling link (an output written for the first time through it) has no canonical path. A
// relative target is joined to the link's directory as it is, `..` included, for the kernel to
// resolve (lexical normalising would be wrong under a linked directory). 0, or an errno.
int follow_links(std::string& path) {
  struct stat lst;
  for (int hops = 0; ::lstat(path.c_str(), &lst) == 0 && S_ISLNK(lst.st_mode); ++hops) {
    if (hops == 40) return ELOOP;
    std::error_code ec;
    std::filesystem::path link(path), target = std::filesystem::read_symlink(link, ec);
    if (ec) return ec.value();
    path = (target.is_absolute() ? target : link.parent_path() / target).string();
  }
  return 0;
}

// The path's name once its links are followed and `.`/`..` and the links of its existing part
// are resolved, so a file that does not exist yet (a new ledger, an output, the target of a
// dangling link) compares with another spelling of it.
std::string resolved_name(std::string path) {
  follow_links(path);
  std::error_code ec;
  std::filesystem::path p = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  return ec ? std::filesystem::path(path).lexically_normal().string() : p.string();
}
}  // namespace

bool check_output_not_input(const NamedPath& output, const std::vector<NamedPath>& inputs, std::string& err) {
  const auto& [out_option, out_path] = output;
  if (out_path.empty() || out_path == "-") return true;
  struct stat out;
  const bool out_exists = ::stat(out_path.c_str(), &out) == 0;
  // Writing a device, a pipe or a directory does not replace a file's contents.
  if (out_exists && !S_ISREG(out.st_mode)) return true;
  const std::string out_name = resolved_name(out_path);
  for (const auto& [option, spec] : inputs) {
    std::string path = spec;
    if (option == "--state") {
      // The one parser of specs: memory, or a spec the ledger will refuse, names no file.
      StateSpec parsed;
      std::string why;
      if (!parse_state_spec(spec, parsed, why) || parsed.memory) continue;
      path = parsed.path;
    }
    if (path.empty() || path == "-") continue;
    // A ledger is a family of files: SQLite's write-ahead log, shared memory and rollback
    // journal, and crm's writer lock. Writing any of them corrupts the ledger, and the ledger
    // itself usually does not exist yet on its first run (it used to be checked only if it did).
    // The companions sit next to the file the ledger's path resolves to (through links).
    std::vector<std::pair<std::string, const char*>> files{{path, nullptr}};
    if (option == "--state") {
      const std::string ledger = resolved_name(path);
      for (const char* companion : {"-wal", "-shm", "-journal", ".lock"})
        files.emplace_back(ledger + companion, companion);
    }
    for (const auto& [file, companion] : files) {
      struct stat in;
      const bool same = out_exists && ::stat(file.c_str(), &in) == 0
                            ? in.st_dev == out.st_dev && in.st_ino == out.st_ino
                            : resolved_name(file) == out_name;
      if (!same) continue;
      std::string what = option == "program"  ? "the program file"
                         : option == "module" ? "a module the program imports"
                         : option == "--state" ? "the ledger of --state"
                                               : option;
      if (companion)
        err = out_option + " `" + out_path + "` is the `" + companion + "` file of the ledger of --state `" + path +
              "`: writing it would corrupt the ledger (choose another output file)";
      else
        err = out_option + " `" + out_path + "` is the same file as " + what + " `" + path +
              "`: writing it would destroy that input (choose another output file)";
      return false;
    }
  }
  return true;
}

std::string compiled_too_large(const std::string& path, size_t max_bytes) {
  return (path == "-" ? std::string("standard input") : "`" + path + "`") + " holds more than " +
         std::to_string(max_bytes) + " bytes, the most a compiled program is read to (--max-file-size)";
}

bool read_compiled(const std::string& path, std::string& out, std::string& err, bool& too_large, size_t max_bytes) {
  too_large = false;
  if (!read_input(path, out, err, max_bytes)) return false;
  if (out.size() <= max_bytes) return true;
  out.clear();
  out.shrink_to_fit();
  too_large = true;
  err = compiled_too_large(path, max_bytes);
  return false;
}

bool check_output_not_source(const NamedPath& output, const crm::CompiledProgram& program, std::string& err) {
  std::vector<NamedPath> inputs;
  for (auto& f : program.source_files()) inputs.emplace_back("module", std::move(f));
  return check_output_not_input(output, inputs, err);
}

bool check_readable(const std::string& path, std::string& err) {
  if (path == "-") return true;
  struct stat st;
  auto fail = [&](const char* why) {
    err = "cannot read `" + path + "`: " + why;
    return false;
  };
  if (::stat(path.c_str(), &st) != 0) return fail(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return fail("is a directory");
  // A named pipe is not opened here: a reader that comes and goes would let its writer start
  // writing into a pipe that then has no reader.
  if (!S_ISREG(st.st_mode)) return ::access(path.c_str(), R_OK) == 0 ? true : fail(std::strerror(errno));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(std::strerror(errno));
  ::close(fd);
  return true;
}

bool is_compiled_program(const std::string& path) {
  if (path.size() > 5 && path.compare(path.size() - 5, 5, ".crmc") == 0) return true;
  if (path == "-") return false;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) return false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char magic[4];
  ssize_t n = ::read(fd, magic, sizeof magic);
  ::close(fd);
  return n == 4 && std::memcmp(magic, "CRMC", 4) == 0;
}

std::string compiled_program_not_alone(const std::string& path, const std::string& command) {
  std::string name = path == "-" ? "standard input" : "`" + path + "`";
  return name + " is a compiled program (.crmc): it must be the only program file of `crm " + command +
         "` (it cannot be combined with other .crm or .crmc files)";
}

std::string check_program_files(const std::vector<std::string>& files, const std::string& command) {
  if (files.size() < 2) return "";
  for (const auto& f : files)
    if (is_compiled_program(f)) return compiled_program_not_alone(f, command);
  return "";
}

bool read_input(const std::string& path, std::string& out, std::string& err, size_t max_bytes) {
  InputFile in;
  if (!in.open(path, err)) return false;
  out.clear();
  const size_t cap = max_bytes == static_cast<size_t>(-1) ? max_bytes : max_bytes + 1;
  char buf[1 << 16];
  while (out.size() < cap) {
    in.stream().read(buf, static_cast<std::streamsize>(std::min(sizeof buf, cap - out.size())));
    out.append(buf, static_cast<size_t>(in.stream().gcount()));
    if (!in.stream()) break;
  }
  if (in.failed()) {
    err = in.error();
    return false;
  }
  return true;
}

namespace {

// Test hook (tests/state/stop_signal.sh): a pause of this many ms between the check of
// g_stop_input and the wait for input, the window in which a stop signal was once lost.
int stop_race_ms() {
  static const int ms = [] {
    const char* v = std::getenv("CRM_TEST_STOP_RACE_MS");
    return v ? std::atoi(v) : 0;
  }();
  return ms;
}

// Waits until `fd` has data (or its end, or an error, for read() to say) or a graceful stop is
// asked for: false then. The stop's handler writes to g_stop_pipe, so a signal that comes after
// the caller checked g_stop_input but before this wait still wakes it (a read() alone would
// block until the next input line: a SIGTERM to `crm run` on an idle FIFO or stdin was lost).
bool wait_input(int fd) {
  if (g_stop_input) return false;
  if (int ms = stop_race_ms()) ::usleep(useconds_t(ms) * 1000);  // (the window; a signal cuts it short)
  if (g_stop_pipe[0] < 0) return true;  // no graceful stop in this command: read() blocks as usual
  while (true) {
    pollfd p[2] = {{fd, POLLIN, 0}, {g_stop_pipe[0], POLLIN, 0}};
    int r = ::poll(p, 2, -1);
    if (g_stop_input) return false;  // the stop's byte stays in the pipe: every later wait ends too
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 || p[0].revents) return true;  // data, the end or an error: read() says which
  }
}

}  // namespace

// A stream buffer reading a file descriptor that keeps the first read error. It throws on the
// error rather than returning eof: istream operations catch that and set badbit, which is how a
// reader (support::LineReader, the CSV reader, getline loops) tells a failure from the end.
//
// A graceful stop (g_stop_input) throws too, and is kept as stopped(): the input is cut there,
// which is not its end. A stop comes between two reads, wherever the data is split: in the
// middle of a line (a regular file is read 64 KiB at a time and its reads are not interrupted,
// so the stop is seen at the next read) or of a CSV record whose quoted field spans lines. Taken
// for the end, the part read was handed to the reader as the last record and refused as
// malformed (`P.csv:192334: 2 columns, but the header has 3`, exit 1), or with --on-error=skip
// a good record was dropped. As badbit no reader takes what it read of the record as one; the
// command tells the stop from a read error by InputFile::stopped().
class FdInBuf : public std::streambuf {
 public:
  explicit FdInBuf(int fd) : fd_(fd), buf_(1 << 16) { setg(buf_.data(), buf_.data(), buf_.data()); }
  int error() const { return error_; }
  bool stopped() const { return stopped_; }
  std::string_view buffered() const { return {gptr(), static_cast<size_t>(egptr() - gptr())}; }
  // Reads once more after what is buffered (kept, moved to the front; the buffer grows when it is
  // full). False at the end, on a read error (kept for the reads that follow) or at a graceful
  // stop (kept likewise: the next underflow() throws).
  bool read_more() {
    if (error_ || stopped_) return false;
    const size_t kept = static_cast<size_t>(egptr() - gptr());
    std::memmove(buf_.data(), gptr(), kept);
    if (kept == buf_.size()) buf_.resize(buf_.size() * 2);
    while (true) {
      if (!wait_input(fd_)) {
        stopped_ = true;  // what is buffered is still there; the stream stops after it
        setg(buf_.data(), buf_.data(), buf_.data() + kept);
        return false;
      }
      ssize_t n = ::read(fd_, buf_.data() + kept, buf_.size() - kept);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) error_ = errno;
      setg(buf_.data(), buf_.data(), buf_.data() + kept + (n > 0 ? n : 0));
      return n > 0;
    }
  }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    if (error_) throw std::ios_base::failure(std::strerror(error_));
    if (stopped_) throw std::ios_base::failure("stopped");
    while (true) {
      // A graceful stop, also one asked for while waiting: the input is cut here (not its end).
      if (!wait_input(fd_)) {
        stopped_ = true;
        throw std::ios_base::failure("stopped");
      }
      ssize_t n = ::read(fd_, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        error_ = errno;
        throw std::ios_base::failure(std::strerror(error_));
      }
      if (n == 0) return traits_type::eof();
      setg(buf_.data(), buf_.data(), buf_.data() + n);
      return traits_type::to_int_type(*gptr());
    }
  }

 private:
  int fd_;
  std::vector<char> buf_;
  int error_ = 0;
  bool stopped_ = false;
};

InputFile::InputFile() = default;
InputFile::~InputFile() {
  if (fd_ > STDERR_FILENO) ::close(fd_);
}

bool InputFile::open(const std::string& path, std::string& err) {
  name_ = input_name(path);
  if (path == "-") {
    fd_ = STDIN_FILENO;
  } else {
    if (!check_readable(path, err)) return false;
    struct stat st;
    if (::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<size_t>(st.st_size);
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      err = "cannot read `" + path + "`: " + std::strerror(errno);
      return false;
    }
  }
  buf_ = std::make_unique<FdInBuf>(fd_);
  in_ = std::make_unique<std::istream>(buf_.get());
  return true;
}

std::string_view InputFile::head(bool (*enough)(std::string_view)) {
  in_->peek();  // fills the buffer (a read error sets badbit: nothing buffered)
  // One read may deliver only part of what decides (a pipe writing a byte order mark, or a blank
  // line, first): read on until it is there or the input ends.
  while (!in_->bad() && !enough(buf_->buffered()) && buf_->read_more()) {
  }
  return buf_->buffered();
}

namespace {

// Reads all of `fd` into `raw`; false with errno set when a read fails.
bool read_all(int fd, std::string& raw) {
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) raw.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0) return true;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    raw.append(buf, static_cast<size_t>(n));
  }
}

bool gzip_magic(const std::string& raw, size_t at) {
  return raw.size() - at >= 2 && static_cast<unsigned char>(raw[at]) == 0x1f &&
         static_cast<unsigned char>(raw[at + 1]) == 0x8b;
}

}  // namespace

// The members are inflated one after the other with zlib's inflate, not gzread: gzread ends
// quietly at bytes after a member that are not another gzip header ("trailing garbage", such as
// CSV rows appended to the .gz with >>), and those rows were lost without a word.
int read_gzip_or_text(const std::string& path, std::string& data, std::string& err) {
  const std::string name = input_name(path);
  int fd = path == "-" ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    err = "cannot read `" + name + "`: " + std::strerror(errno);
    return kExitIo;
  }
  std::string raw;
  const bool read_ok = read_all(fd, raw);
  const int read_errno = errno;
  if (fd != STDIN_FILENO) ::close(fd);
  if (!read_ok) {
    err = "cannot read `" + name + "`: " + std::strerror(read_errno);
    return kExitIo;
  }
  data.clear();
  if (!gzip_magic(raw, 0)) {  // plain text, read as it is
    data = std::move(raw);
    return 0;
  }
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {  // 16: a gzip wrapper
    err = "cannot read `" + name + "`: " + std::strerror(ENOMEM);
    return kExitIo;
  }
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  auto problem = [&](const std::string& why) {
    err = "`" + name + "` is not readable gzip: " + why;
    data.clear();
    return kExitProblems;
  };
  std::vector<unsigned char> out(1 << 16);
  size_t member = 0;  // where the member being inflated starts
  for (;;) {
    const unsigned char* next = reinterpret_cast<const unsigned char*>(raw.data()) + member;
    size_t left = raw.size() - member;  // not yet given to zlib (avail_in holds at most 1 GiB)
    z.avail_in = 0;
    int ret = Z_OK;
    for (;;) {
      if (z.avail_in == 0 && left > 0) {
        const size_t n = std::min(left, size_t{1} << 30);
        z.next_in = const_cast<Bytef*>(next);
        z.avail_in = static_cast<uInt>(n);
        next += n;
        left -= n;
      }
      z.next_out = out.data();
      z.avail_out = static_cast<uInt>(out.size());
      ret = inflate(&z, Z_NO_FLUSH);
      data.append(reinterpret_cast<const char*>(out.data()), out.size() - z.avail_out);
      if (ret == Z_STREAM_END) break;
      if (ret == Z_BUF_ERROR && z.avail_in == 0 && left == 0)
        return problem("the file is truncated (unexpected end of file)");
      if (ret == Z_MEM_ERROR) {
        err = "cannot read `" + name + "`: " + std::strerror(ENOMEM);
        data.clear();
        return kExitIo;
      }
      if (ret != Z_OK && ret != Z_BUF_ERROR)
        return problem(std::string("the data is corrupt (") + (z.msg ? z.msg : "invalid compressed data") + ")");
    }
    member = raw.size() - left - z.avail_in;  // the end of this member
    if (member == raw.size()) return 0;
    if (!gzip_magic(raw, member)) {
      return problem(std::to_string(raw.size() - member) + " byte" + (raw.size() - member == 1 ? "" : "s") +
                     " after the end of the compressed data, from byte offset " + std::to_string(member) +
                     ", are not gzip (data appended to the .gz file?)");
    }
    inflateReset(&z);  // another member (concatenated gzip files): its data follows
  }
}

// badbit after a graceful stop is the stop (stopped()), not a failed read.
bool InputFile::failed() const { return (buf_ && buf_->error()) || (in_ && in_->bad() && !(buf_ && buf_->stopped())); }
bool InputFile::stopped() const { return buf_ && buf_->stopped() && !buf_->error(); }

std::string InputFile::error() const {
  int e = buf_ ? buf_->error() : 0;
  return "cannot read `" + name_ + "`: " + (e ? std::strerror(e) : "read error");
}

// A stream buffer over a file descriptor that keeps the first write error and counts the lines
// that reached the file.
class FdBuf : public std::streambuf {
 public:
  explicit FdBuf(int fd) : fd_(fd), buf_(1 << 16) { reset(); }
  bool drain() {
    write_all(pbase(), static_cast<size_t>(pptr() - pbase()));
    reset();
    return !error_;
  }
  int error() const { return error_; }
  size_t lines() const { return lines_; }

 protected:
  int_type overflow(int_type c) override {
    if (!drain()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return drain() ? 0 : -1; }
  // A piece at least as large as the buffer (`crm run --threads` hands on a batch's decisions
  // at once) goes to the file directly, after what is buffered, rather than copied through it.
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (n < static_cast<std::streamsize>(buf_.size())) return std::streambuf::xsputn(s, n);
    if (!drain()) return 0;
    return static_cast<std::streamsize>(write_all(s, static_cast<size_t>(n)));
  }

 private:
  // Writes n bytes (retrying short writes and EINTR), counting their lines; stops at the first
  // error (kept in error_). Returns how many bytes were written.
  size_t write_all(const char* p, size_t n) {
    size_t written = 0;
    while (written < n && !error_) {
      ssize_t w = ::write(fd_, p + written, n - written);
      if (w < 0) {
        if (errno == EINTR) continue;
        error_ = errno;
        break;
      }
      if (w == 0) {
        error_ = EIO;
        break;
      }
      lines_ += count_lines(p + written, static_cast<size_t>(w));
      written += static_cast<size_t>(w);
    }
    return written;
  }
  // memchr rather than a byte loop: the buffer holds a few hundred bytes per line.
  static size_t count_lines(const char* p, size_t n) {
    size_t lines = 0;
    for (const char* end = p + n; (p = static_cast<const char*>(std::memchr(p, '\n', size_t(end - p)))); ++p) ++lines;
    return lines;
  }
  void reset() { setp(buf_.data(), buf_.data() + buf_.size()); }
  int fd_;
  std::vector<char> buf_;
  int error_ = 0;
  size_t lines_ = 0;
};

namespace {

// A replaced output's temporary files are `.BASE.tmp-PID.XXXXXX` beside it (BASE cut so the name
// fits NAME_MAX), PID the writer's. A writer killed by SIGKILL (or anything that ends the process
// before its destructor) cannot remove its own; the next writer of the same target removes
// those of the same prefix whose owner is gone (remove_stale_temps).
std::string temp_prefix(const std::string& base) {
  constexpr size_t kRoom = 255 - std::char_traits<char>::length("..tmp-.XXXXXX") - 10;  // 10: the longest pid
  return "." + base.substr(0, std::min(base.size(), kRoom)) + ".tmp-";
}

// The pid in `name` when it is `prefix` PID `.` and mkstemp's six letters or digits, else 0.
pid_t temp_owner(std::string_view name, std::string_view prefix) {
  if (name.size() <= prefix.size() + 7 || name.substr(0, prefix.size()) != prefix) return 0;
  std::string_view rest = name.substr(prefix.size());
  const std::string_view suffix = rest.substr(rest.size() - 7);
  rest.remove_suffix(7);
  if (suffix[0] != '.' || !std::all_of(suffix.begin() + 1, suffix.end(), [](char c) { return std::isalnum(uint8_t(c)); }))
    return 0;
  if (rest.empty() || rest.size() > 10 || !std::all_of(rest.begin(), rest.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return 0;
  const long long pid = std::stoll(std::string(rest));
  return pid > 0 && pid <= std::numeric_limits<pid_t>::max() ? pid_t(pid) : 0;
}

// Removes the temporary files of the target `prefix` names, in `dir`, that belong to no live
// writer: the pid in the name is not a live process here, and nobody holds the flock its writer
// takes on it for its whole life (a writer on another host sharing the directory over NFS, whose
// pid means nothing here, or one whose pid was reused, still holds it). The name is unlinked only
// while it is the file that was found unlocked: a writer renames its file away before it lets go
// of the lock. Best effort: a file that cannot be examined or removed is left as it was.
void remove_stale_temps(const std::string& dir, const std::string& prefix) {
  DIR* d = ::opendir(dir.empty() ? "." : dir.c_str());
  if (!d) return;
  const int dfd = ::dirfd(d);
  while (const dirent* e = ::readdir(d)) {
    const pid_t pid = temp_owner(e->d_name, prefix);
    if (pid == 0 || pid == ::getpid()) continue;
    if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive (EPERM: another user's)
    const int fd = ::openat(dfd, e->d_name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat found, now;
    if (::fstat(fd, &found) == 0 && S_ISREG(found.st_mode) && ::flock(fd, LOCK_EX | LOCK_NB) == 0 &&
        ::fstatat(dfd, e->d_name, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == found.st_dev &&
        now.st_ino == found.st_ino)
      ::unlinkat(dfd, e->d_name, 0);
    ::close(fd);
  }
  ::closedir(d);
}

}  // namespace

OutputFile::OutputFile() = default;

OutputFile::~OutputFile() {
  if (fd_ > STDERR_FILENO) ::close(fd_);
  if (!temp_.empty() && !finished_) ::unlink(temp_.c_str());
}

bool OutputFile::open(const std::string& path, Mode mode, std::string& err) {
  path_ = path;
  name_ = output_name(path);
  mode_ = mode;
  auto fail = [&](int e) {
    err = "cannot write `" + name_ + "`: " + std::strerror(e);
    return false;
  };
  if (path.empty() || path == "-") {
    std::cout.flush();  // keep the order of anything already printed
    fd_ = STDOUT_FILENO;
    mode_ = Mode::Truncate;
  } else {
    struct stat st;
    bool exists = ::stat(path.c_str(), &st) == 0;
    if (exists && S_ISDIR(st.st_mode)) return fail(EISDIR);
    // A device or a pipe (/dev/stdout, /dev/full, a FIFO) is written in place, never replaced.
    if (exists && !S_ISREG(st.st_mode)) mode_ = Mode::Truncate;
  }
  if (fd_ >= 0) {
    // standard output
  } else if (mode_ == Mode::Truncate) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd_ < 0) return fail(errno);
  } else {
    struct stat st;
    bool exists = ::stat(path.c_str(), &st) == 0;
    // A symbolic link is kept: the file it points to is replaced (renaming over the link itself
    // used to turn it into a regular file and leave its target as it was). The temporary file
    // goes next to the target, so the rename stays within one file system.
    if (int e = follow_links(path_)) return fail(e);
    // mkstemp creates the file with O_EXCL and mode 0600 under a name nobody could predict; the
    // pid in it and the flock held on it until it is renamed tell a later writer whether its
    // owner is still alive (remove_stale_temps: what a killed writer left is removed then).
    auto slash = path_.rfind('/');
    std::string dir = slash == std::string::npos ? "" : path_.substr(0, slash + 1);
    std::string base = slash == std::string::npos ? path_ : path_.substr(slash + 1);
    const std::string prefix = temp_prefix(base);
    remove_stale_temps(dir, prefix);
    std::string tmpl = dir + prefix + std::to_string(::getpid()) + ".XXXXXX";
    std::vector<char> name(tmpl.begin(), tmpl.end());
    name.push_back('\0');
    fd_ = ::mkstemp(name.data());
    if (fd_ < 0) return fail(errno);
    temp_ = name.data();
    ::flock(fd_, LOCK_EX | LOCK_NB);  // a new file nobody else has opened: it cannot be held
    mode_t perms;
    if (exists) {
      perms = st.st_mode & 07777;  // a rewritten file keeps its permissions
    } else {
      mode_t mask = ::umask(0);
      ::umask(mask);
      perms = 0666 & ~mask;
    }
    if (::fchmod(fd_, perms) != 0) return fail(errno);
  }
  buf_ = std::make_unique<FdBuf>(fd_);
  stream_ = std::make_unique<std::ostream>(buf_.get());
  return true;
}

bool OutputFile::flush() { return buf_ && buf_->drain(); }
bool OutputFile::failed() const { return buf_ && buf_->error(); }
size_t OutputFile::lines_written() const { return buf_ ? buf_->lines() : 0; }

bool OutputFile::finish(std::string& err) {
  if (finished_) return !failed();
  finished_ = true;
  bool ok = buf_->drain();
  int e = buf_->error();
  // The temporary file's flock is kept (through a duplicate of its descriptor, which shares the
  // lock) until it is renamed: unlocked under its name, it would look abandoned to another writer.
  int hold = -1;
  if (fd_ != STDOUT_FILENO) {
    if (ok && mode_ == Mode::Replace && ::fsync(fd_) != 0) ok = false, e = errno;
    if (mode_ == Mode::Replace) hold = ::dup(fd_);
    if (::close(fd_) != 0 && ok) ok = false, e = errno;
    fd_ = -1;
  }
  if (ok && mode_ == Mode::Replace && ::rename(temp_.c_str(), path_.c_str()) != 0) ok = false, e = errno;
  if (hold >= 0) ::close(hold);
  if (!ok) {
    if (!temp_.empty()) ::unlink(temp_.c_str());
    err = "cannot write `" + name_ + "`: " + std::strerror(e);
  }
  return ok;
}

bool flush_stdout(std::string& err) {
  errno = 0;
  std::cout.flush();
  int e = errno;
  if (std::cout.good() && std::fflush(stdout) == 0 && !std::ferror(stdout)) return true;
  if (!e) e = errno;
  err = std::string("cannot write `standard output`: ") + (e ? std::strerror(e) : "write error");
  return false;
}

}  // namespace crm::cli
