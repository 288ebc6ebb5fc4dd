"""Train a SimpleCNN with the reference stack on scikit-learn's digits.

Run::

    python -m tinytorch_ref.train_digits [--epochs 15] [--seed 0] [--out artifacts/train] [--budget-seconds S]

What it does:

* data: ``sklearn.datasets.load_digits()`` (1,797 images of 8x8 pixels with
  values 0..16, shipped inside scikit-learn), scaled to [0, 1] and shaped
  (N, 1, 8, 8), float32; a fixed stratified 80/20 split
  (``train_test_split(..., stratify=y, random_state=0)``: 1,437 train, 360
  held out), the same whatever ``--seed`` says, so runs are comparable;
* model: ``SimpleCNN(num_classes=10, in_channels=1, image_size=8)`` from
  :mod:`tinytorch_ref.spatial`, unchanged (conv 3x3 32 -> ReLU -> maxpool 2
  -> conv 3x3 64 -> ReLU -> maxpool 2 -> flatten -> linear; 21,386
  parameters), its parameters cast to float32;
* training: ``Adam``, learning rate 5e-3 with a cosine decay per epoch,
  minibatches of 32 from ``DataLoader(shuffle=True)``, each training image
  shifted by a random -1..1 pixel per axis (zero fill) every time it is drawn,
  softmax cross-entropy; ``--seed`` seeds the initialisation, the shuffling
  and the shifts; the held-out accuracy is measured after every epoch;
* output: a tqdm bar over the batches (loss, held-out accuracy), then the
  final held-out accuracy, the training wall time and the parameter count;
  two PNGs in ``--out``: ``curves.png`` (train loss and held-out accuracy per
  epoch) and ``feature_maps.png`` (one held-out digit and the 32 channels of
  the first convolution after its ReLU, on a shared colour scale).

numpy's BLAS runs on one thread while training (threadpoolctl, a dependency of
scikit-learn): the matrices of this small network are too small for a second
thread to pay off, and on a busy machine a second thread slows epochs down.

``--budget-seconds`` stops training after the batch during which the budget
ran out (the last epoch is then partial), evaluates, and reports as usual.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from .core import Adam, DataLoader, Tensor, cross_entropy, no_grad
from .core.nn import Module
from .spatial import SimpleCNN, count_parameters

__all__ = ["load_data", "build_model", "evaluate", "train", "main"]

SPLIT_SEED = 0          # the held-out set never changes
HELD_OUT = 0.2
BATCH_SIZE = 32
LEARNING_RATE = 5e-3
DEFAULT_EPOCHS = 15
DEFAULT_OUT = os.path.join("artifacts", "train")
DTYPE = np.float32


def load_data():
    """``(x_train, x_test, y_train, y_test)``: digits in [0, 1], shape (N, 1, 8, 8), stratified 80/20."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(DTYPE)[:, None, :, :]
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=HELD_OUT, stratify=y, random_state=SPLIT_SEED)


