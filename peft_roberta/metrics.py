"""Classification metrics, in percent, for any number of classes.

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
