"""The documentation site as a person sees it at 1280 px: measured in headless Chromium.

The site is ``$STONERIMG_DOCS_HTML``: ``.ci/run`` points it at the site it has just built
(building it here would double the time of the test suite).  Screenshots of three pages go to
``$STONERIMG_SCREENSHOTS`` or a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .browser import start_chromium, stop_chromium

WIDTH = 1280
PAGES = ["index.html", "functions-geometry.html", "generated/stonerimg.ImageArray.html", "notebook.html"]


@pytest.fixture(scope="module")
def site() -> Path:
    given = os.environ.get("STONERIMG_DOCS_HTML")
    if not given:
        pytest.skip(
            "no built site: set STONERIMG_DOCS_HTML to one (the README's docs command builds build/html; "
            ".ci/run checks the site it builds)"
        )
    path = Path(given).resolve()  # file URIs need an absolute path
    if not (path / "index.html").exists():
        pytest.fail(f"STONERIMG_DOCS_HTML={given} holds no built site (no index.html)")
    return path


@pytest.fixture(scope="module")
def browser():
    driver = start_chromium(WIDTH, 900)
    yield driver
    stop_chromium(driver)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("STONERIMG_SCREENSHOTS")
    return Path(folder) if folder else tmp_path_factory.mktemp("screenshots")


def _open(browser, site: Path, page: str):
    path = site / page
    assert path.exists(), f"{page} is not in the built site"
    browser.set_window_size(WIDTH, 900)
    browser.get(path.as_uri())
    assert browser.execute_script("return window.innerWidth") == WIDTH


@pytest.mark.parametrize("page", PAGES)
def test_top_navigation_fits_one_line(page, site, browser):
    _open(browser, site, page)
    items = browser.execute_script(
        "return Array.from(document.querySelectorAll('.bd-header .navbar-header-items__center .navbar-nav > li'))"
        ".filter(e => e.offsetParent !== null)"
        ".map(e => {const r = e.getBoundingClientRect(); return [e.innerText.trim(), r.top, r.bottom, r.right];});"
    )
    assert len(items) >= 6, items
    tops = {round(top) for _, top, _, _ in items}
    assert len(tops) == 1, f"the top navigation wraps onto {len(tops)} lines: {items}"
    assert all(text and "\n" not in text for text, *_ in items)  # no entry breaks inside itself
    assert max(right for *_, right in items) <= WIDTH
    # the search button sits beside the entries, not on a line of its own below them
    search = browser.execute_script(
        "const e = document.querySelector('.bd-header .navbar-header-items__end');"
        "const r = e.getBoundingClientRect(); return [r.top, r.bottom];"
    )
    _, top, bottom, _ = items[0]
    assert search[0] < bottom and search[1] > top


@pytest.mark.parametrize("page", ["index.html", "getting-started.html", "live.html"])
def test_pages_without_sections_have_no_empty_left_column(page, site, browser):
    _open(browser, site, page)
    width = browser.execute_script(
        "const s = document.querySelector('.bd-sidebar-primary');"
        "return s && s.offsetParent !== null ? s.getBoundingClientRect().width : 0;"
    )
    assert width == 0


def test_section_pages_list_their_section(site, browser):
    _open(browser, site, "functions-geometry.html")
    links = browser.execute_script(
        "return Array.from(document.querySelectorAll('.bd-sidebar-primary nav a')).map(a => a.innerText.trim());"
    )
    assert {"Geometry", "Filters", "Fourier"} <= set(links)


@pytest.mark.parametrize("page", PAGES)
def test_code_and_tables_are_not_clipped(page, site, browser):
    _open(browser, site, page)
    clipped = browser.execute_script(
        "const bad = [];"
        "for (const e of document.querySelectorAll('.bd-article pre, .bd-article table, .bd-article img')) {"
        "  if (e.scrollWidth > e.clientWidth + 1) bad.push(e.tagName + ': ' + e.innerText.slice(0, 60));"
        "  let p = e.parentElement;"
        "  while (p && !p.classList.contains('bd-article')) {"
        "    if (p.scrollWidth > p.clientWidth + 1 && getComputedStyle(p).overflowX !== 'visible')"
        "      { bad.push(p.className + ' > ' + e.tagName + ': ' + e.innerText.slice(0, 60)); break; }"
        "    p = p.parentElement; }"
        "}"
        "for (const e of document.querySelectorAll('.bd-sidebar-primary a, .bd-sidebar-secondary a')) {"
        "  if (e.offsetParent === null) continue;"
        "  const side = e.closest('.bd-sidebar-primary, .bd-sidebar-secondary').getBoundingClientRect();"
        "  const r = e.getBoundingClientRect();"
        "  if (e.scrollWidth > e.clientWidth + 1 || r.right > side.right + 1) bad.push('side bar: ' + e.innerText);"
        "}"
        "return bad;"
    )
    assert clipped == []


def test_text_column_is_wide_enough_for_figures(site, browser):
    _open(browser, site, "functions-geometry.html")
    width = browser.execute_script("return document.querySelector('.bd-article').getBoundingClientRect().width")
    assert width >= 700
    figures = browser.execute_script(
        "return Array.from(document.querySelectorAll('.bd-article .cell_output img'))"
        ".map(i => [i.getBoundingClientRect().width, i.naturalWidth]);"
    )
    for shown, natural in figures:  # a panel of a figure is shown at most a little smaller than drawn
        assert shown >= min(natural, width) * 0.95


def test_screenshots_of_three_pages(site, browser, shots):
    from PIL import Image

    for page in (
        "index.html",
        "functions-geometry.html",
        "generated/stonerimg.ImageArray.html",
        "notebooks/stxm_xmcd.html",
    ):
        _open(browser, site, page)
        name = "docs-" + page.replace("generated/", "").replace("notebooks/", "").replace(".html", "") + ".png"
        # on a page with a notebook view, show it (the STXM notebook's thumbnail is round, not stretched)
        browser.execute_script(
            "const v = document.querySelector('.si-repr'); if (v) { v.scrollIntoView(); window.scrollBy(0, -200); }"
        )
        browser.save_screenshot(str(shots / name))
        with Image.open(shots / name) as picture:
            assert picture.width == WIDTH
            picture.convert("RGB").quantize(colors=128).save(shots / name, optimize=True)


def test_no_stray_matplotlib_reprs(site):
    """A cell ending in a plotting call shows the figure, not ``<matplotlib.image.AxesImage at 0x...>``."""
    stray = [
        str(page.relative_to(site))
        for page in site.rglob("*.html")
        if "&lt;matplotlib." in page.read_text(encoding="utf-8", errors="replace")
    ]
    assert stray == []
