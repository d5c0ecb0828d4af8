"""ONNX files made slower on purpose with the same outputs: what the speed A/B must catch.

    slowed_onnx(Path("onnx/model.onnx"), Path("pr/onnx/model.onnx"), blocks=4)

The copy gains a side branch that does real work on every token, `blocks` times
tanh(x @ W) with W of `width` x `width`, and whose result enters the first output multiplied
by zero: the outputs are bit for bit the same (tanh keeps every value finite, so 0 * value
is 0), while the work grows with the batch and the sequence like the model's own. How much
slower a number of blocks makes a given model is measured, not assumed (`calibrate_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from encoder_gate.errors import GateError
from encoder_gate.speed.rounds import timed

PREFIX = "encoder_gate_slowdown"


def slowed_onnx(src: Path, dst: Path, blocks: int, *, width: int = 256, seed: int = 0) -> Path:
    """Write a copy of `src` to `dst` with `blocks` blocks of extra work and unchanged outputs."""
    if blocks < 1:
        raise ValueError("blocks must be at least 1")
    model = onnx.load(str(src), format="protobuf", load_external_data=True)
    graph = model.graph
    ids = next((i.name for i in graph.input if i.name == "input_ids"), None)
    if ids is None or not graph.output:
        raise GateError(f"{src} has no input_ids input or no output: cannot add a side branch to it")
    out_name = graph.output[0].name
    inner = f"{PREFIX}_original_{out_name}"
    for node in graph.node:  # the producer of the first output now writes `inner`
        node.output[:] = [inner if o == out_name else o for o in node.output]
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array(rng.standard_normal((1, width)).astype(np.float32), f"{PREFIX}_w_in"),
             numpy_helper.from_array(np.zeros((), np.float32), f"{PREFIX}_zero"),
             numpy_helper.from_array(np.array([1, 2], np.int64), f"{PREFIX}_axes_sum"),
             numpy_helper.from_array(np.array([-1], np.int64), f"{PREFIX}_axes_last")]
    nodes = [helper.make_node("Cast", [ids], [f"{PREFIX}_f"], to=TensorProto.FLOAT),
             helper.make_node("Unsqueeze", [f"{PREFIX}_f", f"{PREFIX}_axes_last"], [f"{PREFIX}_u"]),
             helper.make_node("MatMul", [f"{PREFIX}_u", f"{PREFIX}_w_in"], [f"{PREFIX}_x0"])]
    x = f"{PREFIX}_x0"
    for b in range(blocks):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"{PREFIX}_w{b}"))
        nodes += [helper.make_node("MatMul", [x, f"{PREFIX}_w{b}"], [f"{PREFIX}_m{b}"]),
                  helper.make_node("Tanh", [f"{PREFIX}_m{b}"], [f"{PREFIX}_t{b}"])]
        x = f"{PREFIX}_t{b}"
    nodes += [helper.make_node("ReduceSum", [x, f"{PREFIX}_axes_sum"], [f"{PREFIX}_s"], keepdims=0),
              helper.make_node("Mul", [f"{PREFIX}_s", f"{PREFIX}_zero"], [f"{PREFIX}_z"]),
              helper.make_node("Unsqueeze", [f"{PREFIX}_z", f"{PREFIX}_axes_last"], [f"{PREFIX}_zcol"])]
    # a (batch, 1) zero broadcasts over the labels; a 3-d output (hidden states) gets (batch, 1, 1)
    rank = len(graph.output[0].type.tensor_type.shape.dim)
    if rank == 3:
        nodes.append(helper.make_node("Unsqueeze", [f"{PREFIX}_zcol", f"{PREFIX}_axes_last"],
                                      [f"{PREFIX}_zcube"]))
    zero = f"{PREFIX}_zcube" if rank == 3 else f"{PREFIX}_zcol"
    nodes.append(helper.make_node("Add", [inner, zero], [out_name]))
    graph.node.extend(nodes)
    graph.initializer.extend(inits)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst


def calibrate_blocks(time_of: Callable[[Path], float], src: Path, workdir: Path, target: float, *,
                     width: int = 256, max_blocks: int = 512, attempts: int = 3) -> tuple[int, float]:
    """The number of blocks that makes `src` about `target` times slower, by measurement:
    `time_of(path)` times a file (the caller's batches and threads). Returns (blocks, measured ratio).

    A probe of 8 blocks gives the cost of one; a probe lost in the noise (it added less than a
    twentieth of the file's time, as when a neighbour took the core's cache) is made 4x larger, up to
    `max_blocks`, so a loaded machine needs a larger probe rather than failing. The file with the
    blocks that cost predicts is then measured, and while it falls short of three quarters of the
    wanted slowdown the blocks are scaled by the shortfall, up to `attempts` files.
    """
    def fastest(path: Path) -> float:
        return min(time_of(path) for _ in range(3))

    base = fastest(src)
    probe = 8
    while True:
        trial = slowed_onnx(src, workdir / "probe.onnx", probe, width=width)
        extra = fastest(trial) - base
        if extra > base / 20 or probe >= max_blocks:
            break
        probe = min(max_blocks, probe * 4)
    per_block = extra / probe
    if per_block <= 0:
        raise GateError(f"{probe} extra blocks of width {width} did not measurably slow the model down on "
                        "this machine (thread CPU time, fastest of 3): raise the width")
    blocks = max(1, min(max_blocks, round((target - 1) * base / per_block)))
    for attempt in range(attempts):
        out = slowed_onnx(src, workdir / "calibrated.onnx", blocks, width=width)
        ratio = fastest(out) / min(base, fastest(src))
        if ratio - 1 >= 0.75 * (target - 1) or attempt == attempts - 1 or blocks >= max_blocks:
            break
        grow = (target - 1) / max(ratio - 1, 0.25 * (target - 1))
        blocks = max(blocks + 1, min(max_blocks, round(blocks * grow)))
    return blocks, ratio


def thread_seconds(run: Callable[[], object], repeats: int = 1) -> float:
    """The calling thread's CPU seconds of `repeats` calls of `run`."""
    return timed(run, repeats)[0]
