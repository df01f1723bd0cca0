#!/usr/bin/env bash
# test.sh - installs dependencies, builds, and runs the whole test suite (including the fuzz
# smoke run). Tests that need ../shared/data say so and are skipped when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
# --timeout: the bound of a test that sets none of its own (tests/CMakeLists.txt gives most one),
# so a hang is a named failure, never a run that outlives CI.
ctest --test-dir build --output-on-failure -j2 --timeout 600
