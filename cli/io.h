// io.h - the crm tool's files, one set of rules for every command:
//   * `-` is standard input (for an input) or standard output (for an output); at most one input
//     of a command may be standard input;
//   * an input must be something that can be read as a stream: a directory is an error;
//   * every output is flushed and checked, and a failed write names the file;
//   * a file that is replaced (compile -o, format --write) is written to a private temporary file
//     created with mkstemp (O_EXCL) in the target's directory and renamed over the target, so a
//     planted symlink is never followed and readers never see half a file. Its name is
//     `.BASE.tmp-PID.XXXXXX` and its writer holds a flock on it until the rename: one left by a
//     writer that was killed (SIGKILL, a crash) is removed by the next replacement of the same
//     target, once its pid is no live process and nobody holds its lock.
#pragma once

#include <csignal>
#include <cstddef>
#include <istream>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace crm {
class CompiledProgram;
}

namespace crm::cli {

// How a path is named in messages: `-` becomes "standard input" / "standard output".
std::string input_name(const std::string& path);
std::string output_name(const std::string& path);

// Claims standard input for `path` when it is `-`; false (with a message in `err`) when another
// argument of the same command already claimed it.
bool claim_stdin(const std::string& path, std::string& err);

// An output must not be one of the command's inputs: `crm run p.crm --events ev.jsonl -o ev.jsonl`
// would truncate the events before reading them (and `--state sqlite:L.db -o L.db` the ledger).
// `output` is (option, path) as the user wrote it; `inputs` are (option, path) pairs (the program's
// files as option "program", `--state sqlite:PATH` as "--state"; memory, `-` and empty are skipped).
// Existing files are compared by device and inode, so a symlink or a hard link to an input counts
// as that input; where one of them does not exist yet (a new ledger, a new output) by their names
// with `.`, `..` and symbolic links resolved. A ledger counts with its companions (PATH-wal,
// PATH-shm, PATH-journal, PATH.lock). An output that is not a regular file (/dev/null, a pipe) is
// never an input's data. False with a message (a usage error: exit 2) when they are the same file.
using NamedPath = std::pair<std::string, std::string>;
bool check_output_not_input(const NamedPath& output, const std::vector<NamedPath>& inputs, std::string& err);
// The same for the files a compiled program was read from (CompiledProgram::source_files: the
// files given and the modules they import from disk, which only compiling finds): checked after
// the program is compiled and before the output is opened.
bool check_output_not_source(const NamedPath& output, const crm::CompiledProgram& program, std::string& err);

// Checks that `path` can be opened for reading and is not a directory ("cannot read `x`: ...").
bool check_readable(const std::string& path, std::string& err);

// Reads a whole input (`-` = standard input). With `max_bytes`, stops after max_bytes + 1 bytes:
// enough for the source's size limit (E0105) to see that the input is too large, without
// reading an endless stream (/dev/zero) into memory.
bool read_input(const std::string& path, std::string& out, std::string& err,
                size_t max_bytes = static_cast<size_t>(-1));
// The most a compiled program (.crmc) is read to, unless --max-file-size says otherwise: a
// program of 10,000 strategies is tens of MB; a larger file (or an endless stream) is refused
// before it is all in memory.
inline constexpr size_t kMaxCompiledBytes = size_t(256) << 20;
// Reads a .crmc (`-` = standard input) up to `max_bytes`; false with `err` naming the file, and
// `too_large` set when it holds more than that (else a read error).
bool read_compiled(const std::string& path, std::string& out, std::string& err, bool& too_large,
                   size_t max_bytes = kMaxCompiledBytes);
// The same limit's message, for an input read before it was known to be a compiled program.
std::string compiled_too_large(const std::string& path, size_t max_bytes);

// A command's program is .crm sources, or one compiled program (.crmc) given alone in their
// place (run, audience, explain, compile --disasm, report, forecast, import hillstrom --program).
// A compiled program is known by its name, or for a regular file by its header `CRMC` (a renamed
// .crmc); standard input and pipes are not peeked (that would consume them) but known once read.
bool is_compiled_program(const std::string& path);
// The usage error for a compiled program `path` given to `crm COMMAND` with other program files.
std::string compiled_program_not_alone(const std::string& path, const std::string& command);
// "" when `files` are sources or one compiled program alone, else compiled_program_not_alone().
std::string check_program_files(const std::vector<std::string>& files, const std::string& command);

class FdBuf;
class FdInBuf;

// Set by `crm run`'s SIGTERM/SIGINT handler (a graceful stop): an input read through InputFile
// (not gzip) is then cut, at once when a read waits for data (a pipe, a FIFO: the signal
// interrupts it, the handler is installed without SA_RESTART) and at the next read otherwise.
// Cut, not ended: wherever the reads split the data (in the middle of a line, of a CSV record),
// its stream gets badbit, so no reader takes the part of a record it read for a whole one (one
// that ended the stream there parsed the part as the last record: a good line refused as
// malformed); InputFile::stopped() tells the stop from a read error.
extern volatile std::sig_atomic_t g_stop_input;
// The self-pipe of that stop: the handler sets g_stop_input and then writes a byte here
// (wake_stop_pipe, async-signal-safe), and InputFile waits for its input and this pipe together
// (poll), so a signal that comes between its check of the flag and its wait still ends the wait
// at once. open_stop_pipe() before the handler is installed; without it InputFile just reads.
extern int g_stop_pipe[2];
bool open_stop_pipe();
void wake_stop_pipe();

// Reads a whole input that may be gzip-compressed (plain text is read as it is; `-` = standard
// input), the one reader of every `.gz` the tool takes (import). Returns 0, or the exit code
// with `err` naming the file: kExitIo when it cannot be read (EIO: "cannot read `x`: reason"),
// kExitProblems when its gzip data is truncated or corrupt: a gzip stream that ends before its
// trailer is partial data, never taken as the whole file. Concatenated gzip members are read one
// after the other; bytes after the last member that are not gzip (rows appended with >>) are an
// error naming their byte offset, never dropped.
int read_gzip_or_text(const std::string& path, std::string& data, std::string& err);

// A line-oriented input (`-` = standard input). A read that fails (EIO, /proc/self/mem, a
// directory on standard input) is not the end of the input: the stream's badbit is set (its
// buffer throws, which every istream operation turns into badbit), so readers stop, and
// failed() / error() say what happened for the caller to report (exit 3). A graceful stop sets
// badbit the same way, and stopped() says so.
class InputFile {
 public:
  InputFile();
  ~InputFile();
  bool open(const std::string& path, std::string& err);
  std::istream& stream() { return *in_; }
  // Size in bytes for a regular file, 0 otherwise (for progress bars).
  size_t size() const { return size_; }
  // The first bytes of the input without consuming them: read until `enough` says they are
  // enough, however the input's reads are split, or the input ends (empty at the end or after a
  // read error). What tells a profiles file on standard input apart (crm::profiles_head_decides).
  std::string_view head(bool (*enough)(std::string_view));
  // Whether a read failed; error() is then "cannot read `NAME`: reason".
  bool failed() const;
  // Whether a graceful stop (g_stop_input) cut the input: its stream has badbit, what was read
  // before the stop is all there is, and the last record may have been read only in part.
  bool stopped() const;
  std::string error() const;

