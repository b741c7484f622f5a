"""``sentence_prediction_bucketed``: fairseq's sentence_prediction task with length-bucketed batches.

fairseq's sentence_prediction orders examples by a random permutation only, so every batch is
padded to its longest sentence: on SST-2 (13 tokens on average, up to 66) a batch of 32 then
holds about three times more positions than tokens. This task orders examples by length (the
random permutation breaks ties), so each batch holds sentences of about the same length, and
fairseq still shuffles the order of the batches every epoch. Everything else is fairseq's task.
"""
from dataclasses import dataclass

from fairseq.data import SortDataset
from fairseq.tasks import register_task
from fairseq.tasks.sentence_prediction import SentencePredictionConfig, SentencePredictionTask

from ..options import OptionError


@dataclass
class BucketedSentencePredictionConfig(SentencePredictionConfig):
    pass


@register_task("sentence_prediction_bucketed", dataclass=BucketedSentencePredictionConfig)
class BucketedSentencePredictionTask(SentencePredictionTask):
    """Sentence (pair) classification with batches of similar-length examples."""

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        if cfg.regression_target and cfg.num_classes != 1:
            raise OptionError(f"--num-classes {cfg.num_classes} with --regression-target: a regression task "
                              "predicts one number; use --num-classes 1")
        return super().setup_task(cfg, **kwargs)

    def load_dataset(self, split, combine=False, **kwargs):
        dataset = super().load_dataset(split, combine=combine, **kwargs)
        if isinstance(dataset, SortDataset):  # not with --no-shuffle, which keeps the file order
            examples = dataset.dataset
            random_order = dataset.sort_order[0]
            # np.lexsort sorts by the last key first: length, then the random permutation
            dataset = SortDataset(examples, sort_order=[random_order, examples.sizes[0]])
            self.datasets[split] = dataset
        return dataset
