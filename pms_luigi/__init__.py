"""pms-luigi: the daily batch of a Brazilian global-macro fund's Portfolio Management System.

Layers, from the bottom (each imports only the ones below it; ``lint-imports`` checks it):
:mod:`~pms_luigi.core` (pure finance), :mod:`~pms_luigi.store` / :mod:`~pms_luigi.cache` /
:mod:`~pms_luigi.report` (adapters), :mod:`~pms_luigi.pipeline` (the Luigi tasks),
:mod:`~pms_luigi.ops` (running them), :mod:`~pms_luigi.cli` (the ``pms-luigi`` command);
:mod:`~pms_luigi.demo` generates the synthetic fund. ``luigi --module pms_luigi.tasks``
loads the tasks.
"""
