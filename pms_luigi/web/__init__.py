"""The desk console: one web application for the PM and operations (``pms-luigi serve``).

Tornado serves server-rendered pages (Jinja2, autoescaped, ``templates/``) with a little
script (``static/console.js``; the pages allow no inline script) and a JSON twin of every
view under ``/api``. It reads the stores through the functions the commands use — the
status grid of :mod:`pms_luigi.ops.status`, the decisions of :mod:`pms_luigi.ops.workflow`,
the reruns of ``pms-luigi rerun`` — and its own reads are in
:mod:`pms_luigi.store.console_queries`: no second source of truth.

Modules: :mod:`.app` (routes, templates, serving), :mod:`.settings` (``[pms_console]``,
the cookie secret), :mod:`.auth` (users file, scrypt hashes, roles), :mod:`.base` (sessions,
CSRF, errors, store calls), one module per view — :mod:`.login`, :mod:`.today`,
:mod:`.grid` (the grid and a cell), :mod:`.proposals`, :mod:`.packs`, :mod:`.reruns` — and
:mod:`.jobs` (the reruns' processes). docs/console.md says how to run it.
"""
