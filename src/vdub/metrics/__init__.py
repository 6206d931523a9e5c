"""Pure image and landmark metrics: arrays in, numbers out, no files and no networks.

Below every stage package, so that a stage can measure what it makes (the paste's colour
check, the upscaler's held-out PSNR, the geometry QA's jitter) without importing the
evaluation, which runs the stages' code on whole shots.
"""
