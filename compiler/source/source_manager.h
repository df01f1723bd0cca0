// source_manager.h - owns the text of every file in a compilation and maps byte offsets to lines.
//
// Spans are (file, byte range) so AST nodes stay small; line and column are computed on demand
// (binary search over line starts) only when a diagnostic is rendered.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace crm::source {

using FileId = uint32_t;
constexpr FileId kNoFile = ~FileId{0};

struct Span {
  FileId file = kNoFile;
  uint32_t begin = 0;  // byte offset
  uint32_t end = 0;    // one past the last byte
  bool valid() const { return file != kNoFile; }
  static Span join(Span a, Span b) {
    if (!a.valid()) return b;
    if (!b.valid() || a.file != b.file) return a;
    return Span{a.file, a.begin < b.begin ? a.begin : b.begin, a.end > b.end ? a.end : b.end};
  }
};

struct LineCol {
  uint32_t line = 1;    // 1-based
  uint32_t column = 1;  // 1-based, in characters (UTF-8 code points)
};

class SourceFile {
 public:
  SourceFile(FileId id, std::string path, std::string text);
  FileId id() const { return id_; }
  const std::string& path() const { return path_; }
  std::string_view text() const { return text_; }
  LineCol line_col(uint32_t offset) const;
  std::string_view line_text(uint32_t line) const;  // without the line terminator
  uint32_t line_count() const { return static_cast<uint32_t>(line_starts_.size()); }

 private:
  FileId id_;
  std::string path_;
  std::string text_;
  std::vector<uint32_t> line_starts_;
};

class SourceManager {
 public:
  FileId add(std::string path, std::string text);
  const SourceFile& file(FileId id) const { return *files_.at(id); }
  size_t size() const { return files_.size(); }

 private:
  std::vector<std::unique_ptr<SourceFile>> files_;
};

}  // namespace crm::source
