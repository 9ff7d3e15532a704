"""What a notebook shows: HTML and PNG reprs of images, stacks, folders, metadata and results.

The modules here are imported only when a notebook (or a test) asks for a repr, so
``import stonerimg`` stays light; optional widget support (ipywidgets, ipympl) is
imported inside the functions that need it, never at package import.
"""
