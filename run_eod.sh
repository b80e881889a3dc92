#!/usr/bin/env bash
# End-of-day run (cron 18:00 America/Sao_Paulo): MarkToMarket + PerformanceAttribution for
# today's business date.  Usage: run_eod.sh [--date YYYY-MM-DD] [--wait-until HH:MM]
# Exit codes (pms_luigi.core.errors.ExitCode; docs/operations.md): 0 ok or not a business
# day, 1 a step failed, 2 bad request (bad date, unknown option), 3 input data missing (with
# --wait-until: polled until then), 4 already running (lock held, or another run built the
# step), 5 Redis unavailable after the DB commit (DB results stand), 6 database unavailable
# (after the [pms_retry] retries), 7 scheduling error, 8 bad input.
# An expected failure is one line on stderr and in <data_dir>/logs/<kind>-<date>.log.
set -uo pipefail
cd "$(dirname "$0")"
PY="${PMS_PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}"
export LUIGI_CONFIG_PATH="${LUIGI_CONFIG_PATH:-$PWD/luigi.cfg}"
exec "$PY" -m pms_luigi.cli cron eod "$@"
