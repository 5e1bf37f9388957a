"""Where a BERT-family model keeps its linear layers: one table, walked attribute by attribute (never matched by name).

Each architecture bmp prunes is one :class:`Anatomy`: the attribute holding the encoder body (``bert``, ``roberta``,
``electra``, ``distilbert``), the path from there to the list of layers, and the path inside a layer to each of the
six linear layers that pruning scores (Q, K, V, attention output, FFN in, FFN out). ``encoder_layers(model)`` returns
one :class:`LayerParts` per layer, which reads those linears and can swap them in place.

The table is found from ``model.base_model_prefix`` (transformers sets it on every model, the packed ones included),
so a model whose prefix is not in the table (MobileBERT, GPT-2, ...) raises :class:`UnsupportedModelError` instead of
being half pruned.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from torch import nn

LINEAR_NAMES = ("query", "key", "value", "attn_out", "ffn_in", "ffn_out")
ATTENTION_LINEARS = ("query", "key", "value", "attn_out")
FFN_LINEARS = ("ffn_in", "ffn_out")


class UnsupportedModelError(TypeError):
    pass


@dataclass(frozen=True)
class Anatomy:
    """One architecture's layout. Paths are dotted attribute names: ``layers`` from the body, the six linears from
    one layer. The config keys say where the dense FFN width and the activation live (DistilBERT names them
    differently); ``token_types`` says whether the model's forward takes ``token_type_ids``."""

    family: str  # the stock config's model_type; a packed config's is "packed_" + family
    name: str  # for people: "RoBERTa"
    body: str
    layers: str
    query: str
    key: str
    value: str
    attn_out: str
    ffn_in: str
    ffn_out: str
    ffn_size_key: str = "intermediate_size"
    activation_key: str = "hidden_act"
    token_types: bool = True

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, str) and not all(value.split(".")):
                raise ValueError(f"{self.name}: {field.name}={value!r} has an empty attribute name; "
                                 "write attribute paths as 'a.b.c'")

    def paths(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in LINEAR_NAMES}

    def dense_ffn_size(self, config) -> int:
        return getattr(config, self.ffn_size_key)

    def activation(self, config) -> str:
        return getattr(config, self.activation_key)

    def describe(self) -> str:
        linears = ", ".join(f".{path}" for path in self.paths().values())
        return f"model.{self.body}.{self.layers}[i] ({self.name}) with {linears} as nn.Linear"


# The stock BERT layout; RoBERTa and ELECTRA copy it under their own body (ELECTRA's embedding projection sits
# before the encoder, so it is no concern of the layers).
_BERT_LAYER = dict(layers="encoder.layer", query="attention.self.query", key="attention.self.key",
                   value="attention.self.value", attn_out="attention.output.dense", ffn_in="intermediate.dense",
                   ffn_out="output.dense")
BERT = Anatomy("bert", "BERT", "bert", **_BERT_LAYER)
ROBERTA = Anatomy("roberta", "RoBERTa", "roberta", **_BERT_LAYER)
ELECTRA = Anatomy("electra", "ELECTRA", "electra", **_BERT_LAYER)
DISTILBERT = Anatomy("distilbert", "DistilBERT", "distilbert", layers="transformer.layer", query="attention.q_lin",
                     key="attention.k_lin", value="attention.v_lin", attn_out="attention.out_lin", ffn_in="ffn.lin1",
                     ffn_out="ffn.lin2", ffn_size_key="hidden_dim", activation_key="activation", token_types=False)
ANATOMIES = (BERT, ROBERTA, ELECTRA, DISTILBERT)

EXPECTED = "; or ".join(anatomy.describe() for anatomy in ANATOMIES)
SUPPORTED = ", ".join(anatomy.name for anatomy in ANATOMIES)


def _unsupported(model: nn.Module, why: str) -> UnsupportedModelError:
    return UnsupportedModelError(
        f"{type(model).__name__} {why}: bmp prunes {SUPPORTED} models; expected {EXPECTED}. "
        "Load one of those (e.g. with AutoModelForQuestionAnswering, or bmp.load_base) or convert your model first.")


def walk(root: nn.Module, path: str):
    """``root.a.b.c`` for ``path="a.b.c"``, by ``getattr`` one name at a time."""
    node = root
    for name in path.split("."):
        node = getattr(node, name)
    return node


