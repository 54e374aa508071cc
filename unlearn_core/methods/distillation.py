"""Teacher-student baselines from SFR-on's comparison: SCRUB and Bad Teacher."""
from __future__ import annotations

import copy
import dataclasses

import torch
import torch.nn.functional as F

from ..hparams import hparam
from .base import UnlearnResult, UnlearningMethod, Work, epochs_to_steps, make_optimizer, take_step
from .baselines import OptimConfig
from .registry import register


def distill_kl(student_logits, teacher_logits, temperature: float) -> torch.Tensor:
    """KL(teacher || student) on temperature-softened outputs, scaled by T^2 as in distillation."""
    return F.kl_div(F.log_softmax(student_logits / temperature, 1), F.softmax(teacher_logits / temperature, 1),
                    reduction="batchmean") * temperature ** 2


@dataclasses.dataclass
class SCRUBConfig(OptimConfig):
    """SCRUB (Kurmanji et al. 2023), on the official code's schedule: in epoch e = 1..E, while
    e <= max_epochs, a max pass over D_f, min_theta -KL_T(teacher || student) in batches of forget_batch_size;
    then a min pass over D_r, min_theta gamma CE + alpha KL_T(teacher || student) in batches of batch_size.
    KL_T compares temperature-T softmaxes, times T^2; the learning rate is multiplied by lr_decay_rate once past
    epoch lr_decay_epoch."""

    # The official large-scale (class forgetting) run: 3 epochs, msteps 2, SGD lr 5e-4, weight decay 5e-4,
    # gamma 0.99, alpha 0.001, kd_T 4, retain batches of 128 and forget batches of 32; its small-scale runs use
    # Adam at lr 5e-4. The max step's gradient is zero where it starts (student = teacher): the official models'
    # batch norm and dropout make the training-mode student differ from the teacher at once, but the digits models
    # have neither, and SGD's steps, proportional to that gradient, grow from nothing by about x2 a step, so a run
    # either does nothing or, once grown, blows up (the NaNs of the old lr 0.01-0.03 grid). Adam's normalised steps
    # move at once.
    epochs: float = hparam(3.0, "epochs E (each a min pass over the retain set)", low=0.0, high=100.0,
                           low_inclusive=False)
    max_epochs: int = hparam(2, "epochs that first take a max pass over the forget set (the official msteps)",
                             low=0, high=100)
    lr: float = hparam(5e-4, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    optimizer: str = hparam("adam", "optimizer (Adam, as the official small-scale runs, or SGD with momentum 0.9, "
                            "as its large-scale ones)", choices=("sgd", "adam"))
    batch_size: int = hparam(128, "retain minibatch size (min steps)", low=1, high=4096)
    forget_batch_size: int = hparam(32, "forget minibatch size (max steps)", low=1, high=4096)
    alpha: float = hparam(0.001, "weight of the retain KL term in the min steps", low=0.0, high=100.0)
    gamma: float = hparam(0.99, "weight of the retain cross-entropy in the min steps", low=0.0, high=100.0)
    temperature: float = hparam(4.0, "distillation temperature T", low=0.0, high=100.0, low_inclusive=False)
    lr_decay_epoch: int = hparam(3, "epochs at the full learning rate (later ones use lr x lr_decay_rate)",
                                 low=0, high=100)
    lr_decay_rate: float = hparam(0.1, "learning-rate factor after lr_decay_epoch", low=0.0, high=1.0,
                                  low_inclusive=False)


@register
class SCRUB(UnlearningMethod):
    name, label = "scrub", "SCRUB"
    summary = "Student-teacher: stay with the original on the retain set, move away on the forget set."
    reference = "Kurmanji et al., Towards Unbounded Machine Unlearning, NeurIPS 2023."
    Config = SCRUBConfig
    tasks = ("classification",)
    __doc__ = SCRUBConfig.__doc__

    def work(self, n_forget, n_retain):
        # max passes over the forget set in the first max_epochs epochs, min passes over the retain set in
        # every epoch; the teacher's forward adds about a third
        cfg = self.config
        epochs = max(int(round(cfg.epochs)), 1)
        return Work(1.3 * (min(cfg.max_epochs, epochs) * n_forget + epochs * n_retain))

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        teacher = copy.deepcopy(model).eval().requires_grad_(False)
        optimizer = make_optimizer(task.parameters_for_unlearning(model).values(), cfg.optimizer, cfg.lr,
                                   cfg.weight_decay)
        generator = torch.Generator().manual_seed(task.seed)
        epochs = max(int(round(cfg.epochs)), 1)
        model.train()
        for epoch in range(1, epochs + 1):
            # the official schedule: epochs count from 1, the decay applies once past the milestone
            rate = cfg.lr_decay_rate if epoch > cfg.lr_decay_epoch else 1.0
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr * rate
            if epoch <= cfg.max_epochs:
                for x, _ in task.batches("forget", cfg.forget_batch_size, generator):
                    with torch.no_grad():
                        teacher_logits = teacher(x)
                    take_step(optimizer, -distill_kl(model(x), teacher_logits, cfg.temperature), "SCRUB max step")
            for x, y in task.batches("retain", cfg.batch_size, generator):
                with torch.no_grad():
                    teacher_logits = teacher(x)
                logits = model(x)
                loss = cfg.gamma * F.cross_entropy(logits, y) + cfg.alpha * distill_kl(logits, teacher_logits,
                                                                                       cfg.temperature)
                take_step(optimizer, loss, "SCRUB min step")
            if progress:
                progress(epoch / epochs, f"SCRUB: epoch {epoch}/{epochs}")
        model.eval()
        return UnlearnResult(model)


def reinitialised(model, seed: int):
    """A copy of ``model`` with freshly initialised weights (Bad Teacher's incompetent teacher)."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in fresh.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
    return fresh.eval().requires_grad_(False)


@dataclasses.dataclass
class BadTeacherConfig(OptimConfig):
    """Bad Teacher: the student distils the competent (original) teacher on retain samples and an
    incompetent (randomly initialised) teacher on forget samples: min KL(teacher_i || student) per sample."""

    epochs: float = hparam(1.0, "passes over the forget set plus a retain subset", low=0.0, high=100.0,
                           low_inclusive=False)
    lr: float = hparam(0.003, "learning rate", low=0.0, high=10.0, low_inclusive=False)
    retain_share: float = hparam(0.3, "share of the retain set mixed in (the paper uses 30%)", low=0.0, high=1.0,
                                 low_inclusive=False)
    temperature: float = hparam(1.0, "distillation temperature", low=0.0, high=100.0, low_inclusive=False)


@register
class BadTeacher(UnlearningMethod):
    name, label = "bad_teacher", "Bad Teacher"
    summary = "Distil a good teacher on retained data and a random teacher on the forget set."
    reference = "Chundawat et al., Can Bad Teaching Induce Forgetting?, AAAI 2023."
    Config = BadTeacherConfig
    tasks = ("classification",)
    __doc__ = BadTeacherConfig.__doc__

    def work(self, n_forget, n_retain):
        # two teachers' forwards beside the student's pass
        cfg = self.config
        return Work(1.5 * cfg.epochs * (n_forget + cfg.retain_share * n_retain))

    def unlearn(self, model, task, progress=None):
        self.check_task(task)
        cfg = self.config
        good = copy.deepcopy(model).eval().requires_grad_(False)
        bad = reinitialised(model, task.seed)
        generator = torch.Generator().manual_seed(task.seed)
        retain_limit = max(1, int(cfg.retain_share * task.size("retain")))
        xs, from_forget = [], []
        for which, limit in (("forget", None), ("retain", retain_limit)):
            for x, _ in task.batches(which, 4096, generator, limit=limit):
                xs.append(x)
                from_forget.append(torch.full((len(x),), which == "forget"))
        x_all, forget_flag = torch.cat(xs), torch.cat(from_forget)
        optimizer = make_optimizer(model.parameters(), cfg.optimizer, cfg.lr, cfg.weight_decay)
        steps = epochs_to_steps(task, "forget", cfg.epochs, cfg.batch_size, samples=len(x_all),
                                what="the forget set and the retain subset")
        model.train()
        for step in range(steps):
            idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=generator)
            x, flag = x_all[idx], forget_flag[idx][:, None]
            with torch.no_grad():
                teacher_logits = torch.where(flag, bad(x), good(x))
            take_step(optimizer, distill_kl(model(x), teacher_logits, cfg.temperature), "Bad Teacher")
            if progress and step % 10 == 0:
                progress((step + 1) / steps, f"Bad Teacher: step {step + 1}/{steps}")
        model.eval()
        return UnlearnResult(model)
