"""One unlearning run as ``python -m unlearn_core run`` does it, that also keeps the saliency mask: the
multi-process tests start it under ``accelerate launch`` (and alone, for the one-process reference).

    python tests/parallel_run.py OUT_DIR run-arguments...

writes OUT_DIR/report.json and OUT_DIR/mask.safetensors (every layer's mask and scores), from the main
process only.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core import cli, execution  # noqa: E402
from unlearn_core.hparams import parse_assignments  # noqa: E402
from unlearn_core.runner import run_unlearning  # noqa: E402


def main() -> None:
    out = Path(sys.argv[1])
    args = cli.build_parser().parse_args(["run", *sys.argv[2:]])
    cli.start(args)
    cli.configure_hub(args)
    seed = "0" if args.seed is None else args.seed  # the CLI's default
    outcome = run_unlearning(args.model, args.forget, args.method, seed, parse_assignments(args.overrides),
                             with_retrain=not args.no_retrain)
    if not execution.is_main():
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(outcome.report, indent=2, default=float))
    tensors = {}
    for layer in outcome.artifacts.get("saliency", {}).get("layers", []):
        tensors[f"mask/{layer.name}"] = torch.from_numpy(layer.mask.astype("uint8"))
        tensors[f"scores/{layer.name}"] = torch.from_numpy(layer.scores).float()
    save_file(tensors, str(out / "mask.safetensors"))


if __name__ == "__main__":
    main()
