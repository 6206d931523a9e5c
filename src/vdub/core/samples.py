"""The project's sample sheet (``samples.yaml``): shots, their files, and their checks.

Every check here runs before any job starts, so that a typo costs seconds, not a night of
training: ids are safe to use as folder names and Snakemake wildcards, and every input
file exists, is a regular non-empty file, and is readable. Errors name the shot and file.
What only a probe of the files can tell (a video that does not decode, a cut outside its reel) is
checked by :mod:`vdub.media.sample_checks`: the core runs no media tool.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from vdub.core.errors import ShotError, require_file

# Letters, digits, '_', '-', '.'; no leading dot, no '..', no spaces or slashes: an id is
# a folder name under results/ and a Snakemake wildcard value.
SHOT_ID = re.compile(r"(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # used with fullmatch: "$" would let "a\n" in
#: The project's own folders beside the shots' (work/actors, work/pretrain, results/conformed): no shot id.
RESERVED_IDS = ("actors", "pretrain", "conformed")
#: The workflow's ``{shot}`` wildcard: a shot id, never a reserved folder (in paths a shot is always a folder).
SHOT_WILDCARD = rf"(?!(?:{'|'.join(RESERVED_IDS)})/)[A-Za-z0-9][A-Za-z0-9_.-]*"
FIELDS = {"id", "actor", "actor_video", "actor_in", "actor_out", "handles", "reel_video", "reel_in", "dubber_video",
          "audio", "reference_frame", "virtual_dubber", "face", "actor_face", "over"}
# A timecode in a sample sheet: HH:MM:SS:FF, ';' before the frames for drop-frame.
TIMECODE = re.compile(r"\d{2}:\d{2}:\d{2}[:;]\d{2,3}")
#: Virtual-dubber backends a shot may select (config/schema.yaml lists the same for the default).
VIRTUAL_DUBBER_BACKENDS = ("builtin", "liveportrait")
#: How a shot's ``face`` picks the actor among several faces (config/schema.yaml lists the same for
#: ``face_mesh.choose``; :data:`vdub.face.config.CHOICES`).
FACE_CHOICES = ("largest", "central", "left", "right")


@dataclass(frozen=True)
class Shot:
    """One shot: an actor video to be lip-synced to a dubber's take."""

    id: str  # folder name under work/ and results/
    actor: str  # actor id: shots of one actor share a person-specific model (later stages)
    actor_video: str  # original footage
    dubber_video: str  # the dubber speaking the translated script to camera
    audio: str | None = None  # dubbed audio; default: the dubber video's own track
    reference_frame: int | None = None  # override of the automatic reference frame (actor frame index)
    virtual_dubber: str | None = None  # per-shot override of the virtual-dubber backend
    # The shot as a range of the actor video: first frame and the frame after the last (a frame
    # number of the file, or a timecode in the file's timecode space); None: from its start / to its end.
    actor_in: int | str | None = None
    actor_out: int | str | None = None
    # Frames at the head and the tail of that range outside the editor's cut: dubbed, delivered, and
    # left out of the conformed reel, so that the editor can still trim the cut.
    handles: tuple[int, int] = (0, 0)
    # The reel the shot's cut goes back into, and where (a frame number or a timecode of the reel), when
    # the actor video is a camera source rather than the reel itself.
    reel_video: str | None = None
    reel_in: int | str | None = None
    # Which face is the actor's when several are in frame: a FACE_CHOICES rule over the config's face_mesh.choose,
    # and/or a still image of the actor (the face is then picked by who it is). The actor's track only.
    face: str | None = None
    actor_face: str | None = None
    # Another shot of the same frames (a two-shot: another face, another dubber) whose delivered picture this
    # shot's dub is composited onto: the delivered picture has both dubbed; each keeps its own audio.
    over: str | None = None

    @property
    def reel(self) -> str | None:
        """The video the shot is conformed into: its ``reel_video``, else its actor video when the shot is a
        range of it, else None (a shot on its own)."""
        if self.reel_video:
            return self.reel_video
        return self.actor_video if self.actor_in is not None or self.actor_out is not None else None

    def input_files(self) -> dict[str, str]:
        """The shot's input files by role."""
        files = {"actor_video": self.actor_video, "dubber_video": self.dubber_video}
        if self.audio:
            files["audio"] = self.audio
        if self.reel_video:
            files["reel_video"] = self.reel_video
        if self.actor_face:
            files["actor_face"] = self.actor_face
        return files


