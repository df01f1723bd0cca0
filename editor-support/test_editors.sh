#!/usr/bin/env bash
# test_editors.sh CRM - the Neovim and Emacs set-ups of editor-support/README.md against `crm lsp`,
# headless: each editor opens a file with a misspelt field and must show the server's E0204
# diagnostic. Editors that are not installed are skipped (scripts/install-deps.sh installs Neovim,
# so CI runs it; Emacs with eglot is optional: Debian 12's Emacs 28 needs elpa-eglot); exits 77 (skipped) when none could run or the crm binary has no `lsp` command.
set -euo pipefail
crm=$(realpath "$1")
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$crm" lsp --help >/dev/null 2>&1 || { echo "skip: $crm has no lsp command"; exit 77; }
cat >"$tmp/broken.crm" <<'EOF2'
profile {
    age: Int
}

segment adults = agee >= 18
EOF2
ran=0

if command -v nvim >/dev/null 2>&1; then
  cat >"$tmp/check.lua" <<EOF2
vim.wait(10000, function() return #vim.diagnostic.get(0) > 0 end, 50)
local out = {}
for _, d in ipairs(vim.diagnostic.get(0)) do
  table.insert(out, string.format('%d %s %s', d.lnum + 1, tostring(d.code), (d.message:gsub('\n', ' '))))
end
vim.fn.writefile(out, '$tmp/nvim.out')
vim.cmd('qa!')
EOF2
  CRM="$crm" timeout 60 nvim --headless --clean -u "$here/neovim/crm.lua" "$tmp/broken.crm" -c "luafile $tmp/check.lua" || true
  grep -q '^5 E0204 ' "$tmp/nvim.out" 2>/dev/null || { echo "FAIL: Neovim showed no E0204 on line 5: $(cat "$tmp/nvim.out" 2>/dev/null)"; exit 1; }
  echo "neovim $(nvim --version | head -1): $(head -1 "$tmp/nvim.out")"
  ran=$((ran + 1))
fi

if command -v emacs >/dev/null 2>&1 && emacs --batch --eval "(require 'eglot)" >/dev/null 2>&1; then
  cat >"$tmp/check.el" <<EOF2
(find-file "$tmp/broken.crm")
(unless (eglot-current-server) (apply #'eglot (eglot--guess-contact)))  ; eglot-ensure waits for a command loop
(let ((n 0))
  (while (and (< n 200) (null (flymake-diagnostics)))
    (flymake-start)
    (accept-process-output nil 0.05)
    (setq n (1+ n))))
(let ((lines (mapcar (lambda (d) (format "%s %s" (line-number-at-pos (flymake-diagnostic-beg d))
                                         (flymake-diagnostic-text d)))
                     (flymake-diagnostics))))
  (with-temp-file "$tmp/emacs.out" (dolist (l lines) (insert l "\n"))))
EOF2
  CRM="$crm" timeout 60 emacs --batch -l "$here/emacs/crm-mode.el" -l "$tmp/check.el" >/dev/null 2>&1 || true
  grep -q '^5 .*E0204' "$tmp/emacs.out" 2>/dev/null || { echo "FAIL: Emacs/eglot showed no E0204 on line 5: $(cat "$tmp/emacs.out" 2>/dev/null)"; exit 1; }
  echo "emacs $(emacs --version | head -1 | awk '{print $3}'): $(head -1 "$tmp/emacs.out")"
  ran=$((ran + 1))
fi

[ "$ran" -gt 0 ] || { echo "skip: neither nvim nor emacs with eglot is installed"; exit 77; }
