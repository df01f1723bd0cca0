// transport.cc - LSP base protocol framing over POSIX file descriptors.
#include "lsp/transport.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace crm::lsp {

Transport::Transport(int in_fd, int out_fd, size_t max_message_bytes) : in_(in_fd), out_(out_fd), max_(max_message_bytes) {}

bool Transport::fill() {
  if (eof_) return false;
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > (1u << 20)) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  char chunk[65536];
  for (;;) {
    ssize_t n = ::read(in_, chunk, sizeof chunk);
    if (n > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n < 0 && errno == EINTR) continue;
    eof_ = true;
    return false;
  }
}

bool Transport::pending() {
  if (pos_ < buf_.size()) return true;
  if (eof_) return false;
  pollfd p{in_, POLLIN, 0};
  return ::poll(&p, 1, 0) > 0;
}

namespace {

constexpr std::string_view kLengthName = "content-length:";
constexpr size_t kMaxHeaderBlock = 65536;

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// RFC 9110 token characters: what a header name is made of. A "name" with a quote or a brace in
// it is the tail of a skipped body glued to the next header, not a header.
bool token_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

// The first case-insensitive `Content-Length:` at or after `from`.
size_t find_length_header(const std::string& s, size_t from) {
  for (size_t p = from; p + kLengthName.size() <= s.size(); ++p) {
    if (lower(s[p]) != 'c') continue;
    size_t k = 1;
    while (k < kLengthName.size() && lower(s[p + k]) == kLengthName[k]) ++k;
    if (k == kLengthName.size()) return p;
  }
  return std::string::npos;
}

}  // namespace

bool Transport::skip_to_header() {
  for (;;) {
    size_t p = find_length_header(buf_, pos_);
    if (p != std::string::npos) {
      pos_ = p;
      resync_ = false;
      return true;
    }
    // Keep only a tail that may be the start of a name cut by the read.
    if (buf_.size() - pos_ >= kLengthName.size()) pos_ = buf_.size() - (kLengthName.size() - 1);
    if (!fill()) {
      pos_ = buf_.size();
      return false;
    }
  }
}

Transport::Read Transport::bad_frame(size_t at, std::string why, std::string& error) {
  error = std::move(why);
  pos_ += at + 1;
  resync_ = true;
  return Read::BadFrame;
}

Transport::Read Transport::read(std::string& body, std::string& error) {
  // Headers: lines ending in CRLF up to an empty one. Offsets are from pos_, which fill() may move.
  if (resync_ && !skip_to_header()) return Read::Eof;  // the garbage was reported already
  size_t line = 0;           // start of the line being read
  size_t scanned = 0;        // where to look for its CRLF
  size_t first = std::string::npos;  // start of the first header line
  long long length = -1;
  for (;;) {
    size_t eol = buf_.find("\r\n", pos_ + scanned);
    if (eol == std::string::npos) {
      if (buf_.size() - pos_ > kMaxHeaderBlock) return bad_frame(line, "header block longer than 64 KiB", error);
      scanned = buf_.size() - pos_ > line ? buf_.size() - pos_ - 1 : line;
      if (!fill()) {
        bool junk = buf_.find_first_not_of(" \t\r\n", pos_) != std::string::npos;
        pos_ = buf_.size();
        if (junk) {
          error = "input ended inside a header";
          return Read::BadFrame;
        }
        return Read::Eof;
      }
      continue;
    }
    std::string_view text(buf_.data() + pos_ + line, eol - pos_ - line);
    size_t at = line;
    line = scanned = eol + 2 - pos_;
    if (text.find_first_not_of(" \t") == std::string_view::npos) {
      if (first == std::string::npos) {  // blank lines between messages are not a frame
        pos_ += line;
        line = scanned = 0;
        continue;
      }
      if (text.empty()) break;  // the end of the header block
      continue;
    }
    if (first == std::string::npos) first = at;
    size_t colon = text.find(':');
    std::string_view name = text.substr(0, colon == std::string_view::npos ? 0 : colon);
    if (name.empty() || !std::all_of(name.begin(), name.end(), token_char))
      return bad_frame(at, "malformed header line `" + std::string(text.substr(0, 80)) + "`", error);
    if (name.size() + 1 == kLengthName.size() &&
        std::equal(name.begin(), name.end(), kLengthName.begin(), [](char a, char b) { return lower(a) == b; })) {
      std::string_view v = text.substr(colon + 1);
      size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
      v = b == std::string_view::npos ? std::string_view() : v.substr(b, e - b + 1);
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string_view::npos)
        return bad_frame(at, "invalid Content-Length `" + std::string(v.substr(0, 40)) + "`", error);
      length = std::strtoll(std::string(v).c_str(), nullptr, 10);
    }
  }
  if (length < 0) return bad_frame(first, "missing Content-Length header", error);
  pos_ += line;
  if (static_cast<unsigned long long>(length) > max_) {
    // Skip the body without keeping it.
    size_t left = static_cast<size_t>(length);
    while (left > 0) {
      size_t have = buf_.size() - pos_;
      size_t take = std::min(have, left);
      pos_ += take;
      left -= take;
      if (left > 0 && !fill()) break;
    }
    error = "message of " + std::to_string(length) + " bytes exceeds the limit of " + std::to_string(max_);
    return Read::BadFrame;
  }
  while (buf_.size() - pos_ < static_cast<size_t>(length))
    if (!fill()) {
      pos_ = buf_.size();
      error = "input ended inside a message body";
      return Read::BadFrame;
    }
  body = buf_.substr(pos_, static_cast<size_t>(length));
  pos_ += static_cast<size_t>(length);
  return Read::Message;
}

bool Transport::write(const std::string& body) {
  std::string msg = "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  size_t off = 0;
  while (off < msg.size()) {
    ssize_t n = ::write(out_, msg.data() + off, msg.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace crm::lsp
