"""Several seeds of one request: the summary's numbers (recomputed here from the per-seed reports), the verdict
against doing nothing, the CLI's ``--seeds`` and its bad inputs, and how the table shows the spread."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from unlearn_core import plots
from unlearn_core.cli import main
from unlearn_core.errors import UnlearningInputError
from unlearn_core.hparams import MAX_SEEDS, check_seeds, repeat_seeds
from unlearn_core.spread import beats_line, indistinguishable, interval, seed_summary


def test_interval_is_the_student_t_interval_of_the_mean():
    spread = interval([1.0, 2.0, 4.0])
    assert spread["mean"] == pytest.approx(7 / 3) and spread["std"] == pytest.approx(np.std([1, 2, 4], ddof=1))
    half = stats.t.ppf(0.975, 2) * spread["std"] / np.sqrt(3)
    assert spread["ci95"] == pytest.approx([7 / 3 - half, 7 / 3 + half]) and spread["n"] == 3
    assert interval([5.0]) == {"mean": 5.0, "std": 0.0, "ci95": None, "n": 1}


def _report(seed: int, gap: float, nothing: float, ua: float) -> dict:
    return {"model": "m", "forget": "random:10", "method": "salun", "seed": seed, "avg_gap": gap,
            "avg_gap_original": nothing, "runtime_s": {"unlearn": 1.0 + seed, "retrain": 9.0},
            "metrics": {"unlearned": {"ua": ua, "ra": 99.0, "ta": 95.0, "mia": 10.0},
                        "original": {"ua": 0.0, "ra": 100.0, "ta": 96.0, "mia": 1.0},
                        "retrain": {"ua": 4.0, "ra": 99.5, "ta": 95.5, "mia": 12.0}}}


def test_summary_counts_the_seeds_that_beat_doing_nothing_on_the_same_seed():
    # Seed 2's gap (3.0) is below the mean of doing nothing but above its own seed's (2.5): a loss.
    reports = [_report(0, 1.0, 4.0, 2.0), _report(1, 2.0, 3.0, 3.0), _report(2, 3.0, 2.5, 6.0)]
    summary = seed_summary(reports)
    beats = summary["beats_doing_nothing"]
    assert (beats["k"], beats["n"]) == (2, 3)
    assert beats["difference"]["mean"] == pytest.approx(np.mean([-3.0, -1.0, 0.5]))
    assert summary["metrics"]["unlearned"]["ua"]["mean"] == pytest.approx(np.mean([2.0, 3.0, 6.0]))
    # Per metric: |ua - Retrain's| (2, 1, 2) against doing nothing's |0 - 4| = 4 on every seed.
    assert summary["metric_gaps"]["ua"]["k"] == 3
    assert summary["metric_gaps"]["ua"]["unlearned"]["mean"] == pytest.approx(5 / 3)
    assert "in 2 of 3 seeds" in beats_line(summary)
    assert "one seed: run several" in beats_line(seed_summary(reports[:1]))


def test_indistinguishable_pairs_are_those_whose_paired_interval_contains_zero():
    gaps = {"A": [1.0, 1.1, 0.9, 1.0], "B": [3.0, 3.2, 2.9, 3.1], "C": [1.2, 0.8, 1.3, 0.7]}
    assert indistinguishable(gaps) == [("A", "C")]
    assert indistinguishable({"A": [1.0], "B": [3.0]}) == [("A", "B")]  # one seed decides nothing


@pytest.mark.parametrize("text, words", [
    ("", "comma-separated"), ("1,,2", "comma-separated"), ("1,1", "more than once"), ("-1", "0.."),
    (",".join(str(i) for i in range(MAX_SEEDS + 1)), f"at most {MAX_SEEDS}"), ("a,b", "0.."), ("1.5", "0.."),
])
def test_bad_seeds_get_one_clear_message(text, words, capsys):
    assert main(["run", "--model", "digits-mlp", "--forget", "class:3", "--method", "ga", "--seeds", text]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and "\n" not in error and words in error and "Traceback" not in error


def test_seed_and_seeds_together_are_refused(capsys):
    assert main(["run", "--model", "digits-mlp", "--forget", "class:3", "--method", "ga", "--seed", "1",
                 "--seeds", "1,2"]) == 2
    assert "not both" in capsys.readouterr().err


def test_repeat_counts_up_from_the_seed_within_the_limits():
    assert repeat_seeds(21, 3) == [21, 22, 23] and repeat_seeds("4", 1.0) == [4]
    for bad in (0, MAX_SEEDS + 1, 2.5, "two", True):
        with pytest.raises(UnlearningInputError, match=f"1..{MAX_SEEDS}"):
            repeat_seeds(0, bad)
    assert check_seeds([3, 1]) == [3, 1]


def test_cli_seeds_writes_every_run_and_a_summary_that_matches_them(tmp_path):
    """A random target over two seeds (the fewest with an interval; each costs a Retrain): each seed draws its
    own forget set and Retrain, and the summary is exactly what the per-seed reports say."""
    out = tmp_path / "r.json"
    assert main(["run", "--model", "digits-mlp", "--forget", "random:10", "--method", "salun", "--seeds",
                 "21,22", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    runs, summary = report["runs"], report["summary"]
    assert [r["seed"] for r in runs] == [21, 22] == report["seeds"]
    # Each seed its own forget set, hence its own Retrain: Retrain's UA differs between seeds.
    assert len({r["metrics"]["retrain"]["ua"] for r in runs}) > 1
    for model in ("unlearned", "original", "retrain"):
        for key, spread in summary["metrics"][model].items():
            values = [r["metrics"][model][key] for r in runs]
            assert spread["mean"] == pytest.approx(np.mean(values)) and spread["n"] == 2
            assert spread["std"] == pytest.approx(np.std(values, ddof=1))
    wins = sum(r["avg_gap"] < r["avg_gap_original"] for r in runs)
    assert summary["beats_doing_nothing"]["k"] == wins and summary["beats_doing_nothing"]["n"] == 2
    assert summary["gap"]["mean"] == pytest.approx(np.mean([r["avg_gap"] for r in runs]))
    lo, hi = summary["beats_doing_nothing"]["difference"]["ci95"]
    assert lo <= summary["beats_doing_nothing"]["difference"]["mean"] <= hi

    table = plots.metrics_frame(report)
    assert all("±" in str(cell) for cell in table["Unlearned"])
    assert f"in {wins} of 2 seeds" in plots.summary_markdown(report)


def test_one_seed_in_seeds_has_no_interval(tmp_path):
    out = tmp_path / "r.json"
    assert main(["run", "--model", "digits-mlp", "--forget", "class:3", "--method", "ga", "--seeds", "7",
                 "--out", str(out)]) == 0
    summary = json.loads(out.read_text())["summary"]
    assert summary["n"] == 1 and summary["gap"]["ci95"] is None and summary["beats_doing_nothing"]["n"] == 1


def _colour(report: dict) -> tuple[int, int, int]:
    """The RGB of the Avg. Gap row's gap cell in the styled table."""
    html = plots.styled_metrics(report).to_html()
    frame = plots.metrics_frame(report)
    row = len(frame) - 1
    gap_col = list(frame.columns).index(plots.GAP_COLUMN)
    match = re.search(rf"#T_\w+_row{row}_col{gap_col}[^{{]*{{[^}}]*background-color: rgb\((\d+), (\d+), (\d+)\)", html)
    assert match, "the Avg. Gap cell has no colour"
    return tuple(int(v) for v in match.groups())


def test_a_result_that_loses_to_doing_nothing_is_never_green():
    from unlearn_core.runner import seeds_report

    losing = seeds_report([_report(s, 3.0 + s, 1.0, 2.0) for s in range(3)])
    red, green, _ = _colour(losing)
    assert red > green
    # Also one losing seed on its own (the old table coloured a gap of 1.81 green beside doing nothing's 0.64).
    red, green, _ = _colour(_report(0, 1.81, 0.64, 2.0))
    assert red > green
    winning = seeds_report([_report(s, 1.0, 4.0 + s, 2.0) for s in range(3)])
    red, green, _ = _colour(winning)
    assert green > red
    # The same win on one seed is paler: no spread to judge it by.
    assert sum(_colour(_report(0, 1.0, 4.0, 2.0))) > sum(_colour(winning))