def anatomy_of(model: nn.Module) -> Anatomy:
    """The table entry for ``model``: by its ``base_model_prefix``, else (a plain module, or a wrapper of one of
    these bodies) by which body and list of layers it holds."""
    prefix = getattr(model, "base_model_prefix", None)
    for anatomy in ANATOMIES:
        if prefix == anatomy.body:
            return anatomy
    for anatomy in ANATOMIES:
        body = getattr(model, anatomy.body, None)
        if body is None and prefix:
            continue  # a bare body is recognised by its prefix; another model's own layers are not ours
        try:
            walk(model if body is None else body, anatomy.layers)
            return anatomy
        except AttributeError:
            continue
    raise _unsupported(model, f"is a {prefix!r} model" if prefix else "has none of the layer lists bmp knows")


def anatomy_of_config(config) -> Anatomy:
    """The table entry for a config, stock (``"roberta"``) or packed (``"packed_roberta"``)."""
    family = str(getattr(config, "model_type", "")).removeprefix("packed_")
    for anatomy in ANATOMIES:
        if anatomy.family == family:
            return anatomy
    raise UnsupportedModelError(f"{type(config).__name__} (model_type {family!r}) is not a supported config: bmp "
                                f"prunes {SUPPORTED} models ({', '.join(a.family for a in ANATOMIES)})")


@dataclass(frozen=True)
class LayerParts:
    """One transformer layer: its six linears (read through the modules that own them, so that other code can swap
    them in place with :meth:`replace`) and its head size."""

    index: int
    layer: nn.Module
    head_dim: int
    anatomy: Anatomy = BERT

    def owner(self, name: str) -> tuple[nn.Module, str]:
        """The module holding linear ``name`` (one of :data:`LINEAR_NAMES`) and its attribute name there."""
        if name not in LINEAR_NAMES:
            raise KeyError(f"{name!r} is not one of the six linears {LINEAR_NAMES}")
        parent, _, attribute = getattr(self.anatomy, name).rpartition(".")
        return (walk(self.layer, parent) if parent else self.layer), attribute

    def get(self, name: str) -> nn.Module:
        owner, attribute = self.owner(name)
        return getattr(owner, attribute)

    def replace(self, name: str, module: nn.Module) -> None:
        owner, attribute = self.owner(name)
        setattr(owner, attribute, module)

    query = property(lambda self: self.get("query"))
    key = property(lambda self: self.get("key"))
    value = property(lambda self: self.get("value"))
    attn_out = property(lambda self: self.get("attn_out"))
    ffn_in = property(lambda self: self.get("ffn_in"))
    ffn_out = property(lambda self: self.get("ffn_out"))
    # the owning modules (in DistilBERT one module owns Q, K, V and the output, another both FFN linears)
    self_attention = property(lambda self: self.owner("query")[0])
    attention_output = property(lambda self: self.owner("attn_out")[0])
    intermediate = property(lambda self: self.owner("ffn_in")[0])
    output = property(lambda self: self.owner("ffn_out")[0])

    @property
    def num_heads(self) -> int:
        return self.query.out_features // self.head_dim

    @property
    def ffn_size(self) -> int:
        return self.ffn_in.out_features

    def linears(self) -> dict[str, nn.Module]:
        return {name: self.get(name) for name in LINEAR_NAMES}


def base_model(model: nn.Module) -> nn.Module:
    """The encoder-owning body (``model.bert``, ``model.roberta``, ...), or the model itself for a bare body."""
    anatomy = anatomy_of(model)
    body = getattr(model, anatomy.body, model)
    try:
        walk(body, anatomy.layers)
    except AttributeError as err:
        raise _unsupported(model, f"has no {anatomy.body}.{anatomy.layers}") from err
    return body


def layer_list(model: nn.Module) -> nn.ModuleList:
    """The encoder's list of layers (``model.bert.encoder.layer``, ``model.distilbert.transformer.layer``, ...)."""
    return walk(base_model(model), anatomy_of(model).layers)


def head_dim_of(model: nn.Module) -> int:
    config = model.config
    head_dim = getattr(config, "head_dim", None)
    return head_dim or config.hidden_size // config.num_attention_heads


def encoder_layers(model: nn.Module) -> list[LayerParts]:
    anatomy = anatomy_of(model)
    head_dim = head_dim_of(model)
    parts = []
    for index, layer in enumerate(layer_list(model)):
        part = LayerParts(index, layer, head_dim, anatomy)
        try:
            linears = part.linears()
        except AttributeError as err:
            raise _unsupported(model, f"lacks {err.name!r} in layer {index}") from err
        for name, module in linears.items():
            if not hasattr(module, "weight") or module.weight.dim() != 2:
                raise _unsupported(model, f"has a {type(module).__name__} as layer {index}.{name}, not a linear "
                                          "layer")
        parts.append(part)
    return parts
