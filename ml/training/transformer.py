"""Fine-tune the customer model on training_examples and log everything to MLflow.

`run_transformer` reads top to bottom: fit (the loop of ml/training/finetune.py, with early
stopping on a validation split and a time budget), judge which precisions keep the model's
quality and time them, calibrate on the validation split, evaluate on the holdout, calibrate
again on the holdout for the model that goes live, log it.

On a CPU the encoder's lower layers are frozen, so `fit` runs them once per row, at the fastest
precision, and trains the top layers and heads on the cached token states: every row is seen
within the time budget where running the whole encoder per step saw 59% of CDNOW's rows.

The model fits once, on the cutoffs before the gate's holdout cutoffs (ml/training/candidates.py),
and is judged on each of them: fine-tuning once per cutoff, as the baselines refit, would cost
k times the time budget. The second calibration is the cheap form of refitting on every
labelled cutoff once the model is judged: the newest holdout cutoff is the closest picture of
what the scoring date will bring, and its own factors carry the shop's latest trend (what that
changed on CDNOW is in docs/model.md, "Calibration").
The logged holdout metrics are those of the validation-calibrated model, a fair estimate of
what the procedure does on cutoffs it has not seen.
"""

from __future__ import annotations

import logging
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import torch
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from ml.models import predictor, tiers
from ml.models.batching import collate, length_buckets, pad, spread, tokenize
from ml.models.features import numeric_matrix, sentiment_labels
from ml.models.networks import CustomerModel, pick_device
from ml.models.precision import FP32, PRECISIONS, Choice, Variants, autocast, measure, supported, untimed
from ml.progress import Progress, say
from ml.training import evaluate
from ml.training.config import TrainConfig
from ml.training.finetune import finetune, seed_everything
from ml.training.tracking import log_customer_model

log = logging.getLogger(__name__)
# Holdout rows each precision scores to be judged against fp32, and what it must keep.
PRECISION_SAMPLE = 2048
AUC_TOLERANCE = 0.005
MIN_ORDERS_CORRELATION = 0.999
# Share of the memory available that cached token states may take; beyond it each step runs
# the frozen layers again.
STATE_CACHE_SHARE = 0.4


@dataclass
class TrainResult:
    """One fitted candidate, logged to MLflow: what the registry needs to register and gate it.
    `metrics` are the means over the holdout cutoffs (with each one's spread as `<metric>_sd`),
    `cutoff_metrics` the metrics on each cutoff, by date, `curves` the newest cutoff's churn
    calibration and cumulative gain points ({curve: {"x": [...], "y": [...]}}), as plotted."""

    family: str
    run_id: str
    model_uri: str
    metrics: dict[str, float]
    holdout_as_of: str
    cutoff_metrics: dict[str, dict[str, float]]
    curves: dict[str, dict[str, list[float]]] = field(default_factory=dict)


