"""Per-rule software environments (envs/*.yaml) and the container recipes (containers/), checked statically.

Neither conda nor a container engine runs here, so nothing is built: the files are parsed and held
against the rules (rules/*.smk), the package's imports (src/vdub, read with ``ast``) and
pyproject.toml, so that a new import, a changed pin or a new rule cannot leave them behind.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the envs and the image use 3.11
    tomllib = pytest.importorskip("tomli")

from support import REPO  # noqa: E402

ENVS = REPO / "envs"
SRC = REPO / "src"
PKG = "vdub"
ROOT_VAR = "${VDUB_ROOT}"  # how the envs name the checkout (set by the Snakefile)
DOCKERFILE = REPO / "containers" / "Dockerfile"
DEFFILE = REPO / "containers" / "vdub.def"

# LivePortrait's own interpreter environment: no rule activates it. The virtual_dubber rule runs vdub in
# envs/face.yaml, and vdub starts LivePortrait's inference.py with the interpreter named by
# `liveportrait.python` in the config (docs/liveportrait.md: `conda env create -n liveportrait -f
# envs/liveportrait.yaml`). Its pins are upstream's, not pyproject's (Python 3.10, torch 2.3), and it does not
# install vdub, so the checks of vdub's environments do not apply to it; test_liveportrait_env checks it.
EXTERNAL_ENVS = {"liveportrait.yaml"}

# Import name -> the distribution that provides it (the names pyproject.toml declares).
IMPORT_TO_DIST = {
    "cv2": "opencv-contrib-python",
    "dlib": "dlib-bin",
    "face_recognition_models": "face-recognition-models",  # located with find_spec, never imported
    "ffmpeg": "ffmpeg-python",
    "lpips": "lpips",
    "matplotlib": "matplotlib",
    "mediapipe": "mediapipe",
    "numpy": "numpy",
    "opentimelineio": "opentimelineio",
    "otio_cmx3600_adapter": "otio-cmx3600-adapter",  # OpenTimelineIO loads its adapters as plugins
    "otio_fcp_adapter": "otio-fcp-adapter",
    "PIL": "pillow",
    "pytorch_fid": "pytorch-fid",
    "scipy": "scipy",
    "skimage": "scikit-image",
    "timm": "timm",
    "torch": "torch",
    "torchvision": "torchvision",
    "tqdm": "tqdm",
    "yaml": "pyyaml",
}
# Distributions an env may get without listing them: not pyproject dependencies, so nothing to pin.
TRANSITIVE_PROVIDERS = {"pillow": {"matplotlib", "torchvision", "scikit-image", "pytorch-fid"}}
# Imports that run an executable which the env must provide as a conda package.
IMPORT_NEEDS_CONDA = {"ffmpeg": "ffmpeg"}  # ffmpeg-python runs ffmpeg and ffprobe
# Debian packages the image needs, and why.
APT_PACKAGES = {"ffmpeg": "ffmpeg and ffprobe", "libgl1": "cv2 links libGL.so.1", "libglib2.0-0": "libgthread (cv2)"}

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(?P<version>[A-Za-z0-9.+!-]+)$")


def normalise(name: str) -> str:
    """PEP 503 name: lowercase, runs of ``-``, ``_`` and ``.`` become one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


# --- pyproject -------------------------------------------------------------------------------------------------


@cache
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


@cache
def pyproject_pins() -> dict[str, str]:
    """Normalised name -> version of every ``==`` requirement in [project] dependencies and optional-dependencies."""
    project = pyproject()["project"]
    specs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        specs += extra
    pins = {}
    for spec in specs:
        req = Requirement(spec)
        if normalise(req.name) == PKG:  # `all = ["vdub[face,torch,identity]"]`
            continue
        (only,) = req.specifier  # every pyproject requirement is one exact pin
        assert only.operator == "==", f"pyproject.toml: {spec!r} is not pinned with =="
        pins[normalise(req.name)] = only.version
    return pins


