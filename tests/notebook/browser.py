"""Headless Chromium for tests that look at pages as a person does (Debian's chromium + chromium-driver, Selenium)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

#: Flags for a quiet, private, offline headless browser.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


def find_chromium() -> tuple[str, str] | None:
    """``(browser, driver)`` paths, or None where either is missing."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def start_chromium(width: int = 1280, height: int = 900):
    """Start a headless Chromium with a fresh profile; skip the test (with the reason) where none can run."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install '.[test]')")
    found = find_chromium()
    if found is None:
        pytest.skip("no chromium/chromedriver on this machine (apt-get install chromium chromium-driver)")
    browser, driver_path = found
    profile = tempfile.mkdtemp(prefix="stonerimg-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver._stonerimg_profile = profile
    return driver


def stop_chromium(driver) -> None:
    """Quit the browser and remove its profile."""
    profile = getattr(driver, "_stonerimg_profile", None)
    try:
        driver.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def save_screenshot(driver, element, path: Path, max_width: int = 900) -> Path:
    """Save a PNG of one element, scaled down to at most ``max_width`` pixels wide (small files for the docs)."""
    import io

    from PIL import Image

    picture = Image.open(io.BytesIO(element.screenshot_as_png))
    if picture.width > max_width:
        picture = picture.resize((max_width, round(picture.height * max_width / picture.width)), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    picture.convert("RGB").save(path, optimize=True)
    return path
