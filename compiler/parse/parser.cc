// parser.cc - drives the generated ANTLR parser and lowers its parse tree into the AST.
//
// Error messages are rewritten from ANTLR's ("mismatched input 'x' expecting {...}") into the
// project's style: lowercase, user text in backticks, token classes named in words.
#include "compiler/parse/parser.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <memory>
#include <set>
#include <string>

#include "CrmLexer.h"
#include "CrmParser.h"
#include "antlr4-runtime.h"
#include "support/text.h"

namespace crm::parse {
namespace {

using antlr4::Token;
using P = CrmParser;

// Byte offsets for code-point indices: ANTLR indexes the decoded UTF-32 stream.
class OffsetMap {
 public:
  explicit OffsetMap(std::string_view text) {
    bool ascii = true;
    for (unsigned char c : text) if (c >= 0x80) { ascii = false; break; }
    size_ = static_cast<uint32_t>(text.size());
    if (ascii) return;
    for (uint32_t i = 0; i < text.size(); ++i)
      if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) map_.push_back(i);
    map_.push_back(size_);
  }
  uint32_t byte(size_t cp) const {
    if (map_.empty()) return cp > size_ ? size_ : static_cast<uint32_t>(cp);
    return cp < map_.size() ? map_[cp] : size_;
  }

 private:
  std::vector<uint32_t> map_;
  uint32_t size_ = 0;
};

std::string describe_token_type(const antlr4::dfa::Vocabulary& vocab, size_t type) {
  switch (type) {
    case Token::EOF: return "end of file";
    case P::ID: return "a name";
    case P::NUMBER: return "a number";
    case P::STRING: return "a string";
    case P::MONEY: return "a money amount";
    case P::DURATION: return "a duration";
    case P::PERCENT: return "a percentage";
    case P::DATETIME: return "a time";
    case P::DATE: return "a date";
    case P::CLOCK: return "a clock time";
    default: break;
  }
  std::string lit = vocab.getLiteralName(type);
  if (lit.size() >= 2 && lit.front() == '\'') return "`" + lit.substr(1, lit.size() - 2) + "`";
  return vocab.getDisplayName(type);
}

std::string describe_offending(Token* t) {
  if (!t || t->getType() == Token::EOF) return "end of file";
  std::string text = t->getText();
  return "`" + support::visible(support::utf8_truncate(text, 40)) + "`";
}

struct DepthExceeded {};

// Code-point intervals [first, last] of the tokens a syntax error's recovery skipped or repaired.
using TokenRuns = std::vector<std::pair<size_t, size_t>>;

class ErrorStrategy : public antlr4::DefaultErrorStrategy {
 public:
  ErrorStrategy(std::string* last_help, TokenRuns* repaired) : last_help_(last_help), repaired_(repaired) {}

  // Each error condition, from the token where it began to the one where the parser matched
  // again: what recovery deleted or skipped, and the token it resynchronised on (after a deleted
  // `segment`, the `t` that became an operand). The driver asks whether a name written there
  // may be the one a lost declaration declared (ast::Module::repaired).
  void beginErrorCondition(antlr4::Parser* p) override {
    if (!inErrorRecoveryMode(p)) {
      Token* t = p->getCurrentToken();
      error_start_ = t ? t->getStartIndex() : INVALID_INDEX;
    }
    antlr4::DefaultErrorStrategy::beginErrorCondition(p);
  }
  void endErrorCondition(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) close_run(p->getCurrentToken());
    antlr4::DefaultErrorStrategy::endErrorCondition(p);
  }
  // At the end of the file a condition still open runs to its end.
  void finish(antlr4::Parser* p) {
    if (inErrorRecoveryMode(p)) close_run(p->getCurrentToken());
  }

 private:
  void close_run(Token* t) {
    if (error_start_ == INVALID_INDEX) return;
    size_t last = error_start_;
    if (t && t->getType() != Token::EOF && t->getStopIndex() != INVALID_INDEX) last = std::max(last, t->getStopIndex());
    else last = std::numeric_limits<size_t>::max();  // to the end of the file
    repaired_->emplace_back(error_start_, last);
    error_start_ = INVALID_INDEX;
  }

