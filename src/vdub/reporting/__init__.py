"""What an operator looks at: the project report (HTML), contact sheets, the side-by-side preview, and
the per-shot run status read from Snakemake's records (``vdub status`` / ``vdub reprocess``)."""
