"""Generate the runtime block that each bundled script carries at its end.

HF Jobs runs a single file, so each PEP 723 script under scripts/ must be self-contained. The code several scripts
share lives once, in src/hf_trainer/runtime/ (standard library and the training stack only). A script's own code comes
first; one fenced block near the end carries the runtime modules it names, with their dependencies:

    # ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) =====
    # runtime modules: train_common, evaluation
    ... the modules' code, dependencies first ...
    # ===== end of generated runtime =====

    if __name__ == "__main__":
        ...

A runtime module names what it takes from a sibling with a relative import (`from .mappings import map_row`): in the
package that import runs as written; in a script the sibling's code is already in the same file, so the generator
drops the import line and includes the sibling first. Python resolves the runtime's names when the script's
functions are called, so the script's own code can come first.

`sync()` rewrites every block from the sources; `check()` lists the stale ones (a test runs it).
"""

import argparse
import ast
import re
import sys
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parent / "runtime"
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts"
OPEN = "# ===== generated runtime: do not edit; source: src/hf_trainer/runtime/ (regenerate: make sync-scripts) ====="
CLOSE = "# ===== end of generated runtime ====="
_BLOCK = re.compile(
    r"^# =+ generated runtime:[^\n]*\n# runtime modules: (?P<modules>[^\n]*)\n.*?^# =+ end of generated runtime =+\n",
    re.DOTALL | re.MULTILINE,
)


def module_source(name: str) -> str:
    path = RUNTIME_DIR / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"a runtime block names {name!r}, but {path} does not exist")
    return path.read_text(encoding="utf-8")


def _relative_imports(tree: ast.Module, name: str = "?") -> list[ast.ImportFrom]:
    """The module's `from .sibling import x` lines, which the block strips (the names are defined earlier in the
    script). Any other relative import (inside a function or a class, or `from ..x`) would ship as it is and fail in
    the job, where there is no package: it is refused here, before a block is generated."""
    top = [node for node in tree.body if isinstance(node, ast.ImportFrom) and node.level == 1]
    stray = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level and node not in top]
    if stray:
        lines = ", ".join(str(node.lineno) for node in stray)
        raise ValueError(f"runtime/{name}.py line {lines}: a relative import inside a function, a class or a block "
                         "(or from a parent package) would ship unchanged and fail in the job; import siblings at "
                         "the top of the module (`from .module import name`)")
    return top


def dependencies(name: str) -> list[str]:
    """The sibling runtime modules `name` imports from (relative imports at its top level)."""
    tree = ast.parse(module_source(name))
    found = []
    for node in _relative_imports(tree, name):
        if not node.module:
            raise ValueError(f"runtime/{name}.py: use `from .module import name`, not `from . import module`")
        found.append(node.module)
    return found


def with_dependencies(roots: list[str]) -> list[str]:
    """`roots` and everything they import from the runtime, each after the modules it depends on."""
    ordered: list[str] = []

    def visit(name: str, path: tuple[str, ...]) -> None:
        if name in path:
            raise ValueError(f"runtime modules import each other in a cycle: {' -> '.join(path + (name,))}")
        if name in ordered:
            return
        for dep in dependencies(name):
            visit(dep, path + (name,))
        ordered.append(name)

    for root in roots:
        visit(root, ())
    return ordered


def inlined_body(name: str) -> str:
    """A module's source without its relative imports (their names are defined earlier in the same file)."""
    source = module_source(name)
    lines = source.splitlines(keepends=True)
    for node in sorted(_relative_imports(ast.parse(source), name), key=lambda n: n.lineno, reverse=True):
        del lines[node.lineno - 1:node.end_lineno]
    text = "".join(lines)
    return text if text.endswith("\n") else text + "\n"


def block(roots: list[str]) -> str:
    parts = [OPEN + "\n", f"# runtime modules: {', '.join(roots)}\n"]
    for name in with_dependencies(roots):
        parts.append(f"\n# ----- runtime/{name}.py -----\n")
        parts.append(inlined_body(name))
    parts.append(CLOSE + "\n")
    return "".join(parts)


def named_modules(script_text: str) -> list[str]:
    """The runtime modules a script's block names on its `# runtime modules:` line (its roots)."""
    match = _BLOCK.search(script_text)
    return [m.strip() for m in match.group("modules").split(",") if m.strip()] if match else []


def runtime_modules(script_text: str) -> list[str]:
    """Every runtime module a script carries (those it names and their dependencies), in block order."""
    match = _BLOCK.search(script_text)
    if not match:
        return []
    return with_dependencies(named_modules(script_text))


def render(script_text: str) -> str:
    """The script with its runtime block rebuilt from the current sources."""
    return _BLOCK.sub(lambda m: block([x.strip() for x in m.group("modules").split(",") if x.strip()]), script_text)


def own_code_lines(script_text: str) -> int:
    """Lines of a script's own code: everything before its generated runtime block (header and docstring included);
    the whole script when it carries no block."""
    match = _BLOCK.search(script_text)
    return (script_text[:match.start()] if match else script_text).rstrip("\n").count("\n") + 1


def top_level_names(source: str) -> set[str]:
    """Functions, classes and assigned names a module defines at its top level (imports excluded)."""
    names: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return names


def collisions(script_text: str) -> dict[str, list[str]]:
    """Names that two parts of one script define: two runtime modules, or a runtime module and the script's own code.
    In one file the later definition silently replaces the earlier one for every caller (e.g. two `_text` helpers)."""
    owners: dict[str, list[str]] = {}
    own_code = _BLOCK.sub("", script_text)
    for name in top_level_names(own_code):
        owners.setdefault(name, []).append("script")
    for module in runtime_modules(script_text):
        for name in top_level_names(module_source(module)):
            owners.setdefault(name, []).append(f"runtime/{module}.py")
    return {name: where for name, where in owners.items() if len(where) > 1}


def check(scripts_dir: Path = SCRIPTS_DIR) -> list[str]:
    """Scripts whose runtime block differs from the sources."""
    stale = []
    for path in sorted(scripts_dir.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if render(text) != text:
            stale.append(path.name)
    return stale


def sync(scripts_dir: Path = SCRIPTS_DIR) -> list[str]:
    """Rewrite stale runtime blocks; returns the scripts changed."""
    changed = []
    for path in sorted(scripts_dir.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        new = render(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            changed.append(path.name)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only report stale blocks (exit 1 if any).")
    parser.add_argument("--scripts", type=Path, default=SCRIPTS_DIR)
    args = parser.parse_args(argv)
    if args.check:
        stale = check(args.scripts)
        for name in stale:
            print(f"stale runtime block in scripts/{name}: run `make sync-scripts`")
        return 1 if stale else 0
    for name in sync(args.scripts):
        print(f"updated scripts/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
