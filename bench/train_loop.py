"""labkit's `fit` vs a hand-written PyTorch loop vs a DataLoader loop, side by side.

Same model, data, seed, optimizer and epochs; runs are interleaved and repeated, and the
report gives median seconds and ratios to the hand-written loop (machines are noisy, so
only ratios measured in one run are meaningful). Target: labkit <= 1.05x hand-written.

    python bench/train_loop.py [--repeats 7] [--epochs 10] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

import labkit


def hand_written(model, x, y, *, epochs, batch_size, lr, seed):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), batch_size):
            idx = order[i : i + batch_size]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def data_loader(model, x, y, *, epochs, batch_size, lr, seed):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(x, y), batch_size=batch_size, shuffle=True, generator=g)
    for _ in range(epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()


def labkit_fit(model, x, y, *, epochs, batch_size, lr, seed):
    cfg = labkit.TrainConfig(lr=lr, batch_size=batch_size, epochs=epochs, seed=seed, device="cpu")
    labkit.fit(model, labkit.Split(x, y), cfg, show_progress=False)


LOOPS = {"hand-written": hand_written, "labkit.fit": labkit_fit, "DataLoader": data_loader}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = labkit.load_digits(seed=0)
    x, y = data.train.x, data.train.y
    kw = dict(epochs=args.epochs, batch_size=args.batch_size, lr=3e-3, seed=0)
    print(f"digits train {tuple(x.shape)}, {args.epochs} epochs, batch {args.batch_size}, "
          f"Adam, {args.threads} threads, {args.repeats} repeats (interleaved)\n")  # fmt: skip

    for model_name in ("mlp", "cnn"):
        times: dict[str, list[float]] = {name: [] for name in LOOPS}
        final: dict[str, list[torch.Tensor]] = {}
        names = list(LOOPS)
        for r in range(args.repeats + 1):  # the first round is a warm-up
            for name in names[r % 3 :] + names[: r % 3]:  # rotate who runs first
                loop = LOOPS[name]
                labkit.seed_everything(0)
                model = labkit.build_model(model_name)
                start = time.perf_counter()
                loop(model, x, y, **kw)
                times[name].append(time.perf_counter() - start)
                final[name] = [p.detach().clone() for p in model.parameters()]
        base = statistics.median(times["hand-written"][1:])
        print(f"{model_name}: {labkit.models.describe(model)}")
        print(f"  {'loop':14s} {'median s':>9s} {'ratio':>7s}")
        for name, values in times.items():
            median = statistics.median(values[1:])
            print(f"  {name:14s} {median:9.3f} {median / base:6.2f}x")
        same = all(
            torch.equal(a, b)
            for a, b in zip(final["labkit.fit"], final["hand-written"], strict=True)
        )
        print(f"  labkit.fit and the hand-written loop end with identical weights: {same}\n")


if __name__ == "__main__":
    main()