@dataclass
class Split:
    """The time-based split. Every candidate is judged on `cutoffs`, the last k cutoffs (oldest
    first), each scored by a model that never saw it: the baselines refit on the rows `before`
    each; the transformer fits once on `train`, the rows before the first, on `fit`, stopping
    early on `validation` (its newest cutoff). `holdout` is the newest cutoff."""

    examples: pd.DataFrame
    cutoffs: list[pd.Timestamp]
    train: pd.DataFrame
    fit: pd.DataFrame
    validation: pd.DataFrame

    def before(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        return self.examples[self.examples["as_of"] < cutoff].reset_index(drop=True)

    def at(self, cutoff: pd.Timestamp) -> pd.DataFrame:
        return self.examples[self.examples["as_of"] == cutoff].reset_index(drop=True)

    @property
    def holdout(self) -> pd.DataFrame:
        return self.at(self.cutoffs[-1])

    @property
    def holdout_as_of(self) -> str:
        return day(self.cutoffs[-1])

    @property
    def tier_cuts(self) -> list[float]:
        """The tier cut points of the actual spend every candidate is judged against."""
        return tiers.cut_points(self.train["future_spend"].to_numpy("float64"))


def day(cutoff: pd.Timestamp) -> str:
    return pd.Timestamp(cutoff).date().isoformat()


@dataclass
class Fitted:
    model: CustomerModel
    tokenizer: PreTrainedTokenizerBase
    prep: predictor.Preprocess
    samples_per_second: float
    rows_seen_share: float

    def raw(self, variants: predictor.ModelVariants, precision: str, frame: pd.DataFrame, batch_size: int, what: str) -> np.ndarray:
        """The heads' raw outputs on `frame` at `precision`, reporting progress as `what`."""
        progress = Progress(what, "rows", len(frame))
        return predictor.raw_outputs(variants, precision, self.tokenizer, self.prep, frame, batch_size,
                                     progress.update)


@dataclass
class TokenStates:
    """Every row's token states after the frozen layers, end to end in one fp16 tensor (half the
    memory of fp32, and the states of a LayerNorm'd encoder sit well inside fp16's range)."""

    states: torch.Tensor  # (tokens of all rows, width)
    offsets: np.ndarray  # row i's tokens are states[offsets[i]:offsets[i + 1]]
    layers: int  # how many encoder layers they went through

    def batch(self, rows: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows' states padded to the longest of them, and the attention mask."""
        lengths = self.offsets[rows + 1] - self.offsets[rows]
        hidden = torch.zeros((len(rows), int(lengths.max()), self.states.shape[1]))
        mask = torch.zeros((len(rows), int(lengths.max())), dtype=torch.long)
        for j, (i, n) in enumerate(zip(rows, lengths, strict=True)):
            hidden[j, :n] = self.states[self.offsets[i]:self.offsets[i] + n]
            mask[j, :n] = 1
        return hidden.to(device, non_blocking=True), mask.to(device, non_blocking=True)


@dataclass
class Batches:
    """Tokenised texts, standardised numbers and targets of one split: the fine-tuning loop's
    examples (ml/training/finetune.py) for the customer model; with `cached` token states the
    model runs from them rather than from the tokens."""

    token_ids: list[list[int]]
    numeric: np.ndarray
    targets: dict[str, torch.Tensor]
    pad_id: int
    cached: TokenStates | None = None

    @classmethod
    def of(cls, frame: pd.DataFrame, tokenizer, prep: predictor.Preprocess) -> Batches:
        spend = frame["future_spend"].to_numpy("float64")
        return cls(
            token_ids=tokenize(tokenizer, frame, prep.max_length, prep.rendering),
            numeric=prep.standardise(numeric_matrix(frame, prep.feature_names)),
            targets={
                "churned": torch.tensor(frame["churned"].to_numpy("float32")),
                "orders": torch.tensor(frame["future_orders"].to_numpy("float32")),
                "spend": torch.tensor((spend / prep.spend_scale).astype("float32")),
                "tier": torch.tensor(prep.tier_of(spend), dtype=torch.long),
                "sentiment": torch.tensor(sentiment_labels(frame), dtype=torch.long),
            },
            pad_id=tokenizer.pad_token_id,
        )

    def forward(self, model: CustomerModel, rows: np.ndarray, device: torch.device):
        if self.cached is None:
            return model(**collate(self.token_ids, rows, self.numeric, self.pad_id, device))
        hidden, mask = self.cached.batch(rows, device)
        numeric = torch.from_numpy(self.numeric[rows]).to(device, non_blocking=True)
        return model.top(hidden, mask, numeric, start=self.cached.layers)

    def loss(self, outputs, rows: np.ndarray, device: torch.device) -> torch.Tensor:
        return multitask_loss(outputs, self.targets, rows, device)

    def cache(self, variants: Variants, layers: int, batch_size: int,
              candidates: tuple[str, ...] | None = None) -> Choice | None:
        """Run the `layers` frozen layers once per row, at the fastest of `candidates` (every
        precision the device runs; fp32 untimed below MIN_TIMED_ROWS rows) timed on a few
        batches, and keep their token states (see TokenStates): the loop then runs only the
        layers that learn. `variants` holds the model (and its int8 copy, made once for every
        split). The precision chosen, or
        None where the states would not fit in memory (with a log line): then no cache."""
        lengths, width = [len(t) for t in self.token_ids], variants.model.encoder.config.hidden_size
        needed = sum(lengths) * width * 2
        if needed > STATE_CACHE_SHARE * available_memory():
            log.info("not caching the frozen layers' states: %.1f GB would take more than %.0f%% of the memory "
                     "available; each step runs those layers again", needed / 1e9, 100 * STATE_CACHE_SHARE)
            return None
        buckets = length_buckets(lengths, batch_size)

        def bottom(precision: str, rows: np.ndarray) -> torch.Tensor:
            batch = pad(self.token_ids, rows, self.pad_id, variants.device_of(precision))
            with torch.inference_mode(), autocast(variants.device, precision):
                return variants.module(precision).eval().bottom(batch["input_ids"], batch["attention_mask"], layers)

        choice = ((untimed(len(lengths), "rows") if candidates is None else None) or
                  measure(bottom, spread(buckets, 6), candidates or supported(variants.device), rows=len))
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        states = torch.empty((int(offsets[-1]), width), dtype=torch.float16)
        progress, done = Progress("ran the frozen layers on", "rows", len(lengths)), 0
        for rows in buckets:
            hidden = bottom(choice.precision, rows).float().cpu()
            for j, i in enumerate(rows):
                states[offsets[i]:offsets[i + 1]] = hidden[j, :lengths[i]]
            done += len(rows)
            progress.update(done)
        self.cached = TokenStates(states, offsets, layers)
        return choice


def available_memory() -> int:
    """Bytes of memory the kernel says are available (MemAvailable); 4 GiB where it cannot say."""
    try:
        meminfo = Path("/proc/meminfo").read_text().splitlines()
        return next(int(line.split()[1]) * 1024 for line in meminfo if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return 4 * 2**30


def train(examples: pd.DataFrame, config: TrainConfig, experiment: str) -> TrainResult:
    """The transformer alone, in a run of its own (ml/training/candidates.py trains every family)."""
    seed_everything(config.seed)
    split = time_split(examples, config.gate_cutoffs, config.validation_share, config.seed)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"transformer holdout {split.holdout_as_of}"):
        return run_transformer(split, config, split.tier_cuts)


def run_transformer(split: Split, config: TrainConfig, truth_cuts: list[float]) -> TrainResult:
    """Fit, judge precisions, calibrate, evaluate on every holdout cutoff and log the transformer
    in the active MLflow run."""
    device = pick_device()
    mlflow.log_params({**asdict(config), "family": "transformer", "device": device.type,
                       "train_examples": len(split.fit), "validation_examples": len(split.validation),
                       "holdout_examples": len(split.holdout), "holdout_as_of": split.holdout_as_of})
    fitted = fit(split, config, device)
    variants, batch_size = predictor.ModelVariants(fitted.model, device), config.batch_size * 2
    holdouts = {day(cutoff): split.at(cutoff) for cutoff in split.cutoffs}
    precision = judge_precisions(fitted, variants, holdouts[split.holdout_as_of], batch_size).precision
    calibrate(fitted, fitted.raw(variants, precision, split.validation, batch_size, "calibrated on validation"),
              split.validation)
    raws = {date: fitted.raw(variants, precision, rows, batch_size, f"evaluated on {date}")
            for date, rows in holdouts.items()}
    metrics, by_cutoff, curves = evaluate.log_backtest(
        {date: (predictor.scores_of(fitted.prep, raws[date], predictor.has_review(rows)), rows)
         for date, rows in holdouts.items()}, truth_cuts)
    calibrate(fitted, raws[split.holdout_as_of], holdouts[split.holdout_as_of])
    mlflow.log_param("live_calibration_as_of", split.holdout_as_of)
    mlflow.log_metrics({"live_orders_factor": fitted.prep.orders_factor, "live_spend_factor": fitted.prep.spend_factor})
    with tempfile.TemporaryDirectory() as tmp:
        folder = predictor.save(fitted.model.cpu(), fitted.tokenizer, fitted.prep, Path(tmp) / "model")
        model_uri = log_customer_model(folder, "transformer")
    return TrainResult("transformer", mlflow.active_run().info.run_id, model_uri, metrics, split.holdout_as_of,
                       by_cutoff, curves)


def judge_precisions(fitted: Fitted, variants: predictor.ModelVariants, holdout: pd.DataFrame,
                     batch_size: int) -> Choice:
    """Score a sample of the holdout at every precision and keep those whose churn ROC-AUC is
    within AUC_TOLERANCE of fp32's and whose expected orders correlate with fp32's by at least
    MIN_ORDERS_CORRELATION; the saved model lists them, so scoring times only these. Every
    precision this device runs is then timed on the sample as scoring times it (each batch
    shape warmed, int8's export made, so no one-off cost counts), and the fastest kept one is
    chosen for the passes that follow, unless the holdout is too small for scoring to time
    them. Every precision's rate and quality is logged to MLflow and the log."""
    sample = holdout.sample(n=min(len(holdout), PRECISION_SAMPLE), random_state=0).reset_index(drop=True)
    churned = sample["churned"].astype(int).to_numpy()
    prepared, pad_id = predictor.prepare(fitted.tokenizer, fitted.prep, sample), fitted.tokenizer.pad_token_id
    raw = {precision: predictor.raw_from_prepared(variants, precision, prepared, pad_id, batch_size,
                                                  Progress(f"checked {precision} on", "rows", len(sample)).update)
           for precision in PRECISIONS}
    kept = []
    for precision in PRECISIONS:
        auc_delta, correlation = agreement(raw[FP32], raw[precision], churned)
        mlflow.log_metrics({f"precision_{precision}_churn_auc_delta": auc_delta,
                            f"precision_{precision}_orders_correlation": correlation})
        if auc_delta <= AUC_TOLERANCE and correlation >= MIN_ORDERS_CORRELATION:
            kept.append(precision)
        say(f"{precision}: churn ROC-AUC {auc_delta:.4f} from fp32's, expected orders correlated {correlation:.5f} "
            f"with fp32's: {'kept' if precision in kept else 'dropped'}")
    fitted.prep.precisions = kept
    timed = predictor.time_precisions(variants, prepared, pad_id, batch_size, list(supported(variants.device)))
    mlflow.log_metrics({f"precision_{p}_rows_per_second": rate for p, rate in timed.rates.items()})
    runnable = [p for p in kept if p in supported(variants.device)]
    # The calibration is fitted at the precision the passes below run at: the one scoring will
    # run a shop of this size at (fp32 below MIN_TIMED_ROWS customers), so that its totals hold there.
    choice = (untimed(len(holdout), "holdout customers") or
              Choice(max(runnable, key=timed.rates.get), {p: timed.rates[p] for p in runnable}))
    mlflow.log_params({"precisions_kept": ",".join(kept), "precision": choice.precision})
    say(f"evaluating at {choice.describe()}")
    return choice


def agreement(reference: np.ndarray, other: np.ndarray, churned: np.ndarray) -> tuple[float, float]:
    """How far `other`'s churn ROC-AUC is from `reference`'s (0 with a single class), and the
    correlation of their expected orders (1 where both are constant and equal)."""
    from sklearn.metrics import roc_auc_score

    auc_delta = (abs(roc_auc_score(churned, other[:, 0]) - roc_auc_score(churned, reference[:, 0]))
                 if len(np.unique(churned)) == 2 else 0.0)
    ours, theirs = np.exp(np.clip(reference[:, 1], -20, 20)), np.exp(np.clip(other[:, 1], -20, 20))
    if ours.std() == 0 or theirs.std() == 0:
        return float(auc_delta), float(np.allclose(ours, theirs))
    return float(auc_delta), float(np.corrcoef(ours, theirs)[0, 1])


def time_split(examples: pd.DataFrame, holdout_cutoffs: int = 3, validation_share: float = 0.2,
               seed: int = 42) -> Split:
    """Hold out the last `holdout_cutoffs` cutoffs (fewer when the history is short, keeping at
    least one cutoff, with both churn labels, to learn from): models are judged on the future,
    on several cutoffs so that one odd month cannot pick the champion.

    The transformer's validation split (early stopping, calibration) is the newest cutoff it
    trains on, so it too is a step into the future of what the model fits on; with a single
    training cutoff it is a random `validation_share` of its rows.
    """
    cutoffs = sorted(examples["as_of"].unique())
    if len(cutoffs) < 2:
        raise ValueError(
            "training_examples has a single cutoff; a time-based holdout needs at least two. "
            "Raise the dbt var training_cutoffs or load a longer history."
        )
    k = max(1, min(holdout_cutoffs, len(cutoffs) - 1))
    while k > 1 and examples.loc[examples["as_of"] < cutoffs[-k], "churned"].nunique() < 2:
        k -= 1
    train_set = examples[examples["as_of"] < cutoffs[-k]].reset_index(drop=True)
    if train_set["churned"].nunique() < 2:
        raise ValueError("Every training example has the same churn label; there is nothing to learn yet.")
    if train_set["as_of"].nunique() > 1:
        is_validation = (train_set["as_of"] == train_set["as_of"].max()).to_numpy()
    else:
        is_validation = train_set.index.isin(train_set.sample(frac=validation_share, random_state=seed).index)
    return Split(examples=examples, cutoffs=[pd.Timestamp(c) for c in cutoffs[-k:]], train=train_set,
                 fit=train_set[~is_validation].reset_index(drop=True),
                 validation=train_set[is_validation].reset_index(drop=True))


def fit(split: Split, config: TrainConfig, device: torch.device) -> Fitted:
    """The shared fine-tuning loop on the `fit` split for `config.epochs`, or until
    `config.max_train_minutes` are spent, stopping early on the validation split's loss. The
    budget includes running the frozen layers once per row when they are cached."""
    started = time.monotonic()
    tokenizer = AutoTokenizer.from_pretrained(config.base_model)
    prep = predictor.Preprocess.fit(numeric_matrix(split.fit), split.fit["future_spend"].to_numpy("float64"),
                                    config.max_length, config.hidden)
    fit_data, val_data = Batches.of(split.fit, tokenizer, prep), Batches.of(split.validation, tokenizer, prep)
    model = build_model(config, fit_data.numeric.shape[1], device)
    init_count_heads(model, split.fit)
    frozen = frozen_layers(model, config)
    say(f"tokenised {len(split.fit):,} training and {len(split.validation):,} validation rows in "
        f"{time.monotonic() - started:.0f} s" + (f"; timing the {frozen} frozen layers at each precision"
                                                 if frozen and untimed(len(split.fit), "rows") is None else ""))
    variants = Variants(model, device)
    choice = fit_data.cache(variants, frozen, config.batch_size * 2) if frozen else None
    if choice is not None:
        say(f"frozen layers at {choice.describe()}")
        mlflow.log_param("frozen_layers_precision", choice.precision)
        val_data.cache(variants, frozen, config.batch_size * 2, candidates=(choice.precision,))
    minutes = None if config.max_train_minutes is None else config.max_train_minutes - (time.monotonic() - started) / 60
    stats = finetune(model, fit_data, config, device, epochs=config.epochs, minutes=minutes, validation=val_data)
    if config.lora_rank > 0:
        model.encoder = model.encoder.merge_and_unload()
    return Fitted(model, tokenizer, prep, stats.samples_per_second, stats.rows_seen_share)


def frozen_layers(model: CustomerModel, config: TrainConfig) -> int:
    """How many encoder layers stay frozen (none with LoRA, which adapts them all)."""
    if config.lora_rank > 0 or config.trainable_layers is None:
        return 0
    return max(len(model.encoder.encoder.layer) - config.trainable_layers, 0)


def build_model(config: TrainConfig, n_numeric: int, device: torch.device) -> CustomerModel:
    model = CustomerModel(config.base_model, n_numeric, hidden=config.hidden)
    if config.lora_rank > 0:
        from peft import LoraConfig, get_peft_model

        lora = LoraConfig(r=config.lora_rank, lora_alpha=2 * config.lora_rank, lora_dropout=0.05,
                          target_modules=["query", "value"])
        model.encoder = get_peft_model(model.encoder, lora)
    elif config.trainable_layers is not None:
        freeze_below(model.encoder, config.trainable_layers)
    return model.to(device)


def freeze_below(encoder: torch.nn.Module, trainable_layers: int) -> None:
    """Freeze the embeddings and every layer but the top `trainable_layers`.

    No tensor below the first trainable layer then needs a gradient, so autograd neither keeps
    those activations nor runs their backward pass: on a CPU that is what lets one epoch over
    every training row fit in the time budget. The top layers are the task-specific ones.
    """
    layers = encoder.encoder.layer
    frozen = [encoder.embeddings, *layers[: max(len(layers) - trainable_layers, 0)]]
    for module in frozen:
        module.requires_grad_(False)


def init_count_heads(model: CustomerModel, frame: pd.DataFrame) -> None:
    """Start the Poisson heads at the log of the mean target, so the first steps learn who
    orders more rather than how much everybody orders (spend targets are scaled to mean 1)."""
    with torch.no_grad():
        model.orders_head.bias.fill_(math.log(max(frame["future_orders"].mean(), 1e-6)))
        model.spend_head.bias.fill_(0.0)


def multitask_loss(out, targets: dict[str, torch.Tensor], rows: np.ndarray, device: torch.device) -> torch.Tensor:
    """Churn cross-entropy, Poisson deviance for orders and spend, tier and review-sentiment
    cross-entropy (customers without a review do not count for the last); summed."""
    t = {k: v[rows].to(device) for k, v in targets.items()}
    poisson = torch.nn.functional.poisson_nll_loss
    return (torch.nn.functional.binary_cross_entropy_with_logits(out.churn_logit.float(), t["churned"])
            + poisson(out.log_orders.float(), t["orders"], log_input=True)
            + poisson(out.log_spend.float(), t["spend"], log_input=True)
            + torch.nn.functional.cross_entropy(out.tier_logits.float(), t["tier"])
            + torch.nn.functional.cross_entropy(out.sentiment_logits.float(), t["sentiment"], ignore_index=-100,
                                                reduction="sum") / len(rows))


def calibrate(fitted: Fitted, raw: np.ndarray, frame: pd.DataFrame) -> None:
    """From the heads' raw outputs on `frame`: Platt scaling of the churn logit, so probabilities
    mean what they say, and one factor each for expected orders and spend, so their totals match."""
    fitted.prep.churn_calibration = fit_platt(raw[:, 0], frame["churned"].astype(int).to_numpy())
    fitted.prep.orders_factor = total_ratio(frame["future_orders"], np.exp(np.clip(raw[:, 1], -20, 20)))
    fitted.prep.spend_factor = total_ratio(frame["future_spend"] / fitted.prep.spend_scale,
                                           np.exp(np.clip(raw[:, 2], -20, 20)))


def total_ratio(actual: pd.Series, predicted: np.ndarray) -> float:
    """actual total / predicted total, or 1 when either is empty."""
    total = float(predicted.sum())
    return float(actual.sum()) / total if total > 0 and actual.sum() > 0 else 1.0


def fit_platt(logits: np.ndarray, churned: np.ndarray) -> tuple[float, float]:
    if len(np.unique(churned)) < 2:
        return (1.0, 0.0)
    from sklearn.linear_model import LogisticRegression

    platt = LogisticRegression(C=100.0).fit(logits.reshape(-1, 1), churned)
    return (float(platt.coef_[0, 0]), float(platt.intercept_[0]))


