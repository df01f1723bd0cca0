#!/usr/bin/env bash
# screenshot.sh - the highlighting screenshot in editor-support/README.md, produced headless:
# test/render_html.js colours a .crm file with the TextMate grammar (vscode-textmate, Dark+
# colours) and Debian's chromium captures the page. Usage: editor-support/screenshot.sh [FILE.crm [OUT.png]]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src="${1:-$here/../examples/first_order_gift.crm}"
out="${2:-$here/highlighting.png}"
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "screenshot.sh: chromium is not installed (scripts/install-deps.sh)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
node "$here/textmate/test/render_html.js" "$src" "$tmp/page.html" >/dev/null
lines=$(grep -c '' "$src")
height=$(( 32 + lines * 21 ))
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --force-device-scale-factor=1 \
  --user-data-dir="$tmp/profile" --window-size=1040,"$height" --screenshot="$out" "file://$tmp/page.html" 2>/dev/null
echo "screenshot.sh: $out (${lines} lines of $(basename "$src"))"
