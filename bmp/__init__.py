"""bmp: block movement pruning for BERT-family question answering models."""
__version__ = "0.1.0"
