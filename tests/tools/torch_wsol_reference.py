"""Small PyTorch re-statements of wsolevaluation's CAM / ADL models.

Written for the tests from the structure of clovaai/wsolevaluation
(`wsol/vgg.py` VggCam with the `cam` / `adl` configs, `wsol/resnet.py`
ResNetCam / ResNetAdl with `_ADL_POSITION = [[], [], [], [0], [0, 2]]`,
`wsol/inception.py` InceptionCam / InceptionAdl): same module names, so the
same state-dict keys, and the same forward pass and `return_cam` rule.
`forward(x, labels)` returns `(logits, cams)` in inference mode.
"""

import torch
import torch.nn.functional as F
from torch import nn


class ADL(nn.Module):
    """Attention-based dropout; the identity in inference mode."""

    def __init__(self, drop_rate=0.75, drop_threshold=0.9):
        super().__init__()
        self.drop_rate = drop_rate
        self.drop_threshold = drop_threshold

    def forward(self, x):
        if not self.training:
            return x
        attention = x.mean(1, keepdim=True)
        peak = attention.flatten(1).max(1)[0].view(-1, 1, 1, 1)
        drop_mask = (attention < peak * self.drop_threshold).float()
        use_drop = torch.floor(torch.rand([]) + self.drop_rate)
        selected = (1 - use_drop) * torch.sigmoid(attention) + (
            use_drop * drop_mask
        )
        return x * selected


def _fc_cams(features, fc, labels):
    weights = fc.weight[labels].view(*features.shape[:2], 1, 1)
    return (weights * features).mean(1)


_VGG_CFG = {
    "cam": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512,
            "M", 512, 512, 512],
    "adl": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", "A", 512, 512,
            512, "A", "M", 512, 512, 512, "A"],
}  # fmt: skip


class VggCam(nn.Module):
    def __init__(self, method, num_classes):
        super().__init__()
        layers, channels = [], 3
        for v in _VGG_CFG[method]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            elif v == "A":
                layers.append(ADL())
            else:
                layers += [nn.Conv2d(channels, v, 3, padding=1), nn.ReLU()]
                channels = v
        self.features = nn.Sequential(*layers)
        self.conv6 = nn.Conv2d(512, 1024, 3, padding=1)
        self.fc = nn.Linear(1024, num_classes)

    def forward(self, x, labels):
        x = F.relu(self.conv6(self.features(x)))
        logits = self.fc(x.mean((2, 3)))
        return logits, _fc_cams(x, self.fc, labels)


class Bottleneck(nn.Module):
    """torchvision's v1.5 block: the stride on the 3x3 conv, no biases."""

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(out + identity)


class ResNet50(nn.Module):
    """ResNetCam (`adl_positions` all empty) or ResNetAdl."""

    def __init__(self, method, num_classes):
        super().__init__()
        positions = [[], [], [0], [0, 2]] if method == "adl" else [[]] * 4
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(
            ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 1))
        ):
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
            layers = [Bottleneck(inplanes, planes, stride, downsample)]
            inplanes = planes * 4
            layers += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
            for pos in reversed(positions[i]):
                layers.insert(pos + 1, ADL())
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.fc = nn.Linear(2048, num_classes)

    def forward(self, x, labels):
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        logits = self.fc(x.mean((2, 3)))
        return logits, _fc_cams(x, self.fc, labels)


class BasicConv2d(nn.Module):
    def __init__(self, cin, cout, kernel, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


def _avg(x):  # count_include_pad=True, PyTorch's default.
    return F.avg_pool2d(x, 3, 1, 1)


class InceptionA(nn.Module):
    def __init__(self, cin, pool_features):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x):
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_1(x)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(b3))
        bp = self.branch_pool(_avg(x))
        return torch.cat([self.branch1x1(x), b5, b3, bp], 1)


class InceptionB(nn.Module):
    """Mixed_6a as wsolevaluation modifies it: stride 1, padding 1."""

    def __init__(self, cin):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=1, padding=1)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=1, padding=1)

    def forward(self, x):
        b3 = self.branch3x3dbl_1(x)
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(b3))
        bp = F.max_pool2d(x, 3, 1, 1)
        return torch.cat([self.branch3x3(x), b3, bp], 1)


class InceptionC(nn.Module):
    def __init__(self, cin, c7):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x):
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        bd = x
        for i in range(1, 6):
            bd = getattr(self, f"branch7x7dbl_{i}")(bd)
        bp = self.branch_pool(_avg(x))
        return torch.cat([self.branch1x1(x), b7, bd, bp], 1)


class InceptionV3(nn.Module):
    """InceptionCam (three 0.5 dropouts) or InceptionAdl (three ADLs)."""

    def __init__(self, method, num_classes):
        super().__init__()
        self.method = method
        if method == "adl":
            self.ADL_5d, self.ADL_6e, self.ADL_A3_2b = ADL(), ADL(), ADL()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2, padding=1)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, 32)
        self.Mixed_5c = InceptionA(256, 64)
        self.Mixed_5d = InceptionA(288, 64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, 128)
        self.Mixed_6c = InceptionC(768, 160)
        self.Mixed_6d = InceptionC(768, 160)
        self.Mixed_6e = InceptionC(768, 192)
        self.SPG_A3_1b = nn.Sequential(nn.Conv2d(768, 1024, 3, padding=1))
        self.SPG_A3_2b = nn.Sequential(nn.Conv2d(1024, 1024, 3, padding=1))
        self.SPG_A4 = nn.Conv2d(1024, num_classes, 1)

    def _after(self, name, x):
        if self.method == "adl":
            return getattr(self, name)(x)
        return F.dropout(x, 0.5, self.training)

    def forward(self, x, labels):
        x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        x = self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x))
        x = F.max_pool2d(x, 3, 2, 1, ceil_mode=True)
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))
        if self.method == "adl":
            x = self.ADL_5d(x)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        for name in ("6a", "6b", "6c", "6d", "6e"):
            x = getattr(self, f"Mixed_{name}")(x)
        x = self._after("ADL_6e", x)
        x = F.relu(self.SPG_A3_1b(x))
        if self.method != "adl":
            x = F.dropout(x, 0.5, self.training)
        x = self._after("ADL_A3_2b", F.relu(self.SPG_A3_2b(x)))
        maps = self.SPG_A4(x)
        return maps.mean((2, 3)), maps[torch.arange(len(labels)), labels]


MODELS = {"vgg16": VggCam, "resnet50": ResNet50, "inceptionv3": InceptionV3}


def randomize(model, seed=0):
    """Random weights that keep activations in range, BN statistics too."""
    generator = torch.Generator().manual_seed(seed)

    def normal(tensor, std, mean=0.0):
        tensor.copy_(torch.randn(tensor.shape, generator=generator) * std)
        tensor.add_(mean)

    def uniform(tensor, low, high):
        tensor.copy_(
            torch.rand(tensor.shape, generator=generator) * (high - low) + low
        )

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                normal(module.weight, (2.0 / fan_in) ** 0.5)
                if module.bias is not None:
                    normal(module.bias, 0.05)
            elif isinstance(module, nn.BatchNorm2d):
                uniform(module.weight, 0.5, 1.5)
                normal(module.bias, 0.1)
                normal(module.running_mean, 0.1)
                uniform(module.running_var, 0.5, 1.5)
    return model.eval()
