"""The GAN dataset distiller (generator + discriminator trained as a distiller). Imports torch."""
