"""Each stage's settings: one dataclass per rule that takes settings, and the one function that builds them from
the merged config (:func:`stage_settings`).

A rule passes its stage's settings to the stage's command as JSON (:meth:`StageSettings.to_json`, the rule's
``params``), so that Snakemake re-runs the stage when one of its numbers changes; each dataclass holds only what
its stage reads, so that a changed number re-runs only the stages that depend on it. The command turns the JSON
back into the same dataclass (:meth:`StageSettings.from_json`). Every number comes from config.yaml: the
dataclasses here have no defaults, and their component configs are built with every field given
(:meth:`vdub.core.settings.Settings.from_config`), so a missing key is an error, never a silent default.

The preset (``presets.<preset>``) supplies the method's numbers: its ``crop_size``, ``swapper``, ``train`` and
``sr`` blocks as they are; its ``losses`` over the config's ``losses``; its ``paste`` beside the config's
``reenact`` (one :class:`~vdub.reenactment.config.PasteConfig`, for ``reenact``, ``super_resolution`` and the
held-out repair in ``evaluate``); its ``pretrain`` numbers, or its ``warm_start`` iterations, over its ``train``
block for ``pretrain``, ``train_actor`` and (with ``warm_start: true``) ``train_swapper``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from vdub.core.samples import Shot
from vdub.core.settings import Settings
from vdub.evaluation.config import EvaluationConfig, QCConfig
from vdub.face.config import FaceIdentityConfig, FaceMeshConfig, MaskConfig, SmoothingConfig, VisibilityConfig
from vdub.media.config import IngestConfig
from vdub.reenactment.config import LossWeights, PasteConfig, SelfPairsConfig, SwapperConfig, TrainConfig
from vdub.reporting.config import ReportConfig
from vdub.super_resolution.config import SRConfig
from vdub.training.early_stop import EarlyStop
from vdub.virtual_dubber.config import AlignConfig, LivePortraitConfig, ReferenceConfig, VirtualDubberConfig

S = TypeVar("S", bound="StageSettings")


@dataclass(frozen=True)
class StageSettings:
    """A stage's settings. Subclasses: frozen dataclasses of component configs and plain values, no defaults."""

    def to_json(self) -> str:
        """The settings as a rule passes them (``--settings``): one JSON object, keys sorted."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls: type[S], text: str) -> S:
        """The settings :meth:`to_json` wrote: every field given and nothing else, else ValueError."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError(f"{cls.__name__}: a JSON object expected, got {text[:80]!r}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown, missing = sorted(set(data) - set(names)), sorted(set(names) - set(data))
        if unknown or missing:
            raise ValueError(f"{cls.__name__}: " + "; ".join(
                [f"unknown settings {unknown}"] * bool(unknown) + [f"settings {missing} missing"] * bool(missing)
            ) + f" (expected {names})")
        types = typing.get_type_hints(cls)
        kinds = {name: _config_type(types[name]) for name in names}
        return cls(**{name: kinds[name].from_config(data[name], name) if kinds[name] and data[name] is not None
                      else data[name] for name in names})


def _config_type(kind: Any) -> type[Settings] | None:
    """A field's component config type (built with ``from_config``; ``X | None`` too), or None for a plain value."""
    if isinstance(kind, type):
        return kind if issubclass(kind, Settings) else None
    configs = [k for k in typing.get_args(kind) if isinstance(k, type) and issubclass(k, Settings)]
    return configs[0] if len(configs) == 1 else None


# --- one dataclass per rule ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestActorSettings(StageSettings):
    """Rule ingest_actor: only what the actor side uses, so that a conform or audio setting never re-runs it."""

    max_frames: int | None  # ingest.max_frames: process only the first N actor frames (None: the whole shot)


@dataclass(frozen=True)
class IngestDubberSettings(StageSettings):
    """Rule ingest_dubber."""

    ingest: IngestConfig


@dataclass(frozen=True)
class FaceGeometrySettings(StageSettings):
    """Rules face_geometry (the dubber's and the virtual dubber's: the config's) and actor_face_geometry (the
    shot's own choice of face, ``face``, over ``face_mesh.choose``)."""

    face_mesh: FaceMeshConfig
    face_identity: FaceIdentityConfig | None  # following a still of the actor: shots with an actor_face only


