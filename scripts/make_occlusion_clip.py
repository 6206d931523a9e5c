"""Write occlusion test footage (issue 25): a real hand, keyed from a shared clip, raised over the mouth
of a shared actor clip, held and lowered again, with the ground-truth occluder masks.

    .venv/bin/python scripts/make_occlusion_clip.py --out-dir /tmp/occlusion
    .venv/bin/python scripts/make_occlusion_clip.py --out-dir /tmp/chin --target-offset 0.3 --name chin
    .venv/bin/python scripts/make_occlusion_clip.py --out-dir /tmp/cup --cup 0.5 --target-offset 0.25 --name cup

Writes NAME.mp4, NAME_masks.npy (T x H x W bool) and NAME.json (the frames the hand is visible in and
held over the mouth in, end exclusive, and the per-frame share of the lips it covers). The generator is
tests/footage.py (test-support code, shared with the tests).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import footage  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actor", type=Path, default=footage.ACTOR_CLIP, help="actor clip (a face in every frame)")
    parser.add_argument("--hands", type=Path, default=footage.HANDS_CLIP, help="clip to key the hand from")
    parser.add_argument("--hands-first", type=int, default=225, help="first frame of the hand clip to key")
    parser.add_argument("--out-dir", type=Path, required=True)
    parser.add_argument("--name", default="occlusion", help="file name stem")
    parser.add_argument("--frames", type=int, default=125, help="frames of the actor clip, from its first")
    parser.add_argument("--start", type=int, default=30, help="first frame with the hand in the picture")
    parser.add_argument("--rise", type=int, default=12, help="frames to raise (and to lower) the hand")
    parser.add_argument("--hold", type=int, default=30, help="frames the hand is held at its target")
    parser.add_argument("--target-offset", type=float, default=0.0,
                        help="hand centre below the mouth, in face heights (0.3: chin and lower lip only)")
    parser.add_argument("--hand-scale", type=float, default=0.95, help="hand length in face heights")
    parser.add_argument("--tilt", type=float, default=5.0, help="forearm's lean from vertical, degrees")
    parser.add_argument("--cup", type=float, help="the hand holds a real cup (keyed from scikit-image's coffee "
                        "photo) this wide, in hand lengths (0.5: a cup's rim)")
    parser.add_argument("--crf", type=int, default=10, help="x264 CRF")
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG of frames and masks here")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    occlusion = footage.make_occlusion(args.actor, args.hands, args.frames, args.start, args.rise, args.hold,
                                       args.target_offset, args.hand_scale, args.tilt, args.hands_first,
                                       args.cup)
    paths = footage.write_occlusion(occlusion, args.out_dir, args.actor, args.crf, args.name)
    lo, hi = occlusion.over_mouth
    held = occlusion.coverage[lo:hi]
    print(f"{paths['clip']}: hand visible in frames {occlusion.visible[0]}..{occlusion.visible[1] - 1}, held "
          f"{lo}..{hi - 1}, mouth coverage there {held.min():.2f}..{held.max():.2f} "
          f"({time.perf_counter() - began:.1f} s)")
    if args.sheet:
        paths["sheet"] = footage.contact_sheet(occlusion, args.sheet)
    for kind, path in paths.items():
        print(f"  {kind}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
