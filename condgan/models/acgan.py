"""``acgan``: auxiliary-classifier GAN — D sees only the image and also predicts its class."""

import torch
import torch.nn.functional as F

from condgan.models.base import class_column
from condgan.models.cgan import CGAN


class ACGAN(CGAN):
    """The cgan networks with an unconditioned discriminator that has a class head (the class
    attribute only; further attributes condition G alone).

    Both nets add ``aux_weight`` x cross-entropy of D's class prediction: D on real images (and on
    fakes, as in Odena et al.), G on its fakes for the labels it was asked to draw.
    """

    def __init__(self, *args, aux_weight: float = 1.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.aux_weight = aux_weight

    def discriminate(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.discriminator(images, labels)
        return out[:, 0], out[:, 1:]

    def discriminator_terms(self, real, fake, labels, real_aux, fake_aux) -> dict[str, torch.Tensor]:
        terms = super().discriminator_terms(real, fake, labels, real_aux, fake_aux)
        classes = class_column(labels)
        terms["class"] = self.aux_weight * 0.5 * (F.cross_entropy(real_aux, classes) + F.cross_entropy(fake_aux, classes))
        return terms

    def generator_terms(self, real, fake, labels, fake_aux) -> dict[str, torch.Tensor]:
        return {"class": self.aux_weight * F.cross_entropy(fake_aux, class_column(labels))}
