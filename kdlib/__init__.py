"""kdlib: the library behind the kdrepro notebooks (knowledge distillation with pruning and quantization).

Vocabulary, used the same way everywhere: `sparsity` is the fraction of zeroed weights in [0, 1];
`temperature` softens logits; `alpha` is the weight of the soft (teacher) term of every KD loss.
"""
__version__ = "0.1.0"
