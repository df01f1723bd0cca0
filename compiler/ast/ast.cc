// ast.cc - names of AST operators, shared by the dumper, the formatter and diagnostics.
#include "compiler/ast/ast.h"

namespace crm::ast {

const char* to_string(BinaryOp op) {
  switch (op) {
    case BinaryOp::Or: return "or";
    case BinaryOp::And: return "and";
    case BinaryOp::Eq: return "==";
    case BinaryOp::Ne: return "!=";
    case BinaryOp::Lt: return "<";
    case BinaryOp::Le: return "<=";
    case BinaryOp::Gt: return ">";
    case BinaryOp::Ge: return ">=";
    case BinaryOp::In: return "in";
    case BinaryOp::NotIn: return "not in";
    case BinaryOp::Coalesce: return "??";
    case BinaryOp::Add: return "+";
    case BinaryOp::Sub: return "-";
    case BinaryOp::Mul: return "*";
    case BinaryOp::Div: return "/";
  }
  return "?";
}

const char* to_string(AggKind k) {
  switch (k) {
    case AggKind::Count: return "count";
    case AggKind::Sum: return "sum";
    case AggKind::Avg: return "avg";
    case AggKind::Min: return "min";
    case AggKind::Max: return "max";
    case AggKind::First: return "first";
    case AggKind::Last: return "last";
    case AggKind::Exists: return "exists";
  }
  return "?";
}

const char* to_string(HistorySource s) {
  switch (s) {
    case HistorySource::Events: return "";
    case HistorySource::Received: return "received";
    case HistorySource::Redeemed: return "redeemed";
  }
  return "?";
}

}  // namespace crm::ast
