"""Sphinx configuration of the stonerimg documentation site.

Build it with ``python -m sphinx -W --keep-going -b html doc build/html`` (after
``pip install '.[docs]'``).  The pages are MyST Markdown, the same files pytest runs
as doctests; notebooks in ``notebooks/`` are executed at build time.
"""

import os
from datetime import date

import matplotlib

matplotlib.use("Agg")

import stonerimg  # noqa: E402

project = "stonerimg"
author = "The stonerimg developers"
copyright = f"{date.today().year}, {author}"  # noqa: A001 - Sphinx's name
release = stonerimg.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "conftest.py"]
root_doc = "index"

myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("STONERIMG_DOCS_EXECUTE", "auto")
nb_execution_timeout = 300
nb_execution_raise_on_error = True

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()

intersphinx_mapping = {}  # no network at build time: links to other projects stay plain text

html_theme = "pydata_sphinx_theme"
html_title = f"stonerimg {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 8,  # the eight short section titles of index.md fit one line at 1280 px
    "show_toc_level": 1,
}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
#: Pages that head no section of their own show no (empty) left column.
html_sidebars = {page: [] for page in ("index", "getting-started", "live")}

# The sample instrument files the figures are made from (skipped where absent).
_sample_data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
if "STONERIMG_SAMPLE_DATA" not in os.environ and os.path.isdir(_sample_data):
    os.environ["STONERIMG_SAMPLE_DATA"] = os.path.normpath(_sample_data)


def _fence_doctests(app, docname, source):
    """Show each run of ``>>>`` lines (a doctest block, ended by a blank line) as a Python console block.

    The pages keep bare doctest blocks so that pytest runs them; Markdown would
    otherwise join their lines into one paragraph.
    """
    if not app.env.doc2path(docname).suffix == ".md":
        return
    out, in_fence, in_block = [], False, False
    for line in source[0].splitlines():
        if line.lstrip().startswith(("```", ":::")):
            in_fence = not in_fence
        elif not in_fence and not in_block and line.startswith(">>>"):
            out.append("```pycon")
            in_block = True
        elif in_block and not line.strip():
            out.append("```")
            in_block = False
        out.append(line)
    if in_block:
        out.append("```")
    source[0] = "\n".join(out) + "\n"


def setup(app):
    """Register the doctest-block hook."""
    app.connect("source-read", _fence_doctests)
