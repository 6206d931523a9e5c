"""vdub: personalized visual dubbing (virtual dubber + full-head identity swap + identity-specific SR).

Jeon et al., "Personalized Visual Dubbing through Virtual Dubber and Full Head Reenactment",
one subpackage per section of the method and per concern of the infrastructure:
``virtual_dubber`` (section 2.1), ``reenactment`` (2.2), ``super_resolution`` (2.3),
``evaluation`` (Table 1); ``metrics``, ``media``, ``face``, ``training``, ``editorial``,
``reporting``, ``demo``, ``workflow`` (each rule's settings, built from the config), ``cli`` and a
torch-free, media-free ``core``. They are layered: each imports only those below it (pyproject's
``[tool.importlinter]``, checked by ``lint-imports``).
Each stage is a plain function in its subpackage's ``stages`` module (the mux in ``media.mux``)
that the workflow's rules call through :mod:`vdub.cli`; the package never imports Snakemake.
docs/paper_map.md maps sections to modules, rules, config keys and outputs.
"""

__version__ = "0.1.0"
