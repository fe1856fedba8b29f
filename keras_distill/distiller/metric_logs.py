"""The logs of a step whose data may have no labels (the compiled metrics need them)."""

import warnings


def metrics_result(model, skip_compiled):
    """`keras.Model.get_metrics_result`, leaving out the compiled metrics if `skip_compiled`."""
    logs = {}
    for metric in model.metrics:
        if skip_compiled and metric is model._compile_metrics:
            continue
        result = metric.result()
        if isinstance(result, dict):
            logs.update(result)
        else:
            logs[metric.name] = result
    return logs


def warn_metrics_without_labels():
    warnings.warn(
        "The metrics given to `compile` need labels, and this batch has "
        "none (`fit`/`evaluate` called without `y`): they are left out of the "
        "logs. Pass labels to track them.",
        UserWarning,
        stacklevel=2,
    )
