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
