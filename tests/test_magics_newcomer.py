"""What a newcomer meets in the magics (issue 10): the cell number a version records, %history's own
help, unchanged commits, the one-line commit report, and which command an error suggests."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest
from IPython.core.error import UsageError

import nbversion
from conftest import run
from nbversion import present


def repo(tmp_path) -> nbversion.Repo:
    return nbversion.Repo(tmp_path / ".nbversion")


WEIGHTS = "import numpy as np\nw = {'a': np.zeros(3, dtype='float32'), 'b': np.ones((2, 2), dtype='float32')}"


# -- point 8: the execution count ------------------------------------------------------------


def test_a_version_records_the_in_number_of_the_cell_that_committed_it(ip, tmp_path):
    run(ip, WEIGHTS)
    result = ip.run_cell("%commit_weights w -m first", store_history=True)
    assert result.success
    cell = repo(tmp_path).show("w").context["cell"]
    assert cell["execution_count"] == result.execution_count  # what the notebook shows as In[n]
    assert "commit_weights" in ip.user_ns["In"][cell["execution_count"]]
    assert cell["source"] == "%commit_weights w -m first"


# -- point 7: %history? keeps IPython's help ----------------------------------------------------


def test_history_help_has_ours_and_ipythons_own(ip, capsys):
    from IPython.core.magics.history import HistoryMagics

    doc = ip.find_line_magic("history").__doc__
    assert "names a model" in doc  # ours
    assert "Print input history (_i<n> variables), with most recent last." in doc  # IPython's
    assert HistoryMagics.history.__doc__ in doc  # all of it, options included
    capsys.readouterr()
    ip.run_line_magic("pinfo", "%history")
    shown = capsys.readouterr().out
    assert "Print input history" in shown and "names a model" in shown


# -- point 11: unchanged commits --------------------------------------------------------------


def test_committing_unchanged_weights_is_refused_and_writes_nothing(ip, tmp_path):
    run(ip, WEIGHTS)
    run(ip, "%commit_weights w -m first")
    r = repo(tmp_path)
    blocks = sorted(map(str, r.store.cids()))
    with pytest.raises(UsageError, match=r"unchanged since v1.*--allow-empty"):
        run(ip, "%commit_weights w -m again --tag again")
    assert [v.message for v in r.log("w")] == ["first"]
    assert r.tags() == {} and sorted(map(str, r.store.cids())) == blocks
    run(ip, "w['a'] += 1")
    run(ip, "%commit_weights w -m changed")
    assert [v.message for v in r.log("w")] == ["changed", "first"]


def test_allow_empty_records_the_same_weights_and_says_they_are_unchanged(ip, tmp_path, capsys):
    run(ip, WEIGHTS)
    run(ip, "%commit_weights w -m first")
    capsys.readouterr()
    run(ip, "%commit_weights w -m 'same, evaluated' --metric acc=0.9 --allow-empty")
    out = capsys.readouterr().out
    r = repo(tmp_path)
    assert [v.message for v in r.log("w")] == ["same, evaluated", "first"]
    assert "unchanged since v1" in out and "written" not in out


def test_the_library_refuses_an_unchanged_commit_with_its_own_error(tmp_path):
    from nbversion.errors import UnchangedError

    r = nbversion.Repo(tmp_path / ".nbversion")
    tensors = {"a": np.arange(4.0)}
    first = r.commit(tensors, model="m")
    with pytest.raises(UnchangedError, match="unchanged since v1") as err:
        r.commit(tensors, model="m", message="again")
    assert isinstance(err.value, nbversion.NbversionError) and isinstance(err.value, ValueError)
    assert [v.cid for v in r.log("m")] == [first.cid]
    again = r.commit(tensors, model="m", allow_empty=True)
    assert again.parents == (first.cid,) and again.manifest == first.manifest
    other = r.commit(tensors, model="m", parents=[], allow_empty=False)  # no parent: nothing to compare with
    assert other.parents == ()


# -- point 12: one line a commit ----------------------------------------------------------------


def test_three_commits_in_one_cell_print_three_short_lines(ip, tmp_path, capsys):
    run(ip, WEIGHTS)
    capsys.readouterr()
    run(ip, """
