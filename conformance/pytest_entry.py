"""The suite's pytest11 entry point: `pytest --dropout-conformance [--framework F | --adapter A] ...`.

pytest loads every installed entry point in every run of the environment, including a framework's own test
suite. The plugin proper (conformance/plugin.py) adds generic options such as --device and --framework that
a project's conftest.py may define too, and argparse refuses a second definition. So this module adds one
flag and registers the plugin only in runs that pass it, before pytest parses the command line (the way
conftest.py options are added). `pytest -p conformance.plugin` loads the plugin directly, as the CLI does.
"""
from __future__ import annotations

import pytest

FLAG = "--dropout-conformance"
PLUGIN = "conformance.plugin"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("conformance", "dropout conformance suite").addoption(
        FLAG, action="store_true",
        help="run the dropout conformance specs (the shipped ones unless paths are given); "
             "`pytest --dropout-conformance --help` lists the suite's options")


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    if FLAG in args and not early_config.pluginmanager.has_plugin(PLUGIN):
        from . import plugin
        early_config.pluginmanager.register(plugin, PLUGIN)
