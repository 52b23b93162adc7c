"""The Capture tab's Recording and Session boxes (app.capture.panels), apart from the view: they
start from the settings, the folder typed is saved back, and metadata() reads the fields."""
from app.capture.panels import ErrorBanner, RecordingPanel, SessionPanel
from app.qt.settings import Settings


def test_panels_read_and_save_settings(qtbot, tmp_path):
    settings = Settings(tmp_path / "settings.ini")
    settings.set_output_dir(tmp_path / "sessions")
    settings.set_metadata({"subject": "S07", "hand": "left", "placement": "", "notes": "n"})
    rec = RecordingPanel(settings)
    ses = SessionPanel(settings)
    banner = ErrorBanner()
    for w in (rec, ses, banner):
        qtbot.addWidget(w)
    assert rec.out_dir.text() == str(tmp_path / "sessions") and rec.store_images.isChecked()
    rec.out_dir.setText(str(tmp_path / "elsewhere"))
    rec.out_dir.editingFinished.emit()
    assert str(settings.output_dir()) == str(tmp_path / "elsewhere")
    assert ses.metadata() == {"subject": "S07", "hand": "left", "placement": "", "notes": "n"}
    ses.placement.setText("  logo up  ")
    assert ses.metadata()["placement"] == "logo up"
    banner.show_message("Armband reconnected.", "info")
    assert not banner.isHidden() and banner.label.text() == "Armband reconnected."
