"""The README shows the two commands and exactly the demo users the seed creates."""

from __future__ import annotations

from pathlib import Path

from app.seed import demo_users_markdown

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_two_commands_open_the_readme():
    head = README.split("## ", 2)[1]
    assert "make run" in head and "make test" in head


def test_demo_users_table_is_current():
    start = README.index("<!-- demo-users:start -->") + len("<!-- demo-users:start -->")
    end = README.index("<!-- demo-users:end -->")
    assert README[start:end].strip() == demo_users_markdown().strip(), "regenerate the table in README.md"