 protected:
  void reportNoViableAlternative(antlr4::Parser* p, const antlr4::NoViableAltException& e) override {
    report(p, e.getOffendingToken(), e.getExpectedTokens(), "unexpected " + describe_offending(e.getOffendingToken()));
  }
  void reportInputMismatch(antlr4::Parser* p, const antlr4::InputMismatchException& e) override {
    report(p, e.getOffendingToken(), e.getExpectedTokens(), "unexpected " + describe_offending(e.getOffendingToken()));
  }
  void reportUnwantedToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    Token* t = p->getCurrentToken();
    report(p, t, getExpectedTokens(p), "unexpected " + describe_offending(t));
  }
  void reportMissingToken(antlr4::Parser* p) override {
    if (inErrorRecoveryMode(p)) return;
    beginErrorCondition(p);
    Token* t = p->getCurrentToken();
    auto expected = getExpectedTokens(p);
    std::string what = expected.size() == 1
                           ? describe_token_type(p->getVocabulary(), expected.getMinElement())
                           : "a token";
    last_help_->clear();
    p->notifyErrorListeners(t, "missing " + what + " before " + describe_offending(t), nullptr);
  }

 private:
  void report(antlr4::Parser* p, Token* t, const antlr4::misc::IntervalSet& expected, std::string msg) {
    const auto& vocab = p->getVocabulary();
    // Only the first few are listed; whether an expression may start here is asked of the whole
    // set (the lexer's NUMBER comes after every keyword, so a prefix of it may not reach it).
    std::vector<size_t> types;
    for (auto& iv : expected.getIntervals())
      for (ssize_t k = iv.a; k <= iv.b && types.size() < 11; ++k) types.push_back(static_cast<size_t>(k));
    const size_t count = expected.size();
    const bool expr_start = expected.contains(static_cast<ssize_t>(P::NUMBER));
    last_help_->clear();
    if (std::string chain = chained_comparison(p, t); !chain.empty()) {
      // language.md §3.1: comparisons do not chain; the parser would only list what may follow.
      msg += ": comparisons do not chain";
      *last_help_ = "compare twice and join with `and`: `" + chain + "`";
    } else if (Token* prev = expr_start && count > 6 && starts_declaration(p, t) ? line_start_after(p, t) : nullptr) {
      // `segment s = a > 1 and` with the next declaration below: the expression ended early;
      // said at the operator left hanging, not at the correct line after it.
      p->notifyErrorListeners(prev, "expected an expression after " + describe_offending(prev) + ", found " +
                                        describe_offending(t) + " on the next line", nullptr);
      return;
    } else if (expr_start && count > 6) {
      msg += ", expected an expression";
    } else if (count > 6 && expected.contains(static_cast<ssize_t>(P::ID))) {
      // A name: the soft keywords that may also serve as one are no help to list.
      msg += ", expected a name";
    } else if (!types.empty() && count <= 6) {
      std::string list;
      for (size_t i = 0; i < types.size(); ++i) {
        if (i) list += i + 1 == types.size() ? " or " : ", ";
        list += describe_token_type(vocab, types[i]);
      }
      msg += ", expected " + list;
    } else if (!types.empty()) {
      std::string list;
      for (size_t i = 0; i < types.size() && i < 10; ++i) list += (i ? ", " : "") + describe_token_type(vocab, types[i]);
      if (count > 10) list += ", ...";
      *last_help_ = "expected one of " + list;
    }
    p->notifyErrorListeners(t, msg, nullptr);
  }
  // The default-channel token before `t` when `t` starts a line below it, else null.
  static Token* line_start_after(antlr4::Parser* p, Token* t) {
    if (!t || t->getTokenIndex() == INVALID_INDEX) return nullptr;
    auto* ts = p->getTokenStream();
    // Right after a lexer error the hole is that error's (the listener drops this one).
    if (t->getTokenIndex() > 0) {
      size_t k = ts->get(t->getTokenIndex() - 1)->getType();
      if (k == CrmLexer::ERROR_CHAR || k == CrmLexer::UNTERMINATED_STRING || k == CrmLexer::UNTERMINATED_COMMENT)
        return nullptr;
    }
    for (size_t k = t->getTokenIndex(); k-- > 0;) {
      Token* x = ts->get(k);
      if (x->getChannel() != Token::DEFAULT_CHANNEL) continue;
      return x->getLine() < t->getLine() ? x : nullptr;
    }
    return nullptr;
  }
  // A declaration keyword at the start of a line begins the next declaration: recovery stops
  // there instead of swallowing it (which gave a second error on the correct line).
  static bool starts_declaration(antlr4::Parser* p, Token* t) {
    static const std::set<std::string> kw{"'profile'", "'event'", "'enum'", "'const'", "'segment'", "'fn'",
                                          "'resource'", "'strategy'", "'policy'", "'pool'", "'import'"};
    return t && t->getCharPositionInLine() == 0 && kw.count(p->getVocabulary().getLiteralName(t->getType())) > 0;
  }

 public:
  void recover(antlr4::Parser* p, std::exception_ptr e) override {
    if (!starts_declaration(p, p->getCurrentToken())) {
      antlr4::DefaultErrorStrategy::recover(p, e);
      return;
    }
    lastErrorIndex = static_cast<int>(p->getInputStream()->index());
    lastErrorStates.add(static_cast<ssize_t>(p->getState()));
  }

 protected:
  // Nor is the keyword deleted as one stray token (`segment` dropped, `t` taken as the operand).
  Token* singleTokenDeletion(antlr4::Parser* p) override {
    if (starts_declaration(p, p->getCurrentToken())) return nullptr;
    return antlr4::DefaultErrorStrategy::singleTokenDeletion(p);
  }

 private:
  static bool is_comparison(const antlr4::dfa::Vocabulary& v, Token* t) {
    static const std::set<std::string> ops{"'=='", "'!='", "'<'", "'<='", "'>'", "'>='"};
    return t && ops.count(v.getLiteralName(t->getType())) > 0;
  }
  static bool is_boundary(const antlr4::dfa::Vocabulary& v, Token* t) {
    static const std::set<std::string> b{"'='", "':'", "','", "'{'", "'}'", "'['", "']'", "'and'", "'or'",
                                         "'not'", "'if'", "'then'", "'else'", "';'"};
    return !t || t->getType() == Token::EOF || b.count(v.getLiteralName(t->getType())) > 0;
  }
  // `a < b < c`: the offending token is a comparison after a comparison of the same operand
  // chain. Returns the rewrite `a < b and b < c` (from the source text), or empty.
  static std::string chained_comparison(antlr4::Parser* p, Token* t) {
    const auto& v = p->getVocabulary();
    if (!is_comparison(v, t) || t->getTokenIndex() == INVALID_INDEX) return {};
    auto* ts = p->getTokenStream();
    auto text = [&](Token* from, Token* to) {
      return from->getInputStream()->getText(antlr4::misc::Interval(from->getStartIndex(), to->getStopIndex()));
    };
    std::vector<Token*> before;  // default-channel tokens back to the start of the operand chain
    int depth = 0;
    Token* first_op = nullptr;
    for (size_t k = t->getTokenIndex(); k-- > 0 && before.size() < 64;) {
      Token* x = ts->get(k);
      if (x->getChannel() != Token::DEFAULT_CHANNEL) continue;
      std::string lit = v.getLiteralName(x->getType());
      if (lit == "')'") ++depth;
      else if (lit == "'('" && depth-- == 0) break;
      if (depth == 0 && is_boundary(v, x)) break;
      if (depth == 0 && is_comparison(v, x) && first_op) break;  // a third comparison: stop at two
      if (depth == 0 && is_comparison(v, x)) first_op = x;
      before.push_back(x);
    }
    if (!first_op || before.empty() || before.back() == first_op) return {};
    Token* lhs_begin = before.back();
    Token* mid_begin = nullptr;
    Token* mid_end = nullptr;
    for (size_t i = 0; i < before.size(); ++i)
      if (before[i] == first_op) {
        if (i == 0) return {};
        mid_begin = before[i - 1];
        mid_end = before[0];
        break;
      }
    Token* op1_prev = nullptr;
    for (size_t i = 0; i < before.size(); ++i)
      if (before[i] == first_op && i + 1 < before.size()) op1_prev = before[i + 1];
    if (!op1_prev || !mid_begin) return {};
    // The right operand: the tokens after `t` on its line, up to a boundary.
    Token* rhs_begin = nullptr;
    Token* rhs_end = nullptr;
    depth = 0;
    for (size_t k = t->getTokenIndex() + 1; k < ts->size() && k < t->getTokenIndex() + 32; ++k) {
      Token* x = ts->get(k);
      if (x->getChannel() != Token::DEFAULT_CHANNEL) continue;
      if (x->getLine() != t->getLine() || is_boundary(v, x) || is_comparison(v, x)) break;
      std::string lit = v.getLiteralName(x->getType());
      if (lit == "'('") ++depth;
      else if (lit == "')'" && depth-- == 0) break;
      if (!rhs_begin) rhs_begin = x;
      rhs_end = x;
    }
    std::string mid = text(mid_begin, mid_end);
    std::string left = text(lhs_begin, op1_prev) + " " + first_op->getText() + " " + mid;
    std::string right = mid + " " + t->getText() + " " + (rhs_end ? text(rhs_begin, rhs_end) : "...");
    return support::visible(support::utf8_truncate(left + " and " + right, 120));
  }

  std::string* last_help_;
  TokenRuns* repaired_;
  size_t error_start_ = INVALID_INDEX;
};

bool is_lexer_error(Token* t) {
  size_t k = t->getType();
  return k == CrmLexer::ERROR_CHAR || k == CrmLexer::UNTERMINATED_STRING || k == CrmLexer::UNTERMINATED_COMMENT;
}

class Listener : public antlr4::BaseErrorListener {
 public:
  Listener(const source::SourceFile& f, const OffsetMap& map, diag::DiagnosticSink& sink, std::string* help,
           antlr4::CommonTokenStream* tokens)
      : file_(f), map_(map), sink_(sink), help_(help), tokens_(tokens) {}
  void syntaxError(antlr4::Recognizer*, Token* t, size_t, size_t, const std::string& msg,
                   std::exception_ptr) override {
    // The token right after a bad character or a comment never closed is where the parser meets
    // the hole the lexer error left (`a ＞ 1`: "unexpected `1`"): that mistake is already reported.
    if (t && t->getTokenIndex() != INVALID_INDEX && t->getTokenIndex() > 0 &&
        t->getTokenIndex() <= tokens_->size() && is_lexer_error(tokens_->get(t->getTokenIndex() - 1))) {
      help_->clear();
      return;
    }
    source::Span span{file_.id(), static_cast<uint32_t>(file_.text().size()),
                      static_cast<uint32_t>(file_.text().size())};
    if (t && t->getType() != Token::EOF && t->getStartIndex() != INVALID_INDEX) {
      span.begin = map_.byte(t->getStartIndex());
      span.end = map_.byte(t->getStopIndex() + 1);
      if (span.end < span.begin) span.end = span.begin;
    }
    auto& d = sink_.report(diag::Code::E0101, span, msg);
    if (!help_->empty()) d.help = *help_;
    help_->clear();
  }

 private:
  const source::SourceFile& file_;
  const OffsetMap& map_;
  diag::DiagnosticSink& sink_;
  std::string* help_;
  antlr4::CommonTokenStream* tokens_;
};

