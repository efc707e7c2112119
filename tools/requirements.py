"""Write (or check) requirements.txt from pyproject.toml's runtime dependencies.

Azure's remote build installs requirements.txt only, so it must list exactly what pyproject.toml pins.
`python tools/requirements.py` writes it; `--check` exits 1 when the two disagree.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = "# Generated from pyproject.toml by `make requirements`; do not edit by hand.\n"


def render() -> str:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return HEADER + "".join(f"{dep}\n" for dep in project["dependencies"])


def main(argv: list[str]) -> int:
    target = ROOT / "requirements.txt"
    wanted = render()
    if "--check" in argv:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != wanted:
            print("requirements.txt is out of date: run `make requirements`", file=sys.stderr)
            return 1
        return 0
    target.write_text(wanted, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
