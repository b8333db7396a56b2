"""The shipped accuracy archives (NetCDF), installed as the data package ``moo_snn.surrogates``.

This file only makes the folder a package so that :func:`importlib.resources.files` finds it in
wheels and editable installs alike (as scikit-learn's ``sklearn/datasets/data/__init__.py``);
``pyproject.toml`` maps ``surrogates/`` onto ``moo_snn.surrogates``. Read them through
:mod:`moo_snn.resources`.
"""
