"""Headless command line: ``python -m unlearn_core {run,methods,models,train,bench,tune,audit,shadows,bench-audit,
bench-speed}``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import DivergenceError, UnlearningInputError, shown
from .execution import is_main, launched_processes, run_device, start_processes, use_device, use_teacher_device
from .hparams import SEED_MAX, check_seed, check_seeds


def add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the models a user brings (CLIP, Stable Diffusion); see unlearn_core/zoo/hub.py."""
    hub = parser.add_argument_group("user-given models (--model clip or stable-diffusion)")
    hub.add_argument("--model-path", help="a save_pretrained folder or a hub id already in the local cache")
    hub.add_argument("--device", default=None, help="every model: cpu, cuda or cuda:N (default: $UNLEARN_DEVICE, "
                     "else cuda when available; under accelerate launch each process takes its own GPU)")
    hub.add_argument("--teacher-device", default=None,
                     help="where ESD's frozen copy of the original sits, e.g. cuda:1 (default: beside the model)")
    hub.add_argument("--dtype", default=None, choices=("auto", "float32", "float16", "bfloat16"),
                     help="weights of the frozen parts (default: float16 on cuda, float32 on cpu)")
    hub.add_argument("--data", help="CLIP: DATA/<name>/*.png per name; SD: DATA/forget/ and DATA/retain/ "
                     "(images with a prompts.txt, or only a prompts.txt: the model draws them)")
    hub.add_argument("--forget-dir", help="folder of forget images (overrides DATA)")
    hub.add_argument("--retain-dir", help="CLIP: ROOT/<name>/*.png of names to keep; SD: folder of retain images")
    hub.add_argument("--names", help="CLIP: names file (one per line) for zero-shot classification")
    hub.add_argument("--tower", choices=("vision", "text", "both"),
                     help="CLIP: which encoder methods may change (SLUG's candidate layers; default both)")
    hub.add_argument("--template", help="CLIP: zero-shot prompt template (default 'a photo of {}.')")
    hub.add_argument("--prompts", help="SD: evaluation prompts file (one per line)")
    hub.add_argument("--clip-path", help="SD: a CLIP model (folder or cached id) for the CLIP-score")
    hub.add_argument("--max-images", type=int, help="at most this many images per name / set (default 50)")
    hub.add_argument("--unet-part", choices=("full", "cross-attention"),
                     help="SD: the UNet weights ESD/SalUn/... train (SLUG edits one text-encoder layer; default "
                     "full)")
    hub.add_argument("--anchor", help="SD: SalUn draws this instead of the concept (default: a retain prompt)")
    hub.add_argument("--guidance", type=float, help="SD: classifier-free guidance (default 7.5)")
    hub.add_argument("--steps", type=int, help="SD: DDIM steps per sample (default 25)")
    hub.add_argument("--generate", type=int,
                     help="SD: images the model draws per prompt for a forget/retain set given without images "
                     "(default 4)")
    hub.add_argument("--eval-seeds", type=int, help="SD: seeds per evaluation prompt (default 2)")


# The defaults of the hub options that have one. They are filled in by ``configure_hub``, not by argparse, so that
# an option given for a shipped model is seen (a default would hide it) and refused instead of ignored.
HUB_DEFAULTS = {"tower": "both", "template": "a photo of {}.", "max_images": 50, "unet_part": "full",
                "guidance": 7.5, "steps": 25, "generate": 4, "eval_seeds": 2}
# Options that only a user-given model reads.
HUB_ONLY_OPTIONS = ("dtype", "data", "forget_dir", "retain_dir", "names", "prompts", "clip_path", "anchor",
                    *HUB_DEFAULTS)


