from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from encoders.data.csv_import import CsvColumns, csv_windows, load_imu_csv
from encoders.data.errors import DatasetError
from encoders.data.windows import WindowSpec


def _write_csv(path: Path, rate_hz: float = 100.0, seconds: float = 6.0) -> None:
    t = np.arange(0, seconds, 1 / rate_hz) + 1700000000.0  # unix seconds, like a phone export
    lines = ["time;accX;accY;accZ;gyrX;gyrY;gyrZ;activity"]
    for _i, ti in enumerate(t):
        rel = ti - t[0]
        label = "" if rel < 1.0 else "walk" if rel < 4.0 else "sit"
        lines.append(f"{ti * 1000:.1f};{rel:.4f};0;1;{90 * rel:.4f};0;-180;{label}")
    path.write_text("\n".join(lines) + "\n")


def test_units_and_windows(tmp_path: Path):
    path = tmp_path / "export.csv"
    _write_csv(path)
    columns = CsvColumns(time="time", acc=("accX", "accY", "accZ"), gyro=("gyrX", "gyrY", "gyrZ"), label="activity")
    imported = load_imu_csv(path, columns, time_unit="ms", acc_unit="g", gyro_unit="deg/s", delimiter=";")
    assert imported.t_ns[0] == 0 and imported.t_ns[1] == 10_000_000
    np.testing.assert_allclose(imported.imu[:, 2], 9.80665, rtol=1e-6)  # 1 g
    np.testing.assert_allclose(imported.imu[:, 5], -np.pi, rtol=1e-6)  # -180 deg/s
    windows = csv_windows(imported, WindowSpec(length_s=1.0, hop_s=0.5, rate_hz=50.0))
    assert windows.classes == ("sit", "walk")
    assert windows.x.shape[1:] == (50, 6)
    centres = windows.end_s - 0.5
    expected = [-1 if c < 1.0 else 1 if c < 4.0 else 0 for c in centres]
    assert windows.y.tolist() == expected
    # The acc-x channel is time in g: resampled windows keep that ramp, now in m/s².
    start = windows.end_s[:, None] - 1.0 + np.arange(50)[None, :] / 50
    np.testing.assert_allclose(windows.x[:, :, 0], start * 9.80665, atol=1e-3)
    assert len(windows.labelled()) == sum(1 for e in expected if e >= 0)


def test_errors_name_the_file(tmp_path: Path):
    path = tmp_path / "bad.csv"
    path.write_text("t,ax,ay,az,gx,gy,gz\n0,1,2,3,4,5,6\n0.01,1,2,x,4,5,6\n")
    with pytest.raises(DatasetError, match=r"bad\.csv: line 3: column 'az' value 'x' is not a number"):
        load_imu_csv(path)
    with pytest.raises(DatasetError, match=r"bad\.csv: line 1: missing column\(s\) \['label'\]"):
        load_imu_csv(path, CsvColumns(label="label"))
    with pytest.raises(ValueError, match="acc unit 'furlong'"):
        load_imu_csv(path, acc_unit="furlong")
    path.write_text("t,ax,ay,az,gx,gy,gz,label\n0,1,2,3,4,5,6,a\n0.01,1,2,3,4,5,6,b\n")
    imported = load_imu_csv(path, CsvColumns(label="label"))
    with pytest.raises(DatasetError, match=r"bad\.csv: labels \['b'\] are not among"):
        csv_windows(imported, WindowSpec(1.0, 0.5, 50.0), classes=["a"])