@dataclass(frozen=True)
class VisibilitySettings(StageSettings):
    """Rule visibility."""

    visibility: VisibilityConfig


@dataclass(frozen=True)
class ReferenceSettings(StageSettings):
    """Rule reference."""

    reference: ReferenceConfig


@dataclass(frozen=True)
class BuiltinDubberSettings(StageSettings):
    """Rule virtual_dubber for a shot of the builtin backend: the builtin's numbers only."""

    backend: str  # "builtin"
    builtin_dubber: VirtualDubberConfig
    smoothing: SmoothingConfig


@dataclass(frozen=True)
class LivePortraitDubberSettings(StageSettings):
    """Rule virtual_dubber for a shot of the liveportrait backend: LivePortrait's settings only, under their own
    key (its names and the builtin's never meet in one namespace)."""

    backend: str  # "liveportrait"
    liveportrait: LivePortraitConfig


#: The virtual_dubber stage's settings per backend: each backend gets only its own numbers, so that changing
#: LivePortrait's settings re-runs no builtin shot (nor a builtin number a LivePortrait shot).
DUBBER_BACKENDS: dict[str, type[BuiltinDubberSettings] | type[LivePortraitDubberSettings]] = {
    "builtin": BuiltinDubberSettings,
    "liveportrait": LivePortraitDubberSettings,
}


def dubber_settings(text: str) -> BuiltinDubberSettings | LivePortraitDubberSettings:
    """Rule virtual_dubber's settings from their JSON: the dataclass of the backend they name."""
    data = json.loads(text)
    backend = data.get("backend") if isinstance(data, dict) else None
    if backend not in DUBBER_BACKENDS:
        raise ValueError(f"virtual dubber backend '{backend}' is unknown ({', '.join(DUBBER_BACKENDS)})")
    return DUBBER_BACKENDS[backend].from_json(text)


@dataclass(frozen=True)
class AlignSettings(StageSettings):
    """Rule align."""

    align: AlignConfig
    smoothing: SmoothingConfig


@dataclass(frozen=True)
class ActorCropsSettings(StageSettings):
    """Rule actor_crops."""

    crop_size: int  # the preset's crop_size: side of the square head crops (px)
    masks: MaskConfig


@dataclass(frozen=True)
class MasksSettings(StageSettings):
    """Rule masks (the crop size is the actor crops')."""

    masks: MaskConfig


@dataclass(frozen=True)
class SelfPairsSettings(StageSettings):
    """Rule self_pairs: the actor's reference picked as rule reference picks it, driven by the builtin dubber,
    aligned, cropped and masked as at inference."""

    self_reenactment: SelfPairsConfig
    builtin_dubber: VirtualDubberConfig
    align: AlignConfig
    smoothing: SmoothingConfig
    face_mesh: FaceMeshConfig
    masks: MaskConfig
    reference: ReferenceConfig


@dataclass(frozen=True)
class PretrainSettings(StageSettings):
    """Rule pretrain: the swapper's training on a folder of faces, cut to its crops with the config's masks."""

    swapper: SwapperConfig
    train: TrainConfig  # the preset's train block with its pretrain numbers over it
    losses: LossWeights
    masks: MaskConfig


@dataclass(frozen=True)
class TrainSwapperSettings(StageSettings):
    """Rules train_actor and train_swapper (their train blocks differ in iterations: the ceiling)."""

    swapper: SwapperConfig
    train: TrainConfig
    losses: LossWeights
    stop: EarlyStop  # the preset's train.stop: when the held-out self-reenactment score has stopped improving
    paste_detail: float  # the preset's paste.detail: the held-out repair is scored as it will be pasted


@dataclass(frozen=True)
class ReenactSettings(StageSettings):
    """Rule reenact."""

    paste: PasteConfig


@dataclass(frozen=True)
class TrainSuperResolutionSettings(StageSettings):
    """Rule train_sr: the preset's sr block; no paste setting, so that one never retrains the upscaler."""

    sr: SRConfig  # in_size: the preset's crop_size; gpen_weights: the configured file (absolute), gpen only
    holdout_every: int  # every Nth actor frame with a face kept out of training and scored (0: none)
    stop: EarlyStop  # the preset's sr.stop: when the held-out frames' score has stopped improving


