"""The notebook side of stonerimg: reprs, drawing, masks, selections and viewers.

Nothing here imports matplotlib or ipywidgets until it is used; the selectors and
viewers need the ``notebook`` extra (``pip install "stonerimg[notebook]"``) only
for their widgets.
"""
