// baselines_main.cc - the `bench_baselines` binary: native C++ and SQLite baselines on their
// own, so they can be run (and smoke-tested in CI) without the crm VM benchmark.
#include "bench/baselines_native_sqlite.h"

int main(int argc, char** argv) {
  crm::bench::run_native_sqlite_baselines(crm::bench::parse_options(argc, argv));
  return 0;
}
