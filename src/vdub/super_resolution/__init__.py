"""Paper section 2.3, identity-specific face super-resolution (Jeon et al., "Postprocessing").

Modules: ``config`` (settings), ``data`` (training pairs), ``networks`` (both upscalers, loading,
upscaling), ``gpen`` (the GPEN port), ``training``, ``stages`` (the rules' entry points).

The swapper's actor decoder produces heads that are smaller and blurrier than the actor
footage. Pretrained face SR smooths away what makes the actor recognisable (wrinkles,
folds), so the paper fine-tunes GPEN on *this actor only*, with a training set of (a) the
actor's own frames and (b) the swapper's reconstructions of those frames through the
actor decoder (the recipe of Patel et al.). Pairs of type (a) teach generic upscaling of
the actor's face; pairs of type (b) teach undoing the swapper's particular blur with the
actor's real details as target.

Two backends share training, resume checkpoints, the loss log, the model file and
:func:`upscale` (``SRConfig.backend``; both built by :func:`build_sr_model`):

* ``"residual"`` (the preview default): a small residual network trained from scratch. Its
  output is a bicubic upsampling of its input plus a learned residual whose last layer
  starts at zero, so an untrained model *is* bicubic upsampling and training can only add
  detail on top of it.
* ``"gpen"`` (the paper's network): :class:`GPENUpscaler` wraps :class:`vdub.super_resolution.gpen.FullGenerator`.
  GPEN restores a degraded face *at its output size*, so the input is first upsampled
  bicubically to ``out_size`` and mapped to GPEN's [-1, 1] range. With ``gpen_weights``
  (e.g. the released ``GPEN-BFR-512.pth``) the generator starts from those weights and is
  fine-tuned on the actor, as in the paper; without, the same architecture is trained from
  scratch (it then starts from a noise-like image, not from bicubic, and needs far more
  steps than the residual network: useful for tests and benchmarks, not for results).

Documented differences from the paper's GPEN fine-tuning (GPEN's ``train_simple.py``):

* Loss: both backends use L1 + ``edge_weight`` * L1 of image gradients. GPEN's own recipe
  adds a non-saturating GAN loss (with a discriminator trained alongside, R1-regularised)
  and an ArcFace identity loss; neither the discriminator's weights nor ArcFace's are
  available here, so those terms are left out. A pixel loss alone favours the average of
  plausible details, so expect somewhat smoother skin texture than the paper's (and no
  adversarial instability).
* Optimiser: plain Adam (default betas) at ``lr`` on every weight, no EMA copy of the
  generator (upstream trains with betas (0, 0.99) and ships the EMA weights).
* Input: bicubic upsampling of the crop (torch, ``align_corners=False``); upstream's demo
  resizes with OpenCV's bilinear filter. Fine-tuning adapts to either.

Sizes: crops go in at ``in_size`` (the swapper's head crop size, 176 px in the paper) and
come out at ``out_size`` (512 px in the paper; a power of two for GPEN). The residual
branch upsamples by an integer PixelShuffle factor ``scale``; when ``in_size * scale !=
out_size`` (176 * 3 = 528 for the paper) the residual is resized, antialiased, to
``out_size``. The bicubic skip goes straight to ``out_size``, so non-integer ratios cost no
extra blur on the skip path.

Files: the final model is ``{"config": dict, "state_dict": ...}`` written atomically (for
GPEN the fine-tuned generator's entries carry a ``generator.`` prefix, so stripping it gives
a state dict in the released files' layout); loading it never needs ``gpen_weights``. The
resume checkpoint (see :mod:`vdub.training.checkpoint`) lives beside it only while training runs.
"""
