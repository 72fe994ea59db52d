"""``mip6d``: the Mobile IPv6 / NEMO daemon (foreground, structured logs on stderr)."""

from __future__ import annotations

import argparse
import logging
import sys

from mip6d import __version__, logs
from mip6d.config import DEFAULT_CONFIG_PATH, ConfigError, load
from mip6d.shell.loop import Daemon, DaemonError

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mip6d", description=__doc__)
    parser.add_argument("-c", "--config", default=DEFAULT_CONFIG_PATH,
                        help=f"configuration file (default {DEFAULT_CONFIG_PATH})")
    parser.add_argument("--version", action="version", version=f"mip6d {__version__}")
    parser.add_argument("--check", action="store_true",
                        help="only validate the configuration and exit")
    parser.add_argument("--log-format", default="json", choices=[f.value for f in logs.Format],
                        help="structured log lines on stderr: json (default) or logfmt")
    args = parser.parse_args(argv)
    logs.setup(0, args.log_format)

    def log(level: str, event: str, **fields: object) -> None:
        logs.log_event(logs.LOGGER, logging.ERROR if level == "error" else logging.INFO,
                       event, **fields)
    try:
        config = load(args.config)
    except ConfigError as error:
        log("error", "config-invalid", error=str(error))
        return 2
    except OSError as error:
        log("error", "config-unreadable", path=args.config, error=str(error))
        return 2
    if args.check:
        log("info", "config-valid", path=args.config)
        return 0
    logs.set_debug_level(config.debug_level)
    daemon = Daemon(args.config, config)
    try:
        daemon.start()
    except DaemonError as error:
        log("error", "start-failed", error=str(error))
        daemon.kernel.cleanup()
        return 1
    daemon.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
