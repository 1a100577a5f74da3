"""Every snippet in README.md runs as written.

The snippets are read out of the README itself, so an edit there is tested here: the notebook example
in a real IPython shell with a real Keras model, the Python example in a fresh folder, the Try-it command
in a copy of this source tree on a PATH with no Node.js, the install lines through pip's resolver, every
shell command's options against its ``--help``, and every path in the code layout.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import run

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
NODE_TOOLS = {"node", "nodejs", "npm", "npx", "corepack", "yarn", "yarnpkg", "jlpm"}


@dataclass
class Snippet:
    section: str  # the heading the snippet sits under
    language: str
    text: str


def snippets(section: str, language: str) -> list[Snippet]:
    """The fenced code blocks in ``section`` (a ``##`` heading) written in ``language``."""
    found, heading, block, lang = [], "", None, ""
    for line in README.read_text().splitlines():
        if block is None and line.startswith("## "):
            heading = line[3:].strip()
        elif block is None and line.startswith("```"):
            block, lang = [], line[3:].strip()
        elif block is not None and line.startswith("```"):
            found.append(Snippet(heading, lang, "\n".join(block)))
            block = None
        elif block is not None:
            block.append(line)
    chosen = [s for s in found if s.section == section and s.language == language]
    assert chosen, f"README.md has no {language} snippet under '## {section}'"
    return chosen


def only(section: str, language: str) -> str:
    (snippet,) = snippets(section, language)
    return snippet.text


# --- In a notebook ---------------------------------------------------------------------------------

YOUR_MODEL_AND_DATA = """
import keras, numpy as np
rng = np.random.default_rng(0)
x1, x2 = rng.normal(size=(64, 8)).astype("float32"), rng.normal(size=(64, 8)).astype("float32")
y1, y2 = rng.integers(0, 3, 64), rng.integers(0, 3, 64)
def build_model():
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)])
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m
"""


def test_the_notebook_example_runs_in_a_kernel_and_ends_on_part_2(ip):
    import nbversion
    from nbversion.adapters import adapter_for

    run(ip, YOUR_MODEL_AND_DATA)
    run(ip, only("In a notebook", "python"))
    model = ip.user_ns["model"]  # the live model, after the example's last line
    live = adapter_for(model).read(model)
    with nbversion.Repo(Path.cwd() / ".nbversion") as repo:
        part2 = repo.load("model/main")
        assert repo.resolve("part1") == repo.resolve("model/main~1")
    assert sorted(live) == sorted(part2)
    assert all(np.array_equal(live[name], part2[name]) for name in part2)


# --- Data, code and reproducible runs -------------------------------------------------------------

YOUR_DATA = YOUR_MODEL_AND_DATA + """
X_train, y_train = x1, y1
model = build_model()
acc = 0.5
"""


def test_the_data_example_links_a_model_version_to_its_data_and_restores_both(ip):
    import nbversion

    run(ip, YOUR_DATA)
    run(ip, only("Data, code and reproducible runs", "python"))
    with nbversion.Repo(Path.cwd() / ".nbversion") as repo:
        part1 = repo.show("part1")
        assert repo.show(part1.data["train"]).model == "digits"
        assert part1.code is not None and part1.environment is not None
    assert np.array_equal(ip.user_ns["X_train"], ip.user_ns["x1"])


# --- In Python ---------------------------------------------------------------------------------------


def test_the_python_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBVERSION_DIR", raising=False)
    namespace: dict = {}
    exec(compile(only("In Python", "python"), "README.md (In Python)", "exec"), namespace)
    repo = namespace["repo"]
    assert [v.message for v in repo.history("clf")] == ["after part 2", "first"]
    assert repo.resolve("best") == namespace["v1"].cid
    assert (tmp_path / "clf.car").is_file()
    repo.close()


# --- Two commands and Install -------------------------------------------------------------------------


def source_copy(destination: Path) -> Path:
    """This source tree as a fresh clone would have it (tracked files plus new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT, capture_output=True
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: can't tell source from build output")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


def path_without_node(bin_dir: Path) -> str:
    """A PATH with every command this one has except Node.js and its package managers."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not Path(folder).is_dir():
            continue
        for command in Path(folder).iterdir():
            link = bin_dir / command.name
            if command.name not in NODE_TOOLS and not link.exists() and os.access(command, os.X_OK):
                link.symlink_to(command)
    return str(bin_dir)


@pytest.mark.slow
def test_try_it_runs_on_a_machine_with_python_and_no_node(tmp_path):
    (try_it,) = [s.text for s in snippets("Two commands", "bash") if "demo" in s.text]
    clone = source_copy(tmp_path / "clone")
    env = dict(os.environ, PATH=path_without_node(tmp_path / "bin"))
    env.pop("NBVERSION_DIR", None)
    assert shutil.which("node", path=env["PATH"]) is None
    done = subprocess.run(["/bin/sh", "-c", try_it], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "Done." in done.stdout
    panel = clone / ".venv" / "share" / "jupyter" / "labextensions" / "nbversion"
    assert list((panel / "static").glob("remoteEntry.*.js")), "the installed package lacks the prebuilt panel"

    # The install lines resolve as written (pip's resolver, nothing installed).
    lines = [line.split("#")[0].strip() for line in only("Install", "bash").splitlines()]
    for line in filter(None, lines):
        words = shlex.split(line)
        assert words[:2] == ["pip", "install"], line
        resolved = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "-m", *words, "--dry-run", "--quiet"],
            cwd=clone, env=env, capture_output=True, text=True, timeout=600,
        )
        assert resolved.returncode == 0, f"{line}: {resolved.stderr[-2000:]}"