def configure_hub(args) -> None:
    """Register the user-given model named by --model for --model-path (no-op for shipped models)."""
    from .zoo import MODELS
    from .zoo.hub import HUB_FAMILIES, configure, hub_path
    from .zoo.hub_options import HubOptions

    if not getattr(args, "model_path", None):
        if args.model in HUB_FAMILIES and args.model not in MODELS:
            raise UnlearningInputError(f"--model {args.model} needs --model-path (a folder or a cached hub id)")
        given = [f"--{name.replace('_', '-')}" for name in HUB_ONLY_OPTIONS if getattr(args, name, None) is not None]
        if given:  # silently ignoring them would run something other than what was asked
            raise UnlearningInputError(f"{', '.join(given)} applies only to models given with --model-path "
                                       f"({', '.join(HUB_FAMILIES)}); the shipped model {args.model} runs in float32 "
                                       "with its own data and settings")
        return
    for name, default in HUB_DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    for flag in ("max_images", "steps", "generate", "eval_seeds"):
        if getattr(args, flag) < 1:
            raise UnlearningInputError(f"--{flag.replace('_', '-')} must be at least 1; got {getattr(args, flag)}")
    if not 0 <= args.guidance <= 50:  # also refuses NaN
        raise UnlearningInputError(f"--guidance must be in [0, 50]; got {args.guidance}")
    optional = lambda value: hub_path(value) if value else None  # noqa: E731
    configure(args.model, HubOptions(
        path=hub_path(args.model_path), device=args.device or str(run_device()), dtype=args.dtype,
        data=optional(args.data), forget_dir=optional(args.forget_dir), retain_dir=optional(args.retain_dir),
        names=optional(args.names), prompts=optional(args.prompts), clip_path=optional(args.clip_path),
        tower=args.tower, template=args.template, max_images=args.max_images, unet_part=args.unet_part,
        anchor=args.anchor, guidance=args.guidance, steps=args.steps, generate=args.generate,
        eval_seeds=args.eval_seeds))


