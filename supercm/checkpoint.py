"""Checkpoints that survive a disconnect: atomic writes, safe loading, resume."""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import torch

from .results import write_atomic
from .seeding import rng_state, set_rng_state

log = logging.getLogger(__name__)


def state_of(trainer) -> dict:
    """Everything needed to continue ``trainer`` exactly where it stands."""
    return {
        "step": trainer.step,
        "model": trainer.model.state_dict(),
        "ema": trainer.ema.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
        "tracker": trainer.tracker.state_dict(),
        "objective": (
            trainer.objective.state_dict() if trainer.objective is not None else {}
        ),
        "history": trainer.history,
        "pending_parts": trainer.pending_parts,
        "best": trainer.best,
        "timings": trainer.timings,
        "rng": rng_state(),
    }


def previous_path(path: Path) -> Path:
    """Where the checkpoint before ``path`` is kept (``run.pt`` -> ``run.prev.pt``)."""
    return path.with_suffix(".prev.pt")


def save(trainer) -> Path:
    """Write the trainer's state atomically, keeping the previous file as ``.prev``.

    The state is serialised in memory first, written to a temporary file and
    renamed over ``trainer.checkpoint_path``; a run killed at any moment
    leaves the latest complete checkpoint or the one before it.
    """
    path = trainer.checkpoint_path
    buffer = io.BytesIO()
    torch.save(state_of(trainer), buffer)
    if path.exists():
        path.replace(previous_path(path))
    write_atomic(path, buffer.getvalue())
    log.info("checkpoint at step %d: %s", trainer.step, path)
    return path


def load(path: Path) -> dict:
    """Load a checkpoint with ``weights_only=True`` (no arbitrary code runs)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def resume(trainer) -> bool:
    """Restore the newest readable checkpoint of ``trainer``'s run.

    A truncated or unreadable latest file is skipped with a warning in favour
    of the previous one, and renamed to ``*.corrupt`` so that the next save
    does not push it over the good one. Returns False (and the trainer stays
    at step 0) if there is no readable checkpoint.
    """
    path = trainer.checkpoint_path
    if not trainer.config.checkpoint_every:
        log.warning("resume=True but checkpoint_every=0: this run writes no "
                    "checkpoints to resume from next time")
    for candidate in (path, previous_path(path)):
        if not candidate.exists():
            continue
        try:
            state = load(candidate)
        except Exception as error:  # a half-written or corrupt file
            aside = candidate.with_name(candidate.name + ".corrupt")
            candidate.replace(aside)
            warnings.warn(
                f"checkpoint {candidate} is unreadable ({type(error).__name__}: "
                f"{_first_line(error)}); moved it to {aside.name} and trying the "
                "previous one",
                RuntimeWarning,
                stacklevel=2,
            )
            continue
        restore(trainer, state)
        log.info("resumed %s at step %d", candidate, trainer.step)
        return True
    log.info("no checkpoint at %s; starting at step 0", path)
    return False


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def restore(trainer, state: dict) -> None:
    """Put a loaded checkpoint ``state`` back into ``trainer``."""
    device = trainer.device
    trainer.model.load_state_dict(state["model"])
    trainer.ema.model.load_state_dict(state["ema"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scaler.load_state_dict(state["scaler"])
    trainer.tracker.load_state_dict(state["tracker"])
    if trainer.objective is not None:
        trainer.objective.load_state_dict(state["objective"])
    trainer.model.to(device)
    trainer.ema.model.to(device)
    trainer.step = state["step"]
    trainer.history = state["history"]
    trainer.pending_parts = state.get("pending_parts", [])
    trainer.best = state["best"]
    trainer.timings = state["timings"]
    set_rng_state(state["rng"])
