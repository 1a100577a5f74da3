"""Notebooks as files: the versions a notebook is pinned to (``metadata.nbversion.pins``), running
a notebook headlessly from its pins (nbclient), and reproducing a version from the code it recorded.

This layer sits under the surfaces (the CLI runs notebooks through it; the magics read and write
pins through it) and over the repository's public API. It talks to kernels only through nbclient,
in another process: nothing here imports IPython, a framework or the Jupyter server.

=================  ==============================================================
module             what
=================  ==============================================================
``pins``           read_pins, set_pins, pin_for (a run's ``NBVERSION_PINS`` over the file's),
                   ensure_version / copy_version (a pinned version copied in from another repository)
``run``            run (``nbversion run``), execute (nbclient, cell ids sent as JupyterLab sends them)
``reproduce``      reproduce (``nbversion reproduce``): rerun recorded code in a scratch repository
=================  ==============================================================
"""
