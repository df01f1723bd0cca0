// transport.cc - LSP base protocol framing over POSIX file descriptors.
#include "lsp/transport.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cctype>
#include <cstdlib>

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

Transport::Read Transport::read(std::string& body, std::string& error) {
  // Headers: up to the first empty line.
  size_t end;
  while ((end = buf_.find("\r\n\r\n", pos_)) == std::string::npos) {
    if (buf_.size() - pos_ > 65536) {  // no header block ends in sight: drop what we have
      error = "header block longer than 64 KiB";
      pos_ = buf_.size();
      return Read::BadFrame;
    }
    if (!fill()) {
      bool junk = buf_.find_first_not_of(" \t\r\n", pos_) != std::string::npos;
      pos_ = buf_.size();
      if (junk) {
        error = "input ended inside a header";
        return Read::BadFrame;
      }
      return Read::Eof;
    }
  }
  std::string headers = buf_.substr(pos_, end - pos_);
  pos_ = end + 4;
  long long length = -1;
  size_t i = 0;
  while (i <= headers.size()) {
    size_t j = headers.find("\r\n", i);
    if (j == std::string::npos) j = headers.size();
    std::string line = headers.substr(i, j - i);
    i = j + 2;
    size_t colon = line.find(':');
    if (colon == std::string::npos) {
      if (line.find_first_not_of(" \t") == std::string::npos) continue;
      error = "malformed header line `" + line.substr(0, 80) + "`";
      return Read::BadFrame;
    }
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-length") {
      std::string v = line.substr(colon + 1);
      size_t b = v.find_first_not_of(" \t"), e = v.find_last_not_of(" \t");
      v = b == std::string::npos ? "" : v.substr(b, e - b + 1);
      if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos) {
        error = "invalid Content-Length `" + v.substr(0, 40) + "`";
        return Read::BadFrame;
      }
      length = std::strtoll(v.c_str(), nullptr, 10);
    }
  }
  if (length < 0) {
    error = "missing Content-Length header";
    return Read::BadFrame;
  }
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
