"""vdub: personalized visual dubbing (virtual dubber + full-head identity swap + identity-specific SR).

One module per component of Jeon et al., "Personalized Visual Dubbing through Virtual
Dubber and Full Head Reenactment". The package never imports Snakemake: every stage is
a plain function that the workflow's rules call through :mod:`vdub.cli`.
"""

__version__ = "0.1.0"
