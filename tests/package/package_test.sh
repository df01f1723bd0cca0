#!/usr/bin/env bash
# package_test.sh - crm as a package, used from outside its source tree (issue 10 item 6).
#
#   package_test.sh install BUILD_DIR SOURCE_DIR WORK_DIR
#     `cmake --install` the build into WORK_DIR/prefix; checks what is installed (public headers
#     only, the libraries, crmConfig.cmake, crm.pc, the binary); then builds and runs tests/package/app
#     with find_package(crm CONFIG REQUIRED), and the same app.cc with pkg-config; with libcrm.so
#     installed, tests/c_api/c_api_smoke.c with crm-c.pc.
#   package_test.sh subdir BUILD_DIR SOURCE_DIR WORK_DIR
#     configures tests/package/subdir, which add_subdirectory()s the source tree and links crm::crm;
#     builds the generated sources and the app's object, and dry-runs (ninja -n) the rest of its
#     dependency chain. CRM_PACKAGE_FULL=1 builds and runs the app (a second full build of the
#     libraries: minutes, so not the CI default).
set -euo pipefail
mode=$1
build=$(cd "$2" && pwd) src=$(cd "$3" && pwd)
rm -rf "$4"
mkdir -p "$4"
work=$(cd "$4" && pwd)
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

fail() { echo "package_test: $*" >&2; exit 1; }

run_app() {  # run_app BINARY: the app's decision on its one event must be a grant
  local out
  out=$("$1" "$work") || fail "$1 failed: $out"
  grep -q '"outcome":"granted"' <<<"$out" || fail "$1 printed no grant: $out"
  echo "package_test: $1: $out"
}

case $mode in
install)
  prefix=$work/prefix
  cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install failed"; }
  for f in include/crm/check.h include/crm/runtime.h bin/crm; do
    [ -f "$prefix/$f" ] || fail "not installed: $f"
  done
  config=$(find "$prefix" -name crmConfig.cmake) && [ -n "$config" ] || fail "no crmConfig.cmake installed"
  [ -f "$(dirname "$config")/crmConfigVersion.cmake" ] || fail "no crmConfigVersion.cmake beside $config"
  pc=$(find "$prefix" -name crm.pc) && [ -n "$pc" ] || fail "no crm.pc installed"
  [ -n "$(find "$prefix" -name libcrm.a)" ] || fail "no libcrm.a installed"
  # Only the public headers: internal ones (support/, runtime/, ...) are not an interface.
  extra=$(cd "$prefix/include" && find . -type f ! -path './crm/*')
  [ -z "$extra" ] || fail "headers outside include/crm installed: $extra"

  cmake -S "$src/tests/package/app" -B "$work/app" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_PREFIX_PATH="$prefix" >"$work/configure.log" || { cat "$work/configure.log"; fail "configure with find_package failed"; }
  cmake --build "$work/app" >"$work/build.log" || { cat "$work/build.log"; fail "building against the installed package failed"; }
  run_app "$work/app/app"

  # Non-CMake users: the same program with pkg-config's flags.
  flags=$(PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --cflags --libs crm) || fail "pkg-config --cflags --libs crm failed"
  # shellcheck disable=SC2086
  ${CXX:-c++} -std=c++17 -o "$work/app_pkgconfig" "$src/tests/package/app/app.cc" $flags || fail "building with pkg-config flags failed: $flags"
  run_app "$work/app_pkgconfig"

  # C users: libcrm.so and crm-c.pc; the C API's smoke test built against the installed tree.
  if [ -n "$(find "$prefix" -name 'libcrm.so*')" ]; then
    cpc=$(find "$prefix" -name crm-c.pc) && [ -n "$cpc" ] || fail "libcrm.so installed without crm-c.pc"
    cflags=$(PKG_CONFIG_PATH=$(dirname "$cpc") pkg-config --cflags --libs crm-c) || fail "pkg-config crm-c failed"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=c99 -o "$work/c_api_smoke" "$src/tests/c_api/c_api_smoke.c" $cflags || fail "building the C smoke test with crm-c.pc failed"
    LD_LIBRARY_PATH=$(dirname "$(find "$prefix" -name 'libcrm.so' | head -1)") "$work/c_api_smoke" >"$work/c_api_smoke.log" 2>&1 ||
      { cat "$work/c_api_smoke.log"; fail "the C smoke test against the installed libcrm.so failed"; }
    echo "package_test: the C API smoke test ran against the installed libcrm.so"
  fi
  ;;
