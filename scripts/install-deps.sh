#!/usr/bin/env bash
# install-deps.sh - installs every Debian 12 package needed to build, test, fuzz and benchmark crm.
# Safe to run repeatedly; uses sudo only when not already root.
set -euo pipefail
packages=(
  cmake ninja-build g++ pkg-config git
  antlr4 libantlr4-runtime-dev uuid-dev   # grammar tool (4.7.2) and C++ runtime (4.9)
  libfmt-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev             # libFuzzer target
  sqlite3 libsqlite3-dev                  # independent checks of segment counts, SQL baseline
  tzdata                                  # named time zones (`zone: "Asia/Shanghai"`), resolved at compile time
  zlib1g-dev                              # reading the gzipped public datasets
  libutf8proc-dev                         # Unicode case mapping and UTF-8 validation (support/text.cc)
  libcli11-dev                            # the crm tool's argument parser (CLI11)
  libboost-math-dev                       # distributions for the experiment report (Boost.Math)
  liblua5.4-dev libluajit-5.1-dev         # benchmark baselines
  python3                                 # scripts/check_layers.py and its test
  llvm-16-dev                             # the JIT (runtime/jit), LLVM 16 ORC, shared libLLVM
  clang-16                                # compiles bytecode/operations.h to the bitcode the JIT inlines
  nlohmann-json3-dev                      # JSON-RPC messages of the language server (crm lsp)
  chromium                                # headless browser: HTML report and highlighting screenshots
  libdtl-dev                              # line diffs for `crm format --diff` (dtl, header-only)
  libhiredis-dev redis-server             # shared campaign counters (--shared redis://), and their fault tests
  neovim                                  # a real LSP client for editor-support/neovim (ctest editor_neovim_emacs)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm run editor-support/'s tests and build the VS Code extension. Only what is missing
# is installed: a node from elsewhere (e.g. NodeSource, which bundles npm) is kept, and Debian's
# `npm` package is installed only when there is no npm at all.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages already installed"
else
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The npm packages of editor-support/ and report/html (ECharts for `crm report --format html`,
# embedded at build time), exactly as pinned in each package-lock.json. `npm ci` runs
# only when the lockfile changed since the last install (a stamp in node_modules), from npm's
# cache when it can, so a warm run costs nothing.
root="$(cd "$(dirname "$0")/.." && pwd)"
for dir in editor-support/textmate editor-support/vscode report/html; do
  lock="$root/$dir/package-lock.json"
  stamp="$root/$dir/node_modules/.crm-lock.sha256"
  sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ]; then
    echo "install-deps: $dir/node_modules is up to date"
    continue
  fi
  echo "install-deps: npm ci in $dir"
  (cd "$root/$dir" && npm ci --no-audit --no-fund --prefer-offline --loglevel=error)
  echo "$sum" > "$stamp"
done
