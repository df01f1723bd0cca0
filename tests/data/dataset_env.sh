# dataset_env.sh - sourced by the real-data checks: sets HERE (tests/data), ROOT (the checkout),
# DATA (the given path under ../shared/data) and TMP (removed on exit), or exits 77 (skipped) when
# the public datasets are absent, as in a user's fresh clone.
# Usage: source dataset_env.sh REL_PATH FILE_IN_IT
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
DATA="$ROOT/../shared/data/$1"
if [ ! -f "$DATA/$2" ]; then
  echo "SKIPPED: ../shared/data not found (public datasets are only beside the checkout in CI)"
  exit 77
fi
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
