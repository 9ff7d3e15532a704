"""The notebook side of stonerimg: reprs, drawing, masks, selections and viewers.

The modules here are imported only when they are used (a repr asked for, a selector
drawn), so ``import stonerimg`` stays light; the selectors and viewers need the
``notebook`` extra (``pip install "stonerimg[notebook]"``) only for their widgets, which
are imported inside the functions that need them, never at package import.
"""
