"""Pruning: the sparsity asked for is the sparsity got, masks stay, structured pruning
keeps the function when it removes nothing and really shrinks the model when it does."""

import copy

import pytest
import torch
from torch.nn.utils import prune as torch_prune

import labkit
from labkit.bench import state_dict_bytes
from labkit.compress import prune


def _mlp(hidden=(32, 16)):
    torch.manual_seed(0)
    return labkit.MLP(in_features=8, hidden=hidden, classes=3)


def _tiny_data(n=96, features=8, classes=3):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, features, generator=g)
    return labkit.Split(x, (x[:, 0] > 0).long() + (x[:, 1] > 0).long() * (classes - 2))


@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("amount", [0.0, 0.3, 0.9])
def test_the_sparsity_asked_for_is_the_sparsity_got(scope, amount):
    model = _mlp()
    prune.magnitude_prune_(model, amount, scope=scope)
    report = prune.sparsity_report(model)
    assert report.iloc[-1].sparsity == pytest.approx(amount, abs=1e-3)
    if scope == "layer":  # every layer alike
        for row in report.iloc[:-1].itertuples():
            assert row.sparsity == pytest.approx(amount, abs=1 / row.weights)


def test_global_pruning_removes_the_smallest_weights_of_all_layers_together():
    model = _mlp()
    with torch.no_grad():
        model.net[0].weight.add_(10)  # the first layer's weights are all large
    prune.magnitude_prune_(model, 0.5, scope="global")
    report = prune.sparsity_report(model).set_index("layer")
    assert report.loc["net.0", "sparsity"] == 0  # none of its weights is among the smallest
    assert report.loc["overall", "sparsity"] == pytest.approx(0.5, abs=1e-3)


def test_masks_stay_inspectable_until_made_permanent_and_pruned_weights_stay_zero():
    model = _mlp()
    prune.magnitude_prune_(model, 0.5)
    layer = model.net[0]
    assert hasattr(layer, "weight_orig") and hasattr(layer, "weight_mask")
    assert torch.equal(layer.weight, layer.weight_orig * layer.weight_mask)
    labkit.fit(model, _tiny_data(), labkit.TrainConfig(lr=0.05, epochs=2, device="cpu"),
               show_progress=False)  # fmt: skip
    assert torch.all(layer.weight[layer.weight_mask == 0] == 0)  # training did not revive them
    prune.make_permanent_(model)
    assert not torch_prune.is_pruned(layer) and not hasattr(layer, "weight_mask")
    assert prune.sparsity(model) == pytest.approx(0.5, abs=1e-3)


def test_pruning_again_builds_on_the_zeros_already_there():
    model = _mlp()
    prune.magnitude_prune_(model, 0.5)
    zeros = model.net[0].weight == 0
    prune.magnitude_prune_(model, 0.8)
    assert torch.all(model.net[0].weight[zeros] == 0)
    assert prune.sparsity(model) == pytest.approx(0.8, abs=1e-3)


def test_masks_double_the_checkpoint_while_sparse_storage_shrinks_it():
    model = _mlp((256, 256))
    dense = state_dict_bytes(model)
    prune.magnitude_prune_(model, 0.9)
    assert state_dict_bytes(model) > 1.8 * dense  # weight_orig and weight_mask
    # 10 % of the weights kept, each a 4-byte value and an 8-byte column index: 30 %.
    assert prune.sparse_bytes(model) < 0.35 * dense


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_sparsity_outside_zero_to_one_is_refused_by_name(bad):
    with pytest.raises(labkit.ConfigError, match="sparsity"):
        prune.magnitude_prune_(_mlp(), bad)


def test_unknown_layer_names_and_scopes_are_refused_naming_the_choices():
    with pytest.raises(labkit.ConfigError, match=r"net\.0.*fc9"):
        prune.magnitude_prune_(_mlp(), 0.5, layers=["fc9"])
    with pytest.raises(labkit.ConfigError, match="scope"):
        prune.magnitude_prune_(_mlp(), 0.5, scope="row")


def test_only_the_named_layers_are_pruned():
    model = _mlp()
    prune.magnitude_prune_(model, 0.5, layers=["net.2"])
    report = prune.sparsity_report(model).set_index("layer")
    assert report.loc["net.0", "sparsity"] == 0 and report.loc["net.2", "sparsity"] == 0.5


@pytest.mark.parametrize(
    "make", [lambda: _mlp(), lambda: labkit.SmallCNN(channels=(4, 6), hidden=8)]
)
def test_removing_no_units_keeps_the_function(make):
    torch.manual_seed(0)
    model = make().eval()
    x = torch.randn(5, 8 if isinstance(model, labkit.MLP) else 64)
    small = prune.prune_units(model, 0.0)
    assert torch.equal(small(x), model(x))


def test_removing_half_the_units_shrinks_the_mlp_and_keeps_the_strongest_units():
    model = _mlp((32, 16)).eval()
    with torch.no_grad():
        model.net[0].weight[:16].mul_(0.01)  # units 0..15 are weak
    small = prune.prune_units(model, 0.5)
    assert prune.widths(small) == [16, 8, 3]
    assert labkit.parameter_count(small) < 0.4 * labkit.parameter_count(model)
    assert torch.equal(small.net[0].weight, model.net[0].weight[16:])
    # The kept units compute exactly what they computed inside the big model.
    x = torch.randn(4, 8)
    assert torch.allclose(small.net[1](small.net[0](x)), model.net[1](model.net[0](x))[:, 16:])


