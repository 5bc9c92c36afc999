"""onnxruntime against eager torch for exported rnnkit graphs: one forward at a few shapes, and the
step latency that generation pays per token. Weights are random (latency does not depend on them);
sizes are the Tiny Shakespeare comparison's (about 1M parameters).

    python benchmarks/export.py [--threads 2] [--repeats 20]

Prints a table; asserts nothing. Both runtimes use the same number of threads.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rnnkit.export import models  # noqa: E402
from rnnkit.export.graph import Port, export_graph  # noqa: E402
from rnnkit.models import LanguageModel, LanguageModelConfig, SequenceClassifier, SequenceClassifierConfig  # noqa: E402


def timed(fn, repeats: int) -> float:
    """Median milliseconds of `fn()` after two warm-up calls."""
    fn(), fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def _zeros(ports: list, batch: int) -> list:
    return [torch.zeros(p.shape_at(batch)) for p in ports]


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp())
    rows = []
    for cell, hidden in (("lstm", 264), ("gru", 307)):
        model = LanguageModel(LanguageModelConfig(vocab_size=65, cell=cell, embedding_size=128, hidden_size=hidden, num_layers=2)).eval()
        leaves = models.state_names(model.rnn)
        state_ports = [Port(f"state_in_{n}", tuple(models.state_shape(model.rnn, n))) for n in leaves]
        out_ports = [Port(f"state_out_{n}", p.axes) for n, p in zip(leaves, state_ports)]
        zeros = partial(_zeros, state_ports)
        sequence, step = models.LMSequence(model).eval(), models.LMStep(model).eval()
        export_graph(sequence, (torch.randint(0, 65, (2, 7)), *zeros(2)), [Port("tokens", ("batch", "time"), "int64"), *state_ports],
                     [Port("logits", ("batch", "time", 65)), *out_ports], work / f"{cell}.onnx")
        export_graph(step, (torch.randint(0, 65, (2,)), torch.ones(2, dtype=torch.bool), *zeros(2)),
                     [Port("token", ("batch",), "int64"), Port("keep", ("batch",), "bool"), *state_ports],
                     [Port("logits", ("batch", 65)), *out_ports], work / f"{cell}-step.onnx")
        seq_sess, step_sess = session(work / f"{cell}.onnx", args.threads), session(work / f"{cell}-step.onnx", args.threads)
        for b, t in ((1, 256), (32, 256)):
            tokens = torch.randint(0, 65, (b, t))
            feeds = {"tokens": tokens.numpy(), **{p.name: z.numpy() for p, z in zip(state_ports, zeros(b))}}
            with torch.no_grad():
                eager = timed(partial(sequence, tokens, *zeros(b)), args.repeats)
            rows.append((f"{cell} LM 2x{hidden}, whole sequence", f"B={b} T={t}", eager, timed(partial(seq_sess.run, None, feeds), args.repeats)))
        token, state = torch.randint(0, 65, (1,)), zeros(1)
        feeds = {"token": token.numpy(), "keep": np.ones(1, dtype=bool), **{p.name: z.numpy() for p, z in zip(state_ports, state)}}
        with torch.no_grad():
            eager = timed(partial(model.step, token.unsqueeze(1), models.pack_state(tuple(state))), args.repeats * 5)
        rows.append((f"{cell} LM 2x{hidden}, one step (generation)", "B=1", eager, timed(partial(step_sess.run, None, feeds), args.repeats * 5)))
    classifier = SequenceClassifier(SequenceClassifierConfig(num_classes=2, vocab_size=16000, embedding_size=128, cell="lstm",
                                                             hidden_size=128, bidirectional=True, pooling="last")).eval()
    graph = models.ClassifierSequence(classifier).eval()
    export_graph(graph, (torch.randint(1, 16000, (2, 7)), torch.tensor([7, 4])),
                 [Port("inputs", ("batch", "time"), "int64"), Port("lengths", ("batch",), "int64")], [Port("logits", ("batch", 2))],
                 work / "classifier.onnx")
    sess = session(work / "classifier.onnx", args.threads)
    for b, t in ((1, 40), (32, 60)):
        inputs, lengths = torch.randint(1, 16000, (b, t)), torch.randint(t // 2, t + 1, (b,))
        lengths[0] = t
        feeds = {"inputs": inputs.numpy(), "lengths": lengths.numpy()}
        with torch.no_grad():
            eager = timed(partial(classifier, inputs, lengths), args.repeats)
        rows.append(("BiLSTM 128 text classifier, mixed lengths", f"B={b} T={t}", eager, timed(partial(sess.run, None, feeds), args.repeats)))
    print(f"\nmedian ms per call, {args.threads} threads (torch {torch.__version__}, onnxruntime {__import__('onnxruntime').__version__})")
    print("| graph | shape | eager torch | onnxruntime | ratio |\n|---|---|---|---|---|")
    for name, shape, eager, ort_ms in rows:
        print(f"| {name} | {shape} | {eager:.3f} | {ort_ms:.3f} | {eager / ort_ms:.2f}x |")


if __name__ == "__main__":
    main()
