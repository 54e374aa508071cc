"""Bad input, endpoint by endpoint, through the real app (gradio_client) and the CLI (a subprocess).

Every bad value must come back as one readable message that names the problem (no traceback, no Gradio
"upstream app raised an exception", no internal path, no user HTML, no 1 MB echo), before any computation, and
the server must keep answering. The API values are lists per parameter, so a new bad value is one line.
"""
from __future__ import annotations

import socket
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_server import ROOT, free_port, shared_server  # noqa: E402

pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

HUGE = "x" * 1_000_000  # a 1 MB value: never echoed back in full
HTML = "<b>bold</b><script>alert(1)</script>"
SEED_RANGE = "0..4294967295"
VALID_MODELS = "digits-mlp"  # named in every model error (the list of valid models); no bad value contains it
FAST = '{"epochs": 1}'


@pytest.fixture(scope="module")
def client():
    """One session for the whole module: validation answers before any work, so the calls are quick."""
    return Client(shared_server().url, verbose=False)


@pytest.fixture(scope="module")
def client_without_run():
    """A session that never runs anything (whatever the other tests do)."""
    return Client(shared_server().url, verbose=False)


@pytest.fixture(scope="module")
def client_with_run(client):
    """A second session with one short run (what /audit and /saliency_layer examine)."""
    session = Client(shared_server().url, verbose=False)
    session.predict("digits-cnn", "class:3", "salun", FAST, 0, False, "none", api_name="/run")
    return session


def readable_error(call, *fragments: str) -> str:
    """Call, expect an error, and check that its message is one the user can act on."""
    with pytest.raises(AppError) as info:
        call()
    message = str(info.value)
    for internal in ("Traceback", "upstream", "/tmp/", "site-packages", 'File "', "Unexpected error"):
        assert internal not in message, message
    assert "<b>" not in message and "<script" not in message, message  # user HTML arrives escaped
    assert len(message) < 2000, message[:300]
    lowered = message.lower()
    assert any(fragment.lower() in lowered for fragment in fragments), message
    return message


def run_call(client, model="digits-cnn", forget="class:3", method="salun", hyper=FAST, seed=0, retrain=False,
             attribution="none"):
    return lambda: client.predict(model, forget, method, hyper, seed, retrain, attribution, api_name="/run")


def compare_call(client, model="digits-cnn", forget="class:3", methods=("salun",), seed=0, overrides=""):
    methods = list(methods) if isinstance(methods, tuple) else methods
    return lambda: client.predict(model, forget, methods, seed, overrides, api_name="/compare")


def sweep_call(client, model="digits-cnn", shares="10", methods=("slug",), seed=0, overrides=""):
    methods = list(methods) if isinstance(methods, tuple) else methods
    return lambda: client.predict(model, shares, methods, seed, overrides, api_name="/sweep")


# ---- seeds: /run, /compare, /sweep --------------------------------------------------------------------------

BAD_SEEDS = [-1, 2**32, 2**64, 10**30, 1.5, 0.1, 2.5, True, False, None, "abc", "", "1e3", "٣", [0], {"seed": 0}]


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=repr)
@pytest.mark.parametrize("endpoint", [run_call, compare_call, sweep_call], ids=lambda f: f.__name__)
def test_bad_seed(client, endpoint, seed):
    readable_error(endpoint(client, seed=seed), SEED_RANGE)


# ---- models: /run, /compare, /sweep, /describe --------------------------------------------------------------

BAD_MODELS = ["nope", "", None, ["digits-cnn"], 3, "DIGITS-CNN", HTML, HUGE]


def describe_call(client, model="digits-cnn", method="salun"):
    return lambda: client.predict(model, method, api_name="/describe")


