"""Compile the portal's stylesheet; copy GOV.UK Frontend's script and images and the PDF fonts into static/dist."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FRONTEND = ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"
DEJAVU = ROOT / "node_modules" / "dejavu-fonts-ttf"
DIST = ROOT / "static" / "dist"
# The fonts the PDFs embed (portal/reports/pdf_fonts.py), with the licence that must travel with copies of them.
FONTS = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf")


def main() -> int:
    """Build static/dist from static/src and the govuk-frontend and dejavu-fonts-ttf packages."""
    for name, folder in (("govuk-frontend", FRONTEND), ("dejavu-fonts-ttf", DEJAVU)):
        if not folder.is_dir():
            print(f"{name} is not installed: run `make setup` first", file=sys.stderr)
            return 1
    DIST.mkdir(parents=True, exist_ok=True)
    node = shutil.which("node", path=str(ROOT / ".venv" / "bin")) or shutil.which("node")
    if node is None:
        print("node is not installed: run `make setup` first", file=sys.stderr)
        return 1
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
    (DIST / "fonts").mkdir(exist_ok=True)
    for font in FONTS:
        shutil.copy2(DEJAVU / "ttf" / font, DIST / "fonts" / font)
    shutil.copy2(DEJAVU / "LICENSE", DIST / "fonts" / "LICENSE-DejaVu.txt")
    print(f"assets built in {DIST.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
