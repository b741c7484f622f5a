"""The twin's examples: fairseq's own token ids of each split, in HuggingFace's ids.

The fairseq task reads the binarized split (the sentence, a pair's separator, truncation, all as the
fairseq run sees them); each token index becomes the HF id of the same token (``family.hf_ids``).
So both implementations read exactly the same tokens, and tokenization is not among their differences.
"""
import torch


class TwinExamples(torch.utils.data.Dataset):
    """A split of the fairseq task as HF features: ``input_ids`` and ``labels`` (a class index, or a number
    for regression)."""

    def __init__(self, task, split, ids):
        task.load_dataset(split)
        dataset = task.dataset(split)
        mapping = torch.tensor(ids)
        label = float if task.cfg.regression_target else int
        self.features = []
        for i in range(len(dataset)):
            item = dataset[i]
            tokens = item["net_input.src_tokens"]
            target = torch.as_tensor(item["target"]).reshape(-1)[0].item()  # a regression target is a list
            self.features.append({"input_ids": mapping[tokens].tolist(), "labels": label(target)})

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]

    @property
    def labels(self):
        return [f["labels"] for f in self.features]

    @property
    def lengths(self):
        return [len(f["input_ids"]) for f in self.features]


def collate(pad_id):
    """Pad a list of features to the longest (right padding), with the attention mask."""

    def batch(features):
        longest = max(len(f["input_ids"]) for f in features)
        ids = torch.full((len(features), longest), pad_id, dtype=torch.long)
        mask = torch.zeros((len(features), longest), dtype=torch.long)
        for row, feature in enumerate(features):
            ids[row, :len(feature["input_ids"])] = torch.tensor(feature["input_ids"])
            mask[row, :len(feature["input_ids"])] = 1
        labels = [f["labels"] for f in features]
        dtype = torch.float if isinstance(labels[0], float) else torch.long
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor(labels, dtype=dtype)}

    return batch
