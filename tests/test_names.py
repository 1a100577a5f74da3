"""One name policy for every source, a resolution order where nothing shadows a CID, and names
and messages that a terminal shows but never acts on (issue 9, findings 2 and 3)."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import nbversion
from conftest import run_cli, weights
from nbversion import present
from nbversion.errors import AmbiguousRefError, MetadataError, NbversionError
from nbversion.formats import dagcbor
from nbversion.formats.car import read_car, write_car
from nbversion.formats.cid import CID, DAG_CBOR
from nbversion.formats.names import MAX_NAME, check_name, is_valid_name
from nbversion.formats.records import Manifest, TensorEntry, Version
from nbversion.live import CheckoutReport, CommitReport, ModelStatus
from nbversion.repo import FsckReport, TensorDiff

A_CID = "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
CIDV0 = "QmY7Yh4UquoXHLPFo2XbhXkhBvFoPwmQUSa92pxnxjQuPU"

GOOD_NAMES = ["clf", "best", "main", "part1", "model_v2.1-final", "_private", "V1", "head", "v", "vgg16", "x" * MAX_NAME]
BAD_NAMES = {
    "empty": "",
    "HEAD": "HEAD",
    "vN": "v1",
    "vN-zero-padded": "v007",
    "path": "../../etc",
    "slash": "a/b",
    "tilde": "clf~1",
    "dot": ".",
    "dotdot": "..",
    "hidden": ".hidden",
    "option": "-rf",
    "space": "a b",
    "trailing-newline": "best\n",
    "newline": "a\nb",
    "ansi-clear": "x\x1b[2J",
    "osc-title": "\x1b]0;pwned\x07",
    "bidi-override": "abc\u202etxt",
    "nul": "a\x00b",
    "non-ascii": "modèle",
    "too-long": "x" * (MAX_NAME + 1),
    "10KB": "n" * 10_000,
    "full-cid": A_CID,
    "cid-prefix": A_CID[:12],
    "bafy": "bafy",
    "raw-cid-prefix": "bafkreiabc",
    "cidv0": CIDV0,
}


def _inert(text: str) -> bool:
    """Whether ``text`` holds no character a terminal would act on (line breaks between lines aside)."""
    return all(ch == "\n" or ch.isprintable() or unicodedata.category(ch) == "Zs" for ch in text)


# -- the grammar ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_everyday_names_are_allowed(name):
    assert check_name(name, "Model") == name and is_valid_name(name)


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_names_that_read_as_refs_paths_or_terminal_codes_are_refused(name):
    assert not is_valid_name(name)
    with pytest.raises(MetadataError, match="name .* is not allowed") as err:
        check_name(name, "Model")
    assert _inert(str(err.value)) and len(str(err.value)) < 300  # the message itself is safe and short


@pytest.mark.parametrize("value", [None, 1, b"clf", ["clf"]])
def test_a_name_must_be_text(value):
    with pytest.raises(MetadataError, match="must be text"):
        check_name(value, "Tag")


# -- local names ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_commit_and_tag_refuse_bad_names_and_write_nothing(repo, name):
    v1 = repo.commit(weights(1), model="clf")
    for kwargs in ({"model": name}, {"model": "clf", "tag": name}, {"model": "clf", "branch": name}):
        with pytest.raises(MetadataError):
            repo.commit(weights(2), **kwargs)
    with pytest.raises(MetadataError):
        repo.tag(name, "v1")
    assert [v.cid for v in repo.log()] == [v1.cid] and repo.tags() == {} and repo.models() == ["clf"]


def test_a_tag_cannot_be_named_like_a_cid_or_a_cid_prefix(repo):
    v1 = repo.commit(weights(1), model="clf")
    v2 = repo.commit(weights(2), model="clf")
    for name in (str(v1.cid), str(v1.cid)[:16], str(v1.cid)[:5]):
        with pytest.raises(MetadataError, match="reads as a CID"):
            repo.tag(name, "v2")
    assert repo.resolve(str(v1.cid)[:16]) == v1.cid and repo.tags() == {}
    assert repo.resolve("HEAD") == v2.cid


def test_a_model_cannot_take_a_tags_name_nor_a_tag_a_models(repo):
    v1 = repo.commit(weights(1), model="clf")
    repo.tag("best", "v1")
    with pytest.raises(MetadataError, match="already a tag"):
        repo.commit(weights(2), model="best")
    with pytest.raises(MetadataError, match="hide the model"):
        repo.tag("clf", "v1")
    with pytest.raises(MetadataError, match="hide the model"):
        repo.commit(weights(3), model="fresh", tag="fresh")  # the model is new: its name is free until now
    with pytest.raises(MetadataError, match="hide the model"):
        repo.commit(weights(3), model="other", tag="clf")
    assert repo.models() == ["clf"] and repo.resolve("best") == v1.cid and repo.resolve("clf") == v1.cid


def test_everyday_words_stay_names_and_only_bafy_reads_as_a_cid_prefix(repo):
    """``best`` and ``main`` are lowercase base32 too; they mean the tag and the branch."""
    v1 = repo.commit(weights(1), model="clf")
    v2 = repo.commit(weights(2), model="clf")
    repo.tag("best", "v1")
    repo.tag("abcd", "v1")
    assert repo.resolve("best") == v1.cid and repo.resolve("abcd") == v1.cid
    assert repo.resolve("main") == v2.cid
    assert repo.resolve(str(v1.cid)[:24]) == v1.cid
    with pytest.raises(nbversion.NbversionError, match="CID starts with"):
        repo.resolve("bafyzzzzzzzz")


# -- a resolution order where nothing shadows a CID, vN or HEAD ------------------------------------


def _set_tag_unchecked(repo: nbversion.Repo, name: str, cid: CID) -> None:
    """A tag as an older release (or a hand-edited index) could have written it, unchecked."""
    with repo.index.locked() as db, repo.index.transaction(db):
        repo.index.set_ref(db, "tag", name, str(cid))


def _index_unchecked(repo: nbversion.Repo, version: Version) -> CID:
    """A version indexed, with its model's branch and HEAD, as an import did before names were
    checked."""
    block = dagcbor.encode(version.to_ipld())
    cid = CID.hash(DAG_CBOR, block)
    with repo.index.locked() as db, repo.index.transaction(db):
        repo.index.add_version(db, cid, version, block)
        repo.index.set_ref(db, "branch", f"{version.model}/main", str(cid))
        repo.index.set_ref(db, "head", version.model, "branch:main")
    return cid


def test_no_tag_can_shadow_a_cid_a_cid_prefix_vn_or_head(repo):
    v1 = repo.commit(weights(1), model="clf")
    v2 = repo.commit(weights(2), model="clf")
    v3 = repo.commit(weights(3), model="clf")
    prefix = str(v1.cid)[:20]
    for name in (str(v1.cid), prefix, "v1", "HEAD"):
        _set_tag_unchecked(repo, name, v2.cid)
    assert repo.resolve(str(v1.cid)) == v1.cid
    assert repo.resolve(prefix) == v1.cid
    assert repo.resolve("v1") == v1.cid
    assert repo.resolve("HEAD") == v3.cid
    assert repo.resolve(f"{prefix}~0") == v1.cid and repo.resolve(f"{str(v3.cid)}~2") == v1.cid


def test_a_model_named_v1_cannot_replace_another_models_v1(repo):
    mine = weights(1)
    v1 = repo.commit(mine, model="clf")
    repo.commit(weights(2), model="clf")
    theirs = repo.commit({"dense/kernel": np.full((64, 32), 666, np.float32)}, model="other")
    forged = Version(model="v1", parents=(), manifest=theirs.manifest, message="gotcha", time=theirs.time)
    _index_unchecked(repo, forged)
    for name in ("HEAD", "v2"):
        _index_unchecked(repo, replace(forged, model=name, message=name))
    assert sorted(repo.models()) == ["HEAD", "clf", "other", "v1", "v2"]
    loaded = repo.load("v1", model="clf")
    assert set(loaded) == set(mine) and all(np.array_equal(loaded[k], mine[k]) for k in mine)
    assert repo.resolve("v1", model="clf") == v1.cid
    assert repo.resolve("HEAD", model="clf") == repo.head("clf")[1]


def test_a_name_that_is_both_a_tag_and_a_model_is_ambiguous_not_shadowed(repo):
    best = repo.commit(weights(1), model="best")
    other = repo.commit(weights(2), model="clf")
    _set_tag_unchecked(repo, "best", other.cid)
    with pytest.raises(AmbiguousRefError, match="both a tag .* and a model"):
        repo.resolve("best")
    assert repo.resolve("best/main") == best.cid
    assert repo.resolve("HEAD", model="best") == best.cid


@pytest.mark.parametrize("ref", ["a\nb", "clf\x00", "\x1b[2J", "x" * 10_000, "clf~1~2", "~", "clf/", "/main"])
def test_any_text_as_a_ref_is_answered_with_a_ref_error(repo, ref):
    repo.commit(weights(1), model="clf")
    with pytest.raises(nbversion.NbversionError):
        repo.resolve(ref)


# -- names arriving in a stranger's CAR ------------------------------------------------------------


def _forged_car(tmp_path: Path, **fields) -> Path:
    """A CAR whose root is a real version with ``fields`` changed, as a stranger could write it."""
    with nbversion.Repo(tmp_path / "stranger") as theirs:
        v = theirs.commit({"w": np.arange(6, dtype=np.float32)}, model="theirs", message="real")
        theirs.export_car(v.cid, tmp_path / "real.car")
        record = replace(theirs.show(v.cid), **fields)
    with open(tmp_path / "real.car", "rb") as f:
        roots, blocks = read_car(f)
        others = [(cid, block) for cid, block in blocks if cid != roots[0]]
    block = dagcbor.encode(record.to_ipld())
    cid = CID.hash(DAG_CBOR, block)
    path = tmp_path / "forged.car"
    with open(path, "wb") as out:
        write_car(out, [cid], [(cid, block), *others])
    return path


@pytest.mark.parametrize("name", list(BAD_NAMES.values()), ids=list(BAD_NAMES))
def test_an_import_refuses_a_model_name_local_commits_refuse_and_changes_nothing(repo, tmp_path, name):
    mine = weights(1)
    v1 = repo.commit(mine, model="clf")
    car = _forged_car(tmp_path, model=name)
    with pytest.raises(NbversionError, match="not allowed") as err:
        repo.import_car(car)
    assert _inert(str(err.value))
    assert [v.cid for v in repo.log()] == [v1.cid] and repo.models() == ["clf"]
    loaded = repo.load("v1", model="clf")
    assert all(np.array_equal(loaded[k], mine[k]) for k in mine)


def test_an_imported_model_named_like_a_tag_does_not_hide_either(repo, tmp_path):
    v1 = repo.commit(weights(1), model="clf")
    repo.tag("best", "v1")
    car = _forged_car(tmp_path, model="best")
    try:
        repo.import_car(car)
    except NbversionError:
        assert repo.models() == ["clf"]  # refused: nothing changed
    else:
        with pytest.raises(AmbiguousRefError):  # kept: "best" is neither silently
            repo.resolve("best")
    assert repo.resolve("clf") == v1.cid and repo.tags() == {"best": v1.cid}


# -- names and messages shown, never interpreted ---------------------------------------------------

HOSTILE = "x\x1b[2J\x1b]0;pwned\x07\nline2\r\x00\u202eevil\u2028"


def _hostile_version(seq: int = 1) -> Version:
    cid = CID.hash(DAG_CBOR, dagcbor.encode({"seq": seq}))
    return Version(
        model=HOSTILE, parents=(cid,), manifest=cid, message=HOSTILE, metrics={HOSTILE: 0.5}, time="2026-01-01T00:00:00Z",
        author=HOSTILE, framework=HOSTILE, software={HOSTILE: HOSTILE}, architecture=HOSTILE,
        context={"notebook": HOSTILE, "cell": {"id": HOSTILE, "execution_count": 3, "source": "a = 1\n\tb\x1b[2J\n"},
                 HOSTILE: HOSTILE},
        cid=cid, seq=seq, tags=(HOSTILE,),
    )  # fmt: skip


def _renders():
    v = _hostile_version()
    manifest = Manifest((TensorEntry(HOSTILE, "float32", (2,), 8, v.cid),))
    diff = TensorDiff(HOSTILE, "changed", (2,), (2,), 1.0, 1.0)
    fsck = FsckReport(corrupt={v.cid: [HOSTILE]}, problems=[HOSTILE])
    return {
        "version_text": present.version_text(v, manifest),
        "version_line": present.version_line(v, v.cid, HOSTILE),
        "history": repr(present.HistoryTable(HOSTILE, [v, _hostile_version(2)], current=v.cid, with_model=True)),
        "history-empty": repr(present.HistoryTable(HOSTILE, [])),
        "diff": present.diff_text([diff]),
        "diff-view": str(present.diff_view([diff])),
        "table": present.table([[HOSTILE]], [HOSTILE]),
        "commit": str(present.commit_view(CommitReport(replace(v, stats={}), v, HOSTILE))),
        "checkout": present.checkout_text(CheckoutReport(v, HOSTILE, 1, 0, 0.5)),
        "status": present.status_text(HOSTILE, [ModelStatus(HOSTILE, v, HOSTILE, True), ModelStatus(HOSTILE)]),
        "fsck": present.fsck_text(fsck),
        "tag": present.tag_line(HOSTILE, v.cid),
        "tags": present.tags_text({HOSTILE: v.cid}),
        "imported": present.imported_text([v]),
    }


@pytest.mark.parametrize("name", list(_renders()))
def test_every_text_renderer_shows_control_characters_instead_of_sending_them(name):
    text = _renders()[name]
    assert _inert(text), repr(text)
    assert "\\x1b" in text
    assert text.count("line2") == text.count("\\nline2")  # one-line contexts show the newline as \n


def test_history_keeps_one_line_per_version_whatever_the_message():
    text = repr(present.HistoryTable("m", [_hostile_version(1), _hostile_version(2)]))
    assert len(text.split("\n")) == 3 and "\\x1b]0;pwned\\x07\\nline2\\r\\x00\\u202eevil\\u2028" in text


def test_a_cells_source_keeps_its_lines_but_no_control_characters():
    v = _hostile_version()
    text = present.version_text(v, Manifest(()))
    assert "    a = 1\n        b\\x1b[2J\n" in text  # the tab expanded, the escape shown


def test_html_stays_escaped_text_with_control_characters_visible():
    v = replace(_hostile_version(), message="<script>alert(1)</script>\x1b[2J")
    diff = present.diff_view([TensorDiff("<b>\x1b", "added", None, (2,))])
    for html in (present.version_html(v), present.HistoryTable("m", [v])._repr_html_(), diff._repr_html_()):
        assert "<script>" not in html and "<b>\x1b" not in html and "\x1b" not in html and "\\x1b" in html
    assert "&lt;script&gt;" in present.version_html(v)


def test_nbversion_log_prints_an_ansi_escape_from_a_message_visibly(tmp_path):
    with nbversion.Repo(tmp_path / ".nbversion") as repo:
        repo.commit(weights(1), model="clf", message="clear \x1b[2J title \x1b]0;pwned\x07 done")
        repo.commit(weights(2), model="clf", message="two\nlines")
    out = run_cli("--repo", str(tmp_path / ".nbversion"), "log")
    assert out.returncode == 0, out.stderr
    assert "\x1b" not in out.stdout and "\x07" not in out.stdout
    assert "clear \\x1b[2J title \\x1b]0;pwned\\x07 done" in out.stdout and "two\\nlines" in out.stdout
    assert len(out.stdout.strip().split("\n")) == 3
    show = run_cli("--repo", str(tmp_path / ".nbversion"), "show", "v1", "--model", "clf")
    assert show.returncode == 0 and "\x1b" not in show.stdout and "\\x1b]0;pwned\\x07" in show.stdout