def test_the_test_command_is_what_ci_runs():
    commands = [s.text.strip() for s in snippets("Two commands", "bash")]
    assert "tests/run" in commands
    assert os.access(ROOT / "tests" / "run", os.X_OK)
    assert "tests/run" in (ROOT / ".ci" / "run").read_text()


# --- From a shell ------------------------------------------------------------------------------------


def test_every_command_and_option_in_the_shell_table_exists():
    for line in only("From a shell", "text").splitlines():
        usage = re.split(r"\s{2,}", line.strip())[0]
        words = usage.split()
        assert words[0] == "nbversion", line
        helped = subprocess.run(
            [sys.executable, "-m", "nbversion.cli", words[1], "--help"], capture_output=True, text=True, timeout=120
        )
        assert helped.returncode == 0, f"{usage}: {helped.stderr}"
        for option in re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", usage):
            assert option in helped.stdout, f"{usage}: `nbversion {words[1]} --help` has no {option}"


# --- How the code is laid out ---------------------------------------------------------------------------


def test_every_path_in_the_layout_exists():
    for line in only("How the code is laid out", "text").splitlines():
        path = line.split()[0]
        assert (ROOT / path).exists(), f"README.md names {path}, which is not in the tree"


# --- Sharing through IPFS --------------------------------------------------------------------------


def test_sharing_a_version_in_three_lines_works_against_a_real_node(tmp_path, ipfs_api):
    """The README's three lines, run as written in two repositories, with only the node's address
    (the test node's) and the CID (the one the push printed) put in."""
    you, colleague = tmp_path / "you", tmp_path / "colleague"
    you.mkdir(), colleague.mkdir()
    nbversion_cli = [sys.executable, "-m", "nbversion.cli"]
    subprocess.run([*nbversion_cli, "demo"], cwd=you, check=True, capture_output=True, timeout=300)
    clf_is = subprocess.run([*nbversion_cli, "log", "--all", "--json"], cwd=you, capture_output=True, text=True)
    model = __import__("json").loads(clf_is.stdout)[0]["model"]
    lines = [line.split("#")[0].strip() for line in only("Sharing through IPFS", "bash").splitlines()]
    assert len(lines) == 3
    pushed = ""
    for line, where in zip(lines, (you, colleague, colleague)):
        line = line.replace("http://127.0.0.1:5001", ipfs_api).replace(" clf ", f" {model} ")
        line = line.replace("bafy...", re.search(r"bafy\w+", pushed).group(0) if pushed else "bafy...")
        for command in line.split("&&"):
            args = shlex.split(command)
            assert args[0] == "nbversion"
            done = subprocess.run([*nbversion_cli, *args[1:]], cwd=where, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, f"{command}: {done.stderr}"
            pushed = pushed or (done.stdout if "push" in args else "")
    shown = subprocess.run([*nbversion_cli, "show", re.search(r"bafy\w+", pushed).group(0)], cwd=colleague,
                           capture_output=True, text=True)  # fmt: skip
    assert shown.returncode == 0 and model in shown.stdout
