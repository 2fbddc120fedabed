"""Small models for the course: an MLP and a CNN for 8×8 images, a tiny GPT, their sizes.

The image models take a batch of flat feature rows (B, F), so the same data, exporter and
server work for both; the CNN reshapes to images itself. `TinyGPT` takes token ids (B, T)
and returns next-token logits (B, T, vocab). Each model keeps the arguments it was built
with in `hparams`, so `save_model` / `load_model` can rebuild it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

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


def check_gpt_shape(n_layer: Any, n_head: Any, n_embd: Any) -> None:
    """At least one layer, one head and one dimension, and heads that divide the width."""
    check_int("n_layer", n_layer, minimum=1)
    check_int("n_head", n_head, minimum=1)
    check_int("n_embd", n_embd, minimum=1)
    if n_embd % n_head:
        raise ConfigError(
            f"n_embd must be divisible by n_head (each head gets n_embd / n_head dimensions); "
            f"got n_embd={n_embd}, n_head={n_head}"
        )


class TinyGPT(nn.Module):
    """A decoder-only transformer, GPT-2's layout at toy size.

    Token and position embeddings, `n_layer` pre-norm blocks (causal self-attention, then
    an MLP four times as wide, each added back to its input), a final LayerNorm and a
    linear head over the vocabulary. With `activation_checkpointing` set (fit sets it from
    `TrainConfig`), training keeps only each block's input and recomputes the block's
    activations during the backward pass: less memory, one more forward's time.
    """

    def __init__(
        self,
        vocab: int = 10,
        context: int = 16,
        n_layer: int = 2,
        n_head: int = 4,
        n_embd: int = 64,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        check_int("vocab", vocab, minimum=2)
        check_int("context", context, minimum=1)
        check_gpt_shape(n_layer, n_head, n_embd)
        check_float("dropout", dropout, minimum=0.0, maximum=0.95)
        self.hparams = dict(vocab=vocab, context=context, n_layer=n_layer, n_head=n_head,
                            n_embd=n_embd, dropout=dropout)  # fmt: skip
        self.tokens = nn.Embedding(vocab, n_embd)
        self.positions = nn.Embedding(context, n_embd)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(n_embd, n_head, dropout) for _ in range(n_layer))
        self.norm = nn.LayerNorm(n_embd)
        self.head = nn.Linear(n_embd, vocab, bias=False)
        self.activation_checkpointing = False

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        context, vocab = self.hparams["context"], self.hparams["vocab"]
        if idx.dim() != 2 or idx.is_floating_point() or idx.shape[1] > context:
            raise ValueError(
                f"TinyGPT takes token ids of shape (B, T) with T <= context={context}; got "
                f"{tuple(idx.shape)} {idx.dtype}"
            )
        if idx.numel() and (idx.min() < 0 or idx.max() >= vocab):
            raise ValueError(
                f"token ids must lie in [0, vocab={vocab}); got {idx.min()}..{idx.max()}"
            )
        steps = torch.arange(idx.shape[1], device=idx.device)
        x = self.drop(self.tokens(idx) + self.positions(steps))  # (B, T, n_embd)
        for block in self.blocks:
            if self.activation_checkpointing and self.training and torch.is_grad_enabled():
                x = checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x)
        return self.head(self.norm(x))  # (B, T, vocab)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, steps: int) -> torch.Tensor:
        """Extend `prompt` (B, T) by `steps` greedy tokens, one at a time: (B, T + steps)."""
        check_int("steps", steps, minimum=0)
        was_training = self.training
        self.eval()
        idx = prompt
        for _ in range(steps):
            logits = self(idx[:, -self.hparams["context"] :])  # (B, T, vocab)
            idx = torch.cat([idx, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
        self.train(was_training)
        return idx


class Block(nn.Module):
    """x + attention(norm(x)), then x + mlp(norm(x)): the pre-norm transformer block."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout)
        self.norm2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.GELU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CausalSelfAttention(nn.Module):
    """Multi-head attention in which each position sees itself and the positions before it."""

    def __init__(self, n_embd: int, n_head: int, dropout: float) -> None:
        super().__init__()
        self.n_head, self.dropout = n_head, dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd)  # queries, keys and values in one matmul
        self.proj = nn.Linear(n_embd, n_embd)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(x).split(d, dim=2)  # each (B, T, d)
        q, k, v = (z.view(b, t, self.n_head, d // self.n_head).transpose(1, 2) for z in (q, k, v))
        # softmax(q kᵀ / √(d/heads) + causal mask) v, per head: (B, heads, T, d/heads)
        y = F.scaled_dot_product_attention(
            q, k, v, is_causal=True, dropout_p=self.dropout if self.training else 0.0
        )
        return self.drop(self.proj(y.transpose(1, 2).reshape(b, t, d)))


def check_rows(model: nn.Module, x: torch.Tensor, features: int) -> None:
    """Refuse anything but a batch of rows (B, features), naming the shape expected."""
    if x.dim() != 2 or x.shape[1] != features:
        raise ValueError(
            f"{type(model).__name__} takes a batch of rows of {features} features, shape "
            f"(B, {features}); got shape {tuple(x.shape)}"
        )


MODELS: dict[str, type[nn.Module]] = {"mlp": MLP, "cnn": SmallCNN}  # the digit classifiers
ALL_MODELS: dict[str, type[nn.Module]] = {**MODELS, "gpt": TinyGPT}


def build_model(name: str, **hparams: Any) -> nn.Module:
    """Build a model by its course name: 'mlp', 'cnn' or 'gpt'."""
    check_choice("model", name, ALL_MODELS)
    return ALL_MODELS[name](**hparams)


def parameter_count(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters (weights and biases)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def model_name(model: nn.Module) -> str:
    """The course name under which `build_model` builds this kind of model."""
    for name, cls in ALL_MODELS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"{type(model).__name__} is not a labkit model ({', '.join(ALL_MODELS)})")


def parameter_bytes(model: nn.Module) -> int:
    """Bytes the parameters occupy in memory at their current dtypes."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def describe(model: nn.Module) -> str:
    """One line: class, parameter count and size in KiB."""
    kib = parameter_bytes(model) / 1024
    return f"{type(model).__name__}: {parameter_count(model):,} parameters, {kib:.1f} KiB"
