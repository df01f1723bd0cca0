#!/usr/bin/env bash
# test.sh - installs dependencies, builds, and runs the whole test suite (including the fuzz
# smoke run). Tests that need ../shared/data say so and are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
ctest --test-dir build --output-on-failure -j2