@dataclass(frozen=True)
class SuperResolutionSettings(StageSettings):
    """Rule super_resolution: the paste only, so that a paste setting never retrains the upscaler."""

    paste: PasteConfig


@dataclass(frozen=True)
class MuxSettings(StageSettings):
    """Rule mux (config section ``mux``)."""

    crf: int  # x264 quality
    odd_size: str  # exact | pad (vdub.media.video.write_video)


@dataclass(frozen=True)
class MasterSettings(StageSettings):
    """Rule master (config section ``finishing``)."""

    master: str  # prores_4444 | prores_422hq


@dataclass(frozen=True)
class EvaluateSettings(StageSettings):
    """Rule evaluate: the held-out repair is pasted with the shot's own paste (of which its ``detail`` applies)."""

    face_mesh: FaceMeshConfig
    evaluation: EvaluationConfig
    qc: QCConfig
    paste: PasteConfig


@dataclass(frozen=True)
class SheetSettings(StageSettings):
    """Rules virtual_dubber_sheet and output_sheet: the contact sheets."""

    sheet_frames: int  # report.sheet_frames: rows of the sheet


@dataclass(frozen=True)
class SideBySideSettings(StageSettings):
    """Rule side_by_side."""

    preview_height: int  # report.preview_height: panel height cap (px)
    preview_crf: int  # report.preview_crf: x264 quality of the preview


@dataclass(frozen=True)
class ReportSettings(StageSettings):
    """Rule report: the report section, and the preset it shows (its name and numbers)."""

    report: ReportConfig
    preset: str
    preset_settings: dict[str, Any]  # the preset's block of the config, as it is
    ceilings: dict[str, int]  # loss kind (swapper_losses, its fine-tune *_warm, actor_losses, sr_losses) -> most steps


@dataclass(frozen=True)
class ConformSettings(StageSettings):
    """Rule conform (config section ``conform``)."""

    codec: str  # prores_422hq | ffv1


# --- built from the merged config ---------------------------------------------------------------------------


def stage_settings(config: Mapping[str, Any], stage: str, shot: Shot | None = None) -> StageSettings:
    """The settings of rule ``stage`` from the merged config (config.yaml, a project's config over it).

    shot: the job's shot, needed by the stages whose settings are the shot's own choice: ``virtual_dubber`` (the
    backend of the shot's samples.yaml entry, else config ``virtual_dubber``) and ``actor_face_geometry`` (its
    ``face``, else ``face_mesh.choose``; the ``face_identity`` numbers when it has an ``actor_face``).
    ValueError names the config section when a setting is missing or unknown.
    """
    if stage not in _BUILDERS:
        raise ValueError(f"rule '{stage}' takes no settings; those that do: {sorted(_BUILDERS)}")
    return _BUILDERS[stage](config, shot)


def _preset(config: Mapping[str, Any]) -> Mapping[str, Any]:
    return config["presets"][config["preset"]]


def _where(config: Mapping[str, Any], block: str) -> str:
    """A preset block's place in the config, for errors."""
    return f"presets.{config['preset']}.{block}"


def _swapper(config: Mapping[str, Any]) -> SwapperConfig:
    preset = _preset(config)
    return SwapperConfig.from_config({**preset["swapper"], "crop_size": preset["crop_size"]},
                                     _where(config, "swapper"))


def _train(config: Mapping[str, Any], numbers: Mapping[str, Any]) -> TrainConfig:
    """The preset's train block with ``numbers`` over it (its ``stop`` block apart: :func:`_stop`)."""
    train = {k: v for k, v in _preset(config)["train"].items() if k != "stop"}
    return TrainConfig.from_config({**train, **numbers}, _where(config, "train"))


def _stop(config: Mapping[str, Any], block: str) -> EarlyStop:
    """The early stop of a preset block (``train`` or ``sr``)."""
    return EarlyStop.from_config(_preset(config)[block]["stop"], _where(config, f"{block}.stop"))


