"""Classification metrics, in percent, for any number of classes; regression metrics (Pearson and
Spearman correlations, in percent as GLUE reports them, and the mean squared error).

fairseq's sentence_prediction criterion reports F1 and MCC for two classes only; these work from
predicted and gold class indices for any number of classes, and are what every results row uses.
"""
import numpy as np


def confusion_matrix(gold, predicted, num_classes):
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(gold, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def _f1_per_class(matrix):
    true_pos = np.diag(matrix).astype(float)
    predicted = matrix.sum(axis=0)
    actual = matrix.sum(axis=1)
    denominator = predicted + actual
    return np.divide(2 * true_pos, denominator, out=np.zeros_like(true_pos), where=denominator > 0)


def matthews_corrcoef(matrix):
    """Multi-class MCC (Gorodkin's R_K); equals the usual MCC for two classes."""
    total = matrix.sum()
    correct = np.trace(matrix)
    predicted = matrix.sum(axis=0).astype(float)
    actual = matrix.sum(axis=1).astype(float)
    numerator = correct * total - predicted @ actual
    denominator = np.sqrt((total**2 - predicted @ predicted) * (total**2 - actual @ actual))
    return float(numerator / denominator) if denominator > 0 else 0.0


def classification_metrics(gold, predicted, num_classes, positive_class=1):
    """accuracy, macro_f1 and mcc always; f1 (of ``positive_class``) for two classes. Percentages."""
    matrix = confusion_matrix(gold, predicted, num_classes)
    total = matrix.sum()
    f1 = _f1_per_class(matrix)
    metrics = {
        "accuracy": 100.0 * np.trace(matrix) / total if total else float("nan"),
        "macro_f1": 100.0 * float(f1.mean()),
        "mcc": 100.0 * matthews_corrcoef(matrix),
    }
    if num_classes == 2:
        metrics["f1"] = 100.0 * float(f1[positive_class])
    return metrics


def regression_metrics(gold, predicted):
    """pearson and spearman (x 100, scipy's), mse; a constant prediction correlates with nothing (0)."""
    from scipy import stats

    gold, predicted = np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)
    constant = predicted.std() == 0 or gold.std() == 0
    return {
        "pearson": 0.0 if constant else 100.0 * float(stats.pearsonr(gold, predicted).statistic),
        "spearman": 0.0 if constant else 100.0 * float(stats.spearmanr(gold, predicted).statistic),
        "mse": float(np.mean((gold - predicted) ** 2)),
    }


def task_metrics(gold, predicted, num_classes, regression=False):
    """The metrics of a task: regression's, or classification's over ``num_classes``."""
    if regression:
        return regression_metrics(gold, predicted)
    return classification_metrics(gold, predicted, num_classes)
