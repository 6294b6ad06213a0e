"""torchvision pipelines the importer tests import by name (`torchvision:tv_pipelines:NAME`), as a
training script defines them."""

import torch
from torchvision import transforms as T
from torchvision.transforms import v2

IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]

# The classic ImageNet evaluation transform: Resize(256) is the shorter side (bilinear; Pillow on PIL).
imagenet = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])

# A ViT-style v2 pipeline: bicubic, a capped longer side, ToImage + ToDtype instead of ToTensor.
vit_style = v2.Compose(
    [
        v2.Resize(248, interpolation=v2.InterpolationMode.BICUBIC, max_size=360),
        v2.CenterCrop(224),
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize([0.5, 0.5, 0.5], [0.5, 0.5, 0.5]),
    ]
)

# Training-time transforms: each is refused by name.
random_crop = T.Compose([T.RandomResizedCrop(224), T.ToTensor()])
color_jitter = T.Compose([T.Resize(256), T.ColorJitter(0.4, 0.4, 0.4), T.ToTensor()])
user_lambda = T.Compose([T.Resize(256), T.Lambda(lambda img: img), T.ToTensor()])
lanczos = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.LANCZOS), T.CenterCrop(224), T.ToTensor()])