// The generated parser recurses once per rule; this subclass bounds that recursion so a file of
// ten thousand `(` is a diagnostic, not a stack overflow.
class GuardedParser : public CrmParser {
 public:
  GuardedParser(antlr4::TokenStream* in, size_t limit) : CrmParser(in), limit_(limit) {}
  void enterRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule) override {
    check(localctx);
    CrmParser::enterRule(localctx, state, rule);
  }
  void enterRecursionRule(antlr4::ParserRuleContext* localctx, size_t state, size_t rule, int prec) override {
    check(localctx);
    CrmParser::enterRecursionRule(localctx, state, rule, prec);
  }
  Token* deepest = nullptr;

 private:
  void check(antlr4::ParserRuleContext* ctx) {
    size_t depth = 0;
    for (auto* c = ctx ? ctx->parent : nullptr; c; c = c->parent)
      if (++depth > limit_) {
        deepest = getCurrentToken();
        throw DepthExceeded{};
      }
  }
  size_t limit_;
};

// ---- parse tree -> AST ---------------------------------------------------------------------

class Builder {
 public:
  Builder(const source::SourceFile& f, const OffsetMap& map, ast::AstContext& ctx, diag::DiagnosticSink& sink,
          const ParseOptions& o)
      : file_(f), map_(map), ctx_(ctx), sink_(sink), opts_(o) {}

  ast::Module* module(P::FileContext* fc) {
    auto* m = ctx_.make<ast::Module>(span(fc));
    m->file = file_.id();
    if (auto* md = fc->moduleDecl(); md && md->qualifiedName()) {
      m->name = md->qualifiedName()->getText();
      m->name_span = span(md->qualifiedName());
    }
    for (auto* im : fc->importDecl()) {
      if (!im->qualifiedName()) continue;
      ast::Import imp;
      imp.path = im->qualifiedName()->getText();
      imp.span = span(im->qualifiedName());
      imp.alias = text(im->alias);
      m->imports.push_back(std::move(imp));
    }
    if (auto* z = fc->zoneDecl(); z && z->zone) {
      m->has_zone = true;
      m->zone_span = span(z->zone);
      m->zone = unescape(text(z->zone), m->zone_span);
    }
    for (auto* d : fc->decl())
      if (auto* built = decl(d)) m->decls.push_back(built);
    return m;
  }

 private:
  source::Span span(Token* t) const {
    if (!t || t->getStartIndex() == INVALID_INDEX) return {file_.id(), 0, 0};
    uint32_t b = map_.byte(t->getStartIndex());
    uint32_t e = map_.byte(t->getStopIndex() + 1);
    return {file_.id(), b, e < b ? b : e};
  }
  source::Span span(antlr4::ParserRuleContext* c) const {
    if (!c) return {file_.id(), 0, 0};
    source::Span s = span(c->getStart());
    if (c->getStop() && c->getStop()->getStartIndex() != INVALID_INDEX &&
        c->getStop()->getStopIndex() + 1 >= c->getStart()->getStartIndex())
      s.end = std::max(s.end, map_.byte(c->getStop()->getStopIndex() + 1));
    return s;
  }
  static std::string text(Token* t) { return t ? t->getText() : std::string(); }
  static std::string text(antlr4::ParserRuleContext* c) { return c ? c->getText() : std::string(); }

