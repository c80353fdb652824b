"""Download into a folder the wheels the device machine's image lacks for the project (see bench/gpu_wheels.sh).

pip's resolver cannot be told "these are installed over there", so it would resolve (and fetch) torch and its
CUDA libraries, which the image has. This walks the dependency tree itself instead: it downloads each
distribution the image lacks with ``--no-deps`` for CPython 3.12 on manylinux x86-64, reads the wheel's own
Requires-Dist (markers evaluated for that interpreter, extras followed), and stops at every distribution that
bench/gpu_image_packages.txt lists. Versions are constraints.txt's where it pins one (the set tested here),
else the newest the requirement allows.

    python bench/gpu_wheels.py .whl
"""

import argparse
import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (39, 35, 34, 31, 28, 27, 24, 17)]
PLATFORMS += ["manylinux2014_x86_64", "manylinux1_x86_64", "linux_x86_64", "any"]
TARGET = ["--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp"]
TARGET += [flag for platform in PLATFORMS for flag in ("--platform", platform)]
# What the check never loads, left out to keep the carried tree well under 64 MiB (plotly alone is 9 MiB).
NOT_CARRIED = {
    "plotly": "the dashboard's plotly.js, read only when /ui asks for it",
    "psycopg": "PostgreSQL; the check's server uses SQLite",
    "redis": "the Redis broker; the check's server uses the filesystem broker",
}
# Carried even though the image has them: small, pure Python, and the carried packages want recent ones
# (pydantic >= 4.16 of typing-extensions, celery >= 8.3.1 of click) which an older image may not have; the
# versions are the ones tested here, and /tmp/site comes first on the device's PYTHONPATH.
CARRIED_OVER_THE_IMAGE = {"typing-extensions", "click", "python-dateutil"}
DEVICE_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}


def normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def listed(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins() -> dict[str, str]:
    """constraints.txt's ``name==version`` lines, by normalized name."""
    found = (line.split("==") for line in listed(ROOT / "constraints.txt") if "==" in line)
    return {normal(name): version.split(";")[0].strip() for name, version in found}


def applies(requirement: Requirement, extras: set[str]) -> bool:
    if requirement.marker is None:
        return True
    return any(requirement.marker.evaluate({**DEVICE_MARKERS, "extra": extra}) for extra in extras or {""})


def wheel_requirements(wheel: Path, extras: set[str]) -> list[Requirement]:
    """The wheel's Requires-Dist that apply on the device with ``extras`` asked for."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    return [r for r in requirements if applies(r, extras)]


def download(requirements: list[str], folder: Path) -> None:
    """One pip call for the lot; where that fails, each apart, building the ones PyPI has as source only."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *TARGET, "-d", str(folder)]
    if subprocess.run([*command, *requirements], capture_output=True).returncode == 0:
        return
    for requirement in requirements:  # pip names none of what it could not find once one is missing
        if subprocess.run([*command, requirement], capture_output=True).returncode != 0:
            build_pure_wheel(requirement, folder)


def build_pure_wheel(requirement: str, folder: Path) -> None:
    """Build a source-only distribution into a wheel here: fine only when it is pure Python (py3-none-any)."""
    before = set(folder.glob("*.whl"))
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(folder), requirement]
    subprocess.run(command, check=True)
    built = set(folder.glob("*.whl")) - before
    if not all(w.name.endswith("-none-any.whl") for w in built):
        raise SystemExit(f"{requirement} has no wheel for the device and is not pure Python: {built}")


def wheel_of(folder: Path, name: str) -> Path:
    return next(w for w in folder.glob("*.whl") if normal(w.name.split("-")[0]) == name)


def walk(roots: list[Requirement], folder: Path) -> list[str]:
    """Download the closure of ``roots`` minus the image's distributions, one dependency level per pip call."""
    image = {normal(name) for name in listed(BENCH / "gpu_image_packages.txt")} - CARRIED_OVER_THE_IMAGE
    present = image | set(NOT_CARRIED)
    pinned, extras_of, done = pins(), dict[str, set[str]](), set[str]()
    queue = roots
    while queue:
        level: dict[str, str] = {}  # name -> what to ask pip for
        for requirement in queue:
            name = normal(requirement.name)
            known = extras_of.setdefault(name, set())
            if name in present or (name in done and requirement.extras <= known):
                continue
            known.update(requirement.extras)  # a new extra re-reads a downloaded wheel's requirements
            level[name] = f"{name}=={pinned[name]}" if name in pinned else f"{name}{requirement.specifier}"
        if fresh := [asked for name, asked in level.items() if name not in done]:
            download(fresh, folder)
        done.update(level)
        queue = [dep for name in level for dep in wheel_requirements(wheel_of(folder, name), extras_of[name])]
    return sorted(w.name for w in folder.glob("*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    folder = parser.parse_args().folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.whl"):
        old.unlink()  # one version of each: two of one name stop the install on the device
    with (ROOT / "pyproject.toml").open("rb") as file:
        roots = [Requirement(line) for line in tomllib.load(file)["project"]["dependencies"]]
    wheels = walk(roots, folder)
    size = sum(w.stat().st_size for w in folder.glob("*.whl")) / 2**20
    print(f"{len(wheels)} wheels in {folder} ({size:.1f} MiB of the 64 MiB a device call carries):")
    print("  " + "\n  ".join(wheels))


if __name__ == "__main__":
    main()
