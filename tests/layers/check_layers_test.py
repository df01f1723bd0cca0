#!/usr/bin/env python3
"""check_layers_test.py - scripts/check_layers.py passes on the tree and fails on each kind of
violation planted in a temporary copy: an upward include (runtime -> compiler, support -> bytecode,
bytecode -> runtime, compiler -> api), an internal header in a public header, a new internal
include in the CLI, and a stale CLI exception.

Usage: check_layers_test.py ROOT   (the repository; it is copied, never modified)
"""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(sys.argv.pop(1) if len(sys.argv) > 1 else ".").resolve()
COPIED = ["support", "bytecode", "runtime", "compiler", "stdlib", "api", "include", "report", "cli", "scripts"]


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
            ("api/check.cc", '#include "report/statistics.h"', "layer api may not include the higher layer report"),
            ("report/statistics.cc", '#include "cli/args.h"', "layer report may not include the higher layer tools"),
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

    def test_new_cli_internal_include_fails(self):
        self.plant("cli/args.cc", '#include "runtime/vm/vm.h"')
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("cli/args.cc:", out)
        self.assertIn("the CLI includes internal header runtime/vm/vm.h", out)

    def test_stale_cli_exception_fails(self):
        allow = self.root / "scripts/layers_cli_allowlist.txt"
        allow.write_text(allow.read_text(encoding="utf-8") + "cli/args.cc compiler/ast/ast.h\n", encoding="utf-8")
        rc, out = self.run_check()
        self.assertEqual(rc, 1, out)
        self.assertIn("stale exception: cli/args.cc no longer includes compiler/ast/ast.h", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
