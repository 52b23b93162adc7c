"""`emgrec --help` and each command's --help read as plain text and state the real defaults."""
import re

from recorder.cli.emgrec import build_parser


def _subparsers(p):
    return next(a for a in p._actions if a.__class__.__name__ == "_SubParsersAction").choices


def test_help_pages_have_no_docstring_markup():
    p = build_parser()
    pages = {"emgrec": p.format_help()} | {name: sp.format_help() for name, sp in _subparsers(p).items()}
    for name, text in pages.items():
        assert "``" not in text and not re.search(r":[a-z]+:`", text), f"{name} --help: {text[:300]}"


def test_train_help_names_the_default_architecture_and_window():
    from recorder.model.architectures import REGISTRY
    from recorder.model.training import DEFAULT_CONFIG

    text = " ".join(_subparsers(build_parser())["train"].format_help().split())
    assert f"{DEFAULT_CONFIG['model']['name']} (default)" in text
    assert f"default {DEFAULT_CONFIG['data']['window_ms']:g})" in text
    assert all(name in text for name in REGISTRY)


def test_record_default_folder_is_the_apps():
    text = " ".join(_subparsers(build_parser())["record"].format_help().split())
    assert "~/emgrec-sessions/" in text
