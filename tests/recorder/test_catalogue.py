"""recorder.model.catalogue (read without torch) and the registry of builders say the same: the same
names, allowed parameters and descriptions, and the training default is one of them."""
from recorder.model import catalogue
from recorder.model.architectures import REGISTRY
from recorder.model.training import DEFAULT_CONFIG


def test_catalogue_matches_the_registry():
    assert list(catalogue.ARCHITECTURES) == list(REGISTRY)
    for name, (builder, allowed, desc) in REGISTRY.items():
        assert callable(builder)
        assert (frozenset(allowed), desc) == catalogue.ARCHITECTURES[name], name
    assert catalogue.descriptions() == [(n, REGISTRY[n][2]) for n in sorted(REGISTRY)]


def test_default_architecture_is_the_training_default():
    assert DEFAULT_CONFIG["model"]["name"] == catalogue.DEFAULT_ARCHITECTURE in REGISTRY
