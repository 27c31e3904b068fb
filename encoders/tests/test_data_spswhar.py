from __future__ import annotations

import collections
import shutil
from pathlib import Path

import numpy as np
import pytest

from encoders.data.errors import DatasetError
from encoders.data.spswhar import SPSW_CLASSES, load_spswhar, read_device_csv, sequence_windows, spswhar_windows
from encoders.data.windows import WindowSpec


@pytest.fixture(scope="module")
def sequences(datasets: Path):
    return load_spswhar(datasets)


@pytest.mark.full_data("sp-sw-har's 223 sequences and 521,766 samples")
def test_counts(sequences):
    assert len(sequences) == 223
    assert len({s.subject for s in sequences}) == 23
    assert sum(s.watch.t_ms.shape[0] + s.phone.t_ms.shape[0] for s in sequences) == 521_766
    rates = [s.watch.rate_hz for s in sequences] + [s.phone.rate_hz for s in sequences]
    assert 95 < min(rates) and max(rates) < 110


def test_windows_are_50hz_with_gravity_and_all_classes(sequences):
    spec = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=50.0)
    watch = spswhar_windows(sequences, "watch", spec)
    phone = spswhar_windows(sequences, "phone", spec)
    assert watch.x.shape[1:] == (100, 6) and watch.x.dtype == np.float32
    # Each Timed-Up-and-Go execution passes through every class; a window per 0.5 s of it.
    seconds = sum((s.watch.t_ms[-1] - s.watch.t_ms[0]) / 1000 for s in sequences)
    assert len(watch) > 0.9 * (seconds - 2 * len(sequences)) / 0.5 and len(phone) > 0.9 * len(watch)
    assert set(watch.y.tolist()) == set(range(len(SPSW_CLASSES)))
    assert collections.Counter(watch.y.tolist()).most_common(1)[0][0] == SPSW_CLASSES.index("walking")
    assert 9.3 < float(np.linalg.norm(watch.x[..., :3], axis=-1).mean()) < 10.8
    assert set(np.unique(watch.group).tolist()) == {s.subject for s in sequences}


@pytest.mark.full_data("windows of all 23 sp-sw-har subjects")
def test_windows_of_the_full_set(sequences):
    watch = spswhar_windows(sequences, "watch", WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=50.0))
    assert len(watch) > 3500 and set(np.unique(watch.group).tolist()) == set(range(1, 24))


def test_watch_and_phone_windows_pair_by_end_time(sequences):
    seq = sequences[0]
    end_w, _, y_w = sequence_windows(seq, "watch")
    end_p, _, y_p = sequence_windows(seq, "phone")
    common, iw, ip = np.intersect1d(end_w, end_p, return_indices=True)
    assert common.shape[0] > 0.9 * min(end_w.shape[0], end_p.shape[0])
    # Both devices were labelled by the same app run: they agree on nearly every paired window.
    assert np.mean(y_w[iw] == y_p[ip]) > 0.9


def test_window_labels_follow_the_sample_at_the_centre(sequences):
    seq = sequences[min(5, len(sequences) - 1)]
    spec = WindowSpec(length_s=2.0, hop_s=0.5, rate_hz=50.0)
    end_ns, _, y = sequence_windows(seq, "watch", spec)
    t_ns = (seq.watch.t_ms - seq.origin_ms) * 1_000_000
    for end, label in zip(end_ns[::7], y[::7], strict=True):
        before = np.flatnonzero(t_ns <= end - spec.length_ns // 2)[-1]
        assert label == seq.watch.y[before]


def test_bad_files_name_the_file(datasets: Path, tmp_path: Path):
    source = datasets / "sp-sw-har" / "s01" / "s01_01_sw.csv"
    target = tmp_path / "s01_01_sw.csv"
    lines = source.read_text().splitlines()
    target.write_text("\n".join(lines[:10] + ["1,2,3,4,5,6,7,DANCING"] + lines[11:20]) + "\n")
    with pytest.raises(DatasetError, match=r"s01_01_sw\.csv: line 11: unknown label 'DANCING'"):
        read_device_csv(target)
    target.write_text("a,b\n1,2\n")
    with pytest.raises(DatasetError, match=r"s01_01_sw\.csv: line 1: header"):
        read_device_csv(target)
    (tmp_path / "sp-sw-har" / "s01").mkdir(parents=True)
    (tmp_path / "sp-sw-har" / "subjects_info.csv").write_text("x\n")
    shutil.copy(source, tmp_path / "sp-sw-har" / "s01")
    with pytest.raises(DatasetError, match=r"s01_01_sp\.csv: file is missing"):
        load_spswhar(tmp_path)
