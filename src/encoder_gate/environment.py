"""The installed stack against the window encoder-gate declares: one line for a package outside it.

pyproject.toml declares the supported window of every dependency (docs/configuration.md#dependencies);
pip holds an install to it, but an environment can leave it later (a `pip install` of another
project downgrading scipy, `--no-deps`, a conda environment). A gate session that starts on such a
stack fails deep inside a library (scipy's bootstrap, torch's exporter) with a traceback; this
check says it first, in one line naming the package, its version, the window and the fix.

    problems = outside_the_window()   # ["scipy 1.14.1 is outside ... (scipy>=1.15): pip install ..."]

Only what is installed is checked (an optional package that is absent is the backends' business:
they skip, naming it), and only requirements that apply to this environment (an extra's, such as
onnxruntime's, where the package is installed).
"""

from __future__ import annotations

from importlib import metadata

DISTRIBUTION = "encoder-gate"


def outside_the_window(distribution: str = DISTRIBUTION) -> list[str]:
    """One line for each installed dependency of `distribution` whose version its requirements do
    not allow; [] where all are inside, or where the metadata cannot be read (nothing to judge by)."""
    try:
        from packaging.requirements import InvalidRequirement, Requirement
        from packaging.version import InvalidVersion, Version

        required = metadata.requires(distribution) or []
    except (ImportError, metadata.PackageNotFoundError):
        return []
    problems = []
    for line in required:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if req.marker is not None and "extra" not in str(req.marker) and not req.marker.evaluate():
            continue  # a platform's or a Python's requirement that is not this one's
        try:
            installed = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            continue
        try:
            allowed = req.specifier.contains(Version(installed), prereleases=True)
        except InvalidVersion:
            continue
        if not allowed:
            problems.append(f"{req.name} {installed} is outside the versions encoder-gate supports "
                            f"({req.name}{req.specifier}): pip install '{req.name}{req.specifier}' "
                            "(docs/configuration.md#dependencies)")
    return problems