 private:
  std::string name_;
  int fd_ = -1;
  std::unique_ptr<FdInBuf> buf_;
  std::unique_ptr<std::istream> in_;
  size_t size_ = 0;
};

// An output: standard output (`-` or empty), a file, or a file replaced atomically (a symbolic
// link is kept and the file it points to is replaced).
class OutputFile {
 public:
  enum class Mode { Truncate, Replace };
  OutputFile();
  ~OutputFile();  // an unfinished replacement removes its temporary file; the target is untouched
  bool open(const std::string& path, Mode mode, std::string& err);
  std::ostream& stream() { return *stream_; }
  // Flushes and closes (and for Replace renames over the target). False with "cannot write
  // `x`: reason" when any byte could not be written.
  bool finish(std::string& err);
  // Flushes what is buffered; false once a write has failed (the error is kept for finish()).
  bool flush();
  bool failed() const;
  // Lines ('\n'-terminated) that reached the file, however the writes were split.
  size_t lines_written() const;
  const std::string& name() const { return name_; }

 private:
  std::string path_, name_, temp_;
  Mode mode_ = Mode::Truncate;
  int fd_ = -1;
  bool finished_ = false;
  std::unique_ptr<FdBuf> buf_;
  std::unique_ptr<std::ostream> stream_;
};

// Flushes std::cout; false with a message naming standard output when something was lost.
bool flush_stdout(std::string& err);

}  // namespace crm::cli
