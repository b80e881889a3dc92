"""Chromium driven by Selenium: Debian's ``chromium`` and ``chromium-driver`` packages
(``.ci/run`` installs them), headless, nothing downloaded (the driver's path is given, so
Selenium Manager is never asked). Used by the browser tests and
``scripts/console_screenshots.py``."""
from __future__ import annotations

import os
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path(os.environ.get("PMS_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("PMS_CHROMEDRIVER", "/usr/bin/chromedriver"))


def chromium(width: int = 1400, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium of ``width`` × ``height`` CSS pixels."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            raise RuntimeError(f"{path} is missing: apt-get install -y chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-extensions", "--no-first-run", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
