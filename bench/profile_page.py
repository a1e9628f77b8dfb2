"""Where one page's time goes, in this process, on an instance kept by `bench/scale.py --keep FOLDER`.

    .venv/bin/python bench/profile_page.py FOLDER chair /reviews/meetings/5/record [--top 30]

Signs in as the kept account of that role (chair, admin, member, observer, nqsw, assessor) through the real forms
with Flask's test client, requests the page once to warm up, then prints its status, HTML size, SQL statements
and a cProfile of a few more requests, sorted by cumulative time.
"""

import argparse
import cProfile
import json
import os
import pstats
import re
import sys
from pathlib import Path
from typing import Any


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("role")
    parser.add_argument("path")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args()
    kept = json.loads((args.folder / "bench.json").read_text())
    os.environ.update(kept["environment"])
    account = next(a for a in kept["accounts"] if a["role"] == args.role)

    from sqlalchemy import event

    from portal import clock, create_app
    from portal.extensions import db
    from portal.ops.demo import DEMO_PASSWORD
    from portal.security import totp

    app = create_app()
    client = app.test_client()
    def token_of(page: Any) -> str:
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True))
        if found is None:
            raise SystemExit("no CSRF token on the sign-in page")
        return found.group(1)

    token = token_of(client.get("/sign-in"))
    client.post("/sign-in", data={"csrf_token": token, "email": account["email"], "password": DEMO_PASSWORD})
    token = token_of(client.get("/sign-in/code"))
    signed = client.post("/sign-in/code", data={"csrf_token": token,
                                                "code": totp.code_at(account["secret"], clock.now())})
    if signed.status_code != 302:
        raise SystemExit("the security code was refused (it is accepted once a step: wait 30 seconds)")
    statements: list[str] = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    response = client.get(args.path)
    print(f"HTTP {response.status_code}, {len(response.get_data()) / 1024:.0f} KB, {len(statements)} statements")
    profile = cProfile.Profile()
    profile.enable()
    for _ in range(args.requests):
        client.get(args.path)
    profile.disable()
    pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
