#!/usr/bin/env bash
# run-examples.sh - installs dependencies, builds, and runs crm on the bundled examples.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
echo "== crm check: every bundled example, each as its own program"
./build/crm check --each examples/*.crm examples/*/*.crm
echo "== crm run: Double-11 waves over the bundled synthetic demo log (300 users, Sep-Nov 2026)"
./build/crm run examples/double11.crm --profiles examples/data/shop_profiles.csv \
  --events examples/data/shop_events.jsonl --out build/double11_decisions.jsonl
echo "   decisions written to build/double11_decisions.jsonl; first three:"
head -n 3 build/double11_decisions.jsonl
echo "== crm audience: segments and strategy audiences on 2026-11-11 20:00 (Beijing)"
./build/crm audience examples/double11.crm --profiles examples/data/shop_profiles.csv \
  --events examples/data/shop_events.jsonl --at 2026-11-11T12:00:00Z
if [ -f ../shared/data/uci-online-retail/online_retail.csv.gz ]; then
  echo "== the real UCI Online Retail log (../shared/data is present)"
  ./build/crm import online-retail ../shared/data/uci-online-retail/online_retail.csv.gz -o build/online_retail.jsonl
  ./build/crm audience examples/online-retail/retail.crm --events build/online_retail.jsonl --at 2011-12-09T12:50:00Z
fi
