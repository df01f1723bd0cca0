#!/usr/bin/env python3
"""check_layers_test.py - scripts/check_layers.py passes on the tree and fails on each kind of
violation planted in a temporary copy: an upward include (runtime -> compiler, support -> bytecode,
bytecode -> runtime, compiler -> api), an internal header in a public header, and an internal
header of any layer in the CLI or the language server (no exceptions: tools are written over
include/crm only).

Usage: check_layers_test.py ROOT   (the repository; it is copied, never modified)
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else ".").resolve()
COPIED = ["support", "bytecode", "runtime", "compiler", "stdlib", "api", "include", "report", "cli", "lsp", "scripts"]


class CheckLayers(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="crm-layers-")
        self.root = pathlib.Path(self.tmp.name)
        for d in COPIED:
            shutil.copytree(ROOT / d, self.root / d, ignore=shutil.ignore_patterns("*.crm", "*.md"))

    def tearDown(self):
        self.tmp.cleanup()

    def run_check(self):
        r = subprocess.run([sys.executable, str(self.root / "scripts/check_layers.py"), str(self.root)],
                           capture_output=True, text=True)
        return r.returncode, r.stdout + r.stderr

    def plant(self, rel, line):
        path = self.root / rel
        text = path.read_text(encoding="utf-8")
        # After the file's first #include, so the line number is deterministic and the rest intact.
        i = text.index("#include")
        path.write_text(text[:i] + line + "\n" + text[i:], encoding="utf-8")

    def test_tree_passes(self):
        rc, out = self.run_check()
        self.assertEqual(rc, 0, out)
        self.assertIn("0 violations", out)

    def test_upward_includes_fail(self):
        cases = [
            ("runtime/vm/vm.cc", '#include "compiler/sema/checker.h"', "layer runtime may not include the higher layer compiler"),
            ("runtime/engine/engine.h", "#include <crm/runtime.h>", "layer runtime may not include the higher layer api"),
            ("support/text.h", '#include "bytecode/program.h"', "layer support may not include the higher layer bytecode"),
            ("bytecode/program.h", '#include "runtime/vm/vm.h"', "layer bytecode may not include the higher layer runtime"),
            ("compiler/driver.h", '#include "api/explain.h"', "layer compiler may not include the higher layer api"),
            ("api/check.cc", '#include "report/report_builder.h"', "layer api may not include the higher layer report"),
            ("report/report_builder.cc", '#include "cli/args.h"', "layer report may not include the higher layer tools"),
            ("compiler/sema/checker.cc", '#include "tests/reference/ast_evaluator.h"', "may not include the higher layer tests"),
        ]
        for rel, line, message in cases:
            with self.subTest(rel=rel):
                original = (self.root / rel).read_text(encoding="utf-8")
                self.plant(rel, line)
                rc, out = self.run_check()
                (self.root / rel).write_text(original, encoding="utf-8")
                self.assertEqual(rc, 1, out)
                self.assertIn(rel + ":", out)
                self.assertIn(message, out)
                self.assertIn("1 violation\n", out)

    def test_public_header_with_internal_include_fails(self):
        self.plant("include/crm/runtime.h", '#include "support/decimal.h"')
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("include/crm/runtime.h:", out)
        self.assertIn("public header includes internal header support/decimal.h", out)

    def test_cli_internal_include_fails(self):
        # Every layer below the API, and the API's own internals: the CLI may include none.
        cases = ["runtime/vm/vm.h", "runtime/engine/engine.h", "support/json_text.h", "bytecode/program.h",
                 "compiler/driver.h", "api/program_data.h", "report/report_builder.h"]
        for inc in cases:
            for rel in ("cli/args.cc", "cli/runtime_commands.cc"):
                with self.subTest(rel=rel, inc=inc):
                    original = (self.root / rel).read_text(encoding="utf-8")
                    self.plant(rel, f'#include "{inc}"')
                    rc, out = self.run_check()
                    (self.root / rel).write_text(original, encoding="utf-8")
                    self.assertEqual(rc, 1, out)
                    self.assertIn(rel + ":", out)
                    self.assertIn(f"the CLI includes internal header {inc}", out)
                    self.assertIn("1 violation\n", out)

    def test_no_exception_list(self):
        # The rule is absolute: a list of exceptions, if one came back, would not be read.
        (self.root / "scripts/layers_cli_allowlist.txt").write_text("cli/args.cc runtime/vm/vm.h\n", encoding="utf-8")
        self.plant("cli/args.cc", '#include "runtime/vm/vm.h"')
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("the CLI includes internal header runtime/vm/vm.h", out)

    def test_language_server_internal_include_fails(self):
        # lsp/ is a tool over include/crm: even the compiler's headers are off limits.
        self.plant("lsp/server.cc", '#include "compiler/driver.h"')
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("lsp/server.cc:", out)
        self.assertIn("the language server includes internal header compiler/driver.h", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