def _losses(config: Mapping[str, Any]) -> LossWeights:
    # The preset's losses block is optional: numbers over the config's, where the preset differs.
    return LossWeights.from_config({**config["losses"], **_preset(config).get("losses", {})}, "losses")


def _paste(config: Mapping[str, Any]) -> PasteConfig:
    return PasteConfig.from_config({**config["reenact"], **_preset(config)["paste"]},
                                   f"reenact and {_where(config, 'paste')}")


def _virtual_dubber(config: Mapping[str, Any], shot: Shot | None) -> StageSettings:
    if shot is None:
        raise ValueError("rule virtual_dubber: the settings are the shot's (its backend): no shot given")
    backend = shot.virtual_dubber or config["virtual_dubber"]
    if backend == "liveportrait":
        return LivePortraitDubberSettings(backend, LivePortraitConfig.from_config(config["liveportrait"],
                                                                                  "liveportrait"))
    if backend != "builtin":
        raise ValueError(f"shot '{shot.id}': virtual dubber backend '{backend}' is unknown "
                         f"({', '.join(DUBBER_BACKENDS)})")
    return BuiltinDubberSettings(backend, VirtualDubberConfig.from_config(config["builtin_dubber"], "builtin_dubber"),
                                 SmoothingConfig.from_config(config["smoothing"], "smoothing"))


def _actor_face_geometry(config: Mapping[str, Any], shot: Shot | None) -> FaceGeometrySettings:
    """The actor's face: the shot's choice. The identity numbers only reach shots with a still, so that they never
    re-run the tracking of the others."""
    if shot is None:
        raise ValueError("rule actor_face_geometry: the settings are the shot's (its face choice): no shot given")
    face_mesh = {**config["face_mesh"], **({"choose": shot.face} if shot.face else {})}
    identity = FaceIdentityConfig.from_config(config["face_identity"], "face_identity") if shot.actor_face else None
    return FaceGeometrySettings(FaceMeshConfig.from_config(face_mesh, "face_mesh"), identity)


def warm_actors(config: Mapping[str, Any], shots_per_actor: Mapping[str, int]) -> set[str]:
    """The actors whose shots fine-tune a per-actor model (rule train_actor) instead of training alone.

    ``warm_start: true``: every actor; ``false``: none; ``auto``: each actor with enough shots that
    the actor's model and a fine-tune per shot take fewer steps than training each shot alone
    (the preset's ``warm_start.actor_iterations + k * finetune_iterations < k * train.iterations``).
    """
    mode = config["warm_start"]
    if mode is True or mode is False:
        return set(shots_per_actor) if mode else set()
    if mode != "auto":
        raise ValueError(f"warm_start must be true, false or auto, got {mode!r}")
    steps = _preset(config)["warm_start"]
    alone = _preset(config)["train"]["iterations"]
    return {actor for actor, k in shots_per_actor.items()
            if steps["actor_iterations"] + k * steps["finetune_iterations"] < k * alone}


def _train_swapper(config: Mapping[str, Any], shot: Shot | None) -> TrainSwapperSettings:
    """A shot of a warm actor (``config["warm_start"]`` true here: the rule passes what :func:`warm_actors` found
    for the shot's actor) fine-tunes the actor's model for the preset's finetune_iterations."""
    numbers = {"iterations": _preset(config)["warm_start"]["finetune_iterations"]} if config["warm_start"] is True \
        else {}
    return TrainSwapperSettings(_swapper(config), _train(config, numbers), _losses(config), _stop(config, "train"),
                                _paste(config).detail)


def _train_sr(config: Mapping[str, Any], shot: Shot | None) -> TrainSuperResolutionSettings:
    preset = _preset(config)
    sr = dict(preset["sr"])
    holdout_every, stop = sr.pop("holdout_every"), sr.pop("stop")
    # The configured GPEN weights only reach the gpen backend: a new weights file never retrains a residual one.
    weights = config["gpen_weights"] if sr["backend"] == "gpen" else None
    sr.update(in_size=preset["crop_size"], gpen_weights=os.path.abspath(weights) if weights else None)
    return TrainSuperResolutionSettings(SRConfig.from_config(sr, _where(config, "sr")), holdout_every,
                                        EarlyStop.from_config(stop, _where(config, "sr.stop")))


