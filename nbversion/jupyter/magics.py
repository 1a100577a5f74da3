"""IPython magics: ``%commit_weights``, ``%checkout``, ``%history MODEL`` / ``%nbv_history``, ``%nbversion``.

Thin surfaces over the kernel session (:mod:`.session`, which uses :mod:`nbversion.live`) and
:class:`nbversion.Repo`: they parse arguments, find the model in the user's namespace, add the
notebook context, and display what :mod:`nbversion.present` renders. Bad input
raises IPython's ``UsageError``, so the user sees one red line instead of a traceback.

IPython's own ``%history`` (input history) keeps working: ours answers only when the first argument
names a tracked model or a model-like variable, and hands every other line to the built-in.

Settings are traitlets, e.g. in ``ipython_config.py``: ``c.NbversionMagics.repo_dir = "/data/.nbversion"``.
"""

from __future__ import annotations

import os
import shlex
import threading
from typing import Any, Callable, Dict, Optional

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import MagicArgumentParser, argument, magic_arguments
from IPython.core.magics.history import HistoryMagics
from IPython.display import display
from traitlets import Unicode, observe

from .. import present
from ..errors import NbversionError
from ..live import is_model, metrics_from, models_in
from ..notebooks import pins
from ..repo import CID, Repo, current_environment
from .code import notebook_code
from .session import KernelSession


def _without_comment(line: str) -> str:
    """``line`` up to a ``#`` that starts a word outside quotes, as a shell reads it.

    IPython hands line magics everything after the name, so ``%checkout v1 model  # go back`` would
    otherwise pass ``#``, ``go`` and ``back`` as arguments; ``-m "fix #12"`` and ``a#b`` keep theirs.
    """
    quote, escaped, word_starts = "", False, True
    for at, char in enumerate(line):
        if escaped:
            escaped, word_starts = False, False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote, word_starts = char, False
        elif char == "#" and word_starts:
            return line[:at]
        else:
            word_starts = char.isspace()
    return line


def _parse(magic: Callable[..., Any], line: str) -> Any:
    """Parse a magic's line with its ``magic_arguments`` parser, shell-style (quotes removed,
    a trailing ``# comment`` ignored)."""
    try:
        words = shlex.split(_without_comment(line))
    except ValueError as exc:
        raise UsageError(f"Cannot parse {line!r}: {exc}.") from None
    return magic.parser.parse_args(words)


def _parse_metric(text: str) -> tuple:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise UsageError(f"--metric wants NAME=VALUE, got {text!r}.")
    try:
        number: Any = int(value)
    except ValueError:
        try:
            number = float(value)
        except ValueError:
            raise UsageError(f"--metric {name}: {value!r} is not a number.") from None
    return name, number


def _cell_number(shell: Any) -> Optional[int]:
    """The ``In[n]`` of the cell running now: the number its input was stored under in the
    history (IPython 9 has already advanced ``execution_count`` past it while the cell runs)."""
    history = getattr(shell, "history_manager", None)
    if history is not None and len(history.input_hist_raw) > 1:
        return len(history.input_hist_raw) - 1
    return getattr(shell, "execution_count", None)


_HISTORY_DOC = """Version history when the first argument names a model; IPython's input history otherwise.

``%history MODEL [--all] [-n N] [-o VAR] [--csv PATH] [--widget]`` shows a model's versions
(see ``%nbv_history?``). Every other line is IPython's own ``%history``, documented below.

IPython's built-in %history
---------------------------
"""


