"""Notebook 04 (generalization) in one import: its data, runs, noise band, tables, figures and
computed verdicts, gathered from the modules that hold them by idea.

- `labkit.figures.fitting`: the reduced training set and its wrong labels, one trained run
  (`Run`, `fit_run`) and the noise band every verdict is printed with (`NoiseBand`, `compare`,
  `helps`);
- `labkit.figures.capacity`: capacity, learning curves and the cures of underfitting;
- `labkit.figures.regularization`: regularization against one baseline, and early stopping;
- `labkit.figures.crossval_report`: two recipes cross-validated, the choice, the refit;
- `labkit.figures.saving`: metrics.json and the figures in `out_dir`;
- `labkit.figures.generalization_setup`: the regularization parameters checked by name, the
  widgets, the settings and data lines, whether a run diverged, whether it ran at the defaults.

Overfitting is judged by what helps (a restrained model, smaller, regularized or stopped
earlier, validates higher by more than the band for a difference of two runs), never by the
size of the gap alone.
"""

from labkit.figures.capacity import (
    capacity_figure,
    capacity_report,
    changes_table,
    curve_table,
    learning_curve_figure,
    learning_curve_report,
    sweep_table,
)
from labkit.figures.crossval_report import (
    choice_report,
    cross_validation_figure,
    cross_validation_metrics,
    cross_validation_report,
    refit_report,
    same_digit_spread,
)
from labkit.figures.fitting import (
    TWO_RUNS,
    NoiseBand,
    Run,
    check_sizes,
    compare,
    diverged_note,
    epochs_text,
    fit_run,
    helps,
    mark,
    noise_report,
    sampling_error,
    seed_spread,
    stratified_subset,
    weight_length,
    with_wrong_labels,
    wrong_labels_figure,
)
from labkit.figures.generalization_setup import (
    DEFAULT_PARAMETERS,
    DEFAULT_RECIPE,
    DEFAULT_REGULARIZATION,
    RegularizationControls,
    any_diverged,
    check_regularization,
    data_report,
    panel_titles,
    ran_at_defaults,
    runs_in,
    settings_line,
)
from labkit.figures.regularization import (
    diagnosis_line,
    early_stopping_figure,
    early_stopping_report,
    longer_training_report,
    recipe_table,
    regularization_figure,
    regularization_metrics,
    regularization_report,
    tried_report,
    weight_length_report,
    wrong_labels_report,
)
from labkit.figures.saving import save_results

__all__ = [
    "DEFAULT_PARAMETERS",
    "DEFAULT_RECIPE",
    "DEFAULT_REGULARIZATION",
    "TWO_RUNS",
    "NoiseBand",
    "RegularizationControls",
    "Run",
    "any_diverged",
    "capacity_figure",
    "capacity_report",
    "changes_table",
    "check_regularization",
    "check_sizes",
    "choice_report",
    "compare",
    "cross_validation_figure",
    "cross_validation_metrics",
    "cross_validation_report",
    "curve_table",
    "data_report",
    "diagnosis_line",
    "diverged_note",
    "early_stopping_figure",
    "early_stopping_report",
    "epochs_text",
    "fit_run",
    "helps",
    "learning_curve_figure",
    "learning_curve_report",
    "longer_training_report",
    "mark",
    "noise_report",
    "panel_titles",
    "ran_at_defaults",
    "recipe_table",
    "refit_report",
    "regularization_figure",
    "regularization_metrics",
    "regularization_report",
    "runs_in",
    "same_digit_spread",
    "sampling_error",
    "save_results",
    "seed_spread",
    "settings_line",
    "stratified_subset",
    "sweep_table",
    "tried_report",
    "weight_length",
    "weight_length_report",
    "with_wrong_labels",
    "wrong_labels_figure",
    "wrong_labels_report",
]
