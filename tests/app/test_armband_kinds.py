"""The Armband list offers the BrainFlow and Bluetooth-Myo sources, and builds their specs."""
import pytest

from app.capture.view import EMG_KINDS, emg_spec


def test_app_armband_list_offers_brainflow():
    assert {"brainflow", "myo-ble"} <= {k for _, k in EMG_KINDS}
    assert emg_spec("myo-ble", "") == "myo-ble" and emg_spec("myo-ble", "AA:BB") == "myo-ble:AA:BB"
    assert emg_spec("brainflow", " SYNTHETIC_BOARD ") == "brainflow:SYNTHETIC_BOARD"
    with pytest.raises(ValueError, match="name a BrainFlow board"):
        emg_spec("brainflow", "")
