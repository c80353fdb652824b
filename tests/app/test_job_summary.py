"""The final report in plain words."""

from app.jobs.summary import quality_summary


def test_the_summary_puts_the_probes_against_random_init_and_rankme_against_the_size() -> None:
    report = {
        "knn_top1": 0.91,
        "knn_top1_random_init": 0.868,
        "linear_probe": 0.9,
        "rankme": 84.2,
        "embedding_dim": 128.0,
    }
    assert quality_summary(report) == (
        "kNN 0.91: +4.2 points over the random-init encoder; linear probe 0.90; RankMe 84 of 128"
    )


def test_a_probe_below_random_init_says_below_rather_than_a_negative_gain() -> None:
    report = {"knn_top1": 0.9722, "knn_top1_random_init": 1.0, "linear_probe": 0.4996, "linear_probe_random_init": 0.5}
    assert quality_summary(report) == (
        "kNN 0.97: 2.8 points below the random-init encoder; "
        "linear probe 0.50: +0.0 points over the random-init encoder"
    )


def test_a_collapse_warning_is_part_of_the_summary_and_an_empty_report_has_none() -> None:
    assert quality_summary({"rankme": 1.0, "warning": "collapsed"}) == "RankMe 1; collapsed"
    assert quality_summary({}) is None


def test_the_summary_says_when_the_encoder_loses_to_its_baseline_or_beats_it() -> None:
    below = {
        "knn_top1": 0.39,
        "knn_top1_random_init": 0.46,
        "knn_top1_baseline": 0.62,
        "linear_probe": 0.5,
        "linear_probe_baseline": 0.45,
        "baseline": "TF-IDF",
    }
    assert quality_summary(below) == (
        "kNN 0.39: 7.0 points below the random-init encoder, 23.0 points below TF-IDF on these labels; "
        "linear probe 0.50: +5.0 points over TF-IDF"
    )
    above = {"knn_top1": 0.97, "knn_top1_baseline": 0.95, "baseline": "raw pixels"}
    assert quality_summary(above) == "kNN 0.97: +2.0 points over raw pixels"