@pytest.mark.parametrize("model", BAD_MODELS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("endpoint", [run_call, compare_call, sweep_call, describe_call], ids=lambda f: f.__name__)
def test_bad_model(client, endpoint, model):
    readable_error(endpoint(client, model=model), VALID_MODELS)


# ---- forget targets: /run, /compare -------------------------------------------------------------------------

BAD_FORGETS = [
    ("class:10", "0..9"), ("class:-1", "0..9"), ("class:٣", "ASCII"), ("class:3.5", "0..9"), ("class:", "0..9"),
    ("class:99999999999999999999", "0..9"), ("random:0", "(0, 100)"), ("random:100", "(0, 100)"),
    ("random:1e1", "(0, 100)"), ("random:١٠", "ASCII"), ("banana:3", "class, random, concept"),
    ("banana", "class:K"), ("", "class:K"), ("3", "class:K"), (HTML, "class:K"), (HUGE, "class:K"),
    ("concept:cat", "concept"),
    # issue 26: a value that is not text was echoed as a fragment ("got \"['class\"")
    (["class:3"], "must be text like class:K, random:P or concept:WORDS (e.g. 'class:3'); got a list: ['class:3']"),
    ({"kind": "class"}, "must be text like class:K, random:P or concept:WORDS (e.g. 'class:3'); got a dict"),
]


@pytest.mark.parametrize("forget, fragment", BAD_FORGETS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("endpoint", [run_call, compare_call], ids=lambda f: f.__name__)
def test_bad_forget_target(client, endpoint, forget, fragment):
    readable_error(endpoint(client, forget=forget), fragment)


# ---- methods: /run, /describe; method lists: /compare, /sweep ----------------------------------------------

BAD_METHODS = ["nope", "", None, ["salun"], 5, "esd", HTML, HUGE]


@pytest.mark.parametrize("method", BAD_METHODS, ids=lambda v: repr(v)[:20])
def test_bad_run_method(client, method):
    readable_error(run_call(client, method=method), "method")


@pytest.mark.parametrize("method", BAD_METHODS, ids=lambda v: repr(v)[:20])
def test_bad_describe_method(client, method):
    readable_error(describe_call(client, method=method), "valid")


BAD_METHOD_LISTS = [
    (None, "at least one"), ([], "at least one"), (["nope"], "unknown method"), ("nope", "unknown method"),
    ([5], "list of names"), ([None], "list of names"), ({"salun": 1}, "list of names"), (5, "list of names"),
    (["esd"], ("unknown method", "does not apply")), ([HTML], "unknown method"), ([HUGE], "unknown method"),
    (["salun", "salun"], ("more than once", "given twice")), (["salun", "SalUn"], ("more than once", "given twice")),
]


def test_compare_refuses_retrain(client):
    """Retrain is the reference of every row, not one of the page's choices (issue 26: it was trained and listed)."""
    readable_error(compare_call(client, methods=["salun", "retrain"]), "Retrain is not one of the methods compared")


@pytest.mark.parametrize("methods, fragment", BAD_METHOD_LISTS, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("endpoint", [compare_call, sweep_call], ids=lambda f: f.__name__)
def test_bad_method_list(client, endpoint, methods, fragment):
    fragments = fragment if isinstance(fragment, tuple) else (fragment,)
    readable_error(endpoint(client, methods=methods), *fragments)


# ---- JSON: /run's hyperparameters, /compare's and /sweep's overrides, /audit's settings ----------------------

BAD_JSON = [
    ("{", "JSON object"), ("[1, 2]", "JSON object"), ("5", "JSON object"), ('"text"', "JSON object"),
    ("null", "JSON object"), ("true", "JSON object"), ("[" * 5000, "nested at most 8"),
    ('{"a":' * 2000 + "1" + "}" * 2000, "nested at most 8"), ('{"epochs": ' + "9" * 5000 + "}", "too many digits"),
    ("{" + " " * 30_000 + "}", "at most 20000 characters"), (5, "given as text"), (["a"], "given as text"),
    (HTML, "JSON object"), (HUGE, "at most 20000 characters"),
]


def audit_call(client, attacks=("relearn",), settings="{}"):
    attacks = list(attacks) if isinstance(attacks, tuple) else attacks
    return lambda: client.predict(attacks, settings, api_name="/audit")


@pytest.mark.parametrize("text, fragment", BAD_JSON, ids=lambda v: repr(v)[:20])
@pytest.mark.parametrize("endpoint, parameter", [(run_call, "hyper"), (compare_call, "overrides"),
                                                 (sweep_call, "overrides"), (audit_call, "settings")],
                         ids=["run", "compare", "sweep", "audit"])
def test_bad_json(client, endpoint, parameter, text, fragment):
    readable_error(endpoint(client, **{parameter: text}), fragment)


BAD_HYPERPARAMETERS = [('{"epochs": "many"}', "epochs"), ('{"lr": -1}', "lr"), ('{"nope": 1}', "nope"),
                       ('{"epochs": 1e999}', "epochs"), ('{"batch_size": 1.5}', "batch_size"),
                       ('{"epochs": true}', "epochs"),
                       # issue 26: converted silently before ("٣" -> 3, "1_0" -> 10, "６４" -> 64)
                       ('{"epochs": "٣"}', "'epochs' must be a number in (0.0, 100.0], given as a JSON number or plain "
                                           "decimal text such as 3, 0.01 or 1e-3; got '٣'"),
                       ('{"batch_size": "1_0"}', "plain digits such as 64; got '1_0'"),
                       ('{"batch_size": "６４"}', "plain digits such as 64; got '６４'"),
                       ('{"epochs": 1e-300}', "the smallest value that does one optimizer step is")]


@pytest.mark.parametrize("text, fragment", BAD_HYPERPARAMETERS, ids=lambda v: repr(v)[:20])
def test_bad_hyperparameter_values(client, text, fragment):
    readable_error(run_call(client, hyper=text), fragment)


def test_retrain_has_no_hyperparameters(client):
    readable_error(run_call(client, method="retrain", hyper='{"epochs": 1}'),
                   "Retrain (method 'retrain') has no hyperparameters; got 'epochs'")


BAD_OVERRIDES = [('{"slug": {}}', "not selected"), ('{"salun": 5}', "JSON object"), ('{"salun": {"lr": -1}}', "lr"),
                 ('{"salun": {"nope": 1}}', "nope")]


@pytest.mark.parametrize("text, fragment", BAD_OVERRIDES, ids=lambda v: repr(v)[:20])
def test_bad_compare_overrides(client, text, fragment):
    readable_error(compare_call(client, overrides=text), fragment)


# ---- /run's other inputs, /sweep's shares ------------------------------------------------------------------

@pytest.mark.parametrize("attribution", ["shapley", ["saliency"], 5, HTML, HUGE], ids=lambda v: repr(v)[:20])
def test_bad_attribution(client, attribution):
    readable_error(run_call(client, attribution=attribution), "attribution method must be one of")


@pytest.mark.parametrize("with_retrain", ["yes", "true", 1, None, [True]], ids=repr)
def test_bad_with_retrain(client, with_retrain):
    readable_error(run_call(client, retrain=with_retrain), "with_retrain must be true or false")


BAD_SHARES = ["", "0", "100", "abc", "10,10", "-5", "٣", "1e400", None, [], ["x"], HTML, HUGE, "1_0", "６４", "nan"]


@pytest.mark.parametrize("shares", BAD_SHARES, ids=lambda v: repr(v)[:20])
def test_bad_sweep_shares(client, shares):
    readable_error(sweep_call(client, shares=shares), "shares must be")


def test_sweep_of_a_model_without_random_targets(client):
    readable_error(sweep_call(client, model="digits-ddpm"), "random:P")


# ---- a session's last run: /saliency_layer, /audit ---------------------------------------------------------

@pytest.mark.parametrize("layer", ["conv2.weight", None, ["x"], HTML, HUGE], ids=lambda v: repr(v)[:20])
def test_saliency_layer_before_a_run(client_without_run, layer):
    readable_error(lambda: client_without_run.predict(layer, api_name="/saliency_layer"), "first")


@pytest.mark.parametrize("layer", ["no.such.layer", None, ["conv2.weight"], 5, HTML, HUGE],
                         ids=lambda v: repr(v)[:20])
def test_saliency_layer_names_the_layers(client_with_run, layer):
    readable_error(lambda: client_with_run.predict(layer, api_name="/saliency_layer"), "layer must be one of")


@pytest.mark.parametrize("attacks", [["relearn"], None, ["nope"]], ids=repr)
def test_audit_before_a_run(client_without_run, attacks):
    readable_error(audit_call(client_without_run, attacks=attacks), "run a method first")


BAD_AUDITS = [
    (None, "{}", "at least one attack"), ([], "{}", "at least one attack"), (["nope"], "{}", "unknown attack"),
    ("nope", "{}", "unknown attack"), ([HTML], "{}", "unknown attack"), ([HUGE], "{}", "unknown attack"),
    (["inversion"], "{}", "applies to"), ([5], "{}", "list of names"), ({"relearn": 1}, "{}", "list of names"),
    (["relearn"], '{"ulira": {}}', "not being run"), (["relearn"], '{"relearn": {"steps": -1}}', "steps"),
    (["relearn"], '{"relearn": {"nope": 1}}', "nope"), (["relearn"], '{"relearn": 5}', "relearn"),
    (["relearn", "relearn"], "{}", "each attack can be run once; listed more than once: 'relearn'"),
]


@pytest.mark.parametrize("attacks, settings, fragment", BAD_AUDITS, ids=lambda v: repr(v)[:20])
def test_bad_audit(client_with_run, attacks, settings, fragment):
    readable_error(audit_call(client_with_run, attacks=attacks, settings=settings), fragment)


# ---- cancels, and the server afterwards ----------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["/cancel", "/cancel_compare", "/cancel_sweep", "/cancel_audit"])
def test_cancel_with_nothing_running(client, endpoint):
    assert "Nothing is running" in client.predict(api_name=endpoint)


def test_cancel_after_a_finished_run_says_nothing_is_running(client_with_run):
    assert "Nothing is running" in client_with_run.predict(api_name="/cancel")


def test_the_server_still_answers(client):
    info = client.predict("digits-cnn", "salun", api_name="/describe")
    assert info["name"] == "salun"
    assert shared_server().alive()


# ---- the command line ----------------------------------------------------------------------------------------

def cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "unlearn_core", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def a_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "a-file"
    path.write_text("not a folder\n")
    return path


RUN = ("run", "--forget", "class:3", "--method", "salun")
CLI_CASES = [
    (RUN + ("--seed", "abc"), SEED_RANGE), (RUN + ("--seed", "1.5"), SEED_RANGE),
    (RUN + ("--seed", "4294967296"), SEED_RANGE), (RUN + ("--seed", "-1"), SEED_RANGE),
    (("run", "--forget", "class:٣", "--method", "salun"), "ASCII"), (RUN + ("--set", "epochs=abc"), "epochs"),
    (RUN + ("--device", "cuda:0"), "no CUDA GPU is visible"), (RUN + ("--device", "gpu"), "cpu, cuda, cuda:N or auto"),
    (RUN + ("--dtype", "float16"), "--model-path"),
    (("run", "--model", "stable-diffusion", "--model-path", "{file}-missing", "--forget", "concept:cat", "--method",
      "esd"), "a-file-missing"), (RUN + ("--weights", "{folder}"), "is a folder"),
    (RUN + ("--out", "{file}/report.json"), "is a file"), (("bench", "--seeds", "abc"), SEED_RANGE),
    (("bench", "--seeds", ","), "--seeds"), (("bench", "--out", "{folder}"), "is a folder"),
    (("audit", "--forget", "class:3", "--method", "ga", "--attack", "nope"), "unknown attack"),
    (("audit", "--forget", "class:3", "--method", "ga", "--attack", "relearn", "--out", "{file}/a.json"),
     "is a file"),
    # GANs: a concept word outside the text model's vocabulary, a class out of range, a method that does not apply
    (("run", "--model", "shapes-gan", "--forget", "concept:hexagon", "--method", "text_unlearn"), "unknown word 'hexagon'"),
    (("run", "--model", "digits-gan", "--forget", "class:10", "--method", "atu"), "class"),
    (("run", "--model", "digits-gan", "--forget", "class:3", "--method", "esd"), "does not apply to gan models"),
    (("run", "--model", "digits-gan", "--forget", "class:3", "--method", "text_unlearn"), "needs a text model"),
    # issue 26: hub-only options with defaults are refused for a shipped model too (they were ignored, exit 0)
    (RUN + ("--max-images", "0"), "--max-images applies only to models given with --model-path (clip, "
     "stable-diffusion); the shipped model digits-cnn runs in float32 with its own data and settings"),
    (RUN + ("--guidance", "nan"), "--guidance applies only to models given with --model-path"),
    (RUN + ("--steps", "25", "--tower", "text"), "--tower, --steps applies only"),
    (("bench-speed", "--model", "nope"), "bench-speed times the models digits-cnn, digits-ddpm, shapes-t2i; got 'nope'"),
    (RUN + ("--set", "epochs=٣"), "hyperparameter 'epochs' must be a number in (0.0, 100.0], given as a JSON number or "
     "plain decimal text such as 3, 0.01 or 1e-3; got '٣'"),
    (RUN + ("--set", "batch_size=６４"), "hyperparameter 'batch_size' must be an integer"),
    (("audit", "--forget", "class:3", "--method", "ga", "--attack", "relearn", "--attack", "relearn"),
     "each attack can be run once; listed more than once: 'relearn'"),
]


@pytest.mark.parametrize("args, fragment", CLI_CASES, ids=lambda v: " ".join(v)[:40] if isinstance(v, tuple) else v)
def test_cli_bad_input_is_one_line_and_exit_code_2(args, fragment, a_file):
    result = cli(*(arg.format(file=a_file, folder=a_file.parent) for arg in args))
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]


def test_a_multi_process_launch_runs_only_the_run_command():
    """accelerate launch / torchrun announce their processes in WORLD_SIZE; every command but ``run`` is refused
    before any process group is joined."""
    result = subprocess.run([sys.executable, "-m", "unlearn_core", "bench", "--model", "digits-mlp"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120, env={**os.environ, "WORLD_SIZE": "2"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("error: a multi-process launch runs the command run; got 'bench': start it with "
                                     "python -m unlearn_core instead")


def test_app_on_a_busy_port_says_so_in_one_line():
    port = free_port()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        result = subprocess.run([sys.executable, "app.py", "--port", str(port), "--no-warmup"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr[-2000:]
    assert str(port) in lines[0] and "--port" in lines[0]