  std::string unescape(const std::string& raw, source::Span sp) {
    std::string out;
    if (raw.size() < 2) return out;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      char c = raw[i];
      if (c != '\\') { out += c; continue; }
      char n = raw[++i];
      switch (n) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        default:
          sink_.report(diag::Code::E0104, {sp.file, sp.begin + uint32_t(i) - 1, sp.begin + uint32_t(i) + 1},
                       fmt::format("invalid escape `\\{}` in string", n))
              .help = "valid escapes are \\n, \\t, \\\" and \\\\; write `{{` for a literal brace in a template";
      }
    }
    return out;
  }

  ast::TypeRef* type(P::TypeRefContext* c) {
    if (!c) return nullptr;
    auto* t = ctx_.make<ast::TypeRef>(span(c));
    t->name = text(c->name);
    if (c->currency) { t->currency = text(c->currency); t->currency_span = span(c->currency); }
    t->elem = type(c->typeRef());
    t->optional = c->opt != nullptr;
    return t;
  }
  std::string text(antlr4::tree::TerminalNode* n) { return n ? n->getText() : std::string(); }

  ast::FieldDecl* field(P::FieldDeclContext* c) {
    auto* f = ctx_.make<ast::FieldDecl>(span(c));
    f->name = text(c->name);
    f->name_span = span(c->name);
    f->type = type(c->typeRef());
    f->default_value = expr(c->expr());
    return f;
  }

  ast::Decl* decl(P::DeclContext* c) {
    if (auto* d = c->profileDecl()) {
      auto* p = ctx_.make<ast::ProfileDecl>(span(d));
      p->name_span = span(d->getStart());
      for (auto* f : d->fieldDecl()) p->fields.push_back(field(f));
      return p;
    }
    if (auto* d = c->eventDecl()) {
      auto* e = ctx_.make<ast::EventDecl>(span(d));
      name(e, d->name);
      for (auto* f : d->fieldDecl()) e->fields.push_back(field(f));
      return e;
    }
    if (auto* d = c->enumDecl()) {
      auto* e = ctx_.make<ast::EnumDecl>(span(d));
      name(e, d->name);
      for (auto* v : d->ident()) e->values.push_back({text(v), span(v)});
      return e;
    }
    if (auto* d = c->constDecl()) {
      auto* k = ctx_.make<ast::ConstDecl>(span(d));
      name(k, d->name);
      k->type = type(d->typeRef());
      k->value = expr(d->expr());
      return k;
    }
    if (auto* d = c->segmentDecl()) {
      auto* s = ctx_.make<ast::SegmentDecl>(span(d));
      name(s, d->name);
      s->value = expr(d->expr());
      return s;
    }
    if (auto* d = c->fnDecl()) {
      auto* f = ctx_.make<ast::FnDecl>(span(d));
      name(f, d->name);
      for (auto* pc : d->param()) {
        auto* p = ctx_.make<ast::Param>(span(pc->name));
        p->name = text(pc->name);
        p->type = type(pc->typeRef());
        p->default_value = expr(pc->expr());
        f->params.push_back(p);
      }
      f->result = type(d->typeRef());
      f->body = expr(d->expr());
      return f;
    }
    if (auto* d = c->resourceDecl()) return resource(d);
    if (auto* d = c->strategyDecl()) return strategy(d);
    if (auto* d = c->policyDecl()) return policy(d);
    if (auto* d = c->poolDecl()) return pool(d);
    return nullptr;
  }

  void name(ast::Decl* d, Token* t) {
    d->name = text(t);
    d->name_span = span(t);
  }
  // Names that may be soft keywords (`segment zone = ...`).
  void name(ast::Decl* d, P::IdentContext* c) {
    d->name = text(c);
    d->name_span = span(c);
  }

  ast::ResourceDecl* resource(P::ResourceDeclContext* d) {
    auto* r = ctx_.make<ast::ResourceDecl>(span(d));
    name(r, d->name);
    r->resource_kind = text(d->kind);
    r->kind_span = span(d->kind);
    for (auto* pc : d->property()) {
      auto* p = ctx_.make<ast::Property>(span(pc));
      p->key = text(pc->key);
      p->key_span = span(pc->key);
      if (auto* v = dynamic_cast<P::RangeValueContext*>(pc->propValue())) {
        p->kind = ast::PropKind::Range;
        p->a = arith(v->arith(0));
        p->b = arith(v->arith(1));
      } else if (auto* v = dynamic_cast<P::AfterClaimValueContext*>(pc->propValue())) {
        p->kind = ast::PropKind::AfterClaim;
        p->a = arith(v->arith());
      } else if (auto* v = dynamic_cast<P::RandomValueContext*>(pc->propValue())) {
        p->kind = ast::PropKind::Draw;
        auto* dv = v->drawValue();
        if (dv->drawEntry().empty()) {
          p->a = arith(dv->lo);
          p->b = arith(dv->hi);
          p->step = dv->step ? arith(dv->step) : nullptr;
        } else {
          for (auto* e : dv->drawEntry()) {
            ast::DrawEntry de;
            de.value = arith(e->value);
            std::string w = text(e->weight);
            de.weight = w.empty() ? w : w.substr(0, w.size() - 1);
            de.weight_span = span(e->weight);
            p->draw_table.push_back(de);
          }
        }
      } else if (auto* v = dynamic_cast<P::CappedValueContext*>(pc->propValue())) {
        p->kind = ast::PropKind::Capped;
        if (v->pct && v->pct->PERCENT()) {
          auto* n = node<ast::PercentLit>(v->pct);
          std::string t = text(v->pct->PERCENT());
          n->amount = t.substr(0, t.size() - 1);
          p->a = n;
        }
        p->b = v->upTo ? arith(v->upTo) : nullptr;
      } else if (auto* v = dynamic_cast<P::FundersValueContext*>(pc->propValue())) {
        p->kind = ast::PropKind::Funders;
        for (auto* f : v->fundShare()) {
          ast::FundShare fs;
          fs.funder = text(f->funder);
          fs.funder_span = span(f->funder);
          std::string w = text(f->share);
          fs.share = w.empty() ? w : w.substr(0, w.size() - 1);
          fs.share_span = span(f->share);
          p->funders.push_back(fs);
        }
      } else if (auto* v = dynamic_cast<P::ExprValueContext*>(pc->propValue())) {
        p->a = expr(v->expr());
      }
      r->props.push_back(p);
    }
    return r;
  }

  ast::Period period(P::PeriodContext* c) {
    ast::Period p;
    if (!c) return p;
    p.span = span(c);
    if (c->DURATION()) { p.kind = ast::Period::Kind::Duration; p.text = text(c->DURATION()); }
    else if (c->unit) { p.kind = ast::Period::Kind::Unit; p.text = text(c->unit); }
    else { p.kind = ast::Period::Kind::Campaign; p.text = "campaign"; }
    return p;
  }

  ast::Limit limit(P::LimitContext* lc) {
    ast::Limit l;
    l.span = span(lc);
    if (auto* b = dynamic_cast<P::BudgetLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::Budget;
      l.budget = arith(b->arith());
    } else if (auto* s2 = dynamic_cast<P::StockLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::Stock;
      l.count = text(s2->NUMBER());
    } else if (auto* u = dynamic_cast<P::PerUserLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::PerUser;
      if (u->cap()) { l.count = text(u->cap()->count); l.period = period(u->cap()->period()); }
    } else if (auto* m = dynamic_cast<P::PerUserMoreLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::PerUser;
      l.continued = true;
      if (m->cap()) { l.count = text(m->cap()->count); l.period = period(m->cap()->period()); }
    } else if (auto* pc = dynamic_cast<P::PacingLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::Pacing;
      l.count = text(pc->how);
    } else if (auto* pl = dynamic_cast<P::PoolLimitContext*>(lc)) {
      l.kind = ast::Limit::Kind::Pool;
      if (auto* r = pl->poolRef(); r && r->pool) {
        l.pool = text(r->pool);
        l.pool_span = span(r->pool);
      }
    }
    return l;
  }

  ast::PoolDecl* pool(P::PoolDeclContext* d) {
    auto* p = ctx_.make<ast::PoolDecl>(span(d));
    name(p, d->name);
    for (auto* lc : d->limit()) p->limits.push_back(limit(lc));
    return p;
  }

  ast::StrategyDecl* strategy(P::StrategyDeclContext* d) {
    auto* s = ctx_.make<ast::StrategyDecl>(span(d));
    name(s, d->name);
    if (d->business) {
      s->has_business = true;
      s->business = unescape(text(d->business), span(d->business));
      s->business_span = span(d->business);
    }
    for (auto* cc : d->clause()) {
      auto* cl = ctx_.make<ast::Clause>(span(cc));
      cl->keyword_span = span(cc->getStart());
      if (auto* c = dynamic_cast<P::WhoClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Who;
        cl->expr = expr(c->expr());
      } else if (auto* c = dynamic_cast<P::WhereClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Where;
        cl->expr = expr(c->expr());
      } else if (auto* c = dynamic_cast<P::WhenClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::When;
        if (auto* t = dynamic_cast<P::OnEventContext*>(c->trigger())) {
          cl->trigger = ast::TriggerKind::On;
          cl->event = text(t->event);
          cl->event_span = span(t->event);
        } else if (auto* t = dynamic_cast<P::AtTimeContext*>(c->trigger())) {
          cl->trigger = ast::TriggerKind::At;
          cl->at = arith(t->time);
        } else if (auto* t = dynamic_cast<P::EveryPeriodContext*>(c->trigger())) {
          cl->trigger = ast::TriggerKind::Every;
          cl->at = arith(t->every);
          if (t->clock) { cl->clock = text(t->clock); cl->clock_span = span(t->clock); }
        }
        if (auto* w = c->window()) {
          cl->from = arith(w->from);
          cl->to = arith(w->to);
        }
        cl->expr = expr(c->expr());
        if (auto* d = c->delay()) {
          cl->delay = arith(d->wait);
          cl->delay_span = span(d);
          if (d->cancel) {
            cl->cancel_event = text(d->cancel);
            cl->cancel_span = span(d->cancel);
            cl->cancel_where = expr(d->expr());
          }
        }
      } else if (auto* c = dynamic_cast<P::WhatClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::What;
        for (auto* ac : c->action()) {
          ast::Action a;
          a.span = span(ac);
          a.verb = text(ac->verb) == "send" ? ast::Action::Verb::Send : ast::Action::Verb::Grant;
          a.resource = text(ac->resource);
          a.resource_span = span(ac->resource);
          a.channel = text(ac->channel);
          a.channel_span = span(ac->channel);
          if (ac->code) {
            a.has_code = true;
            a.code = unescape(text(ac->code), span(ac->code));
            a.code_span = span(ac->code);
          }
          if (auto* to = ac->actionTo()) a.recipient = arith(to->recipient);
          if (auto* ch = ac->actionChance(); ch && ch->chance) {
            std::string w = text(ch->chance);
            a.chance = w.empty() ? w : w.substr(0, w.size() - 1);
            a.chance_span = span(ch->chance);
          }
          if (ac->salt) {
            a.has_salt = true;
            a.salt = unescape(text(ac->salt), span(ac->salt));
            a.salt_span = span(ac->salt);
          }
          if (auto* t = ac->armTarget(); t && t->arm) {
            a.arm = text(t->arm);
            a.arm_span = span(t->arm);
          }
          cl->actions.push_back(std::move(a));
        }
      } else if (auto* c = dynamic_cast<P::HowMuchClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::HowMuch;
        for (auto* lc : c->limit()) cl->limits.push_back(limit(lc));
      } else if (auto* c = dynamic_cast<P::SplitClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Split;
        if (c->percent() && c->percent()->PERCENT()) {
          std::string p = text(c->percent()->PERCENT());
          cl->has_control = true;
          cl->number = p.substr(0, p.size() - 1);
          cl->number_span = span(c->percent());
        }
        if (auto* v = c->variants())
          for (auto* a : v->armShare()) {
            ast::Clause::ArmShare arm;
            arm.name = text(a->name);
            arm.name_span = span(a->name);
            if (a->percent() && a->percent()->PERCENT()) {
              std::string p = text(a->percent()->PERCENT());
              arm.percent = p.substr(0, p.size() - 1);
              arm.percent_span = span(a->percent());
            }
            cl->arms.push_back(std::move(arm));
          }
        if (c->salt) {
          cl->has_salt = true;
          cl->salt = unescape(text(c->salt), span(c->salt));
        }
      } else if (auto* c = dynamic_cast<P::ZoneClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Zone;
        cl->number = unescape(text(c->STRING()), span(c->STRING() ? c->STRING()->getSymbol() : nullptr));
        cl->number_span = span(c->STRING() ? c->STRING()->getSymbol() : nullptr);
      } else if (auto* c = dynamic_cast<P::ExclusiveClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Exclusive;
        cl->number = unescape(text(c->group), span(c->group));
        cl->number_span = span(c->group);
      } else if (auto* c = dynamic_cast<P::ValueClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Value;
        cl->expr = expr(c->expr());
      } else if (auto* c = dynamic_cast<P::RolloutClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Rollout;
        if (auto* r = c->rolloutSpec()) {
          for (auto* a : r->ident())
            if (a != r->metric) cl->rollout_arms.push_back({text(a), span(a)});  // ident() holds the metric too
          if (r->metric) {
            cl->metric = text(r->metric);
            cl->metric_span = span(r->metric);
          }
          if (r->wait) {
            auto* n = ctx_.make<ast::DurationLit>(span(r->wait));
            std::tie(n->amount, n->unit) = split_unit(text(r->wait));
            cl->wait = n;
          }
        }
      } else if (auto* c = dynamic_cast<P::PriorityClauseContext*>(cc)) {
        cl->kind = ast::ClauseKind::Priority;
        cl->number = text(c->NUMBER());
        cl->number_span = span(c->NUMBER() ? c->NUMBER()->getSymbol() : nullptr);
      } else {
        continue;
      }
      s->clauses.push_back(cl);
    }
    return s;
  }

  ast::PolicyDecl* policy(P::PolicyDeclContext* d) {
    auto* p = ctx_.make<ast::PolicyDecl>(span(d));
    p->name = text(d->name);  // an ident: policy names may be words like `quiet`
    p->name_span = span(d->name);
    if (d->business) {
      p->has_business = true;
      p->business = unescape(text(d->business), span(d->business));
      p->business_span = span(d->business);
    }
    for (auto* rc : d->policyRule()) {
      auto* r = ctx_.make<ast::PolicyRule>(span(rc));
      if (auto* u = dynamic_cast<P::UnredeemedRuleContext*>(rc)) {
        r->kind = ast::PolicyRule::Kind::Unredeemed;
        r->subject = text(u->kind);
        r->subject_span = span(u->kind);
        r->count = text(u->NUMBER());
      } else if (auto* s = dynamic_cast<P::SameTypeRuleContext*>(rc)) {
        r->kind = ast::PolicyRule::Kind::SameType;
        r->period = period(s->period());
      } else if (auto* q = dynamic_cast<P::QuietRuleContext*>(rc)) {
        r->kind = ast::PolicyRule::Kind::Quiet;
        r->clock_from = text(q->from);
        r->clock_from_span = span(q->from);
        r->clock_to = text(q->to);
        r->clock_to_span = span(q->to);
        r->drop = q->drop != nullptr;
      } else if (auto* c = dynamic_cast<P::ChannelCapRuleContext*>(rc)) {
        r->kind = ast::PolicyRule::Kind::ChannelCap;
        r->subject = text(c->channel);
        r->subject_span = span(c->channel);
        r->count = text(c->NUMBER());
        r->period = period(c->period());
      }
      p->rules.push_back(r);
    }
    return p;
  }

  // ---- expressions: depth-limited, null-tolerant (recovered trees have holes) ---------------

  // Two depths. depth_ is nesting as a reader sees it, limited by --max-nesting: a chain of one
  // operator (`a or b or c`, `x + y - z`, `p ?? q ?? r`) is one level however long, because
  // generated catalogues write long flat chains that are not deep to anyone. tree_depth_ is the
  // tree every later pass recurses through (a chain is one level per operator there), limited by
  // the cap those passes are tested to survive (Parser.NestingCapIsSafe), whatever --max-nesting.
  struct DepthGuard {
    Builder& b;
    explicit DepthGuard(Builder& bb) : b(bb) { ++b.depth_, ++b.tree_depth_; }
    ~DepthGuard() { --b.depth_, --b.tree_depth_; }
  };
  // Each level of nesting passes through both expr() and arith(), hence the factor of two.
  size_t depth_limit() const { return 2 * size_t(opts_.max_nesting) + 2; }
  static constexpr size_t tree_depth_limit() { return 2 * size_t(ParseOptions::kMaxNesting) + 2; }
  bool too_deep(antlr4::ParserRuleContext* c) {
    if (depth_ <= depth_limit() && tree_depth_ <= tree_depth_limit()) return false;
    report_too_deep(span(c), depth_ <= depth_limit());
    return true;
  }
  void report_too_deep(source::Span at, bool chain = false) {
    if (depth_reported_) return;
    depth_reported_ = true;
    if (chain)
      sink_.report(diag::Code::E0106, at,
                   fmt::format("expression deeper than the parser's cap ({} levels of nesting, or about {} "
                               "operators in one chain)",
                               ParseOptions::kMaxNesting, 2 * ParseOptions::kMaxNesting))
          .help = "split the chain into named segments or constants, or use `in [...]` for alternatives of one value";
    else
      sink_.report(diag::Code::E0106, at, fmt::format("expression nested deeper than {} levels", opts_.max_nesting))
          .help = "split the expression into named segments or constants";
  }
  // The left operand of a chain's next operator: one more level of the tree, not of nesting.
  template <typename F>
  ast::Expr* chained(F&& visit) {
    --depth_;
    ast::Expr* e = visit();
    ++depth_;
    return e;
  }

  template <typename T>
  T* node(antlr4::ParserRuleContext* c) { return ctx_.make<T>(span(c)); }

  ast::Expr* binary(antlr4::ParserRuleContext* c, ast::BinaryOp op, ast::Expr* l, ast::Expr* r, Token* op_tok) {
    auto* b = node<ast::BinaryExpr>(c);
    b->op = op;
    b->lhs = l;
    b->rhs = r;
    b->op_span = span(op_tok);
    return b;
  }

  ast::Expr* expr(P::ExprContext* c) {
    if (!c) return nullptr;
    DepthGuard g(*this);
    if (too_deep(c)) return nullptr;
    if (auto* e = dynamic_cast<P::IfExprContext*>(c)) {
      auto* n = node<ast::IfExpr>(c);
      n->cond = expr(e->cond);
      n->then_expr = expr(e->a);
      n->else_expr = expr(e->b);
      return n;
    }
    if (auto* e = dynamic_cast<P::OrExprContext*>(c)) {
      auto* lhs = dynamic_cast<P::OrExprContext*>(e->expr(0)) ? chained([&] { return expr(e->expr(0)); })
                                                               : expr(e->expr(0));
      return binary(c, ast::BinaryOp::Or, lhs, expr(e->expr(1)), token_of(e, 1));
    }
    if (auto* e = dynamic_cast<P::AndExprContext*>(c)) {
      auto* lhs = dynamic_cast<P::AndExprContext*>(e->expr(0)) ? chained([&] { return expr(e->expr(0)); })
                                                                : expr(e->expr(0));
      return binary(c, ast::BinaryOp::And, lhs, expr(e->expr(1)), token_of(e, 1));
    }
    if (auto* e = dynamic_cast<P::NotExprContext*>(c)) {
      auto* n = node<ast::UnaryExpr>(c);
      n->op = ast::UnaryOp::Not;
      n->operand = expr(e->expr());
      return n;
    }
    if (auto* e = dynamic_cast<P::CmpExprContext*>(c)) return cmp(e->cmp());
    return nullptr;
  }

  static Token* token_of(antlr4::ParserRuleContext* c, size_t child) {
    if (child >= c->children.size()) return nullptr;
    auto* t = dynamic_cast<antlr4::tree::TerminalNode*>(c->children[child]);
    return t ? t->getSymbol() : nullptr;
  }

  ast::Expr* cmp(P::CmpContext* c) {
    if (!c) return nullptr;
    if (c->op) {
      static const std::pair<const char*, ast::BinaryOp> kOps[] = {
          {"==", ast::BinaryOp::Eq}, {"!=", ast::BinaryOp::Ne}, {"<", ast::BinaryOp::Lt},
          {"<=", ast::BinaryOp::Le}, {">", ast::BinaryOp::Gt},  {">=", ast::BinaryOp::Ge}};
      ast::BinaryOp op = ast::BinaryOp::Eq;
      for (auto& [s, o] : kOps) if (text(c->op) == s) op = o;
      return binary(c, op, coalesce(c->lhs), coalesce(c->rhs), c->op);
    }
    if (c->kw && text(c->kw) == "in")
      return binary(c, c->neg ? ast::BinaryOp::NotIn : ast::BinaryOp::In, coalesce(c->lhs), coalesce(c->rhs),
                    c->neg ? c->neg : c->kw);
    if (c->kw) {
      auto* n = node<ast::BetweenExpr>(c);
      n->negated = c->neg != nullptr;
      n->value = coalesce(c->lhs);
      n->lo = coalesce(c->lo);
      n->hi = coalesce(c->hi);
      return n;
    }
    return coalesce(c->lhs);
  }

  ast::Expr* coalesce(P::CoalesceContext* c) {
    if (!c) return nullptr;
    auto parts = c->arith();
    if (parts.empty()) return nullptr;
    // `a ?? b ?? c` is right-associative: the first present value wins. The grammar gives a flat
    // list, but the tree built from it is parts.size() - 1 levels deep, and every later pass
    // (checker, formatter, AST dump, codegen) recurses once per level: the levels count towards
    // the tree's limit, like any other chain's; as nesting the chain is one level (DepthGuard).
    // Part i (the lhs of the i-th `??` node) sits i + 1 levels down; the last one n - 1 levels.
    const size_t levels = parts.size() - 1;
    if (tree_depth_ + levels > tree_depth_limit()) {
      size_t k = tree_depth_limit() > tree_depth_ ? tree_depth_limit() - tree_depth_ : 0;  // the first part past it
      report_too_deep(span(parts[std::min(k, levels)]), true);
      return nullptr;
    }
    auto at_depth = [&](size_t extra, P::ArithContext* a) {
      const uint32_t nest = extra ? 1 : 0;
      depth_ += nest, tree_depth_ += static_cast<uint32_t>(extra);
      ast::Expr* e = arith(a);
      depth_ -= nest, tree_depth_ -= static_cast<uint32_t>(extra);
      return e;
    };
    ast::Expr* result = at_depth(levels, parts.back());
    for (size_t i = parts.size() - 1; i-- > 0;) {
      auto* b = ctx_.make<ast::BinaryExpr>(source::Span::join(span(parts[i]), result ? result->span : span(parts[i])));
      b->op = ast::BinaryOp::Coalesce;
      b->lhs = at_depth(i + 1, parts[i]);
      b->rhs = result;
      b->op_span = span(token_of(c, 2 * i + 1));
      result = b;
    }
    return result;
  }

  ast::Expr* arith(P::ArithContext* c) {
    if (!c) return nullptr;
    DepthGuard g(*this);
    if (too_deep(c)) return nullptr;
    if (auto* e = dynamic_cast<P::AddExprContext*>(c)) {
      auto* lhs = dynamic_cast<P::AddExprContext*>(e->arith(0)) ? chained([&] { return arith(e->arith(0)); })
                                                                 : arith(e->arith(0));
      return binary(c, text(e->op) == "+" ? ast::BinaryOp::Add : ast::BinaryOp::Sub, lhs, arith(e->arith(1)), e->op);
    }
    if (auto* e = dynamic_cast<P::MulExprContext*>(c)) {
      auto* lhs = dynamic_cast<P::MulExprContext*>(e->arith(0)) ? chained([&] { return arith(e->arith(0)); })
                                                                 : arith(e->arith(0));
      return binary(c, text(e->op) == "*" ? ast::BinaryOp::Mul : ast::BinaryOp::Div, lhs, arith(e->arith(1)), e->op);
    }
    if (auto* e = dynamic_cast<P::NegExprContext*>(c)) {
      auto* n = node<ast::UnaryExpr>(c);
      n->op = ast::UnaryOp::Neg;
      n->operand = arith(e->arith());
      return n;
    }
    if (auto* e = dynamic_cast<P::FieldExprContext*>(c)) {
      auto* n = node<ast::FieldExpr>(c);
      n->base = arith(e->arith());
      n->field = text(e->ident());
      n->field_span = span(e->ident());
      return n;
    }
    if (auto* e = dynamic_cast<P::PrimaryExprContext*>(c)) return primary(e->primary());
    return nullptr;
  }

  static std::pair<std::string, std::string> split_unit(const std::string& t) {
    size_t i = 0;
    while (i < t.size() && (std::isdigit(static_cast<unsigned char>(t[i])) || t[i] == '.')) ++i;
    size_t j = i;
    while (j < t.size() && (t[j] == ' ' || t[j] == '\t')) ++j;
    return {t.substr(0, i), t.substr(j)};
  }

  ast::Expr* primary(P::PrimaryContext* c) {
    if (!c) return nullptr;
    if (auto* e = dynamic_cast<P::NumberLitContext*>(c)) {
      auto* n = node<ast::NumberLit>(c);
      n->text = text(e->NUMBER());
      return n;
    }
    if (auto* e = dynamic_cast<P::MoneyLitContext*>(c)) {
      auto* n = node<ast::MoneyLit>(c);
      std::tie(n->amount, n->currency) = split_unit(text(e->MONEY()));
      return n;
    }
    if (auto* e = dynamic_cast<P::DurationLitContext*>(c)) {
      auto* n = node<ast::DurationLit>(c);
      std::tie(n->amount, n->unit) = split_unit(text(e->DURATION()));
      return n;
    }
    if (auto* e = dynamic_cast<P::PercentLitContext*>(c)) {
      auto* n = node<ast::PercentLit>(c);
      std::string t = text(e->PERCENT());
      n->amount = t.substr(0, t.size() - 1);
      return n;
    }
    if (auto* e = dynamic_cast<P::StringLitContext*>(c)) {
      auto* n = node<ast::StringLit>(c);
      n->value = unescape(text(e->STRING()), span(c));
      return n;
    }
    if (auto* e = dynamic_cast<P::TimeLitContext*>(c)) {
      auto* n = node<ast::TimeLit>(c);
      n->text = text(e->DATETIME());
      return n;
    }
    if (auto* e = dynamic_cast<P::DateLitContext*>(c)) {
      auto* n = node<ast::DateLit>(c);
      n->text = text(e->DATE());
      return n;
    }
    if (dynamic_cast<P::BoolLitContext*>(c)) {
      auto* n = node<ast::BoolLit>(c);
      n->value = c->getText() == "true";
      return n;
    }
    if (auto* e = dynamic_cast<P::SetLitContext*>(c)) return collection(c, e->expr(), true);
    if (auto* e = dynamic_cast<P::ListLitContext*>(c)) return collection(c, e->expr(), false);
    if (auto* e = dynamic_cast<P::AggregateContext*>(c)) return aggregate(e);
    if (auto* e = dynamic_cast<P::HistoryAggregateContext*>(c)) {
      auto* n = node<ast::AggregateExpr>(e);
      n->agg = agg_kind(text(e->agg));
      history(e->history(), n);
      window(e->aggWindow(), n);
      return n;
    }
    if (auto* e = dynamic_cast<P::HistoryExprContext*>(c)) {
      // `received(x)` alone is `exists(received(x))`, kept bare for the formatter.
      auto* n = node<ast::AggregateExpr>(e);
      n->agg = ast::AggKind::Exists;
      n->bare = true;
      history(e->history(), n);
      return n;
    }
    if (auto* e = dynamic_cast<P::CallExprContext*>(c)) {
      auto* n = node<ast::CallExpr>(c);
      n->callee = text(e->ID());
      n->callee_span = span(e->ID() ? e->ID()->getSymbol() : nullptr);
      for (auto* ac : e->arg()) {
        ast::Arg a;
        a.name = text(ac->name);
        a.name_span = span(ac->name);
        a.value = expr(ac->expr());
        n->args.push_back(std::move(a));
      }
      return n;
    }
    if (auto* e = dynamic_cast<P::NameExprContext*>(c)) {
      auto* n = node<ast::NameExpr>(c);
      n->name = text(e->ident());
      return n;
    }
    if (auto* e = dynamic_cast<P::ScopeExprContext*>(c)) {
      // `event.x` / `profile.x`: the scope is a name the checker knows; users cannot bind it.
      auto* n = node<ast::NameExpr>(c);
      n->name = text(e->scope);
      return n;
    }
    if (auto* e = dynamic_cast<P::ParenExprContext*>(c)) return expr(e->expr());
    return nullptr;
  }

  ast::Expr* collection(antlr4::ParserRuleContext* c, const std::vector<P::ExprContext*>& elems, bool is_set) {
    auto* n = node<ast::CollectionLit>(c);
    n->is_set = is_set;
    for (auto* e : elems)
      if (auto* x = expr(e)) n->elems.push_back(x);
    return n;
  }

  static ast::AggKind agg_kind(const std::string& word) {
    static const std::pair<const char*, ast::AggKind> kAggs[] = {
        {"count", ast::AggKind::Count}, {"sum", ast::AggKind::Sum},     {"avg", ast::AggKind::Avg},
        {"min", ast::AggKind::Min},     {"max", ast::AggKind::Max},     {"first", ast::AggKind::First},
        {"last", ast::AggKind::Last},   {"exists", ast::AggKind::Exists}};
    for (auto& [s, k] : kAggs) if (word == s) return k;
    return ast::AggKind::Count;
  }

  void history(P::HistoryContext* h, ast::AggregateExpr* n) {
    if (!h) return;
    n->source = text(h->source) == "redeemed" ? ast::HistorySource::Redeemed : ast::HistorySource::Received;
    n->history_span = span(h);
    for (auto* ac : h->arg()) {
      ast::Arg a;
      a.name = text(ac->name);
      a.name_span = span(ac->name);
      a.value = expr(ac->expr());
      n->history_args.push_back(std::move(a));
    }
  }

  ast::Expr* aggregate(P::AggregateContext* e) {
    auto* n = node<ast::AggregateExpr>(e);
    n->agg = agg_kind(text(e->agg));
    n->event = text(e->event);
    n->event_span = span(e->event);
    if (e->field) { n->field = text(e->field); n->field_span = span(e->field); }
    n->filter = expr(e->filter);
    window(e->aggWindow(), n);
    return n;
  }

  void window(P::AggWindowContext* w, ast::AggregateExpr* n) {
    if (w) {
      n->window_span = span(w);
      if (auto* x = dynamic_cast<P::WithinWindowContext*>(w)) {
        n->window = ast::WindowKind::Within;
        n->window_expr = arith(x->arith());
      } else if (auto* x = dynamic_cast<P::LastNWindowContext*>(w)) {
        n->window = ast::WindowKind::LastN;
        n->window_n = text(x->NUMBER());
      } else if (auto* x = dynamic_cast<P::PreviousWindowContext*>(w)) {
        n->window = x->NUMBER() ? ast::WindowKind::PreviousN : ast::WindowKind::Previous;
        n->window_n = text(x->NUMBER());
      } else if (auto* x = dynamic_cast<P::SinceWindowContext*>(w)) {
        n->window = ast::WindowKind::Since;
        n->window_expr = arith(x->arith());
      }
    }
  }

  const source::SourceFile& file_;
  const OffsetMap& map_;
  ast::AstContext& ctx_;
  diag::DiagnosticSink& sink_;
  const ParseOptions& opts_;
  uint32_t depth_ = 0, tree_depth_ = 0;
  bool depth_reported_ = false;
};

}  // namespace

