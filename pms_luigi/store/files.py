"""Reference files under the config folder: limits, stress scenarios, proposal policy,
and the instrument/strategy master CSVs. Read on demand; the caller passes the folder."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def limits(config_dir: Path) -> pd.DataFrame:
    return pd.read_csv(config_dir / "limits.csv")


def stress_scenarios(config_dir: Path) -> dict[str, Any]:
    return json.loads((config_dir / "stress_scenarios.json").read_text())


def proposal_policy(config_dir: Path) -> dict[str, Any]:
    return json.loads((config_dir / "proposal_policy.json").read_text())
