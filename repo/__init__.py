"""Homeguy's apt repository: the signed repository publisher (repo.publisher) and its
configuration (repo/repo.toml)."""
