// transport.h - JSON-RPC 2.0 messages over a byte stream with LSP's base protocol framing
// (`Content-Length: N\r\n\r\n` then N bytes of JSON).
//
// Reads from a file descriptor so the server can ask whether more input is already waiting
// (it analyses only once a burst of edits has been read). Never throws on bad input: a
// malformed frame is reported once, then input is discarded up to the next `Content-Length:`
// (any case, wherever it starts: a body is not followed by a line break, so the header after a
// skipped body starts mid-line) and reading goes on from there. A well-formed message is read
// by its length and never scanned, so text in its body cannot split it.
#pragma once

#include <cstddef>
#include <string>

namespace crm::lsp {

class Transport {
 public:
  Transport(int in_fd, int out_fd, size_t max_message_bytes = 64u << 20);

  enum class Read { Message, Eof, BadFrame };
  // The next message body in `body`. BadFrame: `error` says why; the stream is resynchronised
  // at the next header (one BadFrame per malformed frame, however much garbage it spans).
  Read read(std::string& body, std::string& error);
  // The last body was not a message (not JSON): whatever follows it up to the next header is
  // the rest of the same bad frame (a Content-Length shorter than its body) and is skipped
  // without another BadFrame. A well-formed stream loses nothing: its next header is right there.
  void resync() { resync_ = true; }
  // Whether a read() would find data without blocking.
  bool pending();
  // Writes one framed message; false once the output is closed.
  bool write(const std::string& body);

 private:
  bool fill();  // reads more input; false at end of input
  // Skips to the next `Content-Length:`; false at end of input.
  bool skip_to_header();
  // Reports a malformed frame whose fault lies at pos_ + at; the search for the next header
  // starts one byte further, so the fault's own `Content-Length:` is skipped but one later on
  // the same line (glued behind garbage) is found.
  Read bad_frame(size_t at, std::string why, std::string& error);
  int in_, out_;
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  bool resync_ = false;  // discard input up to the next `Content-Length:` before reading
};

}  // namespace crm::lsp
