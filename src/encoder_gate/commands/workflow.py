"""The GitHub Actions workflow `encoder-gate init` writes: the PR's gate against its base.

Used by `encoder-gate init` (:mod:`encoder_gate.commands.init`).
"""

from __future__ import annotations

from encoder_gate.commands.layout import (
    BASE_SPEEDUPS,
    CACHE_DIR_NAME,
    COMPARE_FAIL,
    PYPROJECT,
    SPEED_MODULE,
    STORE_DIR_NAME,
)

_WORKFLOW = """\
# Gate every pull request on accuracy and speed with encoder-gate (written by `encoder-gate init`).
#
# One job on one runner: the PR's base is benchmarked first, then the PR, so both
# measurements share the runner's speed and only their difference matters.
#   1. base: `pytest benchmarks --benchmark-autosave` saves the speed baseline to $STORE, and
#      .encoder-gate/speedups.json (each backend's speedup over torch eager, same run);
#   2. PR: `pytest accuracy` (drift, F1 and padding for every backend), then the same
#      benchmarks with --benchmark-compare-fail=@COMPARE_FAIL@ (a benchmark whose minimum time
#      grew more than that fails) and the base's speedups (a backend whose speedup over torch
#      eager fell fails);
#   3. always: the report (markdown tables + PNG plots), the verdict in the job summary and
#      the raw results as an artifact.
# Both gates run even when the other one fails; the job fails when either does.
name: encoder-gate

on:
  pull_request:

env:
  PIP_DISABLE_PIP_VERSION_CHECK: "1"
  # timed rounds per benchmark and texts per batch sweep: enough to gate, short enough for CI
  ENCODER_GATE_BENCH_ROUNDS: "5"
  ENCODER_GATE_BENCH_TEXTS: "32"
  # the suite's artifact cache (models, exported ONNX files), shared by both runs
  CACHE: ${{ github.workspace }}/@CACHE_DIR@
  # pytest-benchmark's saves: the base's, then the PR's
  STORE: ${{ github.workspace }}/@STORE_DIR@
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

      # one environment for both runs, so the same encoder-gate judges the base and the PR
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
      # a gate failed, so the next push does not rebuild the exports
      - name: Restore the artifact cache
        id: cache
        uses: actions/cache/restore@v4
        with:
          path: ${{ env.CACHE }}
          key: encoder-gate-${{ runner.os }}-@VERSION@-${{ hashFiles(@HASH_FILES@) }}
          restore-keys: |
            encoder-gate-${{ runner.os }}-

      # 1. the baseline. Skipped when the base has no encoder-gate benchmarks yet (the PR
      #    that adds encoder-gate); a failing base only warns, since the gate judges the PR
      - name: Benchmarks on the base (the baseline)
        working-directory: base
        run: |
          if [ ! -f @SPEED_MODULE@ ]; then
            echo "::notice::the base has no @SPEED_MODULE@ yet (this PR adds encoder-gate): no speed baseline"
            exit 0
          fi
          status=0
          pytest benchmarks --benchmark-autosave --benchmark-storage "file://$STORE" \\
            --gate-cache-dir "$CACHE" || status=$?
          if [ -f .encoder-gate/speedups.json ]; then
            cp .encoder-gate/speedups.json "$GITHUB_WORKSPACE/@BASE_SPEEDUPS@"
          fi
          if [ "$status" -ne 0 ]; then
            echo "::warning::the base's benchmarks failed (exit $status): the PR is compared with their saves"
          fi

      # 2. the PR. `!cancelled()` rather than the default success(): the speed gate runs even
      #    after a failed accuracy gate; each failed step still fails the job
      - name: Accuracy gate on the PR
        if: ${{ !cancelled() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          pytest accuracy --gate-cache-dir "$CACHE"

      - name: Speed gate on the PR (compared with the base)
        if: ${{ !cancelled() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          compare=()
          if [ -n "$(ls -A "$STORE" 2>/dev/null)" ]; then
            compare+=(--benchmark-compare --benchmark-compare-fail=@COMPARE_FAIL@)
          else
            echo "::notice::the base saved no benchmarks: the PR's speed is measured, not compared"
          fi
          if [ -f "$GITHUB_WORKSPACE/@BASE_SPEEDUPS@" ]; then
            compare+=(--gate-speedup-baseline "$GITHUB_WORKSPACE/@BASE_SPEEDUPS@")
          fi
          pytest benchmarks --benchmark-autosave --benchmark-storage "file://$STORE" \\
            --gate-cache-dir "$CACHE" "${compare[@]}"

      # 3. always, pass or fail: the report, the verdict and the raw results
      - name: Report
        if: ${{ always() && steps.install.outcome == 'success' }}
        working-directory: pr
        run: |
          encoder-gate report --benchmarks "$STORE" --out .encoder-gate/report

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
            pr/.encoder-gate/speedups.json
            pr/.encoder-gate/verdict.md
            @BASE_SPEEDUPS@
            @STORE_DIR@/

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
        "@COMPARE_FAIL@": COMPARE_FAIL,
        "@CACHE_DIR@": CACHE_DIR_NAME,
        "@STORE_DIR@": STORE_DIR_NAME,
        "@BASE_SPEEDUPS@": BASE_SPEEDUPS,
        "@SPEED_MODULE@": SPEED_MODULE,
        "@VERSION@": version,
        "@HASH_FILES@": hash_files,
        "@LFS@": _LFS if lfs else "",
    }
    text = _WORKFLOW
    for token, value in replacements.items():
        text = text.replace(token, value)
    return text
