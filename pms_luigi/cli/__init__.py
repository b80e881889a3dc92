"""The ``pms-luigi`` command: the parser and dispatch in :mod:`pms_luigi.cli.main`, one module
per command group, the shared parts in :mod:`pms_luigi.cli.common`."""
