"""Copy the console's browser libraries from node_modules into the package (functions/console/static/vendor).

The console is served by the function app itself and loads nothing from a CDN, so the two libraries it uses
(the MSAL sign-in library and the chart library) ship inside the deployment package. They come from npm
(package.json pins them, `npm ci` installs them); this copies them, with their licences, where the console
function serves them. `make install` runs it; so does `azd package` (azure.yaml, hook `prepackage`).

    python tools/console_assets.py          # copy
    python tools/console_assets.py --check  # exit 1 if a copy is missing or differs from node_modules
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "functions" / "console" / "static" / "vendor"
# source in node_modules -> name under vendor/
ASSETS: dict[str, str] = {
    "@azure/msal-browser/lib/msal-browser.min.js": "msal-browser.min.js",
    "@azure/msal-browser/LICENSE": "msal-browser.LICENSE.txt",
    "chart.js/dist/chart.umd.min.js": "chart.umd.min.js",
    "chart.js/LICENSE.md": "chart.js.LICENSE.txt",
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="only check that the copies are present and current"
    )
    args = parser.parse_args(argv)
    missing = [source for source in ASSETS if not (ROOT / "node_modules" / source).is_file()]
    if missing:
        print(f"not in node_modules (run npm ci first): {', '.join(missing)}", file=sys.stderr)
        return 1
    stale = [
        name
        for source, name in ASSETS.items()
        if not (VENDOR / name).is_file()
        or not filecmp.cmp(ROOT / "node_modules" / source, VENDOR / name, shallow=False)
    ]
    if args.check:
        if stale:
            print(f"console assets missing or out of date: {', '.join(stale)}", file=sys.stderr)
            return 1
        return 0
    VENDOR.mkdir(parents=True, exist_ok=True)
    for source, name in ASSETS.items():
        shutil.copyfile(ROOT / "node_modules" / source, VENDOR / name)
    print(f"console assets: {len(ASSETS)} files in {VENDOR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