def id_from_name(name: str, limit: int = 60) -> str:
    """A file or clip name made into a shot id's characters (others become ``_``), or "" when nothing is left."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-")[:limit].replace("..", ".")


def validate_shot_id(shot_id: object) -> str:
    """Return ``shot_id`` if it is a safe id, else raise ShotError explaining the rule."""
    if not isinstance(shot_id, str) or not SHOT_ID.fullmatch(shot_id):
        raise ShotError(str(shot_id), None,
                        "invalid shot id: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or "
                        "digit, without spaces, slashes or '..'")
    if shot_id in RESERVED_IDS:
        raise ShotError(shot_id, None, f"'{shot_id}' is the name of one of the project's own folders "
                                       f"({', '.join(RESERVED_IDS)}): name the shot otherwise")
    return shot_id


def _resolve(path: str, base: Path) -> str:
    """A sample-sheet path made relative to the working directory where possible.

    Paths in samples.yaml are relative to the sheet's own folder, so a sheet can be moved
    with its media; Snakemake wants paths relative to its working directory.
    """
    p = Path(path).expanduser()
    if not p.is_absolute():
        p = base / p
    p = Path(os.path.normpath(p.absolute()))
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


def parse_samples(data: object, base: Path) -> list[Shot]:
    """Build shots from the parsed YAML (``{"shots": [...]}``), checking ids and fields."""
    if not isinstance(data, dict) or not isinstance(data.get("shots"), list) or not data["shots"]:
        raise ShotError(None, None, "samples: expected a mapping with a non-empty list under 'shots'")
    shots: list[Shot] = []
    seen: set[str] = set()
    for i, entry in enumerate(data["shots"]):
        if not isinstance(entry, dict):
            raise ShotError(None, None, f"samples: shot #{i + 1} is not a mapping")
        shot_id = validate_shot_id(entry.get("id"))
        if shot_id in seen:
            raise ShotError(shot_id, None, "duplicate shot id")
        seen.add(shot_id)
        unknown = set(entry) - FIELDS
        if unknown:
            raise ShotError(shot_id, None, f"unknown fields {sorted(unknown)} (allowed: {sorted(FIELDS)})")
        for key in ("actor", "actor_video", "dubber_video"):
            if not isinstance(entry.get(key), str) or not entry[key].strip():
                raise ShotError(shot_id, None, f"missing '{key}'")
        actor = entry["actor"]
        if not SHOT_ID.fullmatch(actor):
            raise ShotError(shot_id, None, f"invalid actor id '{actor}' (same rule as shot ids)")
        ref = entry.get("reference_frame")
        if ref is not None and (not isinstance(ref, int) or isinstance(ref, bool) or ref < 0):
            raise ShotError(shot_id, None, "reference_frame must be a non-negative frame index")
        backend = entry.get("virtual_dubber")
        if backend is not None and backend not in VIRTUAL_DUBBER_BACKENDS:
            raise ShotError(shot_id, None, f"virtual_dubber must be one of {list(VIRTUAL_DUBBER_BACKENDS)}, "
                                           f"got {backend!r}")
        face = entry.get("face")
        if face is not None and face not in FACE_CHOICES:
            raise ShotError(shot_id, None, f"face must be one of {list(FACE_CHOICES)}, got {face!r}")
        actor_face = entry.get("actor_face")
        if actor_face is not None and (not isinstance(actor_face, str) or not actor_face.strip()):
            raise ShotError(shot_id, None, f"actor_face must be the path of a still image of the actor, "
                                           f"got {actor_face!r}")
        for key in ("actor_in", "actor_out", "reel_in"):
            value = entry.get(key)
            if value is not None and not (_count(value) or (isinstance(value, str) and TIMECODE.fullmatch(value))):
                raise ShotError(shot_id, None, f"{key} must be a frame number (>= 0) or a timecode HH:MM:SS:FF, "
                                               f"got {value!r}")
        handles = _handles(shot_id, entry.get("handles", 0))
        reel_video = entry.get("reel_video")
        if reel_video is not None and (not isinstance(reel_video, str) or not reel_video.strip()):
            raise ShotError(shot_id, None, f"reel_video must be a path, got {reel_video!r}")
        if (reel_video is None) != (entry.get("reel_in") is None):
            raise ShotError(shot_id, None, "reel_video and reel_in go together: the reel the shot's cut goes "
                                           "back into and the frame or timecode where it starts")
        if isinstance(entry.get("actor_in"), int) and isinstance(entry.get("actor_out"), int):
            if entry["actor_out"] <= entry["actor_in"]:
                raise ShotError(shot_id, None, f"actor_out ({entry['actor_out']}) must be after actor_in "
                                               f"({entry['actor_in']}): the range is [actor_in, actor_out)")
            if sum(handles) >= entry["actor_out"] - entry["actor_in"]:
                raise ShotError(shot_id, None, f"handles {list(handles)} leave no frame of the range "
                                               f"[{entry['actor_in']}, {entry['actor_out']}) for the cut")
        audio = entry.get("audio")
        shots.append(Shot(
            id=shot_id,
            actor=actor,
            actor_video=_resolve(entry["actor_video"], base),
            dubber_video=_resolve(entry["dubber_video"], base),
            audio=_resolve(audio, base) if audio else None,
            reference_frame=ref,
            virtual_dubber=backend,
            actor_in=entry.get("actor_in"),
            actor_out=entry.get("actor_out"),
            handles=handles,
            reel_video=_resolve(reel_video, base) if reel_video else None,
            reel_in=entry.get("reel_in"),
            face=face,
            actor_face=_resolve(actor_face, base) if actor_face else None,
            over=entry.get("over"),
        ))
    _check_stacks(shots)
    return shots


#: What two shots composited one onto the other (``over``) must share: the same frames.
_SAME_FRAMES = ("actor_video", "actor_in", "actor_out", "handles", "reel_video", "reel_in")


def _check_stacks(shots: list[Shot]) -> None:
    """``over`` names another shot of the same frames, and no chain of them comes back to where it started."""
    by_id = {s.id: s for s in shots}
    for shot in shots:
        if shot.over is None:
            continue
        if not isinstance(shot.over, str) or shot.over not in by_id or shot.over == shot.id:
            raise ShotError(shot.id, None, f"over must name another shot of the sheet, got {shot.over!r}")
        base = by_id[shot.over]
        differ = [k for k in _SAME_FRAMES if getattr(shot, k) != getattr(base, k)]
        if differ:
            raise ShotError(shot.id, None, f"over '{base.id}': a shot composited onto another must be of the same "
                                           f"frames, but {', '.join(differ)} differ")
        seen, current = {shot.id}, base
        while current.over is not None:
            if current.over in seen:
                raise ShotError(shot.id, None, f"over: the shots {sorted(seen | {current.id})} are composited "
                                               "onto each other in a circle")
            seen.add(current.id)
            current = by_id[current.over]


def stacked_under(shots: list[Shot]) -> set[str]:
    """Ids of the shots another shot is composited onto (``over``): their picture is delivered by that one."""
    return {s.over for s in shots if s.over is not None}


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _handles(shot_id: str, value: object) -> tuple[int, int]:
    """``handles``: one frame count for both ends, or ``[head, tail]``."""
    if _count(value):
        return value, value
    if isinstance(value, list) and len(value) == 2 and all(_count(v) for v in value):
        return value[0], value[1]
    raise ShotError(shot_id, None, f"handles must be a frame count (>= 0) or [head, tail], got {value!r}")


class _SheetLoader(yaml.SafeLoader):
    """YAML with YAML 1.2's integers: ``actor_in: 10:00:01:00`` is a timecode, not YAML 1.1's base-60 number."""


_SheetLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:int"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_SheetLoader.add_implicit_resolver("tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789"))


def reels(shots: list[Shot]) -> dict[str, tuple[str, list[str]]]:
    """The reels to conform: reel id -> (the reel video, the ids of the shots that go back into it).

    A reel's id is its file name without extension, made a valid id (``reel`` when nothing is
    left), numbered when two videos share a name. Shots without a reel (:attr:`Shot.reel`) are
    not conformed.
    """
    videos: dict[str, list[str]] = {}
    for shot in shots:
        if shot.reel:
            videos.setdefault(shot.reel, []).append(shot.id)
    out: dict[str, tuple[str, list[str]]] = {}
    for video, ids in videos.items():
        base = id_from_name(Path(video).stem) or "reel"
        reel = base if SHOT_ID.fullmatch(base) else "reel"
        k = 2
        while reel in out:
            reel, k = f"{base}_{k}", k + 1
        out[reel] = (video, ids)
    return out


def load_samples(path: str | Path) -> list[Shot]:
    """Read and check a sample sheet (paths inside it are relative to its folder)."""
    path = Path(path)
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SheetLoader)
    except FileNotFoundError:
        raise ShotError(None, path, "sample sheet not found") from None
    except yaml.YAMLError as err:
        raise ShotError(None, path, f"not valid YAML: {err}") from None
    return parse_samples(data, path.parent)


def check_input_files(shots: list[Shot], generated: set[str] = frozenset()) -> None:
    """Fail on the first shot whose input file is missing, empty, not a file or unreadable.

    ``generated`` lists paths a rule of the workflow creates (the embedded demo's input);
    they are not required to exist yet.
    """
    for shot in shots:
        for role, file in shot.input_files().items():
            if file in generated:
                continue
            require_file(file, shot.id, role)