def runtime_dists() -> set[str]:
    """The core dependencies and those of the extras that `all` (what install.sh and the image install) names."""
    project = pyproject()["project"]
    extras = project["optional-dependencies"]
    (everything,) = [Requirement(s) for s in extras["all"]]
    specs = list(project["dependencies"]) + [s for e in sorted(everything.extras) for s in extras[e]]
    return {normalise(Requirement(s).name) for s in specs}


# --- envs ------------------------------------------------------------------------------------------------------


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml")) + sorted(ENVS.glob("*.yml"))


def project_env_files() -> list[Path]:
    return [p for p in env_files() if p.name not in EXTERNAL_ENVS]


@cache
def load_env(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def conda_deps(env: dict) -> list[str]:
    return [d for d in env["dependencies"] if isinstance(d, str)]


def pip_deps(env: dict) -> list[str]:
    lists = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return [line for pip in lists for line in pip]


def conda_names(env: dict) -> set[str]:
    return {re.split(r"[=<>!\s]", d, maxsplit=1)[0] for d in conda_deps(env)}


def env_pins(env: dict) -> dict[str, str]:
    pins = {}
    for line in pip_deps(env):
        m = PIN.match(line)
        if m:
            pins[normalise(m["name"])] = m["version"]
    return pins


def editable_targets(env: dict) -> list[str]:
    return [line.split(None, 1)[1] for line in pip_deps(env) if line.startswith(("-e ", "--editable "))]


def python_version(env: dict) -> str:
    (spec,) = [d for d in conda_deps(env) if re.match(r"python\b", d)]
    m = re.fullmatch(r"python=(\d+\.\d+)", spec)
    assert m, f"python must be pinned exactly, as python=3.X: {spec!r}"
    return m[1]


# --- rules -----------------------------------------------------------------------------------------------------

RULE_HEAD = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)
CONDA = re.compile(r"^\s+conda:[ \t]*(?:#.*)?\n?\s*(?P<value>\S.*?)\s*$", re.M)
VDUB_RUN = re.compile(r"python -m vdub\s+([a-z][a-z0-9-]*)")


@cache
def rules() -> dict[str, dict]:
    """rule name -> {file, conda (resolved Path or None), subcommands}; a rule ends at the next unindented line."""
    out = {}
    for smk in [REPO / "Snakefile", *sorted((REPO / "rules").glob("*.smk"))]:
        text = smk.read_text(encoding="utf-8")
        for head in RULE_HEAD.finditer(text):
            rest = text[head.end():]
            end = re.search(r"^(?=\S)(?!#)", rest, re.M)
            body = rest[: end.start()] if end else rest
            conda = None
            m = CONDA.search(body)
            if m:
                literal = re.match(r"([\"'])(.+?)\1\s*(?:#.*)?$", m["value"])
                assert literal, f"{smk.name}: rule {head[1]}: conda is not a string literal: {m['value']}"
                conda = (smk.parent / literal[2]).resolve()  # relative to the file that holds the rule
            out[head[1]] = {"file": smk.name, "conda": conda, "subcommands": VDUB_RUN.findall(body)}
    return out


def rules_by_env() -> dict[Path, list[str]]:
    by_env: dict[Path, list[str]] = {}
    for name, rule in rules().items():
        if rule["conda"] is not None:
            by_env.setdefault(rule["conda"], []).append(name)
    return by_env


@cache
def subcommand_functions() -> dict[str, tuple[str, str]]:
    """``python -m vdub`` subcommand -> (module, name) of its function (the parser's ``func`` default)."""
    from vdub.cli.main import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: (p.get_default("func").__module__, p.get_default("func").__name__) for name, p in sub.choices.items()}


# --- imports of the package, per function ----------------------------------------------------------------------
# A unit is (module, "<module>") for what runs on import, or (module, NAME) for a top-level function or class.
# A unit needs its module's import-time unit, the third-party imports inside it (lazy ones too), and every
# vdub function, class or module it names. Over-approximate on purpose (a class counts with all its methods).


