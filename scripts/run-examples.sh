#!/usr/bin/env bash
# run-examples.sh - installs dependencies, builds, and runs crm on the bundled examples.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
echo "== crm check: every bundled example, each as its own program"
./build/crm check --each examples/*.crm examples/*/*.crm
