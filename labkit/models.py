"""Small models for the course: an MLP and a CNN for 8×8 images, plus their sizes.

Every model takes a batch of flat feature rows (B, F), so the same data, exporter and
server work for all of them; the CNN reshapes to images itself. Each model keeps the
arguments it was built with in `hparams`, so `save_model` / `load_model` can rebuild it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from labkit.validate import ConfigError, check_choice, check_float, check_int

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


class MLP(nn.Module):
    """Linear → activation → dropout, once per hidden width, then a linear classifier."""

    def __init__(
        self,
        in_features: int = 64,
        hidden: tuple[int, ...] | list[int] = (128,),
        classes: int = 10,
        activation: str = "relu",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("in_features", in_features, minimum=1)
        if not isinstance(hidden, (tuple, list)):
            raise ConfigError(
                f"hidden must be a tuple of layer widths, e.g. (128,) or (256, 128); got {hidden!r}"
            )
        hidden = tuple(check_int("hidden width", h, minimum=1) for h in hidden)
        check_int("classes", classes, minimum=2)
        check_choice("activation", activation, ACTIVATIONS)
        check_float("dropout", dropout, minimum=0.0, maximum=0.95)
        self.hparams = dict(
            in_features=in_features,
            hidden=hidden,
            classes=classes,
            activation=activation,
            dropout=dropout,
        )
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_rows(self, x, self.hparams["in_features"])
        return self.net(x)  # (B, F) -> (B, classes)


class SmallCNN(nn.Module):
    """Two 3×3 conv blocks and an MLP head, for square one-channel images given as rows."""

    def __init__(
        self,
        image_size: int = 8,
        channels: tuple[int, int] | list[int] = (16, 32),
        hidden: int = 64,
        classes: int = 10,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("image_size", image_size, minimum=2)
        if image_size % 2:
            raise ConfigError(f"image_size must be even (one 2×2 pooling); got {image_size}")
        if not isinstance(channels, (tuple, list)) or len(channels) != 2:
            raise ConfigError(f"channels must be two widths, e.g. (16, 32); got {channels!r}")
        c1, c2 = (check_int("channels", c, minimum=1) for c in channels)
        check_int("hidden", hidden, minimum=1)
        check_int("classes", classes, minimum=2)
        check_float("dropout", dropout, minimum=0.0, maximum=0.95)
        self.hparams = dict(
            image_size=image_size,
            channels=(c1, c2),
            hidden=hidden,
            classes=classes,
            dropout=dropout,
        )
        self.image_size = image_size
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        half = image_size // 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c2 * half * half, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        side = self.image_size
        if tuple(x.shape[1:]) != (1, side, side):  # images pass; rows are checked, since a
            check_rows(self, x, side * side)  # wrong width would silently change B
        x = x.reshape(-1, 1, side, side)  # (B, F) -> (B, 1, H, W)
        return self.head(self.features(x))  # (B, C2, H/2, W/2) -> (B, classes)


def check_rows(model: nn.Module, x: torch.Tensor, features: int) -> None:
    """Refuse anything but a batch of rows (B, features), naming the shape expected."""
    if x.dim() != 2 or x.shape[1] != features:
        raise ValueError(
            f"{type(model).__name__} takes a batch of rows of {features} features, shape "
            f"(B, {features}); got shape {tuple(x.shape)}"
        )


MODELS: dict[str, type[nn.Module]] = {"mlp": MLP, "cnn": SmallCNN}


def build_model(name: str, **hparams: Any) -> nn.Module:
    """Build a model by its course name: 'mlp' or 'cnn'."""
    check_choice("model", name, MODELS)
    return MODELS[name](**hparams)


def parameter_count(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (weights and biases)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_name(model: nn.Module) -> str:
    """The course name under which `build_model` builds this kind of model."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a labkit model ({', '.join(MODELS)})")


def parameter_bytes(model: nn.Module) -> int:
    """Bytes the parameters occupy in memory at their current dtypes."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def describe(model: nn.Module) -> str:
    """One line: class, parameter count and size in KiB."""
    kib = parameter_bytes(model) / 1024
    return f"{type(model).__name__}: {parameter_count(model):,} parameters, {kib:.1f} KiB"
