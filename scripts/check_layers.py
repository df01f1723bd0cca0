#!/usr/bin/env python3
"""check_layers.py - fails when a source file includes a header of a higher layer.

The layers, bottom up (docs/architecture.md):

    support -> bytecode -> runtime -> compiler (+ stdlib) -> crm API (include/crm, api/)
            -> libraries over the API (report/) -> tools (cli/, lsp/)

A file may include headers of its own layer and of the layers below it, never above. Two more
rules: the public headers (include/crm/) include only other public headers, since they are
installed alone; and the tools (cli/, lsp/) include only the public API and the tools' headers,
without exception: the tools prove that the API suffices (issue 10 item 5).

Usage: check_layers.py [ROOT]    (ROOT defaults to the repository holding this script)
Exit status 0 when every rule holds, 1 otherwise; violations are printed as FILE:LINE: message.
"""
import pathlib
import re
import sys

# Include roots (the first component of an include path) and their layer. "crm" is include/crm.
RANK = {
    "support": 0,
    "bytecode": 1,
    "runtime": 2,
    "compiler": 3,
    "stdlib": 3,
    "api": 4,
    "crm": 4,
    "report": 5,
    "cli": 6,
    "lsp": 6,
    "tests": 7,
    "bench": 7,
}
LAYER_NAME = {0: "support", 1: "bytecode", 2: "runtime", 3: "compiler", 4: "api", 5: "report", 6: "tools", 7: "tests"}
# Source folders checked, and the layer of the files in them.
FOLDERS = {
    "support": 0,
    "bytecode": 1,
    "runtime": 2,
    "compiler": 3,
    "stdlib": 3,
    "api": 4,
    "include/crm": 4,
    "report": 5,
    "cli": 6,
    "lsp": 6,
}
SUFFIXES = {".h", ".hh", ".hpp", ".cc", ".cpp", ".def", ".inc"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


def includes(path):
    """Yields (line number, included path) for every #include of a crm header in the file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        for n, line in enumerate(f, 1):
            m = INCLUDE.match(line)
            if m and "/" in m.group(2) and m.group(2).split("/", 1)[0] in RANK:
                yield n, m.group(2)


def check(root):
    errors = []
    checked = 0
    for folder, rank in FOLDERS.items():
        base = root / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in SUFFIXES or not path.is_file():
                continue
            checked += 1
            rel = path.relative_to(root).as_posix()
            for n, inc in includes(path):
                target = inc.split("/", 1)[0]
                where = f"{rel}:{n}"
                if folder == "include/crm" and target != "crm":
                    errors.append(f"{where}: public header includes internal header {inc} "
                                  "(include/crm/ is installed alone: only <crm/...> and system headers)")
                elif folder == "lsp" and target not in ("crm", "lsp"):
                    errors.append(f"{where}: the language server includes internal header {inc} "
                                  "(tools use the public API, include/crm, and their own headers only)")
                elif folder == "cli" and target not in ("crm", "cli", "lsp"):
                    errors.append(f"{where}: the CLI includes internal header {inc} "
                                  "(tools use the public API, include/crm, and their own headers only)")
                elif RANK[target] > rank:
                    errors.append(f"{where}: includes {inc}: layer {LAYER_NAME[rank]} may not include "
                                  f"the higher layer {LAYER_NAME[RANK[target]]}")
    return checked, errors


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    checked, errors = check(root.resolve())
    for e in errors:
        print(e, file=sys.stderr)
    if checked == 0:
        print(f"check_layers: no source files under {root}", file=sys.stderr)
        return 1
    print(f"check_layers: {checked} files, {len(errors)} violation{'s' if len(errors) != 1 else ''}")
    return 1 if errors or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
