"""The live dashboard's cost: `fit` with it vs without, in a real Jupyter kernel.

Notebook 03's defaults (CNN, Adam, lr 3e-3, batch 32, 15 epochs). The runs execute inside
an IPython kernel, so the figure is rendered to PNG and sent to the front end as it is in
JupyterLab. Variants are interleaved and repeated; the report gives median wall seconds and
ratios to `fit` without a plot (machines are noisy: only ratios from one run mean much).
Target: with the dashboard <= 1.2x without.

    python bench/dashboard.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics

from jupyter_client.manager import start_new_kernel

SETUP = """
import json, time
import labkit
from IPython.display import display
from labkit.plots import history_figure
data = labkit.load_digits(seed=0)
config = labkit.TrainConfig(lr=3e-3, batch_size=32, epochs=15, optimizer="adam", device="cpu")

def naive(history):  # what the dashboard used to do: a new figure, shown, every epoch
    display(history_figure(history))

def run(variant):
    labkit.seed_everything(0)
    model = labkit.build_model("cnn")
    on_epoch = {"none": None, "naive": naive,
                "dashboard": labkit.ui.LiveDashboard("bench", epochs=config.epochs).update}[variant]
    start = time.perf_counter()
    labkit.fit(model, data.train, config, val=data.val, on_epoch=on_epoch, show_progress=False)
    print(json.dumps({"variant": variant, "seconds": time.perf_counter() - start}))
"""
VARIANTS = ("none", "dashboard", "naive")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    km, kc = start_new_kernel(kernel_name="python3")
    lines: list[str] = []

    def collect(msg: dict) -> None:
        if msg["msg_type"] == "stream" and msg["content"]["name"] == "stdout":
            lines.extend(msg["content"]["text"].splitlines())
        if msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))

    try:
        kc.execute_interactive(SETUP, output_hook=collect, timeout=120)
        for r in range(args.repeats + 1):  # the first round warms up
            for variant in VARIANTS[r % 3 :] + VARIANTS[: r % 3]:  # rotate who goes first
                kc.execute_interactive(f"run({variant!r})", output_hook=collect, timeout=300)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)

    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for line in lines:
        if line.startswith("{"):
            row = json.loads(line)
            times[row["variant"]].append(row["seconds"])
    base = statistics.median(times["none"][1:])
    print("notebook 03 defaults (cnn, adam, lr 3e-3, batch 32, 15 epochs) in a kernel, "
          f"{args.repeats} interleaved repeats\n")  # fmt: skip
    print(f"  {'on_epoch':22s} {'median s':>9s} {'ratio':>7s}")
    names = {"none": "none", "dashboard": "LiveDashboard", "naive": "new figure each epoch"}
    for variant, values in times.items():
        median = statistics.median(values[1:])
        print(f"  {names[variant]:22s} {median:9.3f} {median / base:6.2f}x")


if __name__ == "__main__":
    main()