def add_run_request_arguments(parser: argparse.ArgumentParser, default_model: str) -> None:
    """What one unlearning run needs (``run`` and ``audit`` both start with one)."""
    parser.add_argument("--model", default=default_model)
    parser.add_argument("--forget", required=True, help="class:K, random:P or concept:WORDS")
    parser.add_argument("--method", required=True)
    parser.add_argument("--seed", default=None, help="the run's seed (default 0)")
    parser.add_argument("--set", dest="overrides", action="append", metavar="NAME=VALUE",
                        help="override a hyperparameter of the method (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m unlearn_core", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="unlearn a forget target from a shipped model and write a JSON report")
    add_run_request_arguments(run, "digits-cnn")
    run.add_argument("--seeds", default=None, metavar="S1,S2,...",
                     help="repeat the run over these seeds (at most 10) and add a summary over them: each metric's "
                          "mean, std and 95%% interval, and in how many seeds the method beats doing nothing")
    run.add_argument("--no-retrain", action="store_true", help="skip the Retrain reference")
    run.add_argument("--out", type=Path, help="write the JSON report here (default: stdout)")
    run.add_argument("--weights", type=Path, help="save the unlearned weights (safetensors) here")
    run.add_argument("--grid", type=Path, help="generative models: write a before/after image grid here")
    run.add_argument("--save-pretrained", type=Path, metavar="DIR",
                     help="hub models: write the unlearned model as a folder its library loads (CLIPModel, "
                          "StableDiffusionPipeline)")
    add_hub_arguments(run)

    methods = sub.add_parser("methods", help="list the methods and their hyperparameters")
    methods.add_argument("--model", default="digits-cnn", help="show the defaults for this model's family")
    methods.add_argument("--forget", default=None,
                         help="show the defaults tuned for this kind of target (class:K, random:P; default: the "
                              "model's default target)")
    methods.add_argument("--json", action="store_true")
    add_hub_arguments(methods)

    sub.add_parser("models", help="list the models available here")

    train = sub.add_parser("train", help="train a shipped model into assets/")
    train.add_argument("name")
    train.add_argument("--seed", type=int, default=None)
    train.add_argument("--out", type=Path, default=None)
    train.add_argument("--forget", default=None, help="train a Retrain reference without this target")

    bench = sub.add_parser("bench", help="run every method over several seeds and write a results table")
    bench.add_argument("--model", default="digits-cnn")
    bench.add_argument("--forget", action="append", help="forget targets (default: the model's benchmark set)")
    bench.add_argument("--methods", default=None, help="comma-separated methods (default: all that apply)")
    bench.add_argument("--seeds", default=None, help="comma-separated seeds (default: the model's report seeds)")
    bench.add_argument("--out", type=Path, default=None, help="markdown file (default: benchmarks/MODEL.md)")
    bench.add_argument("--shares", default=None, metavar="P,P,...",
                       help="forget-amount sweep instead: Avg. Gap of each method for random:P at each share "
                            "(percent, e.g. 10,20,30,40,50); writes benchmarks/MODEL-sweep.md, .json and .png")
    bench.add_argument("--from-json", type=Path, default=None, metavar="X.json",
                       help="run nothing: write X.md (or --out) again from the per-seed reports in X.json, a "
                            "benchmark's or a sweep's, with the same code that writes it after a run")

    tune = sub.add_parser("tune", help="search each method's declared grid on the model's tuning targets and "
                                       "write the search table and the chosen defaults")
    tune.add_argument("--model", default="digits-cnn")
    tune.add_argument("--methods", default=None, help="comma-separated methods (default: every one with a grid)")
    tune.add_argument("--grid", action="append", default=[], metavar="METHOD.KNOB=V1,V2",
                      help="replace one knob's declared values (repeatable)")

    audit = sub.add_parser("audit", help="run an unlearning, then audit it: membership inference (ulira), "
                                         "relearning (relearn) or concept inversion (inversion)")
    add_run_request_arguments(audit, "digits-mlp")
    audit.add_argument("--attack", action="append", required=True, metavar="ATTACK",
                       help="ulira, relearn or inversion (repeatable)")
    audit.add_argument("--audit-set", dest="audit_overrides", action="append", default=[],
                       metavar="ATTACK.KNOB=VALUE", help="override an attack's knob, e.g. relearn.steps=40 "
                       "(repeatable; `attacks --model M` lists the knobs)")
    audit.add_argument("--out", type=Path, help="write the JSON (the run's report and the audit) here "
                       "(default: stdout)")

    attacks = sub.add_parser("attacks", help="list the audit attacks, where they apply and their knobs")
    attacks.add_argument("--model", default="digits-mlp", help="show the knobs' defaults for this model's family")

    shadows = sub.add_parser("shadows", help="train (or resume) the shadow models of a classifier's "
                                             "membership audit")
    shadows.add_argument("--model", default="digits-mlp")
    shadows.add_argument("--count", type=int, default=16, help="number of shadow models K")
    shadows.add_argument("--out", type=Path, default=None,
                         help="write them here to ship (default: the on-disk cache)")

    bench_audit = sub.add_parser("bench-audit", help="audit several methods and write benchmarks/audit-MODEL.md")
    bench_audit.add_argument("--model", default="digits-mlp")
    bench_audit.add_argument("--forget", default=None, help="forget target (default: the model's audit target)")
    bench_audit.add_argument("--methods", default=None, help="comma-separated methods (default: the model's)")
    bench_audit.add_argument("--seeds", default=None, help="comma-separated seeds (default: the model's)")
    bench_audit.add_argument("--attack", action="append", default=None, help="attacks (default: all that apply)")
    bench_audit.add_argument("--out", type=Path, default=None, help="markdown file (default: benchmarks/audit-MODEL.md)")

    speed = sub.add_parser("bench-speed", help="time the app's click to result (run + inspection, warm process, "
                                               "new seed) for digits-cnn SalUn, digits-ddpm SalUn, shapes-t2i ESD")
    speed.add_argument("--models", default=None, help="comma-separated models (default: all three)")
    speed.add_argument("--seed", type=int, default=1, help="the timed run's seed (default 1)")
    speed.add_argument("--warmup-seed", type=int, default=0, help="the warm-up run's seed (default 0)")
    speed.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's, as the app)")
    speed.add_argument("--json", type=Path, default=None, help="also write the times as JSON here")
    return parser


