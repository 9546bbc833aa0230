"""``docs/security.md`` points at code and tests that exist: every path it names is a file of the
repository, every ``tests/…::name`` a test defined in that file, every ``Role`` it lists a role."""

from __future__ import annotations

import re

from emergency.auth.tokens import Role
from emergency.config import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "security.md").read_text()


def test_every_file_and_test_the_security_page_names_exists():
    named = set(re.findall(r"`((?:emergency|feeds|alerts|mapping|tests)/[\w/]+\.py)(?:::(\w+))?", DOC))
    assert len(named) > 20
    for path, test in named:
        file = PROJECT_ROOT / path
        assert file.is_file(), f"docs/security.md names {path}, which does not exist"
        if test:
            assert re.search(rf"^(async )?def {test}\(", file.read_text(), re.M), f"{path} has no test {test}"
    assert not re.search(r"`::\w+`", DOC), "name each test with its file: `tests/…py::name`"


def test_the_security_page_lists_every_role():
    table = DOC.split("## Roles", 1)[1].split("##", 1)[0]
    assert {r.value for r in Role} == set(re.findall(r"^\| `(\w+)` \|", table, re.M))
