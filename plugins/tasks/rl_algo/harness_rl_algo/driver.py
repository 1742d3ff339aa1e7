"""The training driver: the contract probes and the GRPO runs that call a candidate's functions.

The evaluator (``plugin.py``) sends this file's source, with ``policy.py``'s, into the
sandbox next to the candidate (see ``plugin.compose``), so the candidate's
``compute_advantages`` and ``policy_loss`` only ever run in the sandboxed child. The trainer
subclasses TRL's ``GRPOTrainer`` and overrides its two hook points (trl 1.16):
``_generate_and_score_completions`` (advantages from the group's rewards) and
``_compute_loss`` (the policy loss from log-probabilities). Every value the candidate returns
is checked (type, shape, finiteness, gradient) and a bad one stops the run with a
:class:`CandidateFault` that names it.

The run's only product that counts is the weights it leaves in the working directory; the
evaluator scores them in a separate process on problems this run never sees. The report
returned here is untrusted: it only feeds the researcher's feedback.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch

from harness_rl_algo import policy

ADVANTAGES, LOSS = "compute_advantages", "policy_loss"
BASE_WEIGHTS = "base.safetensors"


class CandidateFault(Exception):
    """The candidate broke the contract or the training; ``error_class`` says how."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class


def functions(namespace: dict[str, Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
    found = [namespace.get(name) for name in (ADVANTAGES, LOSS)]
    for name, fn in zip((ADVANTAGES, LOSS), found, strict=True):
        if not callable(fn):
            raise CandidateFault("contract", f"the program must define a function {name}(...)")
    return found[0], found[1]


# ----------------------------------------------------------------- checked calls


def checked_advantages(
    fn: Callable[..., Any], rewards: torch.Tensor, group_size: int, mask: torch.Tensor
) -> torch.Tensor:
    """The candidate's advantages, [B] or [B, T], after the contract's checks."""
    value = fn(rewards.clone(), group_size, mask.clone())
    if not isinstance(value, torch.Tensor) or not value.is_floating_point():
        got = value.dtype if isinstance(value, torch.Tensor) else type(value).__name__
        raise CandidateFault("contract", f"{ADVANTAGES} must return a float tensor, got {got}")
    if tuple(value.shape) not in (tuple(rewards.shape), tuple(mask.shape)):
        raise CandidateFault(
            "contract",
            f"{ADVANTAGES} returned shape {tuple(value.shape)}; expected {tuple(rewards.shape)} "
            f"(one per completion) or {tuple(mask.shape)} (one per completion token)",
        )
    if not torch.isfinite(value).all():
        raise CandidateFault(
            "nan", f"{ADVANTAGES} returned NaN or inf for the rewards {rewards.tolist()}"
        )
    return value.detach().float()


def checked_loss(
    fn: Callable[..., Any],
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    max_completion_length: int,
) -> torch.Tensor:
    """The candidate's scalar loss, after the contract's checks (finite, differentiable)."""
    value = fn(
        logps,
        old_logps.clone(),
        advantages.clone(),
        mask.clone(),
        max_completion_length=max_completion_length,
    )
    if not isinstance(value, torch.Tensor) or value.numel() != 1:
        got = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise CandidateFault("contract", f"{LOSS} must return a scalar tensor, got {got}")
    if value.grad_fn is None:
        raise CandidateFault("contract", f"{LOSS} returned a loss that does not depend on logps")
    if not torch.isfinite(value).all():
        raise CandidateFault("nan", f"{LOSS} returned {value.item()}")
    return value.reshape(())


# ----------------------------------------------------------------- contract stage


def probe_batch(generator: torch.Generator) -> dict[str, Any]:
    """Fixed inputs: 6 groups of 4 binary rewards (one all-correct, one all-wrong group, as
    on a real batch) and completions of 2 to 8 tokens."""
    rewards = torch.tensor(
        [1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1], dtype=torch.float
    )
    lengths = torch.tensor([2, 3, 4, 5, 6, 7, 8] * 4)[: rewards.numel()]
    mask = (torch.arange(8)[None, :] < lengths[:, None]).float()
    logps = -torch.rand(mask.shape, generator=generator) * 3.0
    return {"rewards": rewards, "group_size": 4, "mask": mask, "logps": logps}


def token_gradients(
    fn: Callable[..., Any],
    logps: torch.Tensor,
    old_logps: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
) -> torch.Tensor:
    """d loss / d logps for the candidate's loss on these inputs (checked finite)."""
    leaf = logps.clone().requires_grad_(True)
    loss = checked_loss(fn, leaf, old_logps, advantages, mask, mask.shape[1])
    loss.backward()
    grad = leaf.grad
    if grad is None or not torch.isfinite(grad).all():
        raise CandidateFault("nan", f"the gradient of {LOSS} with respect to logps is NaN or inf")
    return grad


def contract(namespace: dict[str, Any]) -> dict[str, float]:
    """Call both functions on fixed tensors: shapes, finiteness, gradients that flow and stay
    off padding. Also measures the behaviour descriptors for MAP-Elites."""
    adv_fn, loss_fn = functions(namespace)
    batch = probe_batch(torch.Generator().manual_seed(0))
    rewards, mask, logps = batch["rewards"], batch["mask"], batch["logps"]
    advantages = checked_advantages(adv_fn, rewards, batch["group_size"], mask)
    grad = token_gradients(loss_fn, logps, logps, advantages, mask)
    if (grad * (1 - mask)).abs().max() > 0:
        raise CandidateFault(
            "contract", f"{LOSS} depends on padding positions (mask == 0): they are not tokens"
        )
    per_token = _like(advantages, mask)
    per_completion = (per_token * mask).sum(1) / mask.sum(1)
    two_d = advantages.dim() == 2
    return {
        "advantage_scale": float((per_token * mask).abs().sum() / mask.sum()),
        "advantage_reward_corr": _corr(per_completion, rewards),
        "clip_fraction": clip_fraction(loss_fn, logps, mask, per_token_advantages=two_d),
        "length_weighting": length_weighting(loss_fn, per_token_advantages=two_d),
    }


def _like(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-completion values [B] spread over the tokens, [B, T]; [B, T] stays as it is."""
    return values if values.dim() == 2 else values[:, None].expand_as(mask)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a - a.mean(), b - b.mean()
    denom = float(a.norm() * b.norm())
    return float((a * b).sum()) / denom if denom > 0 else 0.0


def clip_fraction(
    loss_fn: Callable[..., Any], logps: torch.Tensor, mask: torch.Tensor, per_token_advantages: bool
) -> float:
    """Share of tokens whose gradient vanishes once the ratio has moved far (x2 or x0.5) in
    the direction its advantage pushes: 1 for PPO clipping, 0 for an unclipped loss.

    The advantages are given in the layout the candidate's own function returns.
    """
    signs = torch.tensor([1.0, -1.0]).repeat(mask.shape[0] // 2)
    old = logps - signs[:, None] * math.log(2.0)
    advantages = _like(signs, mask).clone() if per_token_advantages else signs
    grad = token_gradients(loss_fn, logps, old, advantages, mask)
    return float(((grad.abs() < 1e-12).float() * mask).sum() / mask.sum())


def length_weighting(loss_fn: Callable[..., Any], per_token_advantages: bool) -> float:
    """Per-token gradient in an 8-token completion over that in a 2-token one, at ratio 1 and
    equal advantages: 0.25 for a per-sequence mean (GRPO), 1 for token-level sums (DAPO)."""
    mask = torch.tensor([[1.0, 1.0, 0, 0, 0, 0, 0, 0], [1.0] * 8])
    logps = torch.full_like(mask, -1.0)
    advantages = torch.ones_like(mask) if per_token_advantages else torch.ones(2)
    grad = token_gradients(loss_fn, logps, logps, advantages, mask)
    short, long = grad[0, :2].abs().mean(), grad[1].abs().mean()
    return float(long / short) if short > 0 else 0.0


# ----------------------------------------------------------------- training


def make_trainer_class() -> type:
    """TRL's GRPOTrainer with the candidate's advantages and loss (imported lazily: trl is
    slow to import and the contract stage does not need it)."""
    from trl import GRPOTrainer

    class CandidateGRPOTrainer(GRPOTrainer):
        """Advantages and loss from the candidate; rewards, sampling and optimiser from TRL."""

        def __init__(self, *args: Any, candidate: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.candidate = candidate
            self.grad_norms: list[float] = []

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            self.last_rewards = super()._calculate_rewards(
                inputs, prompts, completions, completion_ids_list
            )
            return self.last_rewards

        def _generate_and_score_completions(self, inputs):
            out = super()._generate_and_score_completions(inputs)
            weights = self.reward_weights.to(self.last_rewards.device)
            rewards = torch.nan_to_num(self.last_rewards, nan=0.0) @ weights
            advantages = checked_advantages(
                self.candidate["advantages"], rewards, self.num_generations, out["completion_mask"]
            )
            out["advantages"] = advantages.to(out["completion_mask"].device)
            return out

        def _compute_loss(self, model, inputs):
            prompt_ids, completion_ids = inputs["prompt_ids"], inputs["completion_ids"]
            mask = inputs["completion_mask"]
            logps, _, _ = self._get_per_token_logps_and_entropies(
                model,
                torch.cat([prompt_ids, completion_ids], dim=1),
                torch.cat([inputs["prompt_mask"], mask], dim=1),
                completion_ids.size(1),
            )
            old = inputs.get("old_per_token_logps")
            old = logps.detach() if old is None else old
            loss = checked_loss(
                self.candidate["loss"],
                logps,
                old,
                inputs["advantages"],
                mask.float(),
                self.max_completion_length,
            )
            return loss / self.current_gradient_accumulation_steps

        def training_step(self, model, inputs, num_items_in_batch):
            loss = super().training_step(model, inputs, num_items_in_batch)
            grads = [p.grad.detach().norm() for p in model.parameters() if p.grad is not None]
            norm = float(torch.stack(grads).norm()) if grads else 0.0
            self.grad_norms.append(norm)
            if not math.isfinite(norm):
                step = self.state.global_step
                raise CandidateFault("nan", f"the gradient is NaN or inf at step {step}")
            if norm > self.candidate["max_grad_norm_abort"]:
                raise CandidateFault(
                    "exploding_gradients",
                    f"gradient norm {norm:.3g} at step {self.state.global_step} exceeds "
                    f"{self.candidate['max_grad_norm_abort']:g} (before clipping)",
                )
            return loss

    return CandidateGRPOTrainer


def grpo_config(settings: dict[str, Any], seed: int, output_dir: str) -> Any:
    from trl import GRPOConfig

    cfg = settings["grpo"]
    cuda = settings["device"] == "cuda"
    group = int(cfg["group_size"])
    return GRPOConfig(
        output_dir=output_dir,
        max_steps=int(cfg["steps"]),
        per_device_train_batch_size=int(cfg["prompts_per_step"]) * group,
        steps_per_generation=int(cfg["steps_per_generation"]),
        num_generations=group,
        max_completion_length=int(cfg["max_completion_length"]),
        temperature=float(cfg["temperature"]),
        learning_rate=float(cfg["lr"]),
        lr_scheduler_type="constant",
        max_grad_norm=float(cfg["max_grad_norm"]),
        weight_decay=0.0,
        beta=0.0,
        seed=seed,
        use_cpu=not cuda,
        bf16=cuda,
        activation_checkpointing=bool(cfg.get("activation_checkpointing", False)),
        optim=str(cfg.get("optim", "adamw_torch")),
        logging_steps=max(1, int(cfg["steps"]) // 10),
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def train_once(namespace: dict[str, Any], settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """One GRPO run from the base policy; saves ``policy-seed<seed>.safetensors`` here."""
    from datasets import Dataset
    from transformers import PrinterCallback

    adv_fn, loss_fn = functions(namespace)
    cfg = settings["grpo"]
    task = settings["task"]
    base = BASE_WEIGHTS if task["kind"] in policy.PROXIES else None
    model, tokenizer = policy.load_policy(settings, base)
    prompts = int(cfg["steps"]) * int(cfg["prompts_per_step"])
    items = policy.training_items(settings, prompts, int(settings["data_seed"]) + seed)
    data = Dataset.from_dict({"prompt": [p for p, _ in items], "answer": [a for _, a in items]})

    def exact_reward(completions: list[str], answer: list[str], **kwargs: Any) -> list[float]:
        return [policy.reward(task, c, a) for c, a in zip(completions, answer, strict=True)]

    trainer_class = make_trainer_class()
    candidate = {
        "advantages": adv_fn,
        "loss": loss_fn,
        "max_grad_norm_abort": float(cfg["max_grad_norm_abort"]),
    }
    trainer = trainer_class(
        model=model,
        reward_funcs=exact_reward,
        args=grpo_config(settings, seed, os.path.join("trl", str(seed))),
        train_dataset=data,
        processing_class=tokenizer,
        candidate=candidate,
    )
    trainer.remove_callback(PrinterCallback)
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    policy.save_weights(trainer.model, f"policy-seed{seed}.safetensors")
    rewards = [row["reward"] for row in trainer.state.log_history if "reward" in row]
    return {
        "seed": seed,
        "steps": trainer.state.global_step,
        "seconds": seconds,
        "reward_first": rewards[0] if rewards else None,
        "reward_last": rewards[-1] if rewards else None,
        "max_grad_norm": max(trainer.grad_norms, default=0.0),
    }


def train(namespace: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """The contract probes, then one GRPO run per seed: ``{"probes", "runs"}`` or
    ``{"failure": {"error_class", "message", "seed"}}``. Other exceptions propagate: the
    sandbox reports them with the traceback."""
    torch.set_num_threads(int(settings["threads"]))
    if settings["task"]["kind"] in policy.PROXIES:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            os.environ[name] = "1"  # the proxy needs nothing from the hub, ever
    seed = None
    try:
        probes = contract(namespace)
        runs = []
        for seed in settings["seeds"]:
            runs.append(train_once(namespace, settings, int(seed)))
    except CandidateFault as exc:
        return {"failure": {"error_class": exc.error_class, "message": str(exc), "seed": seed}}
    return {"probes": probes, "runs": runs}


def evaluate(stage: str, settings: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The sandbox entry: ``contract`` (probes only) or ``train``."""
    if stage == "contract":
        torch.set_num_threads(int(settings["threads"]))
        try:
            return {"probes": contract(namespace)}
        except CandidateFault as exc:
            return {"failure": {"error_class": exc.error_class, "message": str(exc), "seed": None}}
    return train(namespace, settings)
