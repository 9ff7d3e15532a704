"""The figure helper of the documentation pages (imported by their hidden set-up cells)."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

#: Width and height (inches) of one panel: at the site's 100 dpi a panel is about 340 x 300 pixels,
#: so two or three side by side fit the page's text column without being shrunk.
PANEL = (3.4, 3.0)


def panels(*images, titles=(), columns=None, **kwargs):
    """Show images in a grid of at most three columns (two for four images) and return the figure."""
    n = len(images)
    columns = columns or (2 if n == 4 else min(n, 3))
    rows = math.ceil(n / columns)
    fig, axes = plt.subplots(
        rows, columns, figsize=(PANEL[0] * columns, PANEL[1] * rows), layout="constrained", squeeze=False
    )
    titles = list(titles) + [None] * (n - len(titles))
    for ax, image, title in zip(axes.flat, images, titles):
        image.imshow(ax=ax, title=title, **kwargs)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    return fig