ast::Module* parse_module(const source::SourceFile& file, ast::AstContext& ctx, diag::DiagnosticSink& sink,
                          const ParseOptions& options) {
  ParseOptions opts = options;
  opts.max_nesting = std::min(opts.max_nesting, ParseOptions::kMaxNesting);
  std::string_view text = file.text();
  auto empty = [&] {
    auto* m = ctx.make<ast::Module>({file.id(), 0, 0});
    m->file = file.id();
    return m;
  };
  if (text.size() > opts.max_file_bytes) {
    sink.report(diag::Code::E0105, {file.id(), 0, 0},
                // The loader stops reading one byte past the limit, so the size seen here is not
                // the file's: say only that it is over.
                fmt::format("file is larger than the limit of {} bytes", opts.max_file_bytes))
        .help = "raise the limit with --max-file-size, or split the file into modules";
    return empty();
  }
  // A compiled program handed to the front end would otherwise be reported as invalid UTF-8.
  if (text.substr(0, 4) == "CRMC") {
    sink.report(diag::Code::E0110, {}, fmt::format("`{}` is a compiled program (.crmc), not a .crm source", file.path()))
        .help = "this command reads .crm sources; a .crmc runs with `crm run`, `crm audience` or `crm explain`";
    return empty();
  }
  if (size_t bad = support::utf8_invalid_at(text); bad != std::string_view::npos) {
    sink.report(diag::Code::E0103, {file.id(), uint32_t(bad), uint32_t(bad + 1)}, "file is not valid UTF-8");
    return empty();
  }

  OffsetMap map(text);
  // A string broken across a line (`"abc` / `def"`) is one mistake: when the next line has an odd
  // number of quotes, the line break is lexed as part of the string (a space in a copy of the
  // text: offsets stay the same), so the quotes after it pair up again. Without this the rest of
  // the next line lexed inside out: a string from its closing quote on, and errors after it.
  std::string lexed(text);
  std::vector<uint32_t> joined_lines;  // byte offsets of the line breaks lexed into a string
  std::unique_ptr<antlr4::ANTLRInputStream> input;
  std::unique_ptr<CrmLexer> lexer_owner;
  std::unique_ptr<antlr4::CommonTokenStream> tokens_owner;
  for (int round = 0;; ++round) {
    tokens_owner.reset();
    lexer_owner.reset();
    input = std::make_unique<antlr4::ANTLRInputStream>(lexed.data(), lexed.size());
    lexer_owner = std::make_unique<CrmLexer>(input.get());
    lexer_owner->removeErrorListeners();
    tokens_owner = std::make_unique<antlr4::CommonTokenStream>(lexer_owner.get());
    tokens_owner->fill();
    if (round >= 64) break;
    bool patched = false;
    for (Token* t : tokens_owner->getTokens()) {
      if (t->getType() != CrmLexer::UNTERMINATED_STRING) continue;
      uint32_t nl = map.byte(t->getStopIndex() + 1);
      if (nl >= lexed.size() || (lexed[nl] != '\n' && lexed[nl] != '\r')) continue;
      uint32_t next = nl + (lexed[nl] == '\r' && nl + 1 < lexed.size() && lexed[nl + 1] == '\n' ? 2 : 1);
      size_t eol = lexed.find_first_of("\r\n", next);
      if (eol == std::string::npos) eol = lexed.size();
      int quotes = 0;
      for (size_t k = next; k < eol; ++k) {
        if (lexed[k] == '\\') ++k;
        else if (lexed[k] == '"') ++quotes;
      }
      if (quotes % 2 == 0) continue;
      for (uint32_t k = nl; k < next; ++k) lexed[k] = ' ';
      joined_lines.push_back(nl);
      patched = true;
      break;
    }
    if (!patched) break;
  }
  antlr4::CommonTokenStream& tokens = *tokens_owner;
  // A name with non-ASCII letters (`名前`, `größe`) is one mistake: one diagnostic over the whole
  // word, which then parses as a name (the lexer drops each letter as an invalid character, and
  // the parser's recovery around the hole reported errors at the next, correct, field).
  const auto& all = tokens.getTokens();
  std::vector<bool> in_word(all.size(), false);
  auto letter = [](Token* t) {
    if (t->getType() != CrmLexer::ERROR_CHAR) return false;
    std::string s = t->getText();
    if (s.empty() || static_cast<unsigned char>(s[0]) < 0x80) return false;
    auto u = [&](size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(s[k])); };
    char32_t c = 0;
    if (s.size() >= 2 && (u(0) & 0xE0) == 0xC0) c = ((u(0) & 0x1F) << 6) | (u(1) & 0x3F);
    else if (s.size() >= 3 && (u(0) & 0xF0) == 0xE0) c = ((u(0) & 0x0F) << 12) | ((u(1) & 0x3F) << 6) | (u(2) & 0x3F);
    else if (s.size() >= 4) c = ((u(0) & 0x07) << 18) | ((u(1) & 0x3F) << 12) | ((u(2) & 0x3F) << 6) | (u(3) & 0x3F);
    // Letters, not symbols: currency signs (`¥10`), punctuation and full-width forms (`：`) stay
    // invalid characters.
    return c >= 0xC0 && c != 0xD7 && c != 0xF7 && !(c >= 0x2000 && c <= 0x2BFF) && !(c >= 0x3000 && c <= 0x303F) &&
           !(c >= 0xFF00 && c <= 0xFFEF);
  };
  for (size_t i = 0; i < all.size(); ++i) {
    if (!letter(all[i])) continue;
    size_t b = i, e = i + 1;
    auto joined = [&](size_t x, size_t y) { return all[x]->getStopIndex() + 1 == all[y]->getStartIndex(); };
    auto part = [&](size_t k) { return letter(all[k]) || all[k]->getType() == CrmLexer::ID; };
    while (b > 0 && part(b - 1) && joined(b - 1, b)) --b;
    while (e < all.size() && part(e) && joined(e - 1, e)) ++e;
    std::string word;
    for (size_t k = b; k < e; ++k) word += all[k]->getText(), in_word[k] = true;
    source::Span sp{file.id(), map.byte(all[b]->getStartIndex()), map.byte(all[e - 1]->getStopIndex() + 1)};
    sink.report(diag::Code::E0103, sp, fmt::format("`{}` is not a name: names are ASCII letters, digits and `_`", word))
        .help = "write the name in ASCII (a name may not start with a digit)";
    auto* first = dynamic_cast<antlr4::CommonToken*>(all[b]);
    if (first) {
      first->setType(CrmLexer::ID);
      first->setChannel(antlr4::Token::DEFAULT_CHANNEL);
      first->setStopIndex(all[e - 1]->getStopIndex());
      first->setText(word);
      for (size_t k = b + 1; k < e; ++k)
        if (auto* t = dynamic_cast<antlr4::CommonToken*>(all[k])) t->setChannel(antlr4::Token::HIDDEN_CHANNEL);
    }
    i = e - 1;
  }
  for (size_t i = 0; i < all.size(); ++i) {
    Token* t = all[i];
    if (in_word[i]) continue;
    if (t->getType() == CrmLexer::ERROR_CHAR) {
      // A run of bad characters (`@@`, `？？`) is one mistake: one diagnostic over the run.
      size_t e = i + 1;
      while (e < all.size() && !in_word[e] && all[e]->getType() == CrmLexer::ERROR_CHAR &&
             all[e - 1]->getStopIndex() + 1 == all[e]->getStartIndex())
        ++e;
      source::Span sp{file.id(), map.byte(t->getStartIndex()), map.byte(all[e - 1]->getStopIndex() + 1)};
      std::string shown;
      for (size_t k = i; k < e; ++k) {
        std::string c = all[k]->getText();
        if (c.size() == 1 && static_cast<unsigned char>(c[0]) < 0x20)
          c = fmt::format("\\x{:02x}", static_cast<unsigned char>(c[0]));
        shown += c;
      }
      sink.report(diag::Code::E0103, sp,
                  fmt::format("invalid character{} `{}`", e - i > 1 ? "s" : "", support::utf8_truncate(shown, 40)));
      i = e - 1;
    } else if (t->getType() == CrmLexer::UNTERMINATED_STRING) {
      source::Span sp{file.id(), map.byte(t->getStartIndex()), map.byte(t->getStopIndex() + 1)};
      sink.report(diag::Code::E0102, sp, "unterminated string").help = "close the string with `\"` on the same line";
      // Parsed as the string it was meant to be, so the parser reports nothing more about it
      // (`const x = "abc` is one error, not also "unexpected end of file").
      if (auto* c = dynamic_cast<antlr4::CommonToken*>(t)) {
        c->setText(t->getText() + "\"");
        c->setType(CrmLexer::STRING);
        c->setChannel(antlr4::Token::DEFAULT_CHANNEL);
      }
    } else if (t->getType() == CrmLexer::UNTERMINATED_COMMENT) {
      uint32_t b = map.byte(t->getStartIndex());
      sink.report(diag::Code::E0113, {file.id(), b, b + 2}, "unterminated comment: `/*` is never closed")
          .help = "close the comment with `*/`; everything after `/*` to the end of the file is inside it";
    } else if (t->getType() == CrmLexer::STRING) {
      uint32_t b = map.byte(t->getStartIndex()), e = map.byte(t->getStopIndex() + 1);
      for (uint32_t nl : joined_lines)
        if (nl > b && nl < e) {
          sink.report(diag::Code::E0102, {file.id(), b, nl}, "unterminated string: a string cannot span lines")
              .help = "close the string with `\"` on the same line; write a line break in it as `\\n`";
          break;
        }
    }
  }

  // Each expression level costs about six parser rules (expr, cmp, coalesce, arith, primary...).
  GuardedParser parser(&tokens, size_t(opts.max_nesting) * 6 + 64);
  std::string help;
  TokenRuns repaired;
  auto strategy = std::make_shared<ErrorStrategy>(&help, &repaired);
  parser.setErrorHandler(strategy);
  parser.removeErrorListeners();
  Listener listener(file, map, sink, &help, &tokens);
  parser.addErrorListener(&listener);
  P::FileContext* tree = nullptr;
  try {
    tree = parser.file();
  } catch (const DepthExceeded&) {
    source::Span sp{file.id(), 0, 0};
    if (parser.deepest && parser.deepest->getStartIndex() != INVALID_INDEX)
      sp = {file.id(), map.byte(parser.deepest->getStartIndex()), map.byte(parser.deepest->getStopIndex() + 1)};
    sink.report(diag::Code::E0106, sp, fmt::format("expression nested deeper than {} levels", opts.max_nesting))
        .help = "split the expression into named segments or constants";
    return empty();
  }
  strategy->finish(&parser);
  Builder builder(file, map, ctx, sink, opts);
  ast::Module* m = builder.module(tree);
  for (auto [first, last] : repaired) {
    uint32_t e = last == std::numeric_limits<size_t>::max() ? static_cast<uint32_t>(text.size()) : map.byte(last + 1);
    m->repaired.push_back({file.id(), map.byte(first), std::max(e, map.byte(first))});
  }
  // What a comment never closed swallowed: declarations the user may see as code.
  for (Token* t : all)
    if (t->getType() == CrmLexer::UNTERMINATED_COMMENT)
      m->repaired.push_back({file.id(), map.byte(t->getStartIndex()), static_cast<uint32_t>(text.size())});
  return m;
}

}  // namespace crm::parse
