"""Compile the portal's stylesheet and copy GOV.UK Frontend's script and images into static/dist."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
DIST = ROOT / "static" / "dist"


def main() -> int:
    """Build static/dist from static/src and the govuk-frontend package."""
    if not FRONTEND.is_dir():
        print("govuk-frontend is not installed: run `make setup` first", file=sys.stderr)
        return 1
    DIST.mkdir(parents=True, exist_ok=True)
    node = shutil.which("node", path=str(ROOT / ".venv" / "bin")) or shutil.which("node")
    sass = ROOT / "node_modules" / "sass" / "sass.js"
    subprocess.run(  # noqa: S603 - fixed arguments, no user input
        [
            node,
            str(sass),
            "--quiet",
            "--no-source-map",
            "--style=compressed",
            f"--load-path={ROOT / 'node_modules'}",
            str(ROOT / "static" / "src" / "portal.scss"),
            str(DIST / "portal.css"),
        ],
        check=True,
    )
    shutil.copy2(FRONTEND / "govuk-frontend.min.js", DIST / "govuk-frontend.min.js")
    shutil.copytree(FRONTEND / "assets" / "images", DIST / "images", dirs_exist_ok=True)
    for script in (ROOT / "static" / "src").glob("*.js"):
        shutil.copy2(script, DIST / script.name)
    print(f"assets built in {DIST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