@cache
def modules() -> dict[str, tuple[ast.Module, bool]]:
    out = {}
    for path in (SRC / PKG).rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        out[".".join(parts)] = (ast.parse(path.read_text(encoding="utf-8")), is_package)
    return out


def absolute(module: str, level: int, name: str | None) -> str:
    if not level:
        return name or ""
    base = module.split(".")
    if not modules()[module][1]:
        base.pop()
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":`` (does not run on import)."""
    return isinstance(node, ast.If) and isinstance(node.test, ast.Compare) \
        and getattr(node.test.left, "id", None) == "__name__"


def is_type_checking_block(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` (imports for annotations only: never run)."""
    return isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING"


def walk(node: ast.AST, into_functions: bool):
    """Descendants of node; without into_functions, only what runs on import (no function bodies, no main guard).

    ``if TYPE_CHECKING:`` blocks never run, in either mode."""
    for child in ast.iter_child_nodes(node):
        if is_type_checking_block(child):
            continue
        if not into_functions and (isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                                   or is_main_guard(child)):
            continue
        yield child
        yield from walk(child, into_functions)


def scan(module: str, nodes: list[ast.AST]) -> tuple[dict[str, tuple], set[str]]:
    """(vdub names bound by the imports among nodes, third-party top-level import names among them).

    A binding is ("module", dotted) or ("attr", dotted module, name).
    """
    bound: dict[str, tuple] = {}
    third: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if top == PKG:
                    bound[alias.asname or top] = ("module", alias.name if alias.asname else PKG)
                elif top not in sys.stdlib_module_names:
                    third.add(top)
        elif isinstance(node, ast.ImportFrom):
            source = absolute(module, node.level, node.module)
            top = source.split(".")[0]
            if top == PKG:
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    bound[alias.asname or alias.name] = ("module", sub) if sub in modules() else \
                        ("attr", source, alias.name)
            elif top not in sys.stdlib_module_names and top != "__future__":
                third.add(top)
    return bound, third


@cache
def module_info(module: str) -> tuple[dict[str, ast.AST], dict[str, tuple], dict[str, str]]:
    """(top-level functions and classes, import-time vdub bindings, module-level string constants)."""
    tree = modules()[module][0]
    defs = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    bound, _ = scan(module, list(walk(tree, into_functions=False)))
    consts = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
              and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
              for t in n.targets if isinstance(t, ast.Name)}
    return defs, bound, consts


def resolve(binding: tuple, attr: str | None = None) -> tuple[str, str]:
    """The unit a binding (or ``binding.attr``) names; follows re-exports."""
    kind, module, *name = binding
    if kind == "module":
        if attr is None:
            return module, "<module>"
        if f"{module}.{attr}" in modules():
            return f"{module}.{attr}", "<module>"
        name = [attr]
    defs, bound, _ = module_info(module)
    if name[0] in defs:
        return module, name[0]
    if name[0] in bound and bound[name[0]] != binding:
        return resolve(bound[name[0]])
    return module, "<module>"  # a constant or other module-level value


def unit_needs(unit: tuple[str, str]) -> tuple[set[tuple[str, str]], set[str]]:
    """(vdub units, third-party import names and located packages) one unit needs directly."""
    module, name = unit
    tree = modules()[module][0]
    defs, module_bound, consts = module_info(module)
    if name == "<module>":
        nodes = list(walk(tree, into_functions=False))
        local = {}
        units = {(b[1], "<module>") for b in module_bound.values()}
        if "." in module:
            units.add((module.rsplit(".", 1)[0], "<module>"))  # a submodule imports its package first
    else:
        nodes = list(walk(defs[name], into_functions=True))
        local, _ = scan(module, nodes)
        units = {(module, "<module>")} | {(b[1], "<module>") for b in local.values()}
    _, third = scan(module, nodes)
    names = {**module_bound, **local}
    for node in nodes:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in names \
                and names[node.value.id][0] == "module":
            units.add(resolve(names[node.value.id], node.attr))
        elif isinstance(node, ast.Name):
            if node.id in names:
                units.add(resolve(names[node.id]))
            elif node.id in defs and node.id != name:
                units.add((module, node.id))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == "find_spec":
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                third.add(arg.value.split(".")[0])
            elif isinstance(arg, ast.Name) and arg.id in consts:
                third.add(consts[arg.id].split(".")[0])
    return units, third


def third_party_needs(subcommand: str) -> set[str]:
    """Third-party top-level import names that ``python -m vdub <subcommand>`` may import.

    Entry: vdub.cli.main at import time and the subcommand's function. main() and build_parser() only name the
    other subcommands' functions; they do not call them.
    """
    todo = [("vdub", "<module>"), ("vdub.cli.main", "<module>"), subcommand_functions()[subcommand]]
    seen: set[tuple[str, str]] = set()
    needs: set[str] = set()
    while todo:
        unit = todo.pop()
        if unit in seen:
            continue
        seen.add(unit)
        units, third = unit_needs(unit)
        needs |= third
        todo += units - seen
    return needs


# --- containers ------------------------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#") or not (line or pending):  # Docker drops comment lines, also inside a RUN
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, args = line.partition(" ")
        out.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends in a continuation line"
    return out


@cache
def def_file() -> tuple[dict[str, str], dict[str, list[str]]]:
    """(header keywords, sections: name -> non-comment lines) of vdub.def."""
    header, sections, current = {}, {}, None
    for raw in DEFFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("%"):
            current = line[1:].split()[0]
            assert current not in sections, f"vdub.def: section %{current} twice"
            sections[current] = []
        elif current is None:
            key, sep, value = line.partition(":")
            assert sep, f"vdub.def: header line without 'Keyword:': {line!r}"
            header[key.strip().lower()] = value.strip()
        else:
            sections[current].append(line)
    return header, sections


def base_python(image: str) -> str:
    m = re.fullmatch(r"(?:docker\.io/)?(?:library/)?python:(\d+\.\d+)(?:\.\d+)?-slim-(\w+)", image)
    assert m, f"base image {image!r} is not an official python:3.X-slim-<debian> tag"
    return m[1]


def commands(script: str) -> list[list[str]]:
    """The simple commands of a shell script (split at ``&&``, ``||``, ``;``, ``|`` and newlines)."""
    out = []
    for line in script.splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        argv: list[str] = []
        for token in lexer:
            if token in {"&&", "||", ";", "|"}:
                out.append(argv)
                argv = []
            else:
                argv.append(token)
        out.append(argv)
    return [argv for argv in out if argv]


def apt_packages(script: str) -> set[str]:
    installs = [argv for argv in commands(script) if argv[:2] == ["apt-get", "install"]]
    assert len(installs) == 1, installs
    return {a for a in installs[0][2:] if not a.startswith("-")}


def project_install(script: str) -> tuple[str, set[str]]:
    """(path, extras) of the one ``pip install``, which must install the project and nothing else."""
    installs = [argv for argv in commands(script) if argv[:2] == ["pip", "install"]]
    assert len(installs) == 1, f"expected one pip install, found {installs}"
    targets = [a for a in installs[0][2:] if not a.startswith("-")]
    assert len(targets) == 1, f"pip install must install the project only (its pins are pyproject's): {targets}"
    m = re.fullmatch(r"(?P<path>[^\[\]]+)(?:\[(?P<extras>[\w,-]*)\])?", targets[0])
    assert m, targets[0]
    return m["path"], set(filter(None, (m["extras"] or "").split(",")))


def smoke_test(script: str) -> tuple[set[str], set[str], set[str]]:
    """(modules imported, packages located with find_spec, other commands) of the ``python -c`` checks in a script."""
    imported, located, other = set(), set(), set()
    for argv in commands(script):
        if argv[:2] == ["python", "-c"]:
            for node in ast.walk(ast.parse(argv[2])):
                if isinstance(node, ast.Import):
                    imported |= {a.name for a in node.names}
                elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "find_spec":
                    located.add(node.args[0].value)
        else:
            other.add(" ".join(argv))
    return imported, located, other


def required_imports() -> set[str]:
    """Import names of pyproject's runtime dependencies (face_recognition_models is located, not imported)."""
    dists = runtime_dists()
    return {name for name, dist in IMPORT_TO_DIST.items() if dist in dists}


# === tests =====================================================================================================


def test_every_vdub_rule_has_an_existing_env():
    vdub_rules = {name: r for name, r in rules().items() if r["subcommands"]}
    assert len(vdub_rules) >= 15, sorted(rules())  # the parser found the rules
    for name, rule in vdub_rules.items():
        assert rule["conda"] is not None, f"{rule['file']}: rule {name} runs vdub without a conda: env"
        assert rule["conda"].is_file(), f"{rule['file']}: rule {name}: {rule['conda']} does not exist"
        assert rule["conda"].parent == ENVS, f"rule {name}: env outside envs/: {rule['conda']}"
    for name, rule in rules().items():
        if rule["conda"] is not None:
            assert rule["subcommands"], f"rule {name} has a conda env but runs no `python -m vdub` (update this test)"


def test_every_env_is_used_by_a_rule():
    used = set(rules_by_env())
    for path in env_files():
        if path.name in EXTERNAL_ENVS:
            assert path not in used, f"{path.name} is documented as not used by rules, but a rule uses it"
        else:
            assert path in used, f"{path.name} is used by no rule"


def test_liveportrait_env():
    """LivePortrait's own env: documented where the config names its interpreter; it does not install vdub."""
    path = ENVS / "liveportrait.yaml"
    env = load_env(path)
    assert env["channels"] == ["conda-forge", "nodefaults"]
    python_version(env)
    assert not editable_targets(env), "LivePortrait's env runs inference.py, not vdub"
    assert "envs/liveportrait.yaml" in (REPO / "README.md").read_text(encoding="utf-8")
    config = (REPO / "config" / "config.yaml").read_text(encoding="utf-8")
    assert re.search(r"^\s+python:.*envs/liveportrait\.yaml", config, re.M), "liveportrait.python no longer points here"


@pytest.mark.parametrize("path", project_env_files(), ids=lambda p: p.name)
def test_env_is_pinned_to_pyproject(path):
    env = load_env(path)
    assert set(env) <= {"name", "channels", "dependencies"}, sorted(env)
    assert env["channels"] == ["conda-forge", "nodefaults"], "conda-forge only (no defaults channel)"
    python_version(env)
    for dep in conda_deps(env):
        assert re.fullmatch(r"[\w.-]+=[\w.]+", dep), f"conda package not pinned exactly: {dep!r}"
    assert "pip" in conda_names(env), "pip requirements need pip from conda-forge"
    pyp = pyproject_pins()
    for line in pip_deps(env):
        if line in (f"-e {ROOT_VAR}", f"--editable {ROOT_VAR}"):
            continue
        m = PIN.match(line)
        assert m, f"pip requirement not pinned with ==: {line!r}"
        name = normalise(m["name"])
        if name in pyp:
            assert m["version"] == pyp[name], f"{name}=={m['version']}, pyproject.toml pins {pyp[name]}"
    assert editable_targets(env) == [ROOT_VAR], f"the env must install vdub itself: pip `-e {ROOT_VAR}`"


def test_snakefile_points_the_envs_at_this_checkout():
    """Snakemake gives conda a copy of the env file (.snakemake/conda/<hash>.yaml), so `-e ..` would be
    .snakemake: the envs name the checkout through VDUB_ROOT, which the Snakefile sets to its own folder."""
    assert re.search(r"^os\.environ\.update\(VDUB_ROOT=workflow\.basedir\)$", (REPO / "Snakefile").read_text(), re.M)


def test_pip_expands_the_root_variable_from_a_copied_requirements_file(tmp_path):
    """What conda does with an env's pip section: a requirements file elsewhere, pip run in its folder."""
    elsewhere = tmp_path / ".snakemake" / "conda"
    elsewhere.mkdir(parents=True)
    (elsewhere / "requirements.txt").write_text(f"-e {ROOT_VAR}\n")
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--no-index",
                           "--no-build-isolation", "--quiet", "--report", str(report), "-r", "requirements.txt"],
                          cwd=elsewhere, env=dict(os.environ, VDUB_ROOT=str(REPO)), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (item,) = json.loads(report.read_text())["install"]
    assert item["metadata"]["name"] == PKG and item["download_info"]["url"] == REPO.as_uri(), item


@pytest.mark.parametrize("path", project_env_files(), ids=lambda p: p.name)
def test_env_provides_the_imports_of_its_rules(path):
    used_by = rules_by_env()[path]
    env = load_env(path)
    listed = set(env_pins(env))
    provided = listed | {dist for dist, via in TRANSITIVE_PROVIDERS.items() if via & listed}
    for rule in used_by:
        for sub in rules()[rule]["subcommands"]:
            assert sub in subcommand_functions(), f"rule {rule}: `python -m vdub {sub}` is no subcommand"
            for name in sorted(third_party_needs(sub)):
                assert name in IMPORT_TO_DIST, f"vdub {sub} imports {name}: add it to IMPORT_TO_DIST"
                dist = IMPORT_TO_DIST[name]
                assert dist in provided, f"{path.name}: rule {rule} (vdub {sub}) imports {name}, needs {dist}"
                executable = IMPORT_NEEDS_CONDA.get(name)
                assert executable is None or executable in conda_names(env), \
                    f"{path.name}: rule {rule} (vdub {sub}) runs {executable}: add it from conda-forge"


def test_import_analysis_sees_lazy_and_transitive_imports():
    """The analysis itself: lazy imports (inside functions) and imports of imported vdub modules count."""
    assert "mediapipe" in third_party_needs("face-geometry")  # face_mesh imports it inside a function
    assert "lpips" in third_party_needs("evaluate")  # evaluation -> perceptual, both lazily
    assert "face_recognition_models" in third_party_needs("evaluate")  # located with find_spec
    assert "timm" in third_party_needs("train-swapper")  # pipeline -> swapper.train -> swapper.network
    assert "torch" not in third_party_needs("ingest-actor")


@pytest.mark.parametrize("path", project_env_files(), ids=lambda p: p.name)
def test_env_pins_what_its_packages_pull_in(path):
    """A listed package's own requirements that pyproject pins are pinned in the env too (else pip picks any)."""
    env = load_env(path)
    pins = env_pins(env)
    pyp = pyproject_pins()
    marker_env = {"python_version": python_version(env), "extra": ""}
    for name in pins:
        if name not in pyp:
            continue
        for spec in metadata.requires(name) or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate(marker_env):
                continue
            dep = normalise(req.name)
            if dep in pyp and dep in runtime_dists():
                assert dep in pins, f"{path.name}: {name} requires {dep}; pin it as in pyproject: {dep}=={pyp[dep]}"


def test_envs_share_one_python_that_pyproject_admits():
    versions = {python_version(load_env(p)) for p in project_env_files()}
    assert len(versions) == 1, versions
    (version,) = versions
    assert SpecifierSet(pyproject()["project"]["requires-python"]).contains(version)


def test_import_table_covers_pyproject():
    dists = runtime_dists()
    assert dists <= set(IMPORT_TO_DIST.values()), dists - set(IMPORT_TO_DIST.values())
    assert set(IMPORT_TO_DIST.values()) - dists <= set(TRANSITIVE_PROVIDERS)


def test_dockerfile_lint():
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM", "FROM must come first"
    froms = [args for keyword, args in instructions if keyword == "FROM"]
    assert len(froms) == 1, froms
    image = froms[0].split()[0]
    assert ":" in image and not image.endswith(":latest"), f"base image without a fixed tag: {image}"
    for keyword, args in instructions:
        assert keyword in {"FROM", "LABEL", "RUN", "WORKDIR", "COPY", "ENV", "ARG"}, keyword
        if keyword == "RUN" and "apt-get install" in args:
            assert "apt-get update" in args, "apt-get update and install in one RUN"
            assert "--no-install-recommends" in args and " -y" in args
            assert "rm -rf /var/lib/apt/lists/*" in args, "apt lists not cleaned in the same RUN"
    labels = " ".join(args for keyword, args in instructions if keyword == "LABEL")
    m = re.search(r'org\.opencontainers\.image\.version="([^"]+)"', labels)
    assert m and m[1] == pyproject()["project"]["version"], "image version label != pyproject version"


def test_def_file_lint():
    header, sections = def_file()
    assert header["bootstrap"] == "docker"
    assert {"files", "post", "test", "labels"} <= set(sections), sorted(sections)
    post = "\n".join(sections["post"])
    assert sections["post"][0].startswith("set -e")
    assert sections["test"][0].startswith("set -e"), "%test without set -e reports only its last command"
    assert "rm -rf /var/lib/apt/lists/*" in post
    version = dict(line.split(None, 1) for line in sections["labels"]).get("Version")
    assert version == pyproject()["project"]["version"]
    for line in sections["files"]:
        src, dst = line.split()
        assert (REPO / src).exists(), f"%files: {src} (relative to the repository root, where it is built)"


def test_containers_match_pyproject_and_envs():
    docker = dockerfile_instructions()
    header, sections = def_file()
    docker_from = next(args for keyword, args in docker if keyword == "FROM").split()[0]
    assert header["from"] == docker_from, "the two recipes start from different images"
    (env_python,) = {python_version(load_env(p)) for p in project_env_files()}
    assert base_python(docker_from) == env_python, "image python != envs' python"
    needed = {"pyproject.toml", "src", pyproject()["project"]["readme"]}

    # Both install the project from its pyproject.toml (so every pin is pyproject's), with the same extras.
    workdir = next(args for keyword, args in docker if keyword == "WORKDIR")
    copied = {}
    for keyword, args in docker:
        if keyword == "COPY":
            *sources, dest = args.split()
            for source in sources:
                into = dest.endswith("/") or dest == "." or len(sources) > 1
                copied[source] = os.path.normpath(os.path.join(workdir, dest, source if into else ""))
    assert needed <= set(copied), needed - set(copied)
    docker_run = "\n".join(args for keyword, args in docker if keyword == "RUN")
    path, docker_extras = project_install(docker_run)
    assert os.path.normpath(os.path.join(workdir, path)) == os.path.dirname(copied["pyproject.toml"])
    files = dict(line.split() for line in sections["files"])
    assert needed <= set(files), needed - set(files)
    post = "\n".join(sections["post"])
    path, def_extras = project_install(post)
    assert os.path.normpath(path) == os.path.dirname(files["pyproject.toml"])
    assert docker_extras == def_extras
    assert def_extras <= set(pyproject()["project"]["optional-dependencies"])

    # Debian's ffmpeg (ffmpeg and ffprobe) and OpenCV's system libraries in both.
    for name, script in (("Dockerfile", docker_run), ("vdub.def", post)):
        missing = set(APT_PACKAGES) - apt_packages(script)
        assert not missing, f"{name}: apt-get install lacks {missing}"

    # The smoke tests import vdub and every runtime dependency, and run ffmpeg and ffprobe.
    for name, script in (("Dockerfile", docker_run), ("vdub.def %test", "\n".join(sections["test"]))):
        imported, located, other = smoke_test(script)
        missing = (required_imports() - {"face_recognition_models"} | {"vdub.cli.main"}) - imported
        assert not missing, f"{name}: smoke test does not import {missing}"
        assert located == {"face_recognition_models"}, name
        assert {"ffmpeg -version", "ffprobe -version"} <= other, name
