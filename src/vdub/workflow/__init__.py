"""What the workflow's rules and the command line share: each stage's settings, built in one place from the
merged config (:mod:`vdub.workflow.settings`). The rules import it when Snakemake starts, so it stays light:
no torch, OpenCV or MediaPipe."""
