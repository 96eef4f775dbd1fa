"""The GAN dataset distiller (Ritter-Gutierrez et al.): a conditional WGAN-GP generator replaces the data.

Modules: `config` (GANConfig), `architectures` (gan-cnn, gan-att generator + critic), `losses`
(Eq. 1-8 terms), `pool` (downstream classifiers and the checkpoint pool for L_SML), `loop`
(`distill`), `artifact` (save/load the "edgedistill.generator" artifact, `sample`), `ssl`
(HuBERT frame features from a local folder). The sub-modules import torch; this file does not.
"""
