"""``python -m pms_luigi.cli``: the same as the ``pms-luigi`` command (used by the cron scripts)."""
import sys

from pms_luigi.cli.main import main

sys.exit(main())
