"""pytest set-up shared by the whole tree: the kernel lab runs `lab` tests in a VM."""

from hypothesis import HealthCheck, settings

pytest_plugins = ["homeguy.lab.pytest_plugin"]

# Property tests share the machine with the lab's VM and live-build: wall-clock limits on
# one example or on generating inputs would fail them for the load, not for a defect.
settings.register_profile("shared-machine", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("shared-machine")
