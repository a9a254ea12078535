"""coursekit: the helper library of a deep-learning course in JupyterLab notebooks.

Modules (each named for what it holds):

- ``data``        MNIST / Fashion-MNIST from IDX files, offline-first, checksummed
- ``devices``     choosing cpu / cuda / mps, with a clear fallback
- ``checks``      the verdicts the notebooks' test cells print or raise
- ``interactive`` is there a live front end? (widgets degrade to static pictures headless)
- ``surfaces``    2-D test functions with gradients and Hessians (notebooks 01 and 03)
- ``plots``       contour + paths, 3-D surfaces, image grids
- ``grading``     the autograding pipeline behind ``coursekit autograde``
- ``cli``         the ``coursekit`` command

Notebook-specific widgets live in modules named for them (``explorer``, ``race``,
``gradflow``, ``stepper``, ``training``).
"""

__version__ = "0.1.0"