def random_shift(x: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Move every image of ``x`` (N, C, H, W) by its own random offset in [-max_shift, max_shift]
    along each axis, filling with zeros (the background)."""
    n, _, h, w = x.shape
    m = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))
    dy, dx = rng.integers(0, 2 * m + 1, n), rng.integers(0, 2 * m + 1, n)
    out = np.empty_like(x)
    for oy in range(2 * m + 1):          # one vectorised copy per offset
        for ox in range(2 * m + 1):
            idx = np.flatnonzero((dy == oy) & (dx == ox))
            out[idx] = padded[idx, :, oy:oy + h, ox:ox + w]
    return out


def build_model(seed: int) -> SimpleCNN:
    """``SimpleCNN(10, in_channels=1, image_size=8)`` initialised from ``seed``, parameters in float32."""
    np.random.seed(seed)                 # Conv2d and Linear draw their weights from np.random
    model = SimpleCNN(num_classes=10, in_channels=1, image_size=8)
    for p in model.parameters():
        p.data = p.data.astype(DTYPE)
    return model


def evaluate(model: Module, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of ``model`` on ``(x, y)``, without recording a graph."""
    with no_grad():
        logits = model(Tensor(x)).data
    return float((logits.argmax(axis=1) == y).mean())


def train(epochs: int = DEFAULT_EPOCHS, seed: int = 0, out_dir: str | None = None,
          budget_seconds: float | None = None, progress: bool = True, augment: bool = True) -> dict:
    """Train, evaluate after every epoch, optionally write the two PNGs.

    Args:
        epochs: passes over the training set.
        seed: initialisation, shuffling and shifts (the split is fixed).
        out_dir: where to write ``curves.png`` and ``feature_maps.png``
            (created if needed); None writes nothing.
        budget_seconds: stop after the batch during which this much training
            time has passed; None: no limit.
        progress: show a tqdm bar (on stderr).
        augment: shift each training image by a random -1..1 pixel in each
            direction, anew every batch (the held-out images are never shifted).

    Returns a dict:
        accuracy: final held-out accuracy; seconds: wall time of training and
        evaluation (data loading and plotting excluded); epochs: epochs run
        (the last may be partial); stopped_early: the budget ran out;
        losses / train_accuracies: per epoch, mean over its batches;
        accuracies: held-out accuracy after each epoch; parameters: the count;
        held_out: the number of held-out digits;
        paths: ``{"curves": ..., "feature_maps": ...}`` ({} when out_dir is None);
        model: the trained model.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    x_train, x_test, y_train, y_test = load_data()
    model = build_model(seed)
    optimizer = Adam(model.parameters(), lr=LEARNING_RATE)
    loader = DataLoader(x_train, y_train, batch_size=BATCH_SIZE, shuffle=True, seed=seed)

    losses: list[float] = []
    train_accuracies: list[float] = []
    accuracies: list[float] = []
    stopped_early = False
    shift_rng = np.random.default_rng([seed, 1])
    bar = tqdm(total=epochs * len(loader), disable=not progress, unit="batch", leave=True)
    with threadpool_limits(limits=1, user_api="blas"):
        start = time.perf_counter()
        for epoch in range(epochs):
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            # cosine decay per epoch, from LEARNING_RATE to about 0: smooths the last epochs
            optimizer.lr = LEARNING_RATE * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
            loss_sum, correct, seen = 0.0, 0, 0
            for xb, yb in loader:
                if augment:
                    xb = Tensor(random_shift(xb.data, shift_rng))
                logits = model(xb)
                loss = cross_entropy(logits, yb)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                loss_sum += loss.item() * len(yb)
                correct += int((logits.data.argmax(axis=1) == yb).sum())
                seen += len(yb)
                bar.update()
                if bar.n % 10 == 0:
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}",
                                    held_out=f"{accuracies[-1]:.4f}" if accuracies else "-", refresh=False)
                if budget_seconds is not None and time.perf_counter() - start >= budget_seconds:
                    stopped_early = True
                    break
            losses.append(loss_sum / seen)
            train_accuracies.append(correct / seen)
            accuracies.append(evaluate(model, x_test, y_test))
            bar.set_postfix(loss=f"{losses[-1]:.4f}", held_out=f"{accuracies[-1]:.4f}")
            if stopped_early:
                break
        seconds = time.perf_counter() - start
    bar.close()

    paths: dict[str, str] = {}
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
        paths["curves"] = plot_curves(losses, train_accuracies, accuracies, os.path.join(out_dir, "curves.png"))
        paths["feature_maps"] = plot_feature_maps(model, x_test[0], int(y_test[0]),
                                                  os.path.join(out_dir, "feature_maps.png"))
    return {
        "accuracy": accuracies[-1], "seconds": seconds, "epochs": len(losses), "stopped_early": stopped_early,
        "losses": losses, "train_accuracies": train_accuracies, "accuracies": accuracies,
        "parameters": count_parameters(model), "held_out": len(y_test), "paths": paths, "model": model,
    }


# ------------------------------------------------------------------ plots
def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_curves(losses, train_accuracies, accuracies, path: str) -> str:
    """Train loss (left) and train / held-out accuracy (right) per epoch."""
    plt = _pyplot()
    epochs = np.arange(1, len(losses) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, losses, "o-", label="train loss (mean over the epoch)")
    ax_loss.set_yscale("log")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="training loss")
    ax_loss.legend()
    ax_acc.plot(epochs, train_accuracies, "o-", label="train (shifted images, during the epoch)")
    ax_acc.plot(epochs, accuracies, "s-", label=f"held-out (final {accuracies[-1]:.2%})")
    ax_acc.axhline(0.97, color="grey", linestyle=":", label="97%")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(min(0.8, *accuracies), 1.0))
    ax_acc.legend(loc="lower right")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle("SimpleCNN on scikit-learn digits (tinytorch_ref)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_feature_maps(model: SimpleCNN, image: np.ndarray, label: int, path: str) -> str:
    """``image`` (1, 8, 8) next to the 32 channels of ``relu(conv1(image))`` in a 4x8 grid."""
    plt = _pyplot()
    with no_grad():
        x = Tensor(image[None])
        maps = model.relu(model.conv1(x)).data[0]            # (32, 8, 8)
        predicted = int(model(x).data.argmax())
    fig = plt.figure(figsize=(13, 4.6))
    grid = fig.add_gridspec(4, 13, width_ratios=[1] * 12 + [0.15], wspace=0.15, hspace=0.25)
    ax = fig.add_subplot(grid[:, :4])
    ax.imshow(image[0], cmap="gray_r", vmin=0, vmax=1)
    ax.set_title(f"held-out digit: label {label}, predicted {predicted}")
    ax.set_xticks([])
    ax.set_yticks([])
    vmax = float(maps.max()) or 1.0
    for channel in range(maps.shape[0]):
        ax = fig.add_subplot(grid[channel // 8, 4 + channel % 8])
        shown = ax.imshow(maps[channel], cmap="viridis", vmin=0, vmax=vmax)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"ch {channel}", fontsize=8, pad=2)
    fig.colorbar(shown, cax=fig.add_subplot(grid[:, 12]), label="activation")
    fig.suptitle("first convolution (3x3, 32 channels, padding 1) after ReLU, one shared colour scale")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


# -------------------------------------------------------------------- CLI
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytorch_ref.train_digits",
                                     description="Train SimpleCNN (tinytorch_ref) on scikit-learn's digits.")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help=f"default {DEFAULT_EPOCHS}")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling (default 0)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"directory for the PNGs (default {DEFAULT_OUT})")
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="stop training once this much time has passed (default: no limit)")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        parser.error("--epochs must be at least 1")

    wall_start = time.perf_counter()
    result = train(epochs=args.epochs, seed=args.seed, out_dir=args.out, budget_seconds=args.budget_seconds)
    wall = time.perf_counter() - wall_start
    note = f" (budget of {args.budget_seconds:g} s used up)" if result["stopped_early"] else ""
    print(f"held-out accuracy: {result['accuracy']:.4f} "
          f"({round(result['accuracy'] * result['held_out'])}/{result['held_out']} digits) "
          f"after {result['epochs']} epochs{note}")
    print(f"wall time: {result['seconds']:.1f} s training + evaluation, {wall:.1f} s with data loading and plots")
    print(f"parameters: {result['parameters']:,}")
    for name, path in result["paths"].items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
