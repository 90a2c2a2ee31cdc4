"""The reproducible studies, shipped with oile-q as ``oile_q.comparisons``.

Each folder ``NAME/`` holds ``config.toml`` (the parameters) and ``study.py`` (``main(outdir,
quick=False) -> report path``, written with ``oile_q.studies.Study`` and the public ``oile_q``
API only). They are found, run and published by ``oile_q.studies`` and ``oile-q study``; the
study folders are package data, loaded from their files, not imported as modules.
``results/`` (published figures and tables) and ``out/`` (run outputs) stay in the source tree.
"""
