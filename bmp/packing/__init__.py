"""Packing: the packed models, pack, save/load, size and the model card.

Importing this package (``import bmp`` does) registers every packed config with ``AutoConfig`` and every packed
model with ``AutoModelForQuestionAnswering``, so ``AutoModelForQuestionAnswering.from_pretrained(folder)`` loads a
packed folder with bmp's classes and no ``trust_remote_code``. Folders keep their remote code and ``auto_map`` for
people without bmp.
"""
from transformers import AutoConfig, AutoModelForQuestionAnswering
from transformers.models.auto.configuration_auto import CONFIG_MAPPING

from bmp.packing.packed_bert import PACKED_BY_TYPE


def register_auto_classes() -> None:
    """Register each packed type with transformers' Auto classes; calling it again does nothing."""
    for model_type, model_class in PACKED_BY_TYPE.items():
        if model_type in CONFIG_MAPPING and CONFIG_MAPPING[model_type] is model_class.config_class:
            continue  # already ours (a second call, or this package imported again)
        # exist_ok: a reloaded bmp brings new class objects for the same types; they replace the old ones
        AutoConfig.register(model_type, model_class.config_class, exist_ok=True)
        AutoModelForQuestionAnswering.register(model_class.config_class, model_class, exist_ok=True)


register_auto_classes()