%commit_weights w -m "one" --metric acc=0.775333
w['a'] += 1
%commit_weights w -m "two" --tag best
w['b'] *= 2
%commit_weights w
""")
    lines = capsys.readouterr().out.splitlines()
    r = repo(tmp_path)
    v1, v2, v3 = reversed(r.log("w"))
    assert len(lines) == 3
    assert lines[0].startswith(f'w v1 {v1.short}… "one" acc=0.775333 +') and lines[0].endswith(" written")
    assert lines[1].startswith(f'w v2 {v2.short}… "two" [best] +')
    assert lines[2].startswith(f"w v3 {v3.short}… +")


def test_the_commit_html_is_the_line_with_the_table_on_demand(ip, tmp_path):
    run(ip, WEIGHTS)
    run(ip, "%commit_weights w -m '<b>one</b>'")
    session = ip.magics_manager.registry["NbversionMagics"].session
    run(ip, "w['a'] += 1")
    report = session.commit("w", ip.user_ns["w"], "two")
    view = present.commit_view(report)
    html = view._repr_html_()
    line = view.text.replace('"', "&quot;")
    assert html.startswith("<details") and f"<summary><code>{line}</code></summary>" in html
    assert "<table>" in html and "parent" in html and "v1" in html and str(report.version.cid) in html
    first = present.commit_view(session.commit("w", ip.user_ns["w"], "<b>x</b>", allow_empty=True))
    assert "<b>" not in first._repr_html_() and "&lt;b&gt;x&lt;/b&gt;" in first._repr_html_()


# -- point 10: the magics name the right command ------------------------------------------------


def test_checkout_with_two_models_suggests_checkout_not_commit(ip, tmp_path):
    run(ip, "import torch\nnet = torch.nn.Linear(2, 2)\ntwin = torch.nn.Linear(2, 2)")
    run(ip, "%commit_weights net -m one")
    with pytest.raises(UsageError) as err:
        run(ip, "%checkout v1")
    assert "%checkout v1 MODEL" in str(err.value) and "commit_weights" not in str(err.value)
    assert "Candidates: net, twin" in str(err.value)


def test_nbversion_log_with_two_models_lists_them_all(ip, tmp_path, capsys):
    run(ip, WEIGHTS)
    run(ip, "v = {'x': np.zeros(2)}")
    run(ip, "%commit_weights w -m for-w")
    run(ip, "%commit_weights v -m for-v")
    capsys.readouterr()
    run(ip, "%nbversion log")
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["model", "version"]
    assert [row.split()[0] for row in rows] == ["v", "w"] and "for-w" in rows[1]
    run(ip, "%nbversion log -n 1")
    assert len(capsys.readouterr().out.splitlines()) == 2
    run(ip, "%nbversion log w")
    assert "for-w" in capsys.readouterr().out


# -- comments on a magic's line (the README's examples have them) --------------------------------


def test_a_trailing_comment_on_a_magic_line_is_ignored_as_a_shell_would(ip, tmp_path):
    run(ip, WEIGHTS)
    run(ip, '%commit_weights w -m "fix #12" --tag first   # the first version')
    run(ip, "w['a'] = w['a'] + 1")
    run(ip, "%commit_weights w -m again#2 # a word with # inside is kept")
    run(ip, "%checkout first w  # back to the first")
    run(ip, "%nbversion tag best first w  # a tag too")
    versions = repo(tmp_path).log("w")
    assert [v.message for v in versions] == ["again#2", "fix #12"]
    assert repo(tmp_path).resolve("best") == versions[1].cid
    assert float(ip.user_ns["w"]["a"][0]) == 0.0  # checked out
