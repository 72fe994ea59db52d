"""The signed apt repository publisher (`homeguy repo publish`); its configuration is the
data file repo/repo.toml.

Pure core: config (repo.toml), packages (control data -> Packages stanzas), compress,
release, state, plan (what to write and delete, in order). Thin shell: publish (files,
hashing, python-debian's DebFile) and signing (gpg).
"""