def _progress(fraction: float, message: str) -> None:
    if is_main():  # one progress line per step, not one per process
        print(f"[{fraction:5.0%}] {message}", file=sys.stderr, flush=True)


def write_json(data: dict, out: Path | None, what: str) -> None:
    """``data`` as indented JSON into ``out`` (folders made), or to stdout without one."""
    text = json.dumps(data, indent=2, default=float)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        print(f"{what} written to {out}", file=sys.stderr)
    else:
        print(text)


def check_writable(path: Path | None, option: str, folder: bool = False) -> None:
    """Refuse an output path that cannot be written before the run, not after it, by writing it (a file made
    here is removed again; its folders stay, the run writes there). ``folder``: the path is a folder to fill."""
    if path is None:
        return
    if path.is_dir() and not folder:
        raise UnlearningInputError(f"{option} {path} is a folder; give a file name, e.g. {path / 'out.json'}")
    if path.exists() and folder and not path.is_dir():
        raise UnlearningInputError(f"{option} {path} is a file; give a folder")
    existing = path.absolute()
    while not existing.exists():  # the nearest folder that is there; the others are made
        existing = existing.parent
    if existing != path.absolute() and not existing.is_dir():
        raise UnlearningInputError(f"{option} {path} cannot be written: {existing} is a file, not a folder")
    probe = path / ".write-test" if folder else path
    try:
        existed = probe.exists()
        probe.parent.mkdir(parents=True, exist_ok=True)
        with open(probe, "a"):
            pass
        if not existed:
            probe.unlink()
    except OSError as error:
        raise UnlearningInputError(f"{option} {path} cannot be written: {error.strerror or error}") from None


def cmd_run(args) -> int:
    from .hparams import parse_assignments
    from .runner import run_unlearning

    for option, path in (("--out", args.out), ("--weights", args.weights), ("--grid", args.grid)):
        check_writable(path, option)
    check_writable(args.save_pretrained, "--save-pretrained", folder=True)
    configure_hub(args)
    if args.seeds is not None:
        if args.seed is not None:
            raise UnlearningInputError("give either --seed (one run) or --seeds (several), not both")
        from .runner import run_seeds

        repeated = run_seeds(args.model, args.forget, args.method, check_seeds(args.seeds, "--seeds"),
                             parse_assignments(args.overrides),
                             with_retrain=not args.no_retrain, progress=_progress)
        report, outcome = repeated.report, repeated.first
        if any((args.weights, args.save_pretrained, args.grid)):
            print(f"the files below hold the first seed's model (seed {outcome.report['seed']})", file=sys.stderr)
    else:
        outcome = run_unlearning(args.model, args.forget, args.method, _one_seed(args.seed),
                                 parse_assignments(args.overrides), with_retrain=not args.no_retrain,
                                 progress=_progress)
        report = outcome.report
    if not is_main():  # every process holds the same model; the main one writes the report and the files
        return 0
    write_json(report, args.out, "report")
    if args.weights:
        from .export import save_weights

        save_weights(outcome.model, args.weights, outcome.report)
        print(f"weights written to {args.weights}", file=sys.stderr)
    if args.save_pretrained:
        from .zoo.hub import save_pretrained

        save_pretrained(outcome, args.save_pretrained)
        print(f"model folder written to {args.save_pretrained}", file=sys.stderr)
    if args.grid:
        from .export import save_grid

        save_grid(outcome, args.grid)
        print(f"grid written to {args.grid}", file=sys.stderr)
    return 0


def cmd_methods(args) -> int:
    from .methods import METHODS
    from .zoo import get_model_spec

    configure_hub(args)
    spec = get_model_spec(args.model)
    kind = spec.family
    forget_kind = spec.parse_forget(args.forget or spec.default_forget).kind
    listing = [cls.describe(kind, spec.name, forget_kind) for cls in METHODS.values() if spec.applies(cls)]
    if args.json:
        print(json.dumps(listing, indent=2))
        return 0
    for entry in listing:
        print(f"{entry['name']:12s} {entry['label']}: {entry['summary']}")
        for hp in entry["hyperparameters"]:
            print(f"    {hp['name']:16s} = {hp['default']!r:10}  {hp['help']} ({hp['valid']})")
    return 0