subdir)
  cmake -S "$src/tests/package/subdir" -B "$work/subdir" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCRM_SOURCE="$src" -DCMAKE_SUPPRESS_REGENERATION=ON \
        >"$work/configure.log" 2>&1 || { cat "$work/configure.log"; fail "configure with add_subdirectory failed"; }
  # As a subproject, crm builds neither its tests nor its benchmarks unless asked.
  ! grep -q 'crm_tests' "$work/subdir/build.ninja" 2>/dev/null || fail "the subproject configured crm's tests"
  if [ "${CRM_PACKAGE_FULL:-0}" = 1 ]; then
    cmake --build "$work/subdir" --target app || fail "building the app with add_subdirectory failed"
    run_app "$work/subdir/app"
  else
    [ ${#gen[@]} -gt 0 ] || { echo "package_test: subdir: no ninja, configure only"; exit 0; }
    # Every custom command's output (the generated parser, the embedded stdlib, ...) is made,
    # then every source file the app's dependency chain compiles must exist: a generated source
    # whose rule is missing (a custom command in a directory that no consumer target shares)
    # would otherwise only show in a full build. The app's object exercises crm::crm's include
    # directories; ninja -n checks that the rest of the chain has rules. Each command is run on
    # its own (ninja -t commands -s): through ninja, their order-only dependencies would build
    # every library first, which is the full build this mode avoids.
    ninja_file=$work/subdir/build.ninja
    mapfile -t outputs < <(sed -n 's/^build \([^:]*\): CUSTOM_COMMAND.*/\1/p' "$ninja_file" | tr ' ' '\n' | grep -v -e 'CMakeFiles/' -e '^|$' -e '^\$' | grep .)
    obj=$(sed -n 's/^build \(CMakeFiles\/app\.dir\/[^:]*app\.cc\.o\):.*/\1/p' "$ninja_file")
    [ -n "$obj" ] || fail "no rule for app.cc's object in $ninja_file"
    mkdir -p "$work/subdir/$(dirname "$obj")"
    : >"$work/build.log"
    ran=0
    while read -r cmd; do
      [ -n "$cmd" ] || continue
      ran=$((ran + 1))
      (cd "$work/subdir" && sh -c "$cmd") >>"$work/build.log" 2>&1 || { cat "$work/build.log"; fail "failed: $cmd"; }
    done < <(for o in "${outputs[@]}" "$obj"; do ninja -C "$work/subdir" -t commands -s "$o"; done | grep -v '^ninja: ' | sort -u)
    missing=0
    while read -r f; do
      case $f in *.cc | *.cpp | *.c) ;; *) continue ;; esac
      [[ $f = /* ]] || f=$work/subdir/$f
      [ -f "$f" ] || { echo "package_test: no rule makes $f" >&2; missing=1; }
    done < <(ninja -C "$work/subdir" -t inputs app)
    [ $missing = 0 ] || fail "sources of the app's chain are missing after building every custom command"
    ninja -C "$work/subdir" -n app >"$work/dryrun.log" 2>&1 || { cat "$work/dryrun.log"; fail "ninja -n app failed"; }
    grep -q 'Linking CXX executable app' "$work/dryrun.log" || fail "ninja -n app would not link app"
    echo "package_test: subdir: configured; $ran commands made ${#outputs[@]} generated files and compiled app.cc against crm::crm; every source of the chain exists and the link has rules (ninja -n)"
  fi
  ;;
*) fail "unknown mode $mode" ;;
esac
