"""Faces in frames (the tools of paper sections 2.1 and 2.2): the MediaPipe face mesh and person
segmentation, landmark index sets, pose-free geometry, piecewise-affine warping, temporal smoothing, and
the head crops with their head / eyes / mouth masks."""
