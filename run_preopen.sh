#!/usr/bin/env bash
# Pre-open run (cron 06:00 America/Sao_Paulo): the book at the last close P, then proposals
# and the morning pack for today.  Usage: run_preopen.sh [--date YYYY-MM-DD] [--wait-until HH:MM]
# Exit codes: 0 ok or not a business day, 1 failed step, 3 missing input data,
# 4 already running, 5 Redis unavailable (DB results stand), 7 scheduling error.
set -uo pipefail
cd "$(dirname "$0")"
PY="${PMS_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export LUIGI_CONFIG_PATH="${LUIGI_CONFIG_PATH:-$PWD/luigi.cfg}"
exec "$PY" -m pms_luigi.cli cron preopen "$@"