@magics_class
class NbversionMagics(Magics):
    """Version the weights of live models from notebook cells."""

    repo_dir = Unicode(
        None, allow_none=True, config=True, help="Repository directory (default: nearest .nbversion/ from the working directory)."
    )

    def __init__(
        self,
        shell: Any = None,
        builtin_history: Optional[Callable[[str], Any]] = None,
        session: Optional[KernelSession] = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(shell, **kwargs)
        self._builtin_history = builtin_history
        self.session = session or KernelSession(shell.user_ns if shell is not None else {})
        self.session.repo_dir = self.repo_dir

    @observe("repo_dir")
    def _repo_dir_changed(self, change: Dict[str, Any]) -> None:
        self.session.repo_dir = change["new"]

    # -- helpers -------------------------------------------------------------------------------

    @property
    def repo(self) -> Repo:
        return self.session.repo

    @property
    def current(self) -> Dict[str, CID]:
        """Model name -> the version the live model is at."""
        return self.session.current

    def _models_in_namespace(self) -> Dict[str, Any]:
        return models_in(self.shell.user_ns)

    def _model(self, name: Optional[str], usage: str = "%commit_weights MODEL") -> tuple:
        """The model variable ``name``, or the only model in the namespace; ``usage`` is the
        command to suggest when there is more than one (or none)."""
        if name is None:
            candidates = self._models_in_namespace()
            if len(candidates) != 1:
                listed = ", ".join(sorted(candidates)) or "none found"
                raise UsageError(f"Which model? Name it: {usage}. Candidates: {listed}.")
            name = next(iter(candidates))
        if name not in self.shell.user_ns:
            raise UsageError(f"No variable {name!r} in the notebook. Run the cell that defines it first.")
        return name, self.shell.user_ns[name]

    def _context(self) -> Dict[str, Any]:
        """Where this commit was made: notebook path, cell id, execution count and source."""
        ns = self.shell.user_ns
        notebook = ns.get("__vsc_ipynb_file__") or ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        history = getattr(self.shell, "history_manager", None)
        cell: Dict[str, Any] = {"execution_count": _cell_number(self.shell)}
        kernel = getattr(self.shell, "kernel", None)
        if kernel is not None:
            try:
                parent = kernel.get_parent("shell")
            except TypeError:  # older ipykernel
                parent = kernel.get_parent()
            cell_id = (parent or {}).get("metadata", {}).get("cellId")
            if cell_id:
                cell["id"] = cell_id
        if history is not None and history.input_hist_raw:
            cell["source"] = history.input_hist_raw[-1]
        context: Dict[str, Any] = {"cell": cell, "cwd": os.getcwd()}
        if notebook:
            context["notebook"] = str(notebook)
        return context

    def _run(self, func: Callable[[], Any]) -> Any:
        try:
            return func()
        except NbversionError as exc:
            raise UsageError(str(exc)) from None

    # -- %commit_weights -----------------------------------------------------------------------

    @magic_arguments()
    @argument("model", nargs="?", help="variable holding the model (default: the only model in the namespace)")
    @argument("-m", "--message", default="", help="what this version is")
    @argument("--metric", action="append", default=[], metavar="NAME=VALUE", help="a metric to record (repeatable)")
    @argument("--metrics-from", metavar="VAR", help="a dict (or Keras History) of metrics to record")
    @argument("--tag", help="tag the new version")
    @argument("--branch", help="commit to this branch (created if new)")
    @argument("--with-optimizer", nargs="?", const=True, default=None, metavar="VAR",
              help="store optimizer state too (Keras: the model's; PyTorch: name the optimizer variable)")  # fmt: skip
    @argument("--allow-empty", action="store_true",
              help="commit even if the weights are unchanged since the version the model is at")  # fmt: skip
    @argument("--data", action="append", default=[], metavar="ROLE=REF_OR_VAR",
              help="link a data version it was trained or evaluated on: a ref, or a variable committed with %%commit_data (repeatable)")  # fmt: skip
    @line_magic
    def commit_weights(self, line: str) -> None:
        """Store the live model's weights as a new version whose parent is the version it is at."""
        args = _parse(self.commit_weights, line)
        name, model = self._model(args.model)
        metrics: Dict[str, Any] = {}
        if args.metrics_from:
            if args.metrics_from not in self.shell.user_ns:
                raise UsageError(f"--metrics-from: no variable {args.metrics_from!r}.")
            metrics.update(self._run(lambda: metrics_from(self.shell.user_ns[args.metrics_from])))
        metrics.update(dict(_parse_metric(m) for m in args.metric))
        optimizer: Any = args.with_optimizer
        if isinstance(optimizer, str):
            if optimizer not in self.shell.user_ns:
                raise UsageError(f"--with-optimizer: no variable {optimizer!r}.")
            optimizer = self.shell.user_ns[optimizer]
        context = self._context()
        provenance = self._provenance(context)
        data = self._data_links(args.data)
        report = self._run(
            lambda: self.session.commit(
                name, model, args.message, metrics, branch=args.branch, tag=args.tag, context=context,
                optimizer=optimizer, allow_empty=args.allow_empty, data=data, **provenance,
            )  # fmt: skip
        )
        display(present.commit_view(report))

    def _provenance(self, context: Dict[str, Any]) -> Dict[str, Any]:
        """What a commit from this kernel records besides its content: ``code``, the notebook (the
        file, else the kernel's inputs: see :mod:`.code`) as (JSON bytes, committing cell id), with
        ``context["code_source"]`` saying which; and ``environment``, this process's."""
        history = getattr(self.shell, "history_manager", None)
        inputs = list(history.input_hist_raw[1:]) if history is not None else []
        captured = notebook_code(inputs, context.get("notebook"), context["cell"].get("id"), context["cwd"])
        if captured is not None:
            context["code_source"] = captured.source
        code = (captured.notebook, captured.cell) if captured is not None else None
        return {"code": code, "environment": current_environment()}

    # -- %commit_data and data links ----------------------------------------------------------

    @magic_arguments()
    @argument("name", help="the data set's name (data sets and models share one namespace of names)")
    @argument("items", nargs="+", metavar="VAR_OR_PATH",
              help="variables holding NumPy arrays or pandas DataFrames, or paths of files or folders")  # fmt: skip
    @argument("-m", "--message", default="", help="what this version is")
    @argument("--tag", help="tag the new version")
    @line_magic
    def commit_data(self, line: str) -> None:
        """Store arrays, DataFrames, files and folders as a new version of a data set (its parent is
        the data set's current version). Data equal to that version's is not committed again."""
        args = _parse(self.commit_data, line)
        items: Dict[str, Any] = {}
        for word in args.items:
            if word in self.shell.user_ns:
                items[word] = self.shell.user_ns[word]
            elif os.path.exists(word):
                relative = os.path.normpath(word)
                inside = not os.path.isabs(word) and not relative.startswith("..")
                items[relative.replace(os.sep, "/") if inside else os.path.basename(relative)] = word
            else:
                raise UsageError(f"{word!r} is neither a variable nor a file or folder here.")
        context = self._context()
        provenance = self._provenance(context)
        version = self._run(lambda: self.session.commit_data(args.name, items, args.message, tag=args.tag, context=context,
                                                             **provenance))  # fmt: skip
        print(present.data_commit_text(version))

    def _data_links(self, words: Any) -> Dict[str, Any]:
        """``--data ROLE=REF_OR_VAR`` as {role: data version}: a variable committed with
        ``%commit_data`` in this kernel (and unchanged since) gives its version, else the word is a ref."""
        links: Dict[str, Any] = {}
        for word in words:
            role, sep, target = word.partition("=")
            if not sep or not role or not target:
                raise UsageError(f"--data wants ROLE=REF_OR_VAR (e.g. train=digits), got {word!r}.")
            if target in self.shell.user_ns and not self._run(lambda: self.repo.exists and target in self.repo.models()):
                cid = self.session.data_version_of(self.shell.user_ns[target])
                if cid is None:
                    raise UsageError(
                        f"--data {word}: variable {target!r} holds no data committed in this kernel (or it changed "
                        f"since). Commit it first: %commit_data NAME {target}"
                    )
                links[role] = cid
            else:
                links[role] = target
        return links

    def _data_to_restore(self, ref: str, name: str, force: bool = False) -> list:
        """Everything ``--with-data`` restores, read and checked before anything changes: per role,
        (role, data version, {variable: value}, {item: path}) for each data version ``ref`` links.
        A file on disk that differs from the version is refused unless ``force``."""
        version = self._run(lambda: self.repo.show(ref, name))
        plans, seen = [], {}
        for role, cid in sorted(version.data.items()):
            opened = self._run(lambda: self.repo.open(cid))
            values, paths = {}, {}
            for item, entry in opened.entries.items():
                if entry.type in ("file", "folder"):
                    paths[item] = opened.paths.get(item, item)
                    continue
                variable = item if item.isidentifier() else item.replace("/", "_").replace(".", "_")
                if variable in seen:
                    raise UsageError(f"Data versions {seen[variable]} and {role} both hold {variable!r}; restore them "
                                     "one at a time with `repo.load_data(REF)`.")  # fmt: skip
                seen[variable] = role
                values[variable] = self._run(lambda: opened[item])
            for item, path in paths.items():  # a path that exists must hold the version's content already
                report = self._run(lambda: opened.verify(item, path)) if os.path.exists(path) else None
                if report is not None and report.changed and not force:
                    raise UsageError(f"{path} differs from {opened.version.model} {opened.version.label}'s item {item!r} "
                                     f"({', '.join(report.changed[:3]) or 'its content'}); move it away (nothing was "
                                     "changed), or add --force to overwrite it with the version's.")  # fmt: skip
                if report is None or report.changed:  # what else restoring would refuse (a folder where a file goes...)
                    self._run(lambda: opened.check_restore(item, path, force=force))
            plans.append((role, opened, values, paths))
        return plans

    def _restore_data(self, plans: list, force: bool = False) -> None:
        for role, opened, values, paths in plans:
            self.shell.user_ns.update(values)
            self.session.remember_data(values, opened.version.cid)  # so --data ROLE=VAR names it again
            for item, path in paths.items():  # files already there with the same bytes are left alone
                self._run(lambda: opened.restore(item, path, force=force))
        if plans:
            print(present.data_checkout_text([(role, o.version, [*values, *paths]) for role, o, values, paths in plans]))

    # -- %checkout -----------------------------------------------------------------------------

    @magic_arguments()
    @argument("ref", nargs="?", help="CID or prefix, tag, MODEL~N, vN, a branch, HEAD (with --pinned: the model)")
    @argument("model", nargs="?", help="variable holding the model (default: the only model in the namespace)")
    @argument("--pinned", action="store_true",
              help="load the version the notebook pins the model to (its metadata.nbversion.pins, or a run's pins)")  # fmt: skip
    @argument("--with-optimizer", nargs="?", const=True, default=None, metavar="VAR", help="restore optimizer state too")
    @argument("--from", dest="remote", metavar="REMOTE",
              help="load a CID that is not here from this remote (default: the repository's only remote)")  # fmt: skip
    @argument("--with-data", action="store_true",
              help="also restore the data versions it links: arrays and tables as variables, files and folders on disk")  # fmt: skip
    @argument("--force", action="store_true",
              help="with --with-data: overwrite files on disk that differ from the data version")  # fmt: skip
    @line_magic
    def checkout(self, line: str) -> None:
        """Load a version into the live model, in place; refuses (changing nothing) if it does not fit.
        A CID that is only on a remote is loaded from it, fetching just the tensors the model lacks."""
        args = _parse(self.checkout, line)
        if args.force and not args.with_data:
            raise UsageError("--force goes with --with-data: it lets the data restored overwrite files that differ.")
        name, model = self._checkout_target(args)
        optimizer: Any = args.with_optimizer
        if isinstance(optimizer, str):
            optimizer = self.shell.user_ns.get(optimizer) or optimizer

        def load(progress: Callable[[int], None]) -> Any:  # what comes from a remote shows its progress
            with self.repo.fetch_progress(progress):
                if args.remote:  # the version's record now; its tensors as the checkout reads them
                    self.repo.locate(args.ref, name, remote=args.remote)
                plans = self._data_to_restore(args.ref, name, args.force) if args.with_data else []  # all checked first
                return self.session.checkout(args.ref, name, model, optimizer=optimizer), plans

        report, plans = self._transfer("fetch", load)
        print(present.checkout_text(report))
        self._restore_data(plans, args.force)

    # -- pins (metadata.nbversion.pins; nbversion.notebooks.pins) ------------------------------

    bridge: Any = None  # the panel's comm bridge, in a Jupyter kernel (set by load_ipython_extension)

    def _notebook_file(self) -> Optional[str]:
        """The notebook file this kernel runs, where the kernel can tell (the same places as the
        context of a commit), or None."""
        ns = self.shell.user_ns
        notebook = ns.get("__vsc_ipynb_file__") or ns.get("__session__") or os.environ.get("JPY_SESSION_NAME")
        if not notebook:
            return None
        if not os.path.isabs(notebook) and not os.path.exists(notebook):  # a path from the server's root
            here = os.path.basename(notebook)
            return here if os.path.exists(here) else notebook
        return str(notebook)

    def _checkout_target(self, args: Any) -> tuple:
        """The model ``%checkout`` loads into, and (with ``--pinned``) ``args.ref`` set to the CID the
        notebook pins it to (copied in from the run's source repository if this one lacks it)."""
        if not args.pinned:
            if args.ref is None:
                raise UsageError("%checkout REF [MODEL], or %checkout --pinned [MODEL]")
            return self._model(args.model, f"%checkout {args.ref} MODEL")
        if args.model is not None:
            raise UsageError("%checkout --pinned [MODEL] takes no ref: the notebook's pin is the ref.")
        name, model = self._model(args.ref, "%checkout --pinned MODEL")
        args.ref = self._run(lambda: pins.pin_for(name, self._notebook_file()))
        if not args.remote:
            self._run(lambda: pins.ensure_version(self.repo, args.ref, name))
        return name, model

    def _pin(self, rest: str) -> None:
        """%nbversion pin REF MODEL: pin the notebook to a version of MODEL (metadata.nbversion.pins),
        through the JupyterLab panel when one is attached to this kernel, else in the notebook file."""
        words = shlex.split(rest)
        if len(words) != 2:
            raise UsageError("%nbversion pin REF MODEL")
        ref, model = words
        version = self._run(lambda: self.repo.show(ref, model))
        if version.model != model:
            raise UsageError(f"{ref} is a version of {version.model!r}, not of {model!r}.")
        notebook = self._notebook_file()
        if self.bridge is not None and self.bridge.send_pin(model, version.cid, notebook):
            print(present.clean(f"Pinned {model} to {version.label} ({version.cid}) in the open notebook, through the "
                                "JupyterLab panel (it updates metadata.nbversion.pins and saves the notebook)."))  # fmt: skip
            return
        if pins.env_pins() is not None:
            raise UsageError("This kernel runs under `nbversion run`/`reproduce`, which never changes the source "
                             "notebook; pin with `nbversion pin NOTEBOOK MODEL=REF` instead.")  # fmt: skip
        if notebook is None:
            raise UsageError("This kernel does not know its notebook file, so there is nothing to pin in. "
                             f"From a shell: nbversion pin NOTEBOOK.ipynb {model}={version.cid}")  # fmt: skip
        self._run(lambda: pins.set_pins(notebook, {model: str(version.cid)}))
        print(present.clean(f"Pinned {model} to {version.label} ({version.cid}) in {notebook} (metadata.nbversion.pins). "
                            "If the notebook is open in an editor, reload it before saving, or the editor's copy wins."))  # fmt: skip

    # -- %history / %nbv_history ---------------------------------------------------------------

    @line_magic("history")
    def history(self, line: str = "") -> Any:
        first = line.split()[0] if line.strip() else ""
        if first and not first.startswith("-") and self._is_model_name(first):
            return self.nbv_history(line)
        if self._builtin_history is None:
            raise UsageError("IPython's built-in %history is not available here.")
        return self._builtin_history(line)

    history.__doc__ = _HISTORY_DOC + (HistoryMagics.history.__doc__ or "")

    def _is_model_name(self, name: str) -> bool:
        if name in self.current:
            return True
        value = self.shell.user_ns.get(name)
        if value is not None and is_model(value):
            return True
        return self.repo.exists and name in self.repo.models()  # a model or data set with versions here

    @magic_arguments()
    @argument("model", nargs="?", help="model variable or model name (default: the only model)")
    @argument("--all", action="store_true", help="every version on every branch, not just the lineage")
    @argument("-n", type=int, default=None, help="show at most N versions")
    @argument("-o", dest="output", metavar="VAR", help="store the table as a pandas DataFrame in VAR")
    @argument("--csv", metavar="PATH", help="write the table to a CSV file")
    @argument("--widget", action="store_true", help="an interactive tree (ipywidgets) with load and compare")
    @line_magic
    def nbv_history(self, line: str = "") -> None:
        """The lineage of a model's versions, newest first, with one column per metric."""
        args = _parse(self.nbv_history, line)
        name = args.model
        if name is None:
            tracked = list(self.current) or self._run(lambda: self.repo.models())
            if len(tracked) != 1:
                raise UsageError(f"Which model? Candidates: {', '.join(tracked) or 'none yet'}.")
            name = tracked[0]
        if args.widget:
            from .widgets import VersionTree

            display(self._run(lambda: VersionTree(self.session, name)))
            return
        current = self.current.get(name)
        if args.all:
            versions = self._run(lambda: self.repo.log(name))
        elif current is not None:
            versions = self._run(lambda: self.repo.history(name, ref=current))
        else:
            versions = self._run(lambda: self.repo.history(name)) if name in self.repo.models() else []
        if current is None and versions:
            current = self._run(lambda: self.repo.head(name)[1])
        shown = versions[: args.n] if args.n else versions
        table = present.HistoryTable(
            name, shown, current, remotes=self._run(lambda: self.repo.remote_states()),
            labels=self._run(lambda: present.data_labels(self.repo, shown)),
            items=self._run(lambda: present.data_items(self.repo, shown)),
        )  # fmt: skip
        if args.output or args.csv:
            frame = table.to_dataframe()
            if args.output:
                self.shell.user_ns[args.output] = frame
            if args.csv:
                frame.to_csv(args.csv, index=False)
        display(table)

    # -- %nbversion ----------------------------------------------------------------------------

    @line_magic
    def nbversion(self, line: str = "") -> None:
        """%nbversion status | log [MODEL] | show [--code] REF [MODEL] | diff A B [MODEL] | env-diff A B [MODEL]
        | tag NAME [REF] [MODEL] | push [REF] --to REMOTE | pull CID --from REMOTE | watch TOPIC [--from REMOTE] [--stop]
        | pin REF MODEL"""
        line = _without_comment(line)
        words = line.split()
        if not words:
            raise UsageError(self.nbversion.__doc__ or "")
        sub, rest = words[0], line.strip()[len(words[0]) :]
        handler = {
            "status": self._status, "log": self._log, "show": self._show, "diff": self._diff, "tag": self._tag,
            "env-diff": self._env_diff, "push": self._push, "pull": self._pull, "watch": self._watch,
            "pin": self._pin,
        }.get(sub)  # fmt: skip
        if handler is None:
            raise UsageError(f"Unknown %nbversion command {sub!r}. {self.nbversion.__doc__}")
        handler(rest)

    def _status(self, rest: str) -> None:
        names = sorted(set(self.current) | set(self._models_in_namespace()))
        print(present.status_text(self.repo.path, self._run(lambda: self.session.status(names))))

    def _log(self, rest: str) -> None:
        """Every version of a model, or (no model named, several tracked) of every model, as the CLI's log."""
        words = rest.split()
        if words and not words[0].startswith("-"):
            self.nbv_history((rest + " --all").strip())
            return
        models = self._run(lambda: self.repo.models()) if self.repo.exists else []
        if len(models) == 1:
            self.nbv_history((f"{models[0]} {rest}" + " --all").strip())
            return
        n = _parse(self.nbv_history, rest).n
        versions = self._run(lambda: self.repo.log())
        display(present.HistoryTable(None, versions[:n] if n else versions, with_model=True))

    def _show(self, rest: str) -> None:
        words = rest.split()
        with_code = "--code" in words
        words = [w for w in words if w != "--code"]
        if not words:
            raise UsageError("%nbversion show [--code] REF [MODEL]")
        model = words[1] if len(words) > 1 else None
        version = self._run(lambda: self.repo.show(words[0], model))
        if version.kind == "data" and not with_code:  # its items and their summaries
            print(present.data_version_text(version, list(self._run(lambda: self.repo.open(version)).entries.values())))
            return
        code = self._run(lambda: self.repo.code(version))
        if with_code:
            print(present.code_text(version, code))
            return
        environment = self._run(lambda: self.repo.environment(version))
        manifest = self._run(lambda: self.repo.manifest(version))
        print(present.version_text(version, manifest, present.provenance_lines(version, code, environment)))

    def _env_diff(self, rest: str) -> None:
        words = rest.split()
        if len(words) not in (2, 3):
            raise UsageError("%nbversion env-diff A B [MODEL]")
        model = words[2] if len(words) == 3 else None
        print(present.env_diff_text(self._run(lambda: self.repo.env_diff(words[0], words[1], model))))

    def _diff(self, rest: str) -> None:
        words = rest.split()
        if len(words) not in (2, 3):
            raise UsageError("%nbversion diff A B [MODEL]")
        model = words[2] if len(words) == 3 else None
        diffs = self._run(lambda: self.repo.diff(words[0], words[1], model))
        print(present.diff_text(diffs))

    def _tag(self, rest: str) -> None:
        words = rest.split()
        if not words or len(words) > 3:
            raise UsageError("%nbversion tag NAME [REF] [MODEL]")
        ref = words[1] if len(words) > 1 else None
        model = words[2] if len(words) > 2 else None
        if ref is None:
            tracked = list(self.current)
            if len(tracked) != 1:
                raise UsageError("%nbversion tag NAME REF [MODEL]: which version?")
            ref, model = str(self.current[tracked[0]]), tracked[0]
        cid = self._run(lambda: self.repo.tag(words[0], ref, model))
        print(present.tag_line(words[0], cid))


    def _push(self, rest: str) -> None:
        """%nbversion push [REF] --to REMOTE [--via NODE] [--no-wait] [--progress]: the version (default: where the
        only tracked model is) and its history onto an IPFS node, pinned there (or, for a pinning
        service, onto its node, then pinned by the service)."""
        parser = MagicArgumentParser(prog="%nbversion push", add_help=False)
        parser.add_argument("ref", nargs="?")
        parser.add_argument("--to", dest="remote", required=True)
        parser.add_argument("--progress", action="store_true")
        parser.add_argument("--via", help="for a pinning service: the IPFS node the blocks go to")
        parser.add_argument("--no-wait", action="store_true", help="for a pinning service: ask, do not wait for the pin")
        args = parser.parse_args(shlex.split(rest))
        ref, model = args.ref, None
        if ref is None and len(self.current) == 1:
            (model, at), = self.current.items()
            ref = str(at)
        if self.repo.remote(args.remote).kind == "pinning":  # through its node, then pinned by the service
            pinned = self._transfer("push", lambda progress: self.repo.pin_remote(
                ref, args.remote, via=args.via, model=model, wait=not args.no_wait, progress=progress),
                args.progress)  # fmt: skip
            print(present.pin_report_text(pinned, "!nbversion"))
            return
        report = self._transfer("push", lambda progress: self.repo.push(ref, args.remote, model, progress=progress),
                                args.progress)  # fmt: skip
        print(present.push_text(report))

    def _pull(self, rest: str) -> None:
        """%nbversion pull CID --from REMOTE [--progress]: fetch a version from an IPFS node, verified, and keep it."""
        parser = MagicArgumentParser(prog="%nbversion pull", add_help=False)
        parser.add_argument("cid")
        parser.add_argument("--from", dest="remote", required=True)
        parser.add_argument("--progress", action="store_true")
        args = parser.parse_args(shlex.split(rest))
        report = self._transfer("pull", lambda progress: self.repo.pull(args.cid, args.remote, progress=progress),
                                args.progress)  # fmt: skip
        print(present.pull_text(report))

    def _watch(self, rest: str) -> None:
        """%nbversion watch TOPIC [--from REMOTE] [--stop]: list, in one output that updates while
        cells run, each version peers announce on TOPIC once it is fetched and verified (and tell
        the panel); --stop ends the watch (of TOPIC, or every watch when no topic is named)."""
        from .watching import Watch

        parser = MagicArgumentParser(prog="%nbversion watch", add_help=False)
        parser.add_argument("topic", nargs="?")
        parser.add_argument("--from", dest="remote", metavar="REMOTE")
        parser.add_argument("--stop", action="store_true")
        args = parser.parse_args(shlex.split(rest))
        watches = self.session.watches
        if args.stop:
            if args.topic is not None and args.topic not in watches:
                running = ", ".join(sorted(watches)) or "none"
                raise UsageError(f"No watch of topic {args.topic!r} runs in this kernel (running: {running}).")
            for topic in [args.topic] if args.topic is not None else sorted(watches):
                watch = watches[topic]
                watch.stop()
                print(present.watch_view(topic, watch.remote, watch.events, running=False).text.splitlines()[0])
            return
        if args.topic is None:
            raise UsageError("%nbversion watch TOPIC [--from REMOTE] [--stop]")
        if args.topic in watches:
            raise UsageError(f"Topic {args.topic!r} is watched already; `%nbversion watch {args.topic} --stop` ends it.")
        remote = args.remote or self._run(lambda: self.repo.default_remote())
        if not remote:
            names = ", ".join(r.name for r in self._run(lambda: self.repo.remotes()) if r.kind == "ipfs") or "none yet"
            raise UsageError(f"Which IPFS node should be watched? Name it with --from REMOTE (this repository's remotes: {names}).")
        watch = Watch(self.session, args.topic, remote)
        self._run(watch.start)  # subscribed (or refused, e.g. a node without pubsub) before the cell ends
        watch.attach(display(watch.view(), display_id=True).update)

    def _transfer(self, verb: str, run: Callable[[Callable[[int], None]], Any], at_once: bool = False) -> Any:
        """``run(progress)`` with a progress display that updates in place. It appears once the
        transfer has taken half a second (a push or pull of a few MiB shows none), or at once
        with ``--progress``."""
        shown = present.TransferProgress(verb, delay=0.0 if at_once else 0.5)
        handle: Any = None

        def progress(n: int) -> None:
            nonlocal handle
            shown.add(n)
            if shown.due():
                if handle is None:
                    handle = display(shown.view(), display_id=True)
                else:
                    handle.update(shown.view())

        try:
            return self._run(lambda: run(progress))
        finally:
            if handle is not None:
                handle.update(shown.view(finished=True))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext nbversion``: register the magics (keeping the built-in %history reachable)
    and, in a Jupyter kernel, open the comm the JupyterLab panel listens on."""
    builtin = ipython.find_line_magic("history")
    if getattr(builtin, "__self__", None).__class__.__name__ == "NbversionMagics":
        builtin.__self__.session.stop_watches()  # loaded again: the old session's watches end
        builtin = builtin.__self__._builtin_history  # loaded twice: keep the real built-in
    session = KernelSession(ipython.user_ns)
    magics = NbversionMagics(ipython, builtin_history=builtin, session=session)
    ipython.register_magics(magics)
    # The environment each commit records, described now (~0.1 s: every installed distribution,
    # the GPUs) while the user reads, so the first commit does not wait for it.
    threading.Thread(target=current_environment, name="nbversion-environment", daemon=True).start()
    if getattr(ipython, "kernel", None) is not None:
        from .bridge import Bridge

        magics.bridge = Bridge(session)
        magics.bridge.open()
