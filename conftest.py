"""pytest set-up shared by the whole tree: the kernel lab runs `lab` tests in a VM."""

pytest_plugins = ["homeguy.lab.pytest_plugin"]
