"""Paper section 2.2, full-head reenactment: the identity-swapping network (`swapper/`), generic
pretraining, self-reenactment pairs (the repair's ground truth) and the compositing of the swapped head
into the actor's frames (colour, stabilisation, paste, matte). The head crops and masks it works in are
:mod:`vdub.face.crop` and :mod:`vdub.face.head_masks`."""
