"""The shipped problem files (TOML), installed as the data package ``moo_snn.problems``.

This file only makes the folder a package so that :func:`importlib.resources.files` finds it in
wheels and editable installs alike (as scikit-learn's ``sklearn/datasets/data/__init__.py``);
``pyproject.toml`` maps ``problems/`` onto ``moo_snn.problems``. Read them through
:mod:`moo_snn.resources`.
"""
