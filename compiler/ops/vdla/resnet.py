"""The convolution layers of ResNet-18 (224x224, batch 1) as in the TVM paper's VDLA table.

``RESNET18_CONV_LAYERS`` maps the layer name (C1..C12) to ``(H=W, C, O, K, stride, padding)``:
input height and width, input channels, output channels, kernel size, stride and padding. The
benchmark (``bench/resnet18_layers.py``) and the tests share this one table.
"""

RESNET18_CONV_LAYERS: dict[str, tuple[int, int, int, int, int, int]] = {
    "C1": (224, 3, 64, 7, 2, 3),
    "C2": (56, 64, 64, 3, 1, 1),
    "C3": (56, 64, 64, 1, 1, 0),
    "C4": (56, 64, 128, 3, 2, 1),
    "C5": (56, 64, 128, 1, 2, 0),
    "C6": (28, 128, 128, 3, 1, 1),
    "C7": (28, 128, 256, 3, 2, 1),
    "C8": (28, 128, 256, 1, 2, 0),
    "C9": (14, 256, 256, 3, 1, 1),
    "C10": (14, 256, 512, 3, 2, 1),
    "C11": (14, 256, 512, 1, 2, 0),
    "C12": (7, 512, 512, 3, 1, 1),
}

#: cycles of C2..C12 on VTA's cycle-level RTL simulation, 1x16x16, ideal memory (tvm-vta PR 30)
VTA_C2_C12_CYCLES = 7_729_601
