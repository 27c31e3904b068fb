"""import-csv: other rates, units and headers become the canonical recording; broken files
fail with the file and line named. Synthetic signals, so no dataset is needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders.data.errors import DatasetError
from encoders.data.import_csv import import_csv_folder, read_imu_file
from encoders.data.recording import read_recording

G = 9.80665


def synthetic_imu(rate_hz: float, seconds: float, freq_hz: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) and [acc m/s² (gravity on z + a swing), gyro rad/s]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    acc = np.stack([3.0 * np.sin(2 * np.pi * freq_hz * t), 0.5 * np.cos(2 * np.pi * freq_hz * t), G + 0.2 * np.sin(4 * np.pi * freq_hz * t)], axis=1)
    gyro = np.stack([2.0 * np.cos(2 * np.pi * freq_hz * t), 0.3 * np.sin(2 * np.pi * freq_hz * t), -1.0 * np.sin(2 * np.pi * freq_hz * t)], axis=1)
    return t, np.concatenate([acc, gyro], axis=1) + rng.normal(0, 0.01, (t.size, 6))


def write_csv(path: Path, header: str, t: np.ndarray, values: np.ndarray, time_scale: float = 1.0, t0: float = 0.0, acc_scale: float = 1.0, gyro_scale: float = 1.0, gyro: bool = True, sep: str = ",") -> None:
    lines = [header]
    for ti, v in zip(t, values, strict=True):
        cells = [f"{t0 + ti * time_scale:.6f}"] + [f"{x * acc_scale:.6f}" for x in v[:3]] + ([f"{x * gyro_scale:.6f}" for x in v[3:]] if gyro else [])
        lines.append(sep.join(cells))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.mark.parametrize(
    "rate, header, time_scale, t0, acc_scale, gyro_scale, expect",
    [
        (25.0, "t,ax,ay,az,gx,gy,gz", 1.0, 0.0, 1 / G, 180 / np.pi, {"time": "s (detected)", "acc": "g (detected)", "gyro": "deg/s (detected)"}),
        (100.0, "timestamp,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z", 1e3, 1.7e12, 1.0, 1.0, {"time": "ms (detected)", "acc": "m/s^2 (detected)", "gyro": "rad/s (detected)"}),
        (50.0, "t_ns,accX,accY,accZ,gyrX,gyrY,gyrZ", 1e9, 0.0, 1.0, 1.0, {"time": "ns (header)"}),
        (25.0, "time_ms,acc_x_g,acc_y_g,acc_z_g,gyro_x_dps,gyro_y_dps,gyro_z_dps", 1e3, 0.0, 1 / G, 180 / np.pi, {"time": "ms (header)", "acc": "g (header)", "gyro": "deg/s (header)"}),
        # axis first, as the sp-sw-har smartwatch export writes them
        (100.0, "timestamp,x_acc,y_acc,z_acc,x_gyro,y_gyro,z_gyro", 1e3, 1.65e12, 1.0, 1.0, {"time": "ms (detected)", "acc": "m/s^2 (detected)"}),
    ],
)
def test_rates_units_and_headers(tmp_path: Path, rate, header, time_scale, t0, acc_scale, gyro_scale, expect) -> None:
    t, values = synthetic_imu(rate, 6.0)
    path = tmp_path / "alice.csv"
    write_csv(path, header, t, values, time_scale, t0, acc_scale, gyro_scale)
    f = read_imu_file(path)
    for quantity, unit in expect.items():
        assert f.units[quantity] == unit
    assert f.rate_hz == pytest.approx(rate, rel=1e-3)
    np.testing.assert_allclose(f.values, values, atol=2e-4 * max(1.0, gyro_scale))
    np.testing.assert_allclose((f.t_ns - f.t_ns[0]) / 1e9, t, atol=1e-6)


def test_accelerometer_only_and_semicolons(tmp_path: Path) -> None:
    t, values = synthetic_imu(50.0, 3.0)
    write_csv(tmp_path / "bob.csv", "time;acc_x_g;acc_y_g;acc_z_g", t, values, acc_scale=1 / G, gyro=False, sep=";")
    f = read_imu_file(tmp_path / "bob.csv")
    assert not f.gyro_present and f.units["gyro"].startswith("absent")
    np.testing.assert_allclose(f.values[:, 2], values[:, 2], atol=1e-4)
    assert np.all(f.values[:, 3:] == 0)


def test_flags_override_detection(tmp_path: Path) -> None:
    t, values = synthetic_imu(50.0, 3.0)
    still = values.copy()
    still[:, 3:] *= 0.05  # slow rotation: in deg/s these are tiny numbers, detection says rad/s
    write_csv(tmp_path / "c.csv", "t,ax,ay,az,gx,gy,gz", t, still, gyro_scale=180 / np.pi)
    assert read_imu_file(tmp_path / "c.csv").units["gyro"] == "rad/s (detected)"
    f = read_imu_file(tmp_path / "c.csv", gyro_unit="deg/s")
    assert f.units["gyro"] == "deg/s (flag)"
    np.testing.assert_allclose(f.values[:, 3:], still[:, 3:], atol=1e-4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"empty\.csv: is empty"),
        ("t,ax,ay,gx,gy,gz\n0,1,2,3,4,5\n0.02,1,2,3,4,5\n", r"empty\.csv: line 1: missing column\(s\) \['acceleration z'\]"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.02,0,0,9.8,0,0,0\n0.04,0,0,abc,0,0,0\n", r"empty\.csv: line 4: column 'az' value 'abc' is not a number"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.04,0,0,9.8,0,0,0\n0.02,0,0,9.8,0,0,0\n", r"empty\.csv: line 4: time 0\.02 goes backwards"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n", r"empty\.csv: has 1 data row"),
        ("t,ax,ay,az,gx,gy,gz\n0,0,0,9.8,0,0,0\n0.02,0,0\n", r"empty\.csv: line 3: 3 columns, expected 7"),
        ("0,0,0,9.8,0,0,0\n0.02,0,0,9.8,0,0,0\n", r"empty\.csv: line 1: no header row"),
        ("t,ax,ay,az\n0,0,0,0.1\n0.02,0,0,0.1\n", r"empty\.csv: cannot tell the acceleration unit"),
    ],
)
def test_broken_files_name_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DatasetError, match=message):
        read_imu_file(path)


def make_site(folder: Path, rate: float = 25.0, classes: tuple[str, ...] = ("Bench press", "Squat", "Row"), subjects: tuple[str, ...] = ("alice", "bob"), reps: int = 2) -> Path:
    """A folder like a gym's export: one CSV per person (g, deg/s, ms), labels.csv on the data clock."""
    folder.mkdir(parents=True, exist_ok=True)
    label_lines = ["subject,start,end,activity"]
    for si, subject in enumerate(subjects):
        chunks, t_all, offset = [], [], 0.0
        for r in range(reps):
            for ci, activity in enumerate(classes):
                t, values = synthetic_imu(rate, 6.0, freq_hz=0.5 + ci * 0.9, seed=si * 100 + r * 10 + ci)
                if ci == 1:
                    values[:, [0, 2]] = values[:, [2, 0]]  # another orientation per class too
                chunks.append(values)
                t_all.append(t + offset)
                label_lines.append(f"{subject},{(offset + 0.5) * 1000:.0f},{(offset + 5.5) * 1000:.0f},{activity}")
                offset += 6.0
        write_csv(folder / f"{subject}.csv", "timestamp,acc_x,acc_y,acc_z,gyro_x,gyro_y,gyro_z", np.concatenate(t_all), np.concatenate(chunks), time_scale=1e3, acc_scale=1 / G, gyro_scale=180 / np.pi)
    labels = folder.parent / f"{folder.name}-labels.csv"
    labels.write_text("\n".join(label_lines) + "\n", encoding="utf-8")
    return labels


