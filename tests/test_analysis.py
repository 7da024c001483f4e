import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from supercm import analysis  # noqa: E402
from supercm.backbones import MLP, Classifier  # noqa: E402
from supercm.config import WHOLE_SOURCE_POOL, TrainConfig  # noqa: E402
from supercm.train import Trainer  # noqa: E402
from supercm.validation import ParameterError  # noqa: E402


def tiny_config(**changes):
    values = dict(dataset="moons", method="ce+cm", steps=4, eval_every=2,
                  val_size=50, test_size=50, progress=False)
    return TrainConfig(**{**values, **changes})


def fake_record(method, seed, acc, labels_per_class=10, **metrics):
    return {
        "run_id": f"{method}_{labels_per_class}_{seed}",
        "seed": seed,
        "config": {"method": method, "labels_per_class": labels_per_class,
                   "seed": seed, "beta": 0.2},
        "metrics": {"test_acc": acc, **metrics},
        "history": [{"step": 10, "val_acc": acc - 5}, {"step": 20, "val_acc": acc}],
    }


def test_runs_dir_prefers_argument_then_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERCM_RUNS", str(tmp_path / "env"))
    assert analysis.runs_dir() == tmp_path / "env"
    assert analysis.runs_dir(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.delenv("SUPERCM_RUNS")
    assert str(analysis.runs_dir()) == "runs"


def test_run_or_load_trains_once_then_reads_the_record(tmp_path, monkeypatch):
    config = tiny_config()
    first = analysis.run_or_load(config, tmp_path)
    assert (tmp_path / f"{config.run_id()}.json").exists()

    def no_training(self):
        raise AssertionError("trained a run whose record exists")

    monkeypatch.setattr(Trainer, "fit", no_training)
    second = analysis.run_or_load(config, tmp_path)
    assert second["metrics"] == first["metrics"]
    assert second["run_id"] == config.run_id()


def test_load_or_train_model_saves_weights_and_reloads_the_same_model(tmp_path):
    config = tiny_config()
    record, model = analysis.load_or_train_model(config, tmp_path)
    assert analysis.model_path(config, tmp_path).exists()
    assert not model.training

    again, reloaded = analysis.load_or_train_model(config, tmp_path)
    assert again["run_id"] == record["run_id"]
    x = torch.randn(20, 2)
    assert torch.allclose(model(x), reloaded(x))


def test_load_or_train_model_retrains_a_record_without_weights(tmp_path):
    config = tiny_config()
    analysis.run_or_load(config, tmp_path)
    assert not analysis.model_path(config, tmp_path).exists()
    analysis.load_or_train_model(config, tmp_path)
    assert analysis.model_path(config, tmp_path).exists()


def test_extract_features_shapes_predictions_and_restores_mode():
    model = Classifier(MLP(2, 8), num_classes=3)
    model.train()
    x = torch.randn(23, 2)
    out = analysis.extract_features(model, x, batch_size=5)
    assert out.features.shape == (23, 8)
    assert out.probabilities.shape == (23, 3)
    np.testing.assert_allclose(out.probabilities.sum(1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(out.predictions, model(x).argmax(1).numpy())
    assert model.training


def test_subsample_is_sorted_unique_and_bounded():
    index = analysis.subsample(100, 30, seed=1)
    assert len(index) == 30 and len(set(index)) == 30
    assert np.all(np.diff(index) > 0)
    assert len(analysis.subsample(10, 30)) == 10
    with pytest.raises(ParameterError, match="size"):
        analysis.subsample(10, 0)


def test_tsne_places_each_centroid_among_its_own_class():
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=10.0, size=(3, 16))
    labels = np.repeat(np.arange(3), 40)
    features = centers[labels] + rng.normal(size=(120, 16))
    points, centroids = analysis.tsne_with_centroids(features, centers, perplexity=20)
    assert points.shape == (120, 2) and centroids.shape == (3, 2)
    for k in range(3):
        nearest = np.argsort(((points - centroids[k]) ** 2).sum(1))[:10]
        assert np.mean(labels[nearest] == k) >= 0.9


def test_tsne_without_centroids_and_bad_centroid_shape():
    features = np.random.default_rng(0).normal(size=(30, 4))
    points, centroids = analysis.tsne_with_centroids(features, perplexity=5)
    assert points.shape == (30, 2) and centroids is None
    with pytest.raises(ParameterError, match="centroids"):
        analysis.tsne_with_centroids(features, np.zeros((3, 5)))


def test_confusion_data_counts_pairs():
    matrix = analysis.confusion_data([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    expected = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.sum() == 5


def test_class_means_per_class_with_nan_for_missing():
    means = analysis.class_means(np.array([[0.0, 2.0], [2.0, 4.0], [5.0, 5.0]]),
                                 np.array([0, 0, 2]), 4)
    np.testing.assert_allclose(means[0], [1.0, 3.0])
    np.testing.assert_allclose(means[2], [5.0, 5.0])
    assert np.isnan(means[1]).all() and np.isnan(means[3]).all()


def test_cluster_spread_is_smaller_for_tighter_clusters():
    rng = np.random.default_rng(0)
    centers = np.eye(4) * 10
    labels = np.repeat(np.arange(4), 25)
    tight = centers[labels] + 0.1 * rng.normal(size=(100, 4))
    loose = centers[labels] + 3.0 * rng.normal(size=(100, 4))
    assert analysis.cluster_spread(tight, labels, centers) < analysis.cluster_spread(
        loose, labels, centers
    )


def test_mean_std_uses_the_sample_deviation():
    assert analysis.mean_std([2.0]) == (2.0, 0.0)
    mean, std = analysis.mean_std([1.0, 2.0, 3.0])
    assert mean == 2.0 and std == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="values"):
        analysis.mean_std([])


def test_summarize_groups_by_config_fields_in_order():
    records = [fake_record("ce", 0, 80.0), fake_record("ce+cm", 0, 90.0),
               fake_record("ce", 1, 82.0)]
    rows = analysis.summarize(records, by=("method",))
    assert [r["method"] for r in rows] == ["ce", "ce+cm"]
    assert rows[0]["n"] == 2 and rows[0]["test_acc_mean"] == pytest.approx(81.0)
    assert rows[1]["test_acc_std"] == 0.0


def test_record_value_names_the_missing_key():
    with pytest.raises(ParameterError, match="no_such"):
        analysis.record_value(fake_record("ce", 0, 1.0), "no_such")


def test_paired_gains_pairs_by_seed_and_skips_unpaired():
    records = [fake_record("ce", 0, 80.0), fake_record("ce+cm", 0, 90.0),
               fake_record("ce", 1, 70.0), fake_record("ce+cm", 1, 76.0),
               fake_record("ce", 2, 75.0)]
    (row,) = analysis.paired_gains(records, "ce", "ce+cm")
    assert row["n"] == 2
    assert row["gain_mean"] == pytest.approx(8.0)
    assert row["gain_std"] == pytest.approx(np.std([10.0, 6.0], ddof=1))
    assert row["ce_mean"] == pytest.approx(75.0)


def test_markdown_tables():
    text = analysis.markdown_table([{"a": 1.234, "b": "x"}], {"a": "A", "b": "B"})
    assert text.splitlines() == ["| A | B |", "| --- | --- |", "| 1.2 | x |"]
    records = [fake_record("ce", 0, 80.0), fake_record("ce", 1, 82.0)]
    table = analysis.mean_std_table(records, headers={"method": "Method"})
    assert table.splitlines()[0] == "| Method | test accuracy (%) | seeds |"
    assert "| ce | 81.0 ± 1.4 | 2 |" in table
    two = analysis.mean_std_table(
        [fake_record("ce", 0, 80.0, proxy_a_distance=1.5)],
        metrics={"test_acc": "acc", "proxy_a_distance": "PAD"},
        digits={"proxy_a_distance": 2},
    )
    assert "| ce | 80.0 | 1.50 | 1 |" in two
    assert analysis.format_mean_std(81.04, 0.0, 1) == "81.0"


def test_claims_table_reports_the_best_gain_and_whether_it_reaches_the_claim():
    records = [fake_record("ce", 0, 50.0, 1), fake_record("ce+cm", 0, 70.0, 1),
               fake_record("pi", 0, 80.0), fake_record("pi+cm", 0, 82.0),
               fake_record("dann", 0, 60.0), fake_record("dann+cm", 0, 65.0)]
    ssl, uda = analysis.claims_table(records)
    assert ssl["measured"] == pytest.approx(20.0) and ssl["reached"]
    assert "ce vs ce+cm, 1 labels/class" in ssl["measured_where"]
    assert uda["measured"] == pytest.approx(5.0) and not uda["reached"]
    assert uda["published"] == "up to +10"
    assert uda["measured_where"] == "dann vs dann+cm, 1 seed(s)"

    (_, missing) = analysis.claims_table(records[:2])
    assert missing["measured"] is None and not missing["reached"]


def test_history_series_and_plots_draw_something():
    import matplotlib.pyplot as plt

    record = fake_record("ce", 0, 80.0)
    assert analysis.history_series(record) == ([10, 20], [75.0, 80.0])
    with pytest.raises(ParameterError, match="key"):
        analysis.history_series(record, "nope")

    fig, axes = plt.subplots(1, 3)
    analysis.plot_histories([record], ax=axes[0])
    assert len(axes[0].lines) == 1
    points = np.random.default_rng(0).normal(size=(20, 2))
    analysis.plot_embedding(points, np.arange(20) % 2, points[:2], ax=axes[1])
    assert len(axes[1].collections) == 4
    analysis.plot_confusion(np.eye(3, dtype=int), ax=axes[2])
    plt.close(fig)


def test_image_grid_has_one_row_per_class_and_draws_available_images():
    import matplotlib.pyplot as plt

    x = torch.rand(6, 1, 8, 8)
    y = torch.tensor([0, 0, 0, 1, 2, 2])
    fig = analysis.image_grid(x, y, num_classes=3, per_class=2)
    axes = np.array(fig.axes).reshape(3, 2)
    assert [len(ax.images) for ax in axes.ravel()] == [1, 1, 1, 0, 1, 1]
    labels = [[text.get_text() for text in ax.texts] for ax in axes[:, 0]]
    assert labels == [["0"], ["1"], ["2"]]
    for ax in axes[:, 0]:  # each row label sits left of its row, outside the image
        (text,) = ax.texts
        assert text.get_position()[0] < 0 and text.get_transform() == ax.transAxes
    plt.close(fig)


def test_with_and_without_cm_pairs_equal_settings_and_names_the_whole_pool():
    def record(method, seed, acc, beta=0.2, **config):
        return {"seed": seed, "metrics": {"test_acc": acc},
                "config": {"dataset": "mnist5k", "method": method, "seed": seed,
                           "labels_per_class": 10, "beta": beta, "out_dir": "x",
                           **config}}

    uda = {"target_dataset": "ucidigits", "labels_per_class": WHOLE_SOURCE_POOL}
    records = [record("ce", 0, 80.0), record("ce", 1, 82.0),
               record("ce+cm", 0, 90.0), record("ce+cm", 0, 50.0, beta=9.0),
               record("pi", 0, 70.0),  # no pi+cm: left out
               record("dann", 0, 60.0, **uda), record("dann+cm", 0, 75.0, **uda)]
    ssl, adapted = analysis.with_and_without_cm(records)
    assert (ssl["task"], ssl["base"], ssl["labels"]) == ("mnist5k", "ce", "10")
    assert ssl["without"] == pytest.approx(81.0) and ssl["with"] == 90.0
    assert ssl["gain"] == pytest.approx(9.0) and ssl["seeds"] == 1
    assert adapted["task"] == "mnist5k → ucidigits" and adapted["uda"]
    assert adapted["labels"] == "all" and adapted["gain"] == pytest.approx(15.0)


def test_records_in_reads_run_records_and_skips_other_json(tmp_path):
    record = tiny_config(out_dir=str(tmp_path), steps=2)
    trained = Trainer(record).fit()
    (tmp_path / "table.json").write_text("[1, 2]")
    (tmp_path / "timings.json").write_text('{"total_s": 3}')
    (found,) = analysis.records_in(tmp_path)
    assert found["run_id"] == trained["run_id"]
