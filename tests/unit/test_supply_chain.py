"""The dependency locks: every package pinned to one version with its files'
hashes (``make install`` installs with ``--require-hashes``), every requirement of
pyproject.toml satisfied by the lock (re-lock with ``make lock`` after changing one), no version
known to be bad, and the floors set after past advisories. (pip-audit is not run: this
machine's package registry serves no vulnerability data.)"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ("requirements.lock", "requirements-model.lock")
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^ \\]+)")

# Releases that must never be installed, should such a package ever become a dependency:
# litellm 1.82.7 and 1.82.8 were published from a hijacked maintainer account and steal
# credentials (PYSEC-2026-2).
DENIED = {("litellm", "1.82.7"), ("litellm", "1.82.8")}
# Lowest acceptable versions, set after past advisories (parser DoS bugs).
FLOORS = {"python-multipart": Version("0.0.31")}


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _entries(lock: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes), from a pip-compile lock."""
    entries: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in (ROOT / lock).read_text().splitlines():
        stripped = line.strip()
        if match := _PIN.match(line):
            current = _name(match.group(1))
            entries[current] = (Version(match.group(2)), 0)
        elif stripped.startswith("--hash=sha256:") and current is not None:
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
        elif stripped and not stripped.startswith("#"):
            pytest.fail(f"{lock}: not a pinned requirement or a hash: {line!r}")
    return entries


@pytest.mark.parametrize("lock", LOCKS)
def test_every_package_is_pinned_with_hashes(lock: str) -> None:
    entries = _entries(lock)
    assert entries
    unhashed = [name for name, (_, hashes) in entries.items() if hashes == 0]
    assert unhashed == []


def test_the_lock_satisfies_the_project() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = [Requirement(r) for r in project["dependencies"]]
    for extra in ("dev", "sandbox"):
        wanted += [Requirement(r) for r in project["optional-dependencies"][extra]]
    locked = _entries("requirements.lock")
    for requirement in wanted:
        name = _name(requirement.name)
        assert name in locked, f"{requirement} is not in requirements.lock: run `make lock`"
        version = locked[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name}=={version}, pyproject.toml wants {requirement}: "
            "run `make lock`"
        )


def test_no_denied_version_and_every_floor_met() -> None:
    locked = {name: version for lock in LOCKS for name, (version, _) in _entries(lock).items()}
    assert {(name, str(version)) for name, version in locked.items()} & DENIED == set()
    for name, floor in FLOORS.items():
        assert name in locked and locked[name] >= floor, f"{name} must be at least {floor}"
