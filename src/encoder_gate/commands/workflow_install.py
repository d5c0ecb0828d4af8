"""The install steps of the workflow `encoder-gate init` writes: Python, torch (the CPU build, or on a
GPU runner PyPI's CUDA build, at the release the PR's requirements resolve to) and encoder-gate.

Used by :mod:`encoder_gate.commands.workflow` and :mod:`encoder_gate.commands.install_source`.
"""

from __future__ import annotations

import shlex

#: Python and encoder-gate in a job's venv, torch first (@TORCH@); @REQUIREMENTS@: what else the
#: job installs (the gate job: the PR's requirements.txt, for the code it runs).
_INSTALL = """\
      - uses: @SETUP_PYTHON@
        with:
          python-version: "@PYTHON@"
      - name: Install encoder-gate
        id: install
        run: |
          python -m venv venv
@TORCH@          @INSTALL_ENCODER_GATE@
@REQUIREMENTS@          echo "$GITHUB_WORKSPACE/venv/bin" >> "$GITHUB_PATH"
"""
#: PyTorch's index of its CPU builds (PyPI's Linux x86-64 torch is the CUDA build)
CPU_TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
#: torch for a job that installs no requirements (the verdict, the history)
_CPU_TORCH = f"""\
          # CPU-only torch first, so nothing below pulls the CUDA build
          @VENV@/bin/pip install -q torch --index-url {CPU_TORCH_INDEX}
"""
#: torch for a job that installs a requirements.txt (@REQS@) beside encoder-gate (@GATE_REQ@):
#: first, at the release pip resolves both to; then @WHICH@ (the CPU build, or on a GPU runner
#: PyPI's CUDA build)
_RESOLVED_TORCH = """\
          # torch first, at the release pip resolves the requirements and encoder-gate to (a dry
          # run; else the newest): a @REQS_FILE@ pinning another torch would replace it
          # below, on a CPU runner with PyPI's CUDA build (about 3 GB)
          torch=torch
          if [ -f @REQS@ ]; then
            @VENV@/bin/pip install -q --dry-run --report @VENV@/resolved.json -r @REQS@ @GATE_REQ@
            torch=$(@VENV@/bin/python -c '@PICK_TORCH@' @VENV@/resolved.json)
          fi
@WHICH@"""
#: Python reading pip's installation report (`--report`): `torch==VERSION` where it installs torch
_PICK_TORCH = ('import json, sys; report = json.load(open(sys.argv[1])); found = [p["metadata"]["version"] '
               'for p in report["install"] if p["metadata"]["name"].lower() == "torch"]; '
               'print("torch==" + found[0] if found else "torch")')
_CPU_WHICH = f"""\
          @VENV@/bin/pip install -q "$torch" --index-url {CPU_TORCH_INDEX}
"""
_CUDA_WHICH = """\
          # torch's CUDA build (PyPI's own on Linux x86-64) and onnxruntime-gpu through encoder-gate[gpu],
          # never beside onnxruntime (they ship one module); dynamic INT8 is judged on this runner's
          # CPU in the same job (a file with no CUDA kernels), against torch eager on the CPU
          @VENV@/bin/pip install -q "$torch"
"""
#: The gate job's: the PR's requirements beside encoder-gate, for the code it runs.
_PR_REQUIREMENTS = """\
          if [ -f @PR@/@REQS_FILE@ ]; then venv/bin/pip install -q -r @PR@/@REQS_FILE@; fi
          # what is installed, for the artifact cache's key
          venv/bin/pip freeze > @INSTALLED@
"""
INSTALL_GATE = _INSTALL.replace("@REQUIREMENTS@", _PR_REQUIREMENTS).replace(
    "@TORCH@", "@GATE_TORCH@").replace("@INSTALL_ENCODER_GATE@", "@INSTALL_GATE@")
#: The gate job's installed libraries (`pip freeze`), a part of the artifact cache's key: the artifacts
#: are built with them, and a key of the model and pyproject alone matched after a new torch or
#: onnxruntime, so the cache was never saved again and every run rebuilt every export (a trial's reading)
INSTALLED = "venv/installed.txt"
#: A job that runs encoder-gate on results and no code of the PR's (the verdict, the history).
INSTALL_TOOLS = _INSTALL.replace("@REQUIREMENTS@", "").replace("@TORCH@", _CPU_TORCH)
#: The venv of the base's own requirements (a PR that changes requirements.txt), beside pr/ and base/ (the
#: workflow names it from the project's directory: workflow.project_paths)
BASE_VENV = "base-venv"


def install_command(requirement: str, venv: str = "venv") -> str:
    """The workflow's line that installs encoder-gate into ``venv``: pip with ``requirement``, quoted
    for bash."""
    return f"{venv}/bin/pip install -q {shlex.quote(requirement)}"


def gate_torch(requirement: str, gpu_requirement: str | None, *, venv: str, reqs_file: str, reqs: str) -> str:
    """The lines that install torch into ``venv`` first: at the release pip resolves the requirements
    file ``reqs`` (named ``reqs_file`` in the repository) and encoder-gate to, the CPU build
    (``gpu_requirement`` None) or PyPI's CUDA build beside ``gpu_requirement`` (encoder-gate[gpu])."""
    lines = _RESOLVED_TORCH.replace("@WHICH@", _CUDA_WHICH if gpu_requirement else _CPU_WHICH)
    for token, value in (("@PICK_TORCH@", _PICK_TORCH),
                         ("@GATE_REQ@", shlex.quote(gpu_requirement or requirement)),
                         ("@REQS_FILE@", reqs_file), ("@VENV@", venv), ("@REQS@", reqs)):
        lines = lines.replace(token, value)
    return lines
