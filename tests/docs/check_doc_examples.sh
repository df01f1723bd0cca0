#!/usr/bin/env bash
# check_doc_examples.sh CRM ROOT - every ```crm block of the user documentation passes `crm check`,
# so a doc can no longer show a program the checker rejects (issue 9 item 26).
#
# A block is checked according to what it holds:
#   - a whole module (it has a `module` line): checked as it is;
#   - declarations (const, enum, segment, fn, resource, policy, pool, profile, event, strategy): checked
#     after a prelude importing the shop schema, std.lifecycle, std.rfm and examples/first_order_gift;
#   - strategy clauses (`who:`, `when:`, `what:`, ...): each clause is checked inside a strategy
#     that supplies the other required clauses;
#   - anything else is a list of expressions, one per line: each is checked as a segment
#     `(e) == (e)`, which accepts an expression of any comparable type.
# A block preceded by `<!-- doc-test: skip REASON -->` is not checked (the reason is printed).
# docs/diagnostics.md is not covered: its blocks are the golden inputs, wrong on purpose.
set -euo pipefail
crm=$1
root=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
docs=(README.md docs/language.md docs/semantics.md docs/runtime.md)

prelude() {
  printf 'module doc_snippet\nimport shop.schema\nimport std.lifecycle\nimport std.rfm\nimport first_order_gift\n\n'
}

checked=0 skipped=0 failed=0
for doc in "${docs[@]}"; do
  [ -f "$root/$doc" ] || continue
  # One file per block: NNN.crm holds the block, NNN.meta "LINE SKIP-REASON".
  awk -v out="$tmp/b" '
    /^<!-- doc-test: skip/ { skip = $0; sub(/^<!-- doc-test: skip */, "", skip); sub(/ *-->.*/, "", skip); pending = NR; next }
    /^```crm[ \t]*$/ && !inb { n++; inb = 1; f = sprintf("%s%03d.crm", out, n);
                    printf "%d %s\n", NR, (pending == NR - 1 ? (skip == "" ? "-" : skip) : "") > sprintf("%s%03d.meta", out, n);
                    printf "" > f; next }
    /^```/ && inb { inb = 0; close(f); next }
    inb { print >> f }
  ' "$root/$doc"
  for block in "$tmp"/b*.crm; do
    [ -e "$block" ] || continue
    read -r line reason < "${block%.crm}.meta" || true
    where="$doc:$line"
    if [ -n "${reason:-}" ]; then
      echo "skipped $where: $reason"
      skipped=$((skipped + 1))
      rm -f "$block" "${block%.crm}.meta"
      continue
    fi
    mkdir -p "$tmp/m"
    prog="$tmp/m/doc_snippet.crm"
    first=$(grep -v -E '^[[:space:]]*(//.*)?$' "$block" | head -1 || true)
    if grep -q -E '^module ' "$block"; then
      cp "$block" "$prog"
    elif [[ "$first" =~ ^(who|when|where|what|how\ much|split|priority|zone|exclusive): ]]; then
      prelude > "$prog"
      # Each clause starts at a line beginning with its keyword; indented lines continue it.
      awk -v prog="$prog" '
        function flush() {
          if (clause == "") return
          n++
          printf "strategy doc_clause_%d for business \"doc_%d\" {\n", n, n >> prog
          if (kw != "who") print "    who: true" >> prog
          if (kw != "when") print "    when: on Order" >> prog
          if (kw != "what") print "    what: grant first_order_points" >> prog
          printf "    %s\n}\n\n", clause >> prog
          clause = ""
        }
        /^[a-z ]+:/ { flush(); kw = $0; sub(/:.*/, "", kw); clause = $0; next }
        /^[ \t]+[^ \t]/ { clause = clause "\n    " $0; next }
        END { flush() }
      ' "$block"
    elif [[ "$first" =~ ^(const|enum|segment|fn|resource|policy|pool|profile|event|strategy|import)[[:space:]] ]]; then
      { prelude; cat "$block"; } > "$prog"
    else
      { prelude; awk 'NF && $0 !~ /^[ \t]*\/\// { n++; printf "segment doc_expr_%d = (%s) == (%s)\n", n, $0, $0 }' "$block"; } > "$prog"
    fi
    deny=(); grep -q -E "^module " "$block" && deny=(--deny-warnings)  # whole programs must be clean
    if ! out=$("$crm" check -q "${deny[@]}" -I "$root/examples" "$prog" 2>&1); then
      echo "FAIL $where: this block does not pass crm check:"
      sed 's/^/    /' "$block"
      echo "  crm check said:"
      echo "$out" | sed 's/^/    /'
      failed=$((failed + 1))
    else
      checked=$((checked + 1))
    fi
    rm -f "$block" "${block%.crm}.meta"
  done
done
echo "doc examples: $checked checked, $skipped skipped, $failed failing"
[ "$failed" -eq 0 ]
