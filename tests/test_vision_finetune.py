"""Fine-tuning: rows for every split, last-k blocks, the schedule, and resume after an interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="vision models need the eval extra (pip install -e '.[eval]')")
pytest.importorskip("timm")

import vpt.cli  # noqa: E402
from vpt.deciders.run import run_decider  # noqa: E402
from vpt.deciders.vision.finetune import FineTuner, lr_factor, trainable  # noqa: E402
from vpt.errors import UserError  # noqa: E402
from vpt.trials import schema, store  # noqa: E402
from vpt.trials.items import load_dataset  # noqa: E402

MODEL = {"model": "resnet10t", "random_init": True, "device": "cpu", "input_size": 32}
FAST = {"epochs": 2, "batch_size": 16, "warmup_epochs": 1, "patience": 10}


@pytest.fixture(scope="module")
def rendered(tiny_rendered) -> Path:
    return tiny_rendered


class Interrupt(Exception):
    pass


def test_warm_up_then_cosine():
    f = [lr_factor(s, 10, 100) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0) and f[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:])) and f[-1] < 0.01


def test_last_k_blocks_train_the_head_and_k_groups_only():
    import timm

    net = timm.create_model("resnet10t", pretrained=False, num_classes=2)
    names = trainable(net, 1)
    assert {"fc.weight", "fc.bias"} <= set(names) and all(n.startswith(("fc.", "layer4.")) for n in names)
    assert not any(p.requires_grad for n, p in net.named_parameters() if n.startswith("layer3."))
    assert len(trainable(net, "all")) == len(list(net.parameters()))
    with pytest.raises(UserError, match="--blocks"):
        FineTuner(MODEL, None, blocks="x")


def test_an_interrupted_run_resumes_at_the_next_epoch_and_ends_as_an_uninterrupted_one(rendered, tmp_path):
    ds = load_dataset(rendered)

    def stop_after_first(task, epoch):
        if task == "vpt" and epoch == 0:
            raise Interrupt

    first = FineTuner(MODEL, ds, seed=0, work=tmp_path / "w", progress=False, on_epoch=stop_after_first, **FAST)
    with pytest.raises(Interrupt):
        first.fit()
    assert first.trained_epochs == 1 and (tmp_path / "w" / first.key() / "vpt.pt").exists()
    again = FineTuner(MODEL, ds, seed=0, work=tmp_path / "w", progress=False, **FAST)
    nets = again.fit()
    assert again.trained_epochs == 1 + 2  # vpt resumed at epoch 1; depth from the start
    assert [h["epoch"] for h in nets["vpt"][1]["history"]] == [0, 1]
    straight = FineTuner(MODEL, ds, seed=0, work=tmp_path / "w2", progress=False, **FAST).fit()
    for a, b in zip(nets["vpt"][0].state_dict().values(), straight["vpt"][0].state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-5)
    done = FineTuner(MODEL, ds, seed=0, work=tmp_path / "w", progress=False, **FAST)
    done.fit()
    assert done.trained_epochs == 0  # finished: loaded, not trained


def test_finetune_writes_rows_for_every_split_and_the_cli_runs(rendered, tmp_path, monkeypatch, capsys):
    ds = load_dataset(rendered)
    tuner = FineTuner(MODEL, ds, blocks=1, seed=0, work=tmp_path / "w", progress=False, **{**FAST, "epochs": 1})
    run = run_decider(tuner, ds, tmp_path / "r", "all", command=["test"])
    df = store.read_trials(run.path)
    schema.conform(df)
    assert set(df["kind"]) == {"finetune"} and set(df["decision_maker"]) == {"resnet10t/random-init-32px/finetune-last1"}
    assert set(df["split"]) == {"val", "test", "ood"} and df["score"].between(0, 1).all()
    assert store.read_manifest(run.path)["config"]["settings"]["lr"] == 5e-5
    if "vpt.deciders.vision.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vision.cli"))
    argv = ["finetune", str(rendered), "--model", "resnet10t", "--random-init", "--input-size", "32", "--epochs", "1",
            "--batch-size", "16", "--blocks", "0", "--out", str(tmp_path / "cli"), "--work", str(tmp_path / "w3"), "--quiet"]
    assert vpt.cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "resnet10t/random-init-32px/finetune-last0" in out and "3 runs (0 kept" in out
    assert set(store.read_trials(tmp_path / "cli")["split"]) == {"val", "test", "ood", "human", "sweep"}
    assert vpt.cli.main(argv) == 0 and "3 runs (3 kept" in capsys.readouterr().out
    assert vpt.cli.main(["finetune", str(rendered), "--model", "x/y", "--out", str(tmp_path / "e")]) == 2
    assert "supports timm models" in capsys.readouterr().err


def test_training_from_scratch_writes_scratch_rows_with_label_keeping_augmentation(rendered, tmp_path, monkeypatch,
                                                                                   capsys):
    from vpt.deciders.vision.finetune import ScratchTrainer

    ds = load_dataset(rendered)
    t = ScratchTrainer({**MODEL, "random_init": False}, ds, seed=0, work=tmp_path / "w", progress=False,
                       **{**FAST, "epochs": 1})
    assert t.backbone.weights == "random-init-32px" and t.settings["lr"] == 1e-3  # always untrained, scratch defaults
    x = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4)
    a, b = t.augment(x, 0, 0), t.augment(x, 0, 0)
    assert torch.equal(a, b) and a.shape == x.shape  # seeded: the same after a resume
    # each image is the original or its mirror, up to one brightness/contrast change: never cropped
    for i in range(len(x)):
        fits = []
        for cand in (x[i], x[i].flip(-1)):
            A = torch.stack([cand.flatten(), torch.ones(cand.numel())], 1)
            sol = torch.linalg.lstsq(A, a[i].flatten()[:, None]).solution
            fits.append(float((A @ sol - a[i].flatten()[:, None]).abs().max()))
        assert min(fits) < 1e-3
    run = run_decider(t, ds, tmp_path / "r", "all", command=["test"])
    df = store.read_trials(run.path)
    assert set(df["kind"]) == {"scratch"} and set(df["decision_maker"]) == {"resnet10t/random-init-32px/scratch"}
    assert set(df["split"]) == {"val", "test", "ood"}
    assert "horizontal flip" in store.read_manifest(run.path)["config"]["augmentation"]
    if "vpt.deciders.vision.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vision.cli"))
    argv = ["train", str(rendered), "--model", "resnet10t", "--input-size", "32", "--epochs", "1", "--batch-size",
            "16", "--out", str(tmp_path / "cli"), "--work", str(tmp_path / "w"), "--quiet", "--sweeps"]
    assert vpt.cli.main(argv) == 0
    assert "resnet10t/random-init-32px/scratch" in capsys.readouterr().out


def test_training_from_scratch_answers_the_conflict_set_beside(tiny_rendered_conflict, tmp_path, monkeypatch, capsys):
    if "vpt.deciders.vision.cli" not in vpt.cli.EVALUATOR_COMMANDS:
        monkeypatch.setattr(vpt.cli, "EVALUATOR_COMMANDS", (*vpt.cli.EVALUATOR_COMMANDS, "vpt.deciders.vision.cli"))
    argv = ["train", str(tiny_rendered_conflict), "--model", "resnet10t", "--input-size", "32", "--epochs", "1",
            "--batch-size", "16", "--out", str(tmp_path / "cli"), "--work", str(tmp_path / "w"), "--quiet", "--sweeps"]
    assert vpt.cli.main(argv) == 0
    text = capsys.readouterr().out
    df = store.read_trials(tmp_path / "cli")
    rows = df[df["dataset"] == "vis-conflict"]
    assert set(rows["kind"]) == {"scratch"} and set(rows["split"]) == {"val", "test", "ood"}
    assert set(rows["task"]) == {"vpt", "depth"} and rows["score"].between(0, 1).all()
    assert "| test · vis-conflict |" in text.splitlines()[0]
    # one network per task, trained on the benchmark only
    assert {m["config"]["train"]["dataset"] for m in store.read_manifests(tmp_path / "cli")} == {"vis-tiny"}
