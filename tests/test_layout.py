"""The layout rules of issue 12 ("one home for each rule"), checked on the source so they cannot slip back.

- Views (every views.py, and the dashboard's portal/reports/pages.py) run no queries: no `db.session`, `db.get`,
  `select(`, `*_or_404` of Flask-SQLAlchemy, and no import of SQLAlchemy or of `db`; they ask a service or a
  loader, and turn its None into a 404 with `portal.errors.or_404`.
- Only portal/visibility.py decides who is the Chair: `PanelRole.CHAIR` appears elsewhere only where the value
  is named rather than tested (the models that define it, the seat form's choices, the demo's seats), and the
  string "chair" only in the model that defines it.
- Loaders that answer 404 (`def *_or_404`) live in views only.
- The reviews and meetings areas do not import each other.
- Every package folder under portal/ has an `__init__.py`.
- No test file imports from another test_*.py file (shared code is in tests/factories.py, the helpers_*.py
  modules and tests/browser/steps.py).

Each check is a function over {path: source}; the tests run it on the real tree (nothing found) and on a planted
breach (found), so every check is shown able to fail.
"""

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PORTAL = ROOT / "portal"
TESTS = ROOT / "tests"
TEMPLATES = ROOT / "templates"

Sources = Mapping[str, str]  # a path relative to the repository (with "/") -> the file's text

# Where PanelRole.CHAIR may be named: the models (which define it), the form offering the seats, the demo's seats,
# and visibility.py, the one place that tests for it.
CHAIR_NAMED_IN = ("portal/visibility.py", "portal/meetings/forms.py", "portal/ops/demo.py")
CHAIR_VALUE_IN = ("portal/models/meetings.py",)
QUERY_ATTRIBUTES = {"get_or_404", "first_or_404", "one_or_404", "query"}


def _sources(folder: Path, pattern: str = "*.py") -> dict[str, str]:
    return {path.relative_to(ROOT).as_posix(): path.read_text(encoding="utf-8")
            for path in sorted(folder.rglob(pattern)) if "__pycache__" not in path.parts}


def _is_view(path: str) -> bool:
    return path.endswith("/views.py") or path == "portal/reports/pages.py"


def _imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every module a file imports, with the names imported from it as module.name too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


# The checks: each returns "path:line: what" for every breach it finds. ------------------------------------------


def queries_in_views(sources: Sources) -> list[str]:
    found = []
    for path, text in sources.items():
        if not _is_view(path):
            continue
        for node in ast.walk(ast.parse(text)):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "db":
                found.append(f"{where}: db.{node.attr}")
            elif isinstance(node, ast.Attribute) and node.attr in QUERY_ATTRIBUTES:
                found.append(f"{where}: .{node.attr}")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "select":
                found.append(f"{where}: select(")
        for line, module in _imported(ast.parse(text)):
            if module.split(".")[0] == "sqlalchemy" or module == "portal.extensions.db":
                found.append(f"{path}:{line}: imports {module}")
    return found


def chair_tested_outside_visibility(sources: Sources) -> list[str]:
    found = []
    for path, text in sources.items():
        for node in ast.walk(ast.parse(text)):
            where = f"{path}:{getattr(node, 'lineno', 0)}"
            if (isinstance(node, ast.Attribute) and node.attr == "CHAIR" and isinstance(node.value, ast.Name)
                    and node.value.id == "PanelRole" and path not in CHAIR_NAMED_IN
                    and not path.startswith("portal/models/")):
                found.append(f"{where}: PanelRole.CHAIR")
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value == "chair"
                  and path not in CHAIR_VALUE_IN):
                found.append(f"{where}: the string {node.value!r}")
    return found


def chair_tested_in_templates(sources: Sources) -> list[str]:
    pattern = re.compile(r"""(==|!=|\bin)\s*\(?\s*['"]chair['"]""", re.IGNORECASE)
    return [f"{path}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
            for path, text in sources.items() for match in pattern.finditer(text)]


def loaders_outside_views(sources: Sources) -> list[str]:
    return [f"{path}:{node.lineno}: def {node.name}"
            for path, text in sources.items() if not _is_view(path) and path != "portal/errors.py"
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.endswith("_or_404")]


def reviews_and_meetings_entangled(sources: Sources) -> list[str]:
    found = []
    for path, text in sources.items():
        for area, other in (("reviews", "meetings"), ("meetings", "reviews")):
            if not path.startswith(f"portal/{area}/"):
                continue
            for line, module in _imported(ast.parse(text)):
                if module == f"portal.{other}" or module.startswith(f"portal.{other}."):
                    found.append(f"{path}:{line}: imports {module}")
    return found


def packages_without_init(paths: list[str]) -> list[str]:
    folders = {path.rsplit("/", 1)[0] for path in paths if path.endswith(".py")}
    return sorted(folder for folder in folders if f"{folder}/__init__.py" not in paths)