def cmd_models(args) -> int:
    from .zoo import MODELS, available_models

    for name in available_models():
        spec = MODELS[name]
        print(f"{name:14s} {spec.family:16s} forget: {', '.join(spec.forget_kinds):16s} {spec.description}")
    return 0


def cmd_train(args) -> int:
    from .zoo import MODELS

    if args.name not in MODELS:
        raise UnlearningInputError(f"unknown model {shown(args.name)}; valid: {', '.join(MODELS)}")
    kwargs = {k: v for k, v in (("seed", args.seed), ("out_dir", args.out), ("forget", args.forget)) if v is not None}
    result = MODELS[args.name].train(progress=_progress, **kwargs)
    print(json.dumps(result, indent=2, default=float))
    return 0


def cmd_sweep(args) -> int:
    """``bench --shares``: the forget-amount sweep (shares, seeds and methods are validated by the core)."""
    from .bench import run_sweep_benchmark

    if args.forget:
        raise UnlearningInputError("--shares sweeps random:P forget targets; it cannot be combined with --forget")
    path = run_sweep_benchmark(args.model, args.shares, args.methods, args.seeds, args.out, progress=_progress)
    print(f"sweep written to {path} (and {path.with_suffix('.json').name}, {path.with_suffix('.png').name})")
    return 0


def cmd_bench(args) -> int:
    from .bench import run_benchmark

    check_writable(args.out, "--out")
    if args.from_json is not None:
        from .bench import rerender

        if not args.from_json.is_file():
            raise UnlearningInputError(f"--from-json: no such file {args.from_json}")
        print(f"benchmark re-rendered to {rerender(args.from_json, args.out)}")
        return 0
    if args.shares is not None:
        return cmd_sweep(args)
    seeds = _seed_list(args.seeds)
    methods = _method_list(args.methods)
    path = run_benchmark(args.model, args.forget, methods, seeds, args.out, progress=_progress)
    print(f"benchmark written to {path}")
    return 0


def cmd_tune(args) -> int:
    from .tuning import parse_grid_override, run_tuning

    extra: dict[str, dict[str, list]] = {}
    for text in args.grid:
        method, knob, values = parse_grid_override(text)
        extra.setdefault(method, {})[knob] = values
    methods = _method_list(args.methods)
    path = run_tuning(args.model, methods, extra, progress=_progress)
    print(f"tuning table written to {path}")
    return 0