def test_removing_channels_shrinks_the_cnn_and_fixes_the_next_layers_inputs():
    torch.manual_seed(0)
    model = labkit.SmallCNN(channels=(8, 8), hidden=16).eval()
    small = prune.prune_units(model, 0.5)
    assert small.hparams["channels"] == (4, 4) and small.hparams["hidden"] == 8
    assert small(torch.randn(3, 64)).shape == (3, 10)
    assert labkit.parameter_count(small) < 0.5 * labkit.parameter_count(model)
    # With the dropped channels' outgoing weights zeroed, the big model computes what the
    # small one does: the slicing kept the right columns of every next layer.
    keep1 = prune._keep(model.features[0].weight, 0.5, 2)
    keep2 = prune._keep(model.features[2].weight, 0.5, 2)
    keep_h = prune._keep(model.head[1].weight, 0.5, 2)
    masked = copy.deepcopy(model)
    with torch.no_grad():
        drop = lambda n, keep: [i for i in range(n) if i not in keep.tolist()]  # noqa: E731
        masked.features[2].weight[:, drop(8, keep1)] = 0
        masked.head[1].weight.view(16, 8, 16)[:, drop(8, keep2)] = 0
        masked.head[4].weight[:, drop(16, keep_h)] = 0
    x = torch.randn(3, 64)
    assert torch.allclose(small(x), masked(x), atol=1e-5)


def test_at_least_one_unit_survives_and_other_models_are_refused():
    small = prune.prune_units(_mlp((4,)), 0.99)
    assert prune.widths(small) == [1, 3]
    with pytest.raises(TypeError, match="MLP and SmallCNN"):
        prune.prune_units(torch.nn.Linear(3, 3), 0.5)


def test_gradual_schedule_rises_to_the_final_sparsity_fast_then_slowly():
    steps = prune.gradual_schedule(0.9, 4)
    assert steps[-1] == pytest.approx(0.9) and steps == sorted(steps)
    assert steps[0] > 0.9 / 4  # more than a linear share first
    with pytest.raises(labkit.ConfigError, match="steps"):
        prune.gradual_schedule(0.9, 0)


def test_prune_and_finetune_ends_at_the_sparsity_asked_and_beats_pruning_alone():
    data = _tiny_data(256)
    model = _mlp((64, 64))
    labkit.fit(model, data, labkit.TrainConfig(lr=0.01, epochs=20, device="cpu"),
               show_progress=False)  # fmt: skip
    pruned_only = copy.deepcopy(model)
    prune.magnitude_prune_(pruned_only, 0.95, scope="global")
    seen = []
    histories = prune.prune_and_finetune(
        model, data, 0.95, labkit.TrainConfig(lr=0.01, epochs=3, device="cpu"), steps=3,
        on_step=lambda step, s, h: seen.append((step, s)),
    )  # fmt: skip
    assert len(histories) == 3 and [s for s, _ in seen] == [1, 2, 3]
    assert prune.sparsity(model) == pytest.approx(0.95, abs=1e-3)
    assert not torch_prune.is_pruned(model)
    loss = lambda m: labkit.evaluate(m, data)["loss"]  # noqa: E731
    assert loss(model) < loss(pruned_only)


@pytest.mark.parametrize("amount", [0.0, 0.9])
def test_the_sparse_predictor_computes_what_the_model_does(amount):
    model = labkit.MLP(in_features=8, hidden=(32, 16), classes=3, activation="gelu").eval()
    prune.magnitude_prune_(model, amount, scope="global")  # masks: their product is used
    x = torch.randn(5, 8)
    run = prune.sparse_predictor(model)
    assert torch.allclose(run(x), model(x), atol=1e-6)
    prune.make_permanent_(model)
    assert torch.allclose(run(x), model(x), atol=1e-6)
    with pytest.raises(ValueError, match=r"\(B, 8\)"):
        run(torch.randn(5, 7))
    with pytest.raises(TypeError, match="MLP"):
        prune.sparse_predictor(labkit.SmallCNN())


def test_the_sparse_predictor_multiplies_by_the_nonzeros_only(monkeypatch):
    model = _mlp((64, 64))
    prune.magnitude_prune_(model, 0.9, scope="layer")
    run = prune.sparse_predictor(model)
    seen, mm = [], torch.sparse.mm

    def spy(a, b):
        seen.append((a.layout, a.values().numel()))
        return mm(a, b)

    monkeypatch.setattr(torch.sparse, "mm", spy)
    run(torch.randn(4, 8))
    kept = [int((m.weight != 0).sum()) for m in prune.prunable_layers(model).values()]
    assert seen == [(torch.sparse_csr, k) for k in kept]


def test_a_csr_checkpoint_holds_the_weights_and_is_measured_as_a_file():
    model = _mlp((256, 256))
    prune.magnitude_prune_(model, 0.9)  # masked: the CSR state holds the effective weights
    state = prune.csr_state_dict(model)
    assert not any(key.endswith(("_orig", "_mask")) for key in state)
    for name, layer in prune.prunable_layers(model).items():
        assert state[f"{name}.weight"].layout == torch.sparse_csr
        assert torch.equal(state[f"{name}.weight"].to_dense(), layer.weight)
    payload, on_disk = prune.sparse_bytes(model), prune.csr_checkpoint_bytes(model)
    assert payload < on_disk < payload + 8192  # the payload plus a file's bookkeeping
    # a tiny dense layer is smaller as a dense checkpoint than as a CSR one: the file counts
    tiny = labkit.MLP(in_features=2, hidden=(2,), classes=2)
    assert prune.csr_checkpoint_bytes(tiny) > state_dict_bytes(tiny) > prune.sparse_bytes(tiny)


def test_a_share_of_units_is_named_as_one():
    with pytest.raises(
        labkit.ConfigError, match=r"fraction must be in \[0, 1\) \(a fraction of units\)"
    ):
        prune.prune_units(_mlp(), 1.0)