def _ceilings(config: Mapping[str, Any]) -> dict[str, int]:
    """Each training's most steps, by the kind of its loss log: what the report measures an early stop against."""
    return {"swapper_losses": _preset(config)["train"]["iterations"],
            "swapper_losses_warm": _preset(config)["warm_start"]["finetune_iterations"],
            "actor_losses": _preset(config)["warm_start"]["actor_iterations"],
            "sr_losses": _preset(config)["sr"]["iterations"]}


def _sections(config: Mapping[str, Any], **kinds: type[Settings]) -> dict[str, Any]:
    """Component configs from the config's top-level sections of the same names."""
    return {name: kind.from_config(config[name], name) for name, kind in kinds.items()}


_BUILDERS: dict[str, Callable[[Mapping[str, Any], Shot | None], StageSettings]] = {
    "ingest_actor": lambda c, shot: IngestActorSettings(c["ingest"]["max_frames"]),
    "ingest_dubber": lambda c, shot: IngestDubberSettings(**_sections(c, ingest=IngestConfig)),
    "face_geometry": lambda c, shot: FaceGeometrySettings(FaceMeshConfig.from_config(c["face_mesh"], "face_mesh"),
                                                          None),
    "actor_face_geometry": _actor_face_geometry,
    "visibility": lambda c, shot: VisibilitySettings(**_sections(c, visibility=VisibilityConfig)),
    "reference": lambda c, shot: ReferenceSettings(**_sections(c, reference=ReferenceConfig)),
    "virtual_dubber": _virtual_dubber,
    "align": lambda c, shot: AlignSettings(**_sections(c, align=AlignConfig, smoothing=SmoothingConfig)),
    "actor_crops": lambda c, shot: ActorCropsSettings(_preset(c)["crop_size"], **_sections(c, masks=MaskConfig)),
    "masks": lambda c, shot: MasksSettings(**_sections(c, masks=MaskConfig)),
    "self_pairs": lambda c, shot: SelfPairsSettings(**_sections(
        c, self_reenactment=SelfPairsConfig, builtin_dubber=VirtualDubberConfig, align=AlignConfig,
        smoothing=SmoothingConfig, face_mesh=FaceMeshConfig, masks=MaskConfig, reference=ReferenceConfig)),
    "pretrain": lambda c, shot: PretrainSettings(_swapper(c), _train(c, _preset(c)["pretrain"]), _losses(c),
                                                 **_sections(c, masks=MaskConfig)),
    "train_actor": lambda c, shot: TrainSwapperSettings(
        _swapper(c), _train(c, {"iterations": _preset(c)["warm_start"]["actor_iterations"]}), _losses(c),
        _stop(c, "train"), _paste(c).detail),
    "train_swapper": _train_swapper,
    "reenact": lambda c, shot: ReenactSettings(_paste(c)),
    "train_sr": _train_sr,
    "super_resolution": lambda c, shot: SuperResolutionSettings(_paste(c)),
    "mux": lambda c, shot: MuxSettings(c["mux"]["crf"], c["mux"]["odd_size"]),
    "master": lambda c, shot: MasterSettings(c["finishing"]["master"]),
    "evaluate": lambda c, shot: EvaluateSettings(
        paste=_paste(c), **_sections(c, face_mesh=FaceMeshConfig, evaluation=EvaluationConfig, qc=QCConfig)),
    "virtual_dubber_sheet": lambda c, shot: SheetSettings(c["report"]["sheet_frames"]),
    "output_sheet": lambda c, shot: SheetSettings(c["report"]["sheet_frames"]),
    "side_by_side": lambda c, shot: SideBySideSettings(c["report"]["preview_height"], c["report"]["preview_crf"]),
    "report": lambda c, shot: ReportSettings(ReportConfig.from_config(c["report"], "report"), c["preset"],
                                             dict(_preset(c)), _ceilings(c)),
    "conform": lambda c, shot: ConformSettings(c["conform"]["codec"]),
}

#: The rules that take settings (their names, as the rules and :func:`stage_settings` spell them).
STAGES = tuple(_BUILDERS)