def parse_audit_overrides(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``ATTACK.KNOB=VALUE`` strings -> {attack: {knob: value}} (the core validates names and values)."""
    settings: dict[str, dict[str, str]] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        attack, dot, knob = name.partition(".")
        if not (sep and dot and attack.strip() and knob.strip()):
            raise UnlearningInputError("--audit-set takes ATTACK.KNOB=VALUE (e.g. relearn.steps=40); "
                                       f"got {shown(pair)}")
        settings.setdefault(attack.strip(), {})[knob.strip()] = value.strip()
    return settings


def cmd_audit(args) -> int:
    from .audit.suite import run_audit, validate_audit
    from .hparams import parse_assignments
    from .runner import run_unlearning

    check_writable(args.out, "--out")
    settings = parse_audit_overrides(args.audit_overrides)
    validate_audit(args.model, args.attack, settings)  # before the run: a bad attack costs nothing
    outcome = run_unlearning(args.model, args.forget, args.method, _one_seed(args.seed),
                             parse_assignments(args.overrides), progress=lambda f, m: _progress(0.2 * f, m))
    audit = run_audit(outcome, args.attack, settings, progress=lambda f, m: _progress(0.2 + 0.8 * f, m))
    write_json({"run": outcome.report, "audit": audit}, args.out, "audit")
    return 0


def cmd_attacks(args) -> int:
    from .audit import ATTACKS
    from .zoo import get_model_spec

    family = get_model_spec(args.model).family
    for name, attack in ATTACKS.items():
        mark = "" if family in attack.families else f"  (not for {args.model})"
        print(f"{name:10s} {attack.label} ({attack.applies_to}){mark}: {attack.question}")
        for knob in attack.controls(family):
            print(f"    {knob['name']:16s} = {knob['default']!r:10}  {knob['help']} ({knob['valid']})")
    return 0


def cmd_shadows(args) -> int:
    from .audit.membership import build_shadows

    shadows = build_shadows(args.model, count=args.count, progress=_progress, out_dir=args.out)
    print(json.dumps({"model": args.model, "count": args.count, "folder": str(getattr(shadows, "folder", args.out)),
                      "build_s": getattr(shadows, "build_s", None)}, indent=2, default=str))
    return 0


def cmd_bench_audit(args) -> int:
    from .audit_bench import run_audit_benchmark

    check_writable(args.out, "--out")
    path = run_audit_benchmark(args.model, args.forget, _method_list(args.methods), _seed_list(args.seeds),
                               args.attack, args.out, progress=_progress)
    print(f"audit benchmark written to {path}")
    return 0


def cmd_bench_speed(args) -> int:
    from .speed import format_rows, run_speed_benchmark

    if args.seed == args.warmup_seed or args.seed < 0 or args.warmup_seed < 0:
        raise UnlearningInputError("--seed and --warmup-seed must be different non-negative integers")
    if args.threads is not None and args.threads < 1:
        raise UnlearningInputError(f"--threads must be at least 1; got {args.threads}")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    rows = run_speed_benchmark(models, args.seed, args.warmup_seed, args.threads, progress=_progress)
    print(format_rows(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([{k: v for k, v in r.items() if k not in ("report", "view")} for r in rows],
                                        indent=2) + "\n")
    return 0


def _one_seed(text: str | None) -> str:
    return "0" if text is None else text  # --seed's default; check_seed validates what was given


def _seed_list(text: str | None) -> list[int] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UnlearningInputError(f"--seeds takes comma-separated integers in 0..{SEED_MAX}, e.g. 0,1,2; "
                                   f"got {shown(text)}")
    return [check_seed(item, "each of --seeds") for item in items]


def _method_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    methods = [m.strip() for m in text.split(",") if m.strip()]
    if not methods:
        raise UnlearningInputError(f"--methods takes comma-separated method names; got {shown(text)}")
    return methods


# What a multi-process launch (accelerate launch, torchrun) may run: one unlearning run, data-parallel.
PARALLEL_COMMANDS = ("run",)


def start(args) -> None:
    """The device every model computes on (--device, $UNLEARN_DEVICE, else cuda when available) and, under a
    multi-process launch, the process group."""
    device = use_device(getattr(args, "device", None))
    use_teacher_device(getattr(args, "teacher_device", None))
    if launched_processes() > 1:
        if args.command not in PARALLEL_COMMANDS:
            raise UnlearningInputError(f"a multi-process launch runs the command {', '.join(PARALLEL_COMMANDS)}; got "
                                       f"{shown(args.command)}: start it with python -m unlearn_core instead")
        start_processes(device)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler = {"run": cmd_run, "methods": cmd_methods, "models": cmd_models, "train": cmd_train,
               "bench": cmd_bench, "tune": cmd_tune, "audit": cmd_audit, "attacks": cmd_attacks,
               "shadows": cmd_shadows,
               "bench-audit": cmd_bench_audit, "bench-speed": cmd_bench_speed}[args.command]
    try:
        start(args)
        return handler(args)
    except UnlearningInputError as error:
        if is_main():
            print(f"error: {error}", file=sys.stderr)
        return 2
    except DivergenceError as error:
        if is_main():
            print(f"stopped: {error}", file=sys.stderr)
        return 3
