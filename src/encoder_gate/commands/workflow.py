"""The GitHub Actions workflow `encoder-gate init` writes: the PR's gate against its base.

Used by `encoder-gate init` (:mod:`encoder_gate.commands.init`).
"""

from __future__ import annotations

from encoder_gate.commands.layout import CACHE_DIR_NAME, PYPROJECT
from encoder_gate.config import GateConfig
from encoder_gate.reporting.verdict import AB_FILE

_WORKFLOW = """\
# Gate every pull request on accuracy and speed with encoder-gate (written by `encoder-gate init`).
#
# One job, one runner, one pytest session: the PR against its base, checked out beside it.
#   `pytest accuracy benchmarks --gate-base ../base` builds every backend twice, the base's and
#   the PR's (what the PR did not change is built once: artifacts are content-addressed);
#   - speed: each (backend, batch size) times the base and the PR in interleaved rounds of
#     random order on the thread's CPU time, so the runner's load hits both alike; a cell fails
#     when the PR is significantly and at least @MIN_SLOWDOWN@ slower (Holm across cells);
#   - accuracy: each backend's F1 against the base's on the PR's texts (paired bootstrap CI,
#     McNemar, per label), and the usual checks of every backend against this PR's torch.
#   Then, always: the report (tables + PNG plots), the verdict in the job summary, and the raw
#   results as an artifact. The PR that adds encoder-gate has no base to compare with: it is
#   gated on its own (accuracy, and each backend's speedup over torch eager in the same run).
name: encoder-gate

on:
  pull_request:

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
  # without a base only: timed rounds per benchmark and texts per batch sweep
  ENCODER_GATE_BENCH_ROUNDS: "5"
  ENCODER_GATE_BENCH_TEXTS: "32"
  # the suite's artifact cache (models, exported ONNX files), shared by the base and the PR
  CACHE: ${{ github.workspace }}/@CACHE_DIR@
  # a private model on the Hugging Face hub needs a token (add it as a repository secret):
  # HF_TOKEN: ${{ secrets.HF_TOKEN }}

jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 60
    steps:
      # the base (the target branch where the PR starts) and the PR, side by side
      - name: Check out the base
        uses: actions/checkout@v4
        with:
          ref: ${{ github.event.pull_request.base.sha }}
          path: base@LFS@
      - name: Check out the PR
        uses: actions/checkout@v4
        with:
          path: pr@LFS@

      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"

      # one environment, the PR's, judges both sides (a PR that upgrades onnxruntime is
      # measured with the new onnxruntime on both; the verdict says so)
      - name: Install encoder-gate
        id: install
        run: |
          python -m venv venv
          # CPU-only torch first, so nothing below pulls the CUDA build
          venv/bin/pip install -q torch --index-url https://download.pytorch.org/whl/cpu
          venv/bin/pip install -q "encoder-gate[cpu]==@VERSION@"
          if [ -f pr/requirements.txt ]; then venv/bin/pip install -q -r pr/requirements.txt; fi
          echo "$GITHUB_WORKSPACE/venv/bin" >> "$GITHUB_PATH"

      # the artifact cache is content-addressed (entries are keyed by the model's files and
      # the toolchain), so restoring an older cache is safe; it is saved at the end even when
      # the gate failed, so the next push does not rebuild the exports
      - name: Restore the artifact cache
        id: cache
        uses: actions/cache/restore@v4
        with:
          path: ${{ env.CACHE }}
          key: encoder-gate-${{ runner.os }}-@VERSION@-${{ hashFiles(@HASH_FILES@) }}
          restore-keys: |
            encoder-gate-${{ runner.os }}-

      - name: Gate the PR against its base
        working-directory: pr
        run: |
          base=()
          if grep -qs '^\\[tool\\.encoder-gate[].]' ../base/@PYPROJECT@; then
            base=(--gate-base ../base)
          else
            echo "::notice::the base has no [tool.encoder-gate] yet (this PR adds encoder-gate):" \\
              "the PR is gated on its own, not against a base"
          fi
          pytest accuracy benchmarks --gate-cache-dir "$CACHE" "${base[@]}"

      # always, pass or fail: the report, the verdict and the raw results
      - name: Report
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          encoder-gate report --out .encoder-gate/report

      - name: Verdict in the job summary
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          encoder-gate verdict >> "$GITHUB_STEP_SUMMARY"

      - name: Upload the report and the raw results
        if: always()
        uses: actions/upload-artifact@v4
        with:
          name: encoder-gate-report
          path: |
            pr/.encoder-gate/report/
            pr/.encoder-gate/accuracy.*
            pr/.encoder-gate/@AB_FILE@
            pr/.encoder-gate/speedups.json
            pr/.encoder-gate/verdict.md

      - name: Save the artifact cache
        if: ${{ !cancelled() && steps.cache.outputs.cache-hit != 'true' }}
        uses: actions/cache/save@v4
        with:
          path: ${{ env.CACHE }}
          key: ${{ steps.cache.outputs.cache-primary-key }}
"""

_LFS = "\n          lfs: true  # the model's weights are in Git LFS (.gitattributes)"


def render_workflow(*, model_dir: str | None, version: str, lfs: bool = False) -> str:
    """The PR workflow. ``model_dir``: the model directory's glob relative to the repository
    (its files key the artifact cache), None for a hub or builtin model."""
    globs = [f"pr/{model_dir}" if model_dir else None, f"pr/{PYPROJECT}"]
    hash_files = ", ".join("'" + g.replace("'", "''") + "'" for g in globs if g)
    replacements = {
        "@MIN_SLOWDOWN@": f"{GateConfig().min_slowdown:.0%}",
        "@CACHE_DIR@": CACHE_DIR_NAME,
        "@PYPROJECT@": PYPROJECT,
        "@AB_FILE@": AB_FILE,
        "@VERSION@": version,
        "@HASH_FILES@": hash_files,
        "@LFS@": _LFS if lfs else "",
    }
    text = _WORKFLOW
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text
