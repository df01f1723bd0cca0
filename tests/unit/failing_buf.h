// failing_buf.h - a stream buffer that gives a text and then fails as a disk does (EIO): its
// underflow throws, which istream operations turn into badbit (the CLI's file buffer does the
// same). For the tests that a read error is never taken for the end of an input.
#pragma once

#include <ios>
#include <streambuf>
#include <string>

namespace crm::testing {

class FailingBuf : public std::streambuf {
 public:
  explicit FailingBuf(std::string text) : text_(std::move(text)) { setg(text_.data(), text_.data(), text_.data() + text_.size()); }

 protected:
  int_type underflow() override { throw std::ios_base::failure("Input/output error"); }

 private:
  std::string text_;
};

}  // namespace crm::testing
