// transport.h - JSON-RPC 2.0 messages over a byte stream with LSP's base protocol framing
// (`Content-Length: N\r\n\r\n` then N bytes of JSON).
//
// Reads from a file descriptor so the server can ask whether more input is already waiting
// (it analyses only once a burst of edits has been read). Never throws on bad input: a header
// without a usable Content-Length is reported as a framing error and skipped.
#pragma once

#include <cstddef>
#include <string>

namespace crm::lsp {

class Transport {
 public:
  Transport(int in_fd, int out_fd, size_t max_message_bytes = 64u << 20);

  enum class Read { Message, Eof, BadFrame };
  // The next message body in `body`. BadFrame: `error` says why; the stream is resynchronised
  // at the next header.
  Read read(std::string& body, std::string& error);
  // Whether a read() would find data without blocking.
  bool pending();
  // Writes one framed message; false once the output is closed.
  bool write(const std::string& body);

 private:
  bool fill();  // reads more input; false at end of input
  int in_, out_;
  size_t max_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
};

}  // namespace crm::lsp
