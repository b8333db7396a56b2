"""Problem files: :mod:`moo_snn.config.problem` (TOML → :class:`~moo_snn.config.problem.ProblemSpec`)."""