def test_folder_to_recording(tmp_path: Path) -> None:
    labels = make_site(tmp_path / "gym")
    report = import_csv_folder(tmp_path / "gym", tmp_path / "rec", labels=labels)
    rec = read_recording(tmp_path / "rec")
    assert [s.id for s in rec.subjects] == ["alice", "bob"]
    assert {d.rate_hz for d in rec.devices} == {25.0}
    assert len(rec.labels) == 12 and {iv.activity for iv in rec.labels} == {"Bench press", "Squat", "Row"}
    first = rec.labels_for("alice")[0]
    assert (first.start_ns, first.end_ns) == (500_000_000, 5_500_000_000)
    assert abs(np.median(np.linalg.norm(rec.devices[0].values[:, :3], axis=1)) - G) < 1.0  # g → m/s²
    assert report.files[0].units["gyro"] == "deg/s (detected)"


def test_labels_errors(tmp_path: Path) -> None:
    make_site(tmp_path / "gym", reps=1)
    bad = tmp_path / "bad-labels.csv"
    bad.write_text("subject,start,end,activity\nalice,500,5500,squat\ncarol,0,100,row\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"bad-labels\.csv: line 3: subject/file 'carol' matches no data file"):
        import_csv_folder(tmp_path / "gym", tmp_path / "rec", labels=bad)
    bad.write_text("subject,start,end,activity\nalice,500000,600000,squat\n", encoding="utf-8")
    with pytest.raises(DatasetError, match=r"line 2: interval .* lies outside alice\.csv's time span"):
        import_csv_folder(tmp_path / "gym", tmp_path / "rec", labels=bad)
    # relative times in seconds work as declared
    bad.write_text("subject,start,end,activity\nalice,0.5,5.5,squat\nbob,6.5,11.5,row\n", encoding="utf-8")
    report = import_csv_folder(tmp_path / "gym", tmp_path / "rec", labels=bad, label_times="relative")
    assert [(iv.start_ns, iv.end_ns) for iv in report.labels] == [(500_000_000, 5_500_000_000), (6_500_000_000, 11_500_000_000)]
