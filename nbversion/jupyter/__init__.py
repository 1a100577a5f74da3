"""Jupyter surfaces: IPython magics, the kernel side of the panel (a comm bridge), the server's
REST routes, inline widgets, and the kernel session they share.

Each is thin: it parses input, calls the repository or :mod:`nbversion.live` through the session,
and shows what :mod:`nbversion.present` renders. A new panel action is a bridge op here plus its
TypeScript in ``labextension/``.
"""