def imports_of_test_files(sources: Sources) -> list[str]:
    return [f"{path}:{line}: imports {module}"
            for path, text in sources.items() for line, module in _imported(ast.parse(text))
            if any(part.startswith("test_") for part in module.split("."))]


# The real tree. ---------------------------------------------------------------------------------------------------


def test_the_checks_look_at_the_real_tree() -> None:
    """Guard against a check passing because it saw no files."""
    views = [path for path in _sources(PORTAL) if _is_view(path)]
    assert {"portal/meetings/views.py", "portal/reviews/views.py", "portal/reports/pages.py"} <= set(views)
    assert len(views) >= 9
    assert "tests/browser/test_passkeys.py" in _sources(TESTS)
    assert list(TEMPLATES.rglob("*.html"))


def test_views_run_no_queries() -> None:
    assert queries_in_views(_sources(PORTAL)) == []


def test_only_visibility_tests_for_the_chair() -> None:
    assert chair_tested_outside_visibility(_sources(PORTAL)) == []
    assert chair_tested_in_templates(_sources(TEMPLATES, "*.html")) == []


def test_loaders_that_answer_404_are_in_views() -> None:
    assert loaders_outside_views(_sources(PORTAL)) == []


def test_reviews_and_meetings_do_not_import_each_other() -> None:
    assert reviews_and_meetings_entangled(_sources(PORTAL)) == []


def test_every_package_folder_has_an_init() -> None:
    assert packages_without_init(list(_sources(PORTAL))) == []


def test_no_test_file_imports_from_another() -> None:
    assert imports_of_test_files(_sources(TESTS)) == []


# Each check finds a planted breach. -------------------------------------------------------------------------------

BREACHES: list[tuple[Callable[[Sources], list[str]], str, str]] = [
    (queries_in_views, "portal/meetings/views.py", "def v():\n    return db.session.scalars(q)\n"),
    (queries_in_views, "portal/reports/pages.py", "def v():\n    return db.get(User, 1)\n"),
    (queries_in_views, "portal/admin/views.py", "def v():\n    return User.query.get_or_404(1)\n"),
    (queries_in_views, "portal/admin/views.py", "def v(user_id):\n    return or_404(db.get_or_404(User, user_id))\n"),
    (queries_in_views, "portal/admin/views.py", "def v():\n    return services.run(select(User))\n"),
    (queries_in_views, "portal/admin/views.py", "from sqlalchemy import func\n"),
    (queries_in_views, "portal/admin/views.py", "from portal.extensions import csrf, db\n"),
    (chair_tested_outside_visibility, "portal/reviews/services.py",
     "def chairs(m):\n    return m.panel_role == PanelRole.CHAIR.value\n"),
    (chair_tested_outside_visibility, "portal/reports/content.py",
     "def chairs(m):\n    return m.panel_role == 'chair'\n"),
    (chair_tested_in_templates, "templates/meetings/meeting.html", "{% if seat.panel_role == 'chair' %}x{% endif %}"),
    (loaders_outside_views, "portal/reviews/services.py", "def meeting_or_404(meeting_id):\n    pass\n"),
    (reviews_and_meetings_entangled, "portal/meetings/views.py", "from portal.reviews.services import lock\n"),
    (reviews_and_meetings_entangled, "portal/reviews/services.py", "from portal import meetings\n"),
    (reviews_and_meetings_entangled, "portal/reviews/services.py", "import portal.meetings.services\n"),
    (imports_of_test_files, "tests/browser/test_a.py", "from browser.test_journeys import tab_to\n"),
    (imports_of_test_files, "tests/test_a.py", "def f():\n    from test_partnership import lead_of\n"),
    (imports_of_test_files, "tests/test_a.py", "import test_reading\n"),
]


@pytest.mark.parametrize(("check", "path", "source"), BREACHES,
                         ids=[f"{check.__name__}-{n}" for n, (check, _, _) in enumerate(BREACHES)])
def test_each_check_finds_a_planted_breach(check: Callable[[Sources], list[str]], path: str, source: str) -> None:
    assert check({path: source}), f"{check.__name__} missed {source!r} in {path}"


def test_the_allowed_homes_are_allowed() -> None:
    assert chair_tested_outside_visibility({"portal/visibility.py": "x = PanelRole.CHAIR.value\n",
                                            "portal/models/meetings.py": "CHAIR = 'chair'\n"}) == []
    assert loaders_outside_views({"portal/documents/views.py": "def _document_or_404(i):\n    pass\n"}) == []
    assert imports_of_test_files({"tests/test_a.py": "from helpers_auth import lead_of\nfrom browser.steps import x\n"
                                                     "from factories import make_employer\n"}) == []


def test_a_package_folder_without_init_is_found() -> None:
    assert packages_without_init(["portal/__init__.py", "portal/ops/jobs.py"]) == ["portal/ops"]
