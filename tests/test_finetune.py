"""The shared fine-tuning loop on a toy model (an embedding 'encoder' and a linear head), fast
enough for `make check`: its steps and logging, early stopping with the best epoch's weights
restored, and the deadline."""

from __future__ import annotations

import mlflow
import numpy as np
import pytest
import torch

from ml.training.config import TrainConfig
from ml.training.finetune import finetune, seed_everything, training_precision

# The loop trains a small model several times (about 6 s in all): not part of `make check`.
pytestmark = pytest.mark.slow

CONFIG = TrainConfig(base_model="unused", batch_size=4, patience=1, train_precision="fp32")
ROWS = 10  # three batches of at most 4


class Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = torch.nn.Embedding(20, 8)
        self.head = torch.nn.Linear(8, 1)

    def forward(self, input_ids, attention_mask):
        mask = attention_mask.unsqueeze(-1).float()
        return self.head((self.encoder(input_ids) * mask).sum(1) / mask.sum(1)).squeeze(-1)


class Texts:
    """Rows of 1 to 5 tokens whose label is whether token 3 is among them."""

    def __init__(self, scripted_losses: list[float] | None = None):
        rng = np.random.default_rng(0)
        self.token_ids = [rng.integers(0, 20, size=1 + i % 5).tolist() for i in range(ROWS)]
        self.labels = torch.tensor([float(3 in ids) for ids in self.token_ids])
        self.scripted = iter(scripted_losses) if scripted_losses else None

    def forward(self, model, rows, device):
        width = max(len(self.token_ids[i]) for i in rows)
        ids = torch.tensor([self.token_ids[i] + [0] * (width - len(self.token_ids[i])) for i in rows])
        mask = torch.tensor([[1] * len(self.token_ids[i]) + [0] * (width - len(self.token_ids[i])) for i in rows])
        return model(input_ids=ids.to(device), attention_mask=mask.to(device))

    def loss(self, outputs, rows, device):
        if self.scripted is not None:  # a validation split whose loss per epoch the test decides
            return torch.tensor(next(self.scripted))
        return torch.nn.functional.binary_cross_entropy_with_logits(outputs.float(), self.labels[rows].to(device))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}")
    yield
    mlflow.set_tracking_uri(None)


@pytest.fixture()
def run(store):
    with mlflow.start_run() as active:
        yield active


def trained(epochs: int, minutes: float | None = None, validation: Texts | None = None):
    seed_everything(CONFIG.seed)
    model = Toy()
    return model, finetune(model, Texts(), CONFIG, torch.device("cpu"), epochs=epochs, minutes=minutes,
                           validation=validation)


def history(run, key: str) -> list[float]:
    return [m.value for m in mlflow.MlflowClient().get_metric_history(run.info.run_id, key)]


def test_every_batch_of_every_epoch_is_a_logged_step_and_the_same_seed_trains_alike(run):
    model, stats = trained(epochs=2)
    assert len(history(run, "train_loss")) == 2 * 3
    again, _ = trained(epochs=2)
    assert stats.epochs_run == 2 and stats.rows_seen_share == 1.0 and stats.samples_per_second > 0
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values(), strict=True))


def test_validation_stops_after_patience_epochs_without_improvement_and_keeps_the_best_weights(run):
    after_one_epoch, _ = trained(epochs=1)
    # Each scripted loss serves one validation batch; a validation split of 10 rows is one batch of 8, one of 2.
    model, stats = trained(epochs=5, validation=Texts(scripted_losses=[1.0, 1.0, 2.0, 2.0]))
    assert stats.epochs_run == 2
    assert history(run, "validation_loss")[-2:] == [1.0, 2.0]
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), after_one_epoch.state_dict().values(),
                                                 strict=True))


def test_a_spent_deadline_takes_no_step(run):
    seed_everything(CONFIG.seed)
    untrained = Toy()
    model, stats = trained(epochs=3, minutes=0)
    assert stats.rows_seen_share == 0.0 and stats.epochs_run == 1
    assert history(run, "train_loss") == []
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), untrained.state_dict().values(),
                                                 strict=True))


def test_without_a_set_precision_the_loop_times_fp32_and_bf16_and_logs_both(run):
    seed_everything(CONFIG.seed)
    untrained, model = Toy(), Toy()
    model.load_state_dict(untrained.state_dict())
    choice = training_precision(model, Texts(), CONFIG.batch_size, torch.device("cpu"))
    assert set(choice.rates) == {"fp32", "bf16"} and choice.precision == max(choice.rates, key=choice.rates.get)
    assert mlflow.get_run(run.info.run_id).data.params["training_steps_precision"] == choice.precision
    assert set(mlflow.get_run(run.info.run_id).data.metrics) >= {"train_fp32_samples_per_second",
                                                                 "train_bf16_samples_per_second"}
    # Timing steps neither moves the weights nor leaves gradients behind.
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), untrained.state_dict().values(),
                                                 strict=True))
    assert all(p.grad is None for p in model.parameters())
